"""The narrow fix question (issue 13, item 4): the localisation's top-ranked statement and the failing assertion are in
the prompt, the answer replaces that statement only, and the repair loop feeds a rejected candidate's failure into
the next narrow prompt. The prompt tests need no model; the last ones run the real model and sandbox."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from codeassist.sandbox import Sandbox
from test_localize import GRADES, SEEDED, TESTS
from verify_fixtures import make_project

from codeassist.engine import Engine
from codeassist.fix_focus import FOCUS_SYSTEM, LONG_BODY_LINES, plan_prompts, statement_span, suspects
from codeassist.fix_prompt import failure_text
from codeassist.fix_target import FixTarget, locate
from codeassist.fixer import FixConfig, Fixer
from codeassist.localize import Localization, rank
from codeassist.verify import Verifier

ERROR = "E       AssertionError: assert 'D' == 'C'\ntest_grades.py:13: AssertionError"


def grades_target() -> FixTarget:
    end = len(GRADES.rstrip("\n").split("\n")) - 1
    return FixTarget("/p", "grades.py", GRADES, 0, end, ERROR, "test", "grade", tests=TESTS.split("\n\n\n")[3])


def ranked(rows: list[dict[str, Any]]) -> Localization:
    """:func:`rank` over per-test rows, summed as the collector sums them in the sandbox."""
    failing = [r for r in rows if r["failed"]]
    lines = sorted({ln for r in rows for ln in r["lines"]})
    counts = [[ln, sum(ln in r["lines"] for r in failing), sum(ln in r["lines"] and not r["failed"] for r in rows)]
              for ln in lines]  # fmt: skip
    tb = sorted({int(n) for r in failing for n in re.findall(r"grades\.py:(\d+)", r["traceback"])})
    summary = {"failing": len(failing), "passing": len(rows) - len(failing), "lines": [c for c in counts if c[1]]}
    return rank({**summary, "traceback": tb})


ROWS = [
    {"test": "test_a", "failed": False, "lines": [3, 4], "traceback": ""},
    {"test": "test_b", "failed": False, "lines": [3, 5, 6], "traceback": ""},
    {"test": "test_c", "failed": True, "lines": [3, 5, 7, 8], "traceback": ""},
    {"test": "test_f", "failed": False, "lines": [3, 5, 7, 9], "traceback": ""},
]


def localization() -> Localization:
    return ranked(ROWS)


def test_statement_span_is_a_simple_statement_or_a_compound_header() -> None:
    text = "def f(x):\n    if (x >\n            3):\n        return [\n            1,\n        ]\n    return 0\n"
    assert statement_span(text, 1) == (1, 2)  # the if's header, over two lines
    assert statement_span(text, 4) == (3, 5)  # the whole return statement
    assert statement_span(text, 6) == (6, 6)
    assert statement_span("def f(:\n", 0) is None


def test_the_prompt_names_the_top_ranked_line_and_the_failure() -> None:
    target = grades_target()
    plans = plan_prompts(target, localization())
    assert len(plans) == 3 and plans[-1].focus is None  # two narrow questions, then the whole function
    first = plans[0]
    assert first.focus is not None and first.focus.line == SEEDED
    assert (first.target.start_line, first.target.end_line) == (SEEDED - 1, SEEDED - 1)
    system, user = first.messages[0].content, first.messages[-1].content
    assert system == FOCUS_SYSTEM
    assert f"Fault localisation points at line {SEEDED} (1 failing test(s) run it, no passing)" in user
    assert '```python\n        return "D"\n```' in user  # the statement itself, to rewrite
    assert "assert 'D' == 'C'" in user and "def test_c" in user  # the failing assertion's values and the test
    assert user.rstrip().endswith("Reply with only the corrected statement.")
    second = plans[1]
    assert second.focus is not None and second.focus.line == 7  # the if's header: the next suspect statement


def test_the_answer_replaces_the_statement_only() -> None:
    plan = plan_prompts(grades_target(), localization())[0]
    assert plan.extract('```python\nreturn "C"\n```') == '        return "C"'
    whole = "```python\n" + GRADES.replace('"D"', '"C"') + "```"  # the model echoed the function
    assert plan.extract(whole) == '        return "C"'
    moved = GRADES.replace("    if score >= 90", "    score = int(score)\n    if score >= 90").replace('"D"', '"C"')
    assert plan.extract(f"```python\n{moved}```") == '        return "C"'  # aligned by position, not by likeness
    assert plan.extract("no code") is None


def test_without_localisation_only_the_whole_prompt() -> None:
    target = grades_target()
    assert suspects(target, None) == []
    every_line = [3, 5, 7, 8, 9]
    rows = [{"test": "check", "failed": True, "lines": every_line, "traceback": ""}]
    assert suspects(target, ranked(rows)) == []  # no passing test: every line scores 1.0
    rows.append({"test": "t2", "failed": False, "lines": [3], "traceback": ""})
    assert suspects(target, ranked(rows)) == []  # four statements tie for the top: no narrow question
    crashed = [{"test": "check", "failed": True, "lines": every_line, "traceback": "grades.py:8: KeyError"}]
    assert [s[1] for s in suspects(target, ranked(crashed))] == [7]  # but the traceback names a line
    assert [p.focus for p in plan_prompts(target, None)] == [None]


def test_a_long_body_is_rewritten_whole_only_once() -> None:
    """Samples go to the narrow questions when the body is long: a whole rewrite there costs what many narrow
    answers cost (parse-pm-hours: 600 s of whole rewrites while the one-line question took a second)."""
    short = plan_prompts(grades_target(), localization())
    assert [p.sampled for p in short] == [True, True, True]
    padding = "".join(f"    step{i} = {i}\n" for i in range(LONG_BODY_LINES))
    text = GRADES.replace("    if score >= 90", padding + "    if score >= 90")
    shift = LONG_BODY_LINES
    lines = [{**r, "lines": [n + shift if n > 2 else n for n in r["lines"]]} for r in ROWS]
    target = FixTarget("/p", "grades.py", text, 0, len(text.rstrip("\n").split("\n")) - 1, ERROR, "test", "grade")
    long = plan_prompts(target, ranked(lines))
    assert [p.focus is None for p in long] == [False, False, True] and [p.sampled for p in long] == [True, True, False]
    assert [p.sampled for p in plan_prompts(target, None)] == [True]  # no narrow question: the whole one is sampled


def test_the_fixer_asks_about_the_seeded_line_first(engine: Engine, sandbox: Sandbox, tmp_path: Path) -> None:
    root = make_project(tmp_path / "g", {"grades.py": GRADES, "test_grades.py": TESTS})
    verifier = Verifier(sandbox)
    target = locate(str(root / "grades.py"), verifier=verifier, root=str(root))
    outcome = Fixer(engine, verifier, FixConfig(k=1, deadline_s=None, focus=True, cloze=0)).candidates_for(target)
    assert outcome.localization is not None and outcome.localization.lines[0].line == SEEDED
    assert f"points at line {SEEDED}" in outcome.prompts[0] and "assert 'D' == 'C'" in outcome.prompts[0]
    # Whether the 0.5B's greedy answer to the narrow question is the right one varies across CPUs (a fresh CI
    # machine's answer differed from ours): that is the benchmark's question (bench/RESULTS-verify.md). Here: every
    # candidate was checked by the tests, and one labelled verified rewrote only the seeded statement.
    assert all(c.verdict.tiers for c in outcome.candidates), outcome.to_json()
    for c in outcome.candidates:
        if c.verdict.verified:
            assert c.diff_lines <= 2 and '"C"' in c.replacement, c.to_json()


IMPOSSIBLE = GRADES.replace('"D"', '"X"')
NEVER = TESTS.replace('grade(75) == "C"', 'grade(75) == "Z" and grade(75) == "C", "expected zed"')  # no fix


def test_the_repair_loop_feeds_the_failure_into_the_next_narrow_prompt(
    engine: Engine, sandbox: Sandbox, tmp_path: Path
) -> None:
    root = make_project(tmp_path / "r", {"grades.py": IMPOSSIBLE, "test_grades.py": NEVER})
    verifier = Verifier(sandbox)
    target = locate(str(root / "grades.py"), verifier=verifier, root=str(root))
    cfg = FixConfig(k=6, deadline_s=None, max_tokens=96, repair=True, focus=True, cloze=0)
    outcome = Fixer(engine, verifier, cfg).candidates_for(target)
    assert "points at line" in outcome.prompts[0] and "That is still wrong" not in outcome.prompts[0]
    rejected = sorted((c for c in outcome.candidates if c.verdict.rejected), key=lambda c: c.index)
    fed = [c for c in rejected if c.index + 1 < len(outcome.prompts)]
    assert fed, outcome.to_json()
    for c in fed:  # each rejected candidate's own check is in the next prompt, after the same narrow question
        nxt = outcome.prompts[c.index + 1]
        assert "That is still wrong" in nxt and failure_text(c.verdict) in nxt, (c.index, outcome.prompts)
        if "tests fail" in c.verdict.display:
            assert "expected zed" in nxt  # the assertion's message
    assert all("That is still wrong" in p for p in outcome.prompts[fed[0].index + 1 :])
