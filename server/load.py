"""Is the machine too busy for completions? Told to the editor in ``codeassist/status`` (``busy``, ``busyReason``).

Why measured, not guessed: the load average counts our own llama.cpp threads too (two threads generating on two
cores read as "load 2"), and what the user feels is our speed, not the machine's. So the tracker watches what the
model calls themselves show: requests that reached the time cap, and the decode rate against the best one seen in
this session (the machine's quiet speed). The load average is reported alongside, as evidence.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass

SLOW_FACTOR = 3.0  # busy when recent decode is this many times slower than the best seen
WINDOW = 5  # the last answers considered
MIN_TOKENS = 4  # a rate from fewer generated tokens is noise


@dataclass(frozen=True)
class Busy:
    busy: bool
    reason: str | None


class LoadTracker:
    """Fed each answered model call; says whether completions are being starved."""

    def __init__(self) -> None:
        self.best_rate = 0.0  # decode tokens/s, the best seen
        self.recent_rate: float | None = None  # exponentially weighted
        self._capped: deque[bool] = deque(maxlen=WINDOW)

    def record(self, *, capped: bool, generated_tokens: int, generation_ms: float) -> None:
        self._capped.append(capped)
        if generated_tokens >= MIN_TOKENS and generation_ms > 0:
            rate = generated_tokens / (generation_ms / 1000)
            self.best_rate = max(self.best_rate, rate)
            self.recent_rate = rate if self.recent_rate is None else 0.5 * self.recent_rate + 0.5 * rate

    def state(self) -> Busy:
        load = _load_text()
        capped = sum(self._capped)
        if capped:
            return Busy(True, f"{capped} of the last {len(self._capped)} completions reached the time cap{load}")
        recent = self.recent_rate
        if recent is not None and recent * SLOW_FACTOR < self.best_rate:
            return Busy(True, f"decoding at {recent:.1f} tok/s, {self.best_rate:.1f} when quieter{load}")
        return Busy(False, None)


def _load_text() -> str:
    try:
        one = os.getloadavg()[0]
    except OSError:
        return ""
    return f" (load average {one:.1f} on {os.cpu_count() or 1} cores)"
