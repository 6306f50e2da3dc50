"""Adaptive debounce: how long a completion that needs the model waits for the next keystroke, from this user's own
rhythm (as Tabby's agent does), between the configured bounds.

Why adaptive: a fixed 75 ms debounce is shorter than most people's pause between two keys (150–250 ms), so in a burst
nearly every keystroke starts a model call that the next one cancels. A stale call is not free: it holds the model
until its next cancel check (one prompt chunk, ~0.5 s under load: codeassist/models/prompt_eval.py), and the request
that matters waits behind it. Waiting a little longer than the user's usual gap means a burst starts nothing, and a
pause starts the call after about one gap. Fast typists get a short wait, slow ones a longer one, never outside
``[debounce_ms, debounce_max_ms]``. Only where a new model call would cancel one already running: a request that
spares the running generation (it only typed on from it), or finds the worker idle, waits ``debounce_ms`` alone
(server/completion.py ``debounce_ms``).

The rule (Tabby's shape: a typical interval times a rate that is lower where a suggestion is likely wanted):

    rhythm = median of the last HISTORY gaps between keystrokes that are shorter than MAX_GAP_S (longer ones are
             pauses, not rhythm); gaps under SAME_KEY_S are one keystroke's two requests (inline + item)
    rate   = RATE_MAX - (RATE_MAX - RATE_MIN) * score, score = 0.5 after a trigger character + 0.5 at the line's end
    wait   = clamp(rate * rhythm, debounce_ms, max(debounce_ms, debounce_max_ms));  debounce_ms until MIN_SAMPLES gaps
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque

HISTORY = 32
MIN_SAMPLES = 5
MAX_GAP_S = 1.0
SAME_KEY_S = 0.015
RATE_MIN, RATE_MAX = 1.25, 2.0
TRIGGERS = frozenset(".([{,:=> ")


class AdaptiveDebounce:
    """Keystroke gaps seen by the server (completion requests), and the debounce they suggest."""

    def __init__(self) -> None:
        self._gaps: deque[float] = deque(maxlen=HISTORY)
        self._last: float | None = None
        self._lock = threading.Lock()

    def observe(self, now: float | None = None) -> None:
        """A completion request arrived (a keystroke), at ``now`` (``time.monotonic``)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._last is not None:
                gap = now - self._last
                if gap < SAME_KEY_S:
                    return  # the same keystroke's other request: keep the first one's time
                if gap < MAX_GAP_S:
                    self._gaps.append(gap)
            self._last = now

    def rhythm_s(self) -> float | None:
        """The user's typical gap between keys, once enough were seen."""
        with self._lock:
            gaps = list(self._gaps)
        return statistics.median(gaps) if len(gaps) >= MIN_SAMPLES else None

    def delay_ms(self, floor_ms: int, ceiling_ms: int, *, before: str = "", after: str = "") -> float:
        """The debounce for a request with ``before``/``after`` the text around the cursor on its line."""
        rhythm = self.rhythm_s()
        if rhythm is None:
            return float(floor_ms)
        score = 0.5 * (before[-1:] in TRIGGERS and before[-1:] != "") + 0.5 * (not after.strip())
        rate = RATE_MAX - (RATE_MAX - RATE_MIN) * score
        return min(max(rate * rhythm * 1000, floor_ms), max(floor_ms, ceiling_ms))
