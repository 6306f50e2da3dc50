"""bench/cascade.py: the cascade's bookkeeping on hand-written rows (which tier each hole shows, what it costs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.cascade import curve, evaluate, load_pairs


def _row(system: str, hole: str, *, passed: bool, ms: float, conf: float | None, judged: bool = True) -> dict[str, Any]:
    info = {"confidence": {"min_logprob": conf}} if conf is not None else {}
    return {
        "repo": "r", "system": system, "hole": {"id": hole},
        "fill": {"text": "x", "latency_ms": ms, "info": info},
        "score": {"shown": True, "exact": passed}, "selection": {"judgeable": judged},
        "verdict": {"status": "pass" if passed else "fail"},
    }  # fmt: skip


def _run(tmp_path: Path) -> Path:
    rows = [
        _row("small", "a", passed=True, ms=100, conf=-0.1), _row("large", "a", passed=True, ms=300, conf=-0.1),
        _row("small", "b", passed=False, ms=100, conf=-2.0), _row("large", "b", passed=True, ms=300, conf=-0.5),
        _row("small", "c", passed=False, ms=100, conf=-0.2), _row("large", "c", passed=False, ms=300, conf=-0.3),
        _row("small", "d", passed=True, ms=100, conf=-0.3),  # the large tier never answered d: left out
    ]  # fmt: skip
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return tmp_path


def test_threshold_decides_which_tier_shows_and_the_cost_adds_up(tmp_path: Path) -> None:
    pairs = load_pairs(_run(tmp_path), "small", "large")
    assert len(pairs) == 3
    always_large = evaluate(pairs, "min_logprob", None)
    assert always_large["escalated"] == 1.0 and always_large["tests_pass"] == 2 / 3 and always_large["p50_ms"] == 300
    never = evaluate(pairs, "min_logprob", float("-inf"))
    assert never["escalated"] == 0.0 and never["tests_pass"] == 1 / 3 and never["p50_ms"] == 100
    mid = evaluate(pairs, "min_logprob", -1.0)  # a and c stay small, b goes to the large tier
    assert mid["escalated"] == 1 / 3 and mid["tests_pass"] == 2 / 3 and mid["mean_ms"] == (100 + 400 + 100) / 3
    assert [round(r["escalated"], 2) for r in curve(pairs, "min_logprob")] == [1.0, 0.67, 0.33, 0.0, 0.0]
