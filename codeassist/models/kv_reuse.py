"""KV-shift chunk reuse (what llama-server's ``--cache-reuse`` does): after the common prefix of the cached and the
new prompt, find runs of cached tokens that come next in the new prompt after cached tokens that no longer do, drop
the gap from the KV cache and shift the run into place, so only what is new is evaluated.

Why: the prompt is laid out stable-first, but some edits delete tokens from its middle — the prefix window moving
down by a 16-line step (the lines it drops are a gap, everything after them is a run), a repository snippet that
falls out, a backspace. Without reuse every token after the first difference is evaluated again.

Insertions (new tokens before a cached run: a keystroke at the end of the prefix, with the suffix after it; a cloze
line cut further down): llama.cpp rejects a batch whose first position is not one past the sequence's last cached
position (``llama-batch.cpp``), so the run cannot wait in sequence 0 while the new tokens are evaluated below it. It is
parked in sequence 1 instead (the context is made with two sequences sharing one unified KV cache): copied there,
dropped from sequence 0, shifted to its new positions; the new tokens are evaluated in sequence 0; then the run is
copied back and sequence 1 emptied. Only a run that the new prompt ends with is looked for (all but the prompt's last
token, whose logits are needed): in a FIM prompt, the suffix.

Exactness: the shifted cells keep the keys and values computed when the dropped gap was still before them and the
inserted tokens were not (llama.cpp re-applies RoPE for the new positions, nothing else). The output can differ from
a cold evaluation; ``min_chunk`` keeps short, context-sensitive runs out. The test compares greedy outputs with cold
evaluations on fixtures.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


@dataclass(frozen=True)
class Move:
    src: int  # first cached position of the run
    dst: int  # its position in the new prompt (dst < src: a gap of src - dst cells is dropped before it)
    length: int


def common_prefix(cached: Any, prompt: Sequence[int]) -> int:
    """How many leading tokens the cache (an array) and the prompt share."""
    limit = min(len(cached), len(prompt))
    if not limit:
        return 0
    diff = np.nonzero(cached[:limit] != np.asarray(prompt[:limit]))[0]
    return int(diff[0]) if diff.size else limit


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


def _marker_run(tokens: Sequence[int], start: int, length: int, special: Callable[[int], bool]) -> bool:
    """The run starts at a marker and holds no other."""
    return special(tokens[start]) and not any(special(t) for t in tokens[start + 1 : start + length])


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


# At most this many tokens dropped before a run, and as many new ones, all plain text, for the run to be moved after
# new tokens: a few keystrokes in the prefix, with the suffix marker and the suffix unchanged after them. The run's
# cells keep what they computed from the old text. Where a marker moved, the run's text changed sides of the cursor:
# a cloze step (a line out of the suffix, the one above it into the prefix, about 7 tokens each) made the 1.5B read
# the line it was asked for as still there and answer nothing or a fragment (toolz ``unique``, 4 of 7 lines,
# bench/RESULTS-latency.md).
MAX_EDIT = 16


@dataclass(frozen=True)
class Insert:
    """New tokens ``prompt[n_prefix:dst]`` before a cached run moved from ``src`` to ``dst``."""

    n_prefix: int
    src: int
    dst: int
    length: int


def plan_insert(
    cached: Sequence[int], prompt: Sequence[int], n_prefix: int, min_chunk: int, special: Callable[[int], bool]
) -> Insert | None:
    """The longest cached run (at least ``min_chunk`` tokens) that ``prompt`` ends with, its last token excepted,
    that starts at a ``special`` token (a marker) and holds no other, after an edit of plain text of at most
    ``MAX_EDIT`` tokens each way; None when there is none."""
    end = len(prompt) - 1  # the last prompt token is evaluated again for its logits
    if min_chunk <= 0 or end - n_prefix < min_chunk or len(cached) - n_prefix < min_chunk:
        return None
    tail = np.asarray(cached[n_prefix:], dtype=np.int64)
    probe = np.asarray(prompt[end - min_chunk : end], dtype=np.int64)
    hits = np.nonzero((sliding_window_view(tail, min_chunk) == probe).all(axis=1))[0]
    best: Insert | None = None
    for hit in hits.tolist():
        src, dst = n_prefix + hit, end - min_chunk
        while src > n_prefix and dst > n_prefix and cached[src - 1] == prompt[dst - 1]:
            src, dst = src - 1, dst - 1
        length = end - dst
        if max(src, dst) - n_prefix > MAX_EDIT:
            continue
        if any(special(t) for t in (*cached[n_prefix:src], *prompt[n_prefix:dst])):
            continue
        # the run starts at a marker and holds no other: the edit is the text right before it (the prefix's end, the
        # cursor), not in a header far above (the same code under another file's name: an empty answer in tests)
        if not _marker_run(cached, src, length, special):
            continue
        if best is None or length > best.length:
            best = Insert(n_prefix, src, dst, length)
    return best


def park(llm: Any, ins: Insert) -> None:
    """Move the run to sequence 1 at its new positions and drop sequence 0 from ``n_prefix`` on."""
    # llama_cpp loads its native library on import: only once a model is loaded
    import llama_cpp

    memory = llm._ctx.memory
    llama_cpp.llama_memory_seq_cp(memory, 0, 1, ins.src, ins.src + ins.length)
    llama_cpp.llama_memory_seq_rm(memory, 0, ins.n_prefix, -1)
    if ins.dst != ins.src:
        llama_cpp.llama_memory_seq_add(memory, 1, ins.src, ins.src + ins.length, ins.dst - ins.src)
    llm.n_tokens = ins.n_prefix


def eval_below_parked(llm: Any, tokens: Sequence[int]) -> None:
    """``Llama.eval`` for sequence 0 only: it would drop every sequence's cells past ``n_tokens``, the parked run's
    among them."""
    llm._ctx.kv_cache_seq_rm(0, llm.n_tokens, -1)
    for i in range(0, len(tokens), llm.n_batch):
        batch = list(tokens[i : i + llm.n_batch])
        n_past = llm.n_tokens
        llm._batch.set_batch(batch=batch, n_past=n_past, logits_all=False)
        llm._ctx.decode(llm._batch)
        llm.input_ids[n_past : n_past + len(batch)] = batch
        llm.n_tokens += len(batch)


def unpark(llm: Any, ins: Insert, prompt: Sequence[int], *, keep: bool) -> int:
    """Empty sequence 1; with ``keep`` (the new tokens were all evaluated) the run joins sequence 0 first. Returns
    how many tokens it brought back."""
    # llama_cpp loads its native library on import: only once a model is loaded
    import llama_cpp

    memory = llm._ctx.memory
    if keep:
        llama_cpp.llama_memory_seq_cp(memory, 1, 0, ins.dst, ins.dst + ins.length)
        llm.input_ids[ins.dst : ins.dst + ins.length] = prompt[ins.dst : ins.dst + ins.length]
        llm.n_tokens = ins.dst + ins.length
    llama_cpp.llama_memory_seq_rm(memory, 1, -1, -1)
    return ins.length if keep else 0


@contextlib.contextmanager
def two_sequences() -> Iterator[None]:
    """While a ``llama_cpp.Llama`` is made: its context gets two sequences over one unified KV cache (for
    :func:`park`); ``Llama`` has no parameter for it."""
    # llama_cpp loads its native library on import: only once a model is loaded
    import llama_cpp.llama_cpp as native

    default = native.llama_context_default_params

    def params() -> Any:
        p = default()
        p.n_seq_max = 2
        p.kv_unified = True
        return p

    native.llama_context_default_params = params
    try:
        yield
    finally:
        native.llama_context_default_params = default
