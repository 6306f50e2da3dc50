"""A completion's time cap: the deadline the model works under, scaled by the machine's measured token rate.

Why scaled: a fixed cap is right for one machine at one load. On a shared or slow machine the same cap cuts every
cold request in its prompt evaluation, and the user gets nothing, keystroke after keystroke. So the engine measures
the prompt-evaluation and decode rates of its recent generations and, when the configured cap would not let a
request evaluate what it must and then write a one-line answer, raises the cap to what that takes — but only when
that is at most :data:`MAX_SCALE` times the configured cap (a user who asked for 1 s does not wait 10). The rule, with
the recent (exponentially weighted) rates:

    needed = to_evaluate / prompt_rate + ONE_LINE_TOKENS / decode_rate
    cap    = needed      if configured < needed <= MAX_SCALE * configured
             configured  otherwise

Why not the bound when even that is too short: the request would then wait three caps and still answer nothing.
It fails fast instead; what it evaluated stays cached, and the server evaluates the rest in the background while the
editor is idle. The cap is reported in ``codeassist/status`` (``speed``), and the machine is called slow when a
recent rate is :data:`SLOW_FACTOR` times below the best seen in this session.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from codeassist.engine_types import CompletionRequest
from codeassist.models.backend import CancelCheck, Generation

ONE_LINE_TOKENS = 16  # a one-line answer's tokens (most single-line completions are shorter)
MAX_SCALE = 3.0  # the cap is raised only when this many times the configured one is enough
SLOW_FACTOR = 3.0  # slow when a recent rate is this many times below the best seen
MIN_PROMPT_TOKENS = 16  # a prompt rate from fewer evaluated tokens is noise (per-call overhead dominates)
MIN_DECODE_TOKENS = 4  # likewise for decode
WEIGHT = 0.5  # of the newest sample in the recent rate: the load changes within seconds


class _Rate:
    def __init__(self) -> None:
        self.recent: float | None = None
        self.best = 0.0

    def add(self, tokens: int, ms: float) -> None:
        rate = tokens / (ms / 1000)
        self.best = max(self.best, rate)
        self.recent = rate if self.recent is None else (1 - WEIGHT) * self.recent + WEIGHT * rate

    def slow(self) -> bool:
        return self.recent is not None and self.recent * SLOW_FACTOR < self.best


@dataclass(frozen=True)
class Cap:
    seconds: float
    configured_s: float
    needed_s: float | None  # what evaluating the prompt and a one-line answer take at recent rates (None: unknown)

    @property
    def raised(self) -> bool:
        return self.seconds > self.configured_s


class RateEstimator:
    """Prompt-evaluation and decode tokens per second from recent generations (fed by the engine)."""

    def __init__(self) -> None:
        self.prompt = _Rate()
        self.decode = _Rate()
        self.last_cap: Cap | None = None

    def record(self, gen: Generation) -> None:
        if gen.evaluated_tokens >= MIN_PROMPT_TOKENS and gen.prompt_ms > 0:
            self.prompt.add(gen.evaluated_tokens, gen.prompt_ms)
        if len(gen.tokens) >= MIN_DECODE_TOKENS and gen.generation_ms > 0:
            self.decode.add(len(gen.tokens), gen.generation_ms)

    def cap(self, configured_s: float, to_evaluate: int) -> Cap:
        """The cap for a request that must evaluate ``to_evaluate`` prompt tokens (see the module's rule)."""
        p, d = self.prompt.recent, self.decode.recent
        needed = None if p is None or d is None else to_evaluate / p + ONE_LINE_TOKENS / d
        helps = needed is not None and configured_s < needed <= MAX_SCALE * configured_s
        seconds = needed if helps and needed is not None else configured_s
        self.last_cap = Cap(seconds, configured_s, needed)
        return self.last_cap

    def slow(self) -> str | None:
        """Why the machine is measurably slow now, or None."""
        parts = [
            f"{name} at {r.recent:.0f} tok/s ({r.best:.0f} when quieter)"
            for name, r in (("prompt", self.prompt), ("decode", self.decode))
            if r.slow() and r.recent is not None
        ]
        return ", ".join(parts) or None

    def to_json(self) -> dict[str, Any]:
        """For ``codeassist/status``: the rates, the last cap and whether it was raised."""
        cap = self.last_cap

        def rnd(x: float | None) -> float | None:
            return None if x is None else round(x, 1)

        return {
            "promptTokS": rnd(self.prompt.recent), "decodeTokS": rnd(self.decode.recent),
            "slow": self.slow(), "timeCapMs": None if cap is None else round(cap.seconds * 1000),
            "capRaised": bool(cap and cap.raised),
        }  # fmt: skip


def with_deadline(cancel: CancelCheck | None, deadline: float | None) -> CancelCheck | None:
    """``cancel``, or'ed with a ``time.monotonic`` deadline (for backends that only poll a cancel check)."""
    if deadline is None:
        return cancel
    return lambda: (cancel is not None and cancel()) or time.monotonic() > deadline


def pending_tokens(cached: Sequence[int], prompt: Sequence[int]) -> int:
    """How many tokens of ``prompt`` a backend caching ``cached`` must evaluate (its common prefix is reused)."""
    n = 0
    for a, b in zip(cached, prompt, strict=False):
        if a != b:
            break
        n += 1
    return len(prompt) - n


def request_deadline(
    req: CompletionRequest, rates: RateEstimator, to_evaluate: int, scale: bool, started: float
) -> tuple[float | None, float | None]:
    """The monotonic deadline for ``req`` and its cap in seconds (None: none known): its own ``deadline`` as given,
    else ``time_cap_ms`` from ``started`` (``time.monotonic``, when the engine took the request), raised by the
    measured rates when ``scale``."""
    if req.deadline is not None:
        return req.deadline, None
    if req.time_cap_ms is None:
        return None, None
    configured = req.time_cap_ms / 1000
    seconds = rates.cap(configured, to_evaluate).seconds if scale else configured
    return started + seconds, seconds
