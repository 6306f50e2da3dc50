"""The quality-measurement helpers: engine variants for the suite, the paired summary, the gate's calibration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.ab_summary import paired, summarise
from bench.calibrate_gate import calibrate
from bench.variant import write_variant


def test_variant_interpreter_sets_engine_fields(tmp_path: Path) -> None:
    script = write_variant("v", {"token_healing": False, "static_checks": []}, str(tmp_path), sys.executable)
    code = "from codeassist.engine import EngineConfig as C; c = C(); print(c.token_healing, c.static_checks)"
    proc = subprocess.run([script, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert proc.stdout.split() == ["False", "()"]
    with pytest.raises(SystemExit):
        write_variant("bad", {"no_such_field": 1}, str(tmp_path), sys.executable)


def _row(system: str, hole: str, kind: str, removed: str, text: str, status: str | None) -> dict[str, Any]:
    return {
        "repo": "r", "system": system, "hole": {"id": hole, "kind": kind, "removed": removed}, "fill": {"text": text},
        "score": {"shown": bool(text), "exact": text == removed, "exact_line": text.split("\n")[0] == removed},
        "selection": {"judgeable": status is not None}, "verdict": {"status": status} if status else None,
    }  # fmt: skip


def test_paired_summary_counts_characters_and_wins() -> None:
    rows = [
        _row("base", "h1", "line", "total = 1", "total = 2", "fail"),
        _row("new", "h1", "line", "total = 1", "total = 1", "pass"),
        _row("base", "h2", "token", "lue)", "lue)", "pass"),
        _row("new", "h2", "token", "lue)", "", "pass"),
    ]
    summary = summarise(rows)
    new = summary[("new", "all")]
    assert new["coverage"] == 0.5 and new["exact"] == 0.5 and new["tests_pass"] == 0.5 and new["precision"] == 1.0
    assert new["chars_kept"] == pytest.approx(9 / 13)
    assert summary[("base", "line")]["chars_kept"] == pytest.approx(8 / 9)
    assert summary[("base", "line")]["chars_wrong_per_shown"] == 1.0
    assert paired(rows, "base")["new"] == {"holes": 2, "exact_wins": 1, "exact_losses": 1, "test_wins": 1,
                                           "test_losses": 1}  # fmt: skip


def test_calibration_picks_the_most_useful_threshold() -> None:
    def sample(margin: float, passed: bool) -> dict[str, Any]:
        features = {"min_logprob": -margin, "mean_logprob": -margin, "first_logprob": -margin, "first_margin": margin}
        return {"features": features, "passed": passed}

    samples = [sample(5.0, True), sample(4.0, True), sample(3.0, False), sample(2.0, True), sample(0.5, False),
               sample(0.2, False)]  # fmt: skip
    result = calibrate(samples, total=10, target=0.75)
    assert result["ungated"] == {"shown": 6, "correct": 3, "coverage": 0.6, "precision": 0.5}
    default = result["default"]
    assert default["feature"] == "first_margin" and default["threshold"] == 2.0 and default["shown"] == 4
    assert result["at_target_precision"]["shown"] == 4
