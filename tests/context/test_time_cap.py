"""The request deadline with the real model: a request that reaches it returns what was generated so far, gated and
marked partial, instead of nothing. The deadline is a fraction of the same request's uncapped generation time,
measured just before (never an absolute figure: the machine is shared)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from codeassist.engine import CompletionRequest, Engine
from codeassist.engine_cap import MAX_SCALE, ONE_LINE_TOKENS

pytestmark = pytest.mark.model

DOC = 'def fizzbuzz(n):\n    """FizzBuzz for one number, as a string."""\n    \n'


def test_a_capped_request_returns_partial_gated_text(engine: Engine, tmp_path: Any) -> None:
    path = os.path.join(str(tmp_path), "fizz.py")
    engine.config.typed_ahead, budget = False, engine.config.time_budget_ms
    engine.config.time_budget_ms = None  # the uncapped reference must not hit the generation budget on a busy machine
    try:
        full = engine.complete(CompletionRequest(DOC, 2, 4, path=path, max_tokens=48))
        assert not full.partial and full.timings.generated_tokens >= 12, full
        partial = None
        for fraction in (0.5, 0.3, 0.7, 0.2):  # the machine's speed drifts: try a few cut points
            t = full.timings  # the prompt is cached now: the second request's time is context + generation
            deadline = time.monotonic() + (t.context_ms + t.generation_ms * fraction) / 1000
            got = engine.complete(CompletionRequest(DOC, 2, 4, path=path, max_tokens=48, deadline=deadline))
            assert got.partial == (got.stop_reason == "time_cap") or got.stop_reason == "time_budget", got
            if got.partial and got.text:
                partial = got
                break
    finally:
        engine.config.typed_ahead, engine.config.time_budget_ms = True, budget
    assert partial is not None, "no cut point produced a partial suggestion"
    assert partial.stop_reason == "time_cap"
    assert partial.timings.generated_tokens < full.timings.generated_tokens
    assert partial.gate in ("ok", "truncated")  # it passed the syntax gate (truncated to its longest good prefix)


def test_a_cancel_is_not_a_cap(engine: Engine, tmp_path: Any) -> None:
    """A caller's cancel (a newer keystroke) still means 'cancelled', not a partial answer to show."""
    path = os.path.join(str(tmp_path), "fizz2.py")
    got = engine.complete(
        CompletionRequest(DOC, 2, 4, path=path, max_tokens=48, deadline=time.monotonic() + 3600), cancel=lambda: True
    )
    assert got.stop_reason == "cancelled" and not got.partial


def long_document() -> str:
    """A real module of about a thousand tokens (the cursor goes at the start of a line in its middle)."""
    return (Path(__file__).resolve().parents[2] / "codeassist" / "typed_ahead.py").read_text(encoding="utf-8")


def test_a_capped_prompt_evaluation_stops_in_time_and_the_next_request_resumes_it(
    engine: Engine, tmp_path: Any
) -> None:
    """The cap covers prompt evaluation: a request whose cap ends while its prompt is read returns (nothing, capped in
    the prompt) within the cap plus one prompt chunk's time, and keeps what it evaluated in the KV cache, so the next
    request evaluates only the remainder (tokens counted)."""
    text = long_document()
    line = text[: text.index("    def window(")].count("\n")
    path = os.path.join(str(tmp_path), "typed_ahead_copy.py")
    engine.config.typed_ahead, engine.config.scale_time_cap = False, False
    try:
        engine.warm(CompletionRequest(DOC, 2, 4, path=os.path.join(str(tmp_path), "other.py")))  # cold for `text`
        rate = engine.backend.prompt_rate.tok_s  # type: ignore[union-attr]
        assert rate is not None
        capped = None
        # the machine's speed drifts, and a rate measured on a short prompt can be far below a long prompt's (an idle
        # CI machine finished the whole prompt under 0.5 of the estimate): try caps down to a few chunks' worth
        for fraction in (0.3, 0.1, 0.03, 0.01):
            cap_ms = 1000 / rate * fraction * 1000
            got = engine.complete(CompletionRequest(text, line, 0, path=path, time_cap_ms=cap_ms))
            assert got.time_cap_ms == round(cap_ms)
            if got.capped_in_prompt:
                capped = got
                break
            engine.warm(CompletionRequest(DOC, 2, 4, path=os.path.join(str(tmp_path), "other.py")))
        assert capped is not None, "no cap stopped the prompt evaluation midway"
        t = capped.timings
        assert capped.stop_reason == "time_cap" and capped.partial and capped.text == ""
        assert 0 < t.evaluated_tokens < t.prompt_tokens - t.reused_tokens, t
        # on time: the cap plus at most one chunk (the one that turned out slower than the measured rate predicted)
        assert t.prompt_ms <= cap_ms + t.prompt_chunk_ms * 1.1 + 20, t

        again = engine.complete(CompletionRequest(text, line, 0, path=path))
        a = again.timings
        assert again.stop_reason != "time_cap" and not again.capped_in_prompt
        assert a.prompt_tokens == t.prompt_tokens
        assert a.reused_tokens == t.reused_tokens + t.evaluated_tokens  # resumed where the capped request stopped
        assert a.evaluated_tokens == a.prompt_tokens - a.reused_tokens
    finally:
        engine.config.typed_ahead, engine.config.scale_time_cap = True, True


def test_the_cap_rises_with_the_measured_rate_when_that_lets_a_line_finish(engine: Engine, tmp_path: Any) -> None:
    """Through the engine: once rates are measured, a cap too short to write one line is raised to what that takes
    (within MAX_SCALE times), and reported; a cap that even MAX_SCALE times cannot save stays as given (fail fast,
    warm later); with scaling off the cap stands as given."""
    path = os.path.join(str(tmp_path), "fizz3.py")
    engine.config.typed_ahead = False
    try:
        engine.complete(CompletionRequest(DOC, 2, 4, path=path))  # measures the rates; the prompt is cached now
        decode = engine.rates.decode.recent
        assert engine.rates.prompt.recent is not None and decode is not None
        needed_ms = ONE_LINE_TOKENS / decode * 1000  # nothing left to evaluate: one line to write
        got = engine.complete(CompletionRequest(DOC, 2, 4, path=path, time_cap_ms=needed_ms / 2))
        assert got.time_cap_ms == round(needed_ms) and engine.rates.to_json()["capRaised"]
        assert needed_ms / 2 * MAX_SCALE >= needed_ms

        text = long_document()
        line = text[: text.index("    def window(")].count("\n")
        cold = os.path.join(str(tmp_path), "typed_ahead_cold.py")
        got = engine.complete(CompletionRequest(text, line, 0, path=cold, time_cap_ms=1.0))
        assert got.time_cap_ms == 1 and got.capped_in_prompt  # ~1000 cold tokens: 3 ms would not help either

        engine.config.scale_time_cap = False
        got = engine.complete(CompletionRequest(DOC, 2, 4, path=path, time_cap_ms=needed_ms / 2))
        assert got.time_cap_ms == round(needed_ms / 2)
    finally:
        engine.config.typed_ahead, engine.config.scale_time_cap = True, True
