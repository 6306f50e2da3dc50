"""KV-shift chunk reuse (what llama-server's ``--cache-reuse`` does): after the common prefix of the cached and the
new prompt, find runs of cached tokens that come next in the new prompt after cached tokens that no longer do, drop
the gap from the KV cache and shift the run into place, so only what is new is evaluated.

Why: the prompt is laid out stable-first, but some edits delete tokens from its middle — the prefix window moving
down by a 16-line step (the lines it drops are a gap, everything after them is a run), a repository snippet that
falls out, a backspace. Without reuse every token after the first difference is evaluated again.

What it cannot do: reuse a run that comes *after new tokens*. Those tokens would have to be evaluated at positions
below cells already in the cache, and llama.cpp rejects a batch whose first position is not one past the sequence's
last cached position (``llama-batch.cpp``); a second sequence to park the run in needs a context with
``n_seq_max > 1``. So, as in llama-server, runs are matched only where the new prompt continues with cached tokens.

Exactness: the shifted cells keep the keys and values computed when the dropped gap was still before them (llama.cpp
re-applies RoPE for the new positions, nothing else). The output can differ from a cold evaluation; ``min_chunk``
keeps short, context-sensitive runs out. The test compares greedy outputs with cold evaluations on fixtures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Move:
    src: int  # first cached position of the run
    dst: int  # its position in the new prompt (dst < src: a gap of src - dst cells is dropped before it)
    length: int


def plan(cached: Sequence[int], prompt: Sequence[int], n_prefix: int, min_chunk: int) -> tuple[list[Move], int]:
    """The moves that bring cached runs of at least ``min_chunk`` tokens into place after the common prefix
    (``n_prefix`` tokens), and how many prompt tokens the cache then holds (every move is contiguous with the last)."""
    moves: list[Move] = []
    head_c = head_p = n_prefix
    n_cached, n_prompt = len(cached), len(prompt)
    while head_c < n_cached and head_p < n_prompt:
        n = 0
        while head_c + n < n_cached and head_p + n < n_prompt and cached[head_c + n] == prompt[head_p + n]:
            n += 1
        if n >= min_chunk:
            moves.append(Move(head_c, head_p, n))
            head_c += n
            head_p += n
        else:
            head_c += 1
    return moves, head_p


def apply(llm: Any, moves: Sequence[Move]) -> None:
    """Carry out ``moves`` on the KV cache of llama-cpp-python's ``llm`` (sequence 0) and on its token record."""
    # llama_cpp loads its native library on import: only once a model is loaded
    import llama_cpp

    memory = llm._ctx.memory
    for m in moves:
        llama_cpp.llama_memory_seq_rm(memory, 0, m.dst, m.src)
        llama_cpp.llama_memory_seq_add(memory, 0, m.src, m.src + m.length, m.dst - m.src)
        llm.input_ids[m.dst : m.dst + m.length] = llm.input_ids[m.src : m.src + m.length].copy()


def can_shift(llm: Any) -> bool:
    # llama_cpp loads its native library on import: only once a model is loaded
    import llama_cpp

    return bool(llama_cpp.llama_memory_can_shift(llm._ctx.memory))
