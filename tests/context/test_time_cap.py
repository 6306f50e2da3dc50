"""The request deadline with the real model: a request that reaches it returns what was generated so far, gated and
marked partial, instead of nothing. The deadline is a fraction of the same request's uncapped generation time,
measured just before (never an absolute figure: the machine is shared)."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from codeassist.engine import CompletionRequest, Engine

pytestmark = pytest.mark.model

DOC = 'def fizzbuzz(n):\n    """FizzBuzz for one number, as a string."""\n    \n'


def test_a_capped_request_returns_partial_gated_text(engine: Engine, tmp_path: Any) -> None:
    path = os.path.join(str(tmp_path), "fizz.py")
    engine.config.typed_ahead = False
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
        engine.config.typed_ahead = True
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
