"""Prompt evaluation in chunks sized by time, so a cancel or a deadline is noticed within a fraction of a second.

Why: llama.cpp evaluates a prompt batch as one call nothing can interrupt. In ``n_batch`` (512-token) batches on a
shared 2-core machine one batch took 7–9 s (0.5B model, load average 5), so a newer keystroke waited that long for the
stale request to notice its cancel, and a request's time cap was overrun by as much: the cold first request of a
typing span took 18–29 s at p95 under a 5 s cap (bench/RESULTS-latency.md). Smaller batches cost throughput (32-token
batches evaluated ~35% fewer tokens per second than 512-token ones there), so chunks are sized by the measured rate:
about :data:`CHUNK_TARGET_S` of work each, and near a deadline only what fits before it. A chunk predicted to overrun
the deadline is not started; what was evaluated stays in the KV cache (llama-cpp-python's ``n_tokens`` and
``input_ids`` advance chunk by chunk), so the next request's common prefix resumes from it instead of starting over.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from codeassist.models.backend import CancelCheck

CHUNK_TARGET_S = 0.5  # a cancel or a deadline is noticed within about this long (at the measured rate)
MIN_CHUNK = 32  # smaller batches waste too much throughput, except at the tail before a deadline
FIRST_CHUNK = 64  # before any rate is measured
MIN_TAIL = 8  # near a deadline, a chunk smaller than this is not worth starting: stop instead


class PromptRate:
    """Prompt-evaluation tokens per second, measured chunk by chunk (exponentially weighted: the load changes)."""

    def __init__(self) -> None:
        self.tok_s: float | None = None

    def update(self, tokens: int, seconds: float) -> None:
        if tokens <= 0 or seconds <= 0:
            return
        rate = tokens / seconds
        self.tok_s = rate if self.tok_s is None else 0.5 * self.tok_s + 0.5 * rate

    def chunk_size(self, n_batch: int, remaining_s: float | None) -> int:
        """How many tokens the next chunk takes: about ``CHUNK_TARGET_S`` worth, between ``MIN_CHUNK`` and
        ``n_batch``, and with a deadline no more than fits in ``remaining_s``."""
        if self.tok_s is None:
            size = min(n_batch, FIRST_CHUNK)
        else:
            size = max(MIN_CHUNK, min(n_batch, int(self.tok_s * CHUNK_TARGET_S)))
            if remaining_s is not None:
                size = min(size, int(self.tok_s * remaining_s))
        return max(0, size)


@dataclass
class ChunkedEval:
    evaluated: int = 0
    stopped: str | None = None  # None: all evaluated | "cancelled" | "time_cap" (the deadline came first)
    max_chunk_ms: float = 0.0  # the longest single chunk: how late a cancel or deadline can be noticed


def evaluate_chunks(
    eval_fn: Callable[[Sequence[int]], None],
    tokens: Sequence[int],
    *,
    n_batch: int,
    rate: PromptRate,
    cancel: CancelCheck | None = None,
    deadline: float | None = None,
) -> ChunkedEval:
    """Feed ``tokens`` to ``eval_fn`` in time-sized chunks, checking ``cancel`` and ``deadline`` (``time.monotonic``)
    before each. Stops before a chunk that would not fit before the deadline, except the first: at least
    ``MIN_CHUNK`` tokens are evaluated, so a late start still makes progress."""
    out = ChunkedEval()
    i = 0
    while i < len(tokens):
        if cancel is not None and cancel():
            out.stopped = "cancelled"
            break
        remaining = None if deadline is None else deadline - time.monotonic()
        size = rate.chunk_size(n_batch, remaining)
        if remaining is not None and (remaining <= 0 or size < min(MIN_TAIL, len(tokens) - i)):
            if i > 0:
                out.stopped = "time_cap"
                break
            # the deadline came before any progress (context building took the cap): one small chunk anyway, so
            # each capped request moves the cached prefix forward and the next one resumes further on
            size = MIN_CHUNK
        chunk = tokens[i : i + size]
        started = time.perf_counter()
        eval_fn(chunk)
        took = time.perf_counter() - started
        rate.update(len(chunk), took)
        out.max_chunk_ms = max(out.max_chunk_ms, took * 1000)
        out.evaluated += len(chunk)
        i += len(chunk)
    return out
