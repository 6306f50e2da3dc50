"""Confidence features: computed on the shown text from the real model's token log-probabilities, and the
precision/coverage curve the stay-silent gate is calibrated on."""

from __future__ import annotations

import dataclasses

import pytest

from codeassist.completion import Completion
from codeassist.confidence import (
    CALIBRATED,
    FEATURES,
    confidence_of,
    parse_gate,
    pick_threshold,
    precision_coverage,
    resolve_gate,
)
from codeassist.engine import CompletionRequest, Engine
from codeassist.models.backend import Generation
from codeassist.models.registry import DEFAULT_TIER, EMBEDDED_TIER


def test_precision_coverage_curve() -> None:
    samples = [(0.9, True), (0.8, True), (0.8, False), (0.5, True), (0.1, False)]
    points = precision_coverage(samples, total=10)
    assert [p.threshold for p in points] == [0.9, 0.8, 0.5, 0.1]
    assert [p.shown for p in points] == [1, 3, 4, 5]
    assert [p.correct for p in points] == [1, 2, 3, 3]
    assert points[1].precision == pytest.approx(2 / 3) and points[1].coverage == pytest.approx(0.3)
    assert pick_threshold(points, min_precision=0.7) == points[2]  # 3/4: the most coverage at >= 70%
    assert pick_threshold(points, min_precision=0.7, min_coverage=0.5) is None


def test_gate_setting_parses_and_resolves_per_model(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_gate("off") is None and parse_gate(" auto ") == "auto"
    assert parse_gate("min_logprob:-1.5") == ("min_logprob", -1.5)
    for bad in ("min_logprob", "nope:1", "min_logprob:x", "first_margin:nan", ""):
        with pytest.raises(ValueError, match="confidence_gate"):
            parse_gate(bad)
    monkeypatch.setitem(CALIBRATED, "some-tier", ("mean_logprob", -0.5))
    # auto: the rule calibrated for the loaded model; none for a model nobody calibrated (a user's GGUF, a remote)
    assert resolve_gate("auto", "some-tier") == ("mean_logprob", -0.5)
    assert resolve_gate("auto", "/home/me/other.gguf") is None and resolve_gate("auto", None) is None
    assert resolve_gate(("first_margin", 2.0), "some-tier") == ("first_margin", 2.0)
    assert resolve_gate(None, "some-tier") is None


def test_auto_gate_is_calibrated_for_the_default_tier() -> None:
    # the rule users get by default (bench/calibration/gate-<tier>.json, bench/RESULTS-repos.md)
    feature, threshold = CALIBRATED[DEFAULT_TIER]
    assert feature in FEATURES and threshold < 0
    assert EMBEDDED_TIER not in CALIBRATED  # never calibrated: the fallback shows everything, and says it is a fallback


def _generation(text: str, pieces: list[str], logprobs: list[float], healed: int = 0) -> Generation:
    ends, total = [], 0
    for i, piece in enumerate(pieces):
        total += len(piece)
        ends.append(0 if i < healed else total)
    margins = [1.0 + i for i in range(len(pieces))]
    return Generation(
        text=text, tokens=list(range(len(pieces))), token_logprobs=logprobs, token_margins=margins, token_ends=ends,
        healed_tokens=healed,
    )  # fmt: skip


def test_only_the_tokens_behind_the_shown_text_count() -> None:
    pieces = ["total", " /", " n", "\n\n", "#", " usage"]
    gen = _generation("total / n\n\n# usage", pieces, [-0.1, -0.2, -0.3, -5, -6, -7])
    conf = confidence_of(gen, "total / n")
    assert conf is not None and conf.tokens == 3
    assert conf.min_logprob == -0.3 and conf.mean_logprob == pytest.approx(-0.2)
    assert conf.first_logprob == -0.1 and conf.first_margin == 1.0
    assert confidence_of(gen, "") is None


def test_healing_tokens_before_the_shown_text_are_left_out() -> None:
    # healed "    " re-typed as "   " (nothing shown yet), then " return" shows "return"
    gen = _generation("return x", ["   ", " return", " x"], [-3.0, -0.5, -0.25], healed=1)
    gen.token_ends = [0, 6, 8]
    conf = confidence_of(gen, "return x")
    assert conf is not None and conf.tokens == 2 and conf.first_logprob == -0.5 and conf.first_margin == 2.0


def test_reindented_shown_text_maps_to_its_lines() -> None:
    gen = _generation("a = 1\n\tb = 2\nc", ["a = 1\n", "\tb", " = 2", "\nc"], [-0.1, -0.2, -0.3, -4.0])
    conf = confidence_of(gen, "a = 1\n    b = 2")
    assert conf is not None and conf.tokens == 3 and conf.min_logprob == -0.3


@pytest.mark.model
def test_real_completion_carries_confidence(engine: Engine) -> None:
    sure = engine.complete(CompletionRequest(text="import numpy as \n", line=0, column=16, path="conf.py"))
    assert sure.text == "np" and sure.confidence is not None
    conf = sure.confidence
    assert conf.tokens >= 1 and conf.min_logprob <= conf.mean_logprob <= 0 and conf.first_margin >= 0
    assert conf.tokens <= sure.timings.generated_tokens
    assert "confidence" in sure.to_json()


def test_unsure_rule() -> None:
    from codeassist.confidence import Confidence, unsure

    conf = Confidence(tokens=2, min_logprob=-2.0, mean_logprob=-1.0, first_logprob=-0.5, first_margin=3.0)
    assert unsure(conf, ("min_logprob", -1.5)) and not unsure(conf, ("min_logprob", -2.5))
    assert not unsure(conf, None) and not unsure(None, ("first_margin", 99.0))
    with pytest.raises(ValueError):
        unsure(conf, ("tokens", 1.0))


@pytest.mark.model
def test_confidence_gate_hides_unsure_suggestions(engine: Engine) -> None:
    request = CompletionRequest(text="x = \n", line=0, column=4, path="gate.py")
    saved = engine.config.confidence_gate, engine.config.typed_ahead
    engine.config.typed_ahead = False
    try:
        engine.config.confidence_gate = ("first_margin", 1e9)
        hidden = engine.complete(request)
        assert hidden.text == "" and hidden.gate == "unsure" and hidden.confidence is not None
        # the status says why the answer is empty
        status = Completion(hidden, None).status_json()
        assert status is not None and status["label"] == "unsure" and status["shown"] is False, status
        # a caller whose texts are shown only once their tests pass (verified alternatives) skips this gate alone
        ungated = engine.complete(dataclasses.replace(request, confidence_gate=False))
        assert ungated.text and ungated.gate != "unsure" and ungated.confidence is not None, ungated
        engine.config.confidence_gate = ("first_margin", -1.0)
        shown = engine.complete(request)
        assert shown.text and shown.gate != "unsure"
    finally:
        engine.config.confidence_gate, engine.config.typed_ahead = saved
