"""Cloze fix candidates (issue 13): each one-line statement is cut and filled by the model as a completion, never as
it stands, and the most suspicious answers are checked before the chat prompts. The line selection needs no model;
the last test runs the real model and sandbox through the fixer."""

from __future__ import annotations

from pathlib import Path

from codeassist.sandbox import Sandbox
from test_fix_focus import ranked
from test_localize import GRADES, SEEDED, TESTS
from verify_fixtures import make_project

from codeassist.engine import CompletionRequest, CompletionResult, Engine
from codeassist.fix_cloze import Cloze, cloze, cloze_lines, one_line_statements, statement_kind
from codeassist.fix_target import FixTarget, locate
from codeassist.fixer import FixConfig, Fixer
from codeassist.postprocess import BLANK_RUN, BLANK_RUN_AT_LINE_START, StreamFilter, make_situation
from codeassist.verify import Verifier

CODE = '''def f(xs, n):
    """Docstring.

    More."""
    total = sum(
        xs,
    )
    if total > n:  # a comment
        return total
    # a comment line
    return [
        n,
    ]
'''


def test_only_one_line_statements_and_headers_are_cut() -> None:
    # not the def, the docstring, the comment line or the lines of a statement written over several lines
    assert one_line_statements(CODE, 0, 12) == [7, 8]
    assert one_line_statements(CODE, 8, 12) == [8]
    assert one_line_statements("def f(:\n", 0, 0) == []
    # a compound statement written on one line is cut whole (its header and body are that line)
    assert one_line_statements("def f(x):\n    if x: return 1\n    return 2\n", 0, 2) == [1, 2]


def test_lines_no_failing_test_ran_are_not_cut_and_the_best_ranked_come_first() -> None:
    end = len(GRADES.rstrip("\n").split("\n")) - 1
    target = FixTarget("/p", "grades.py", GRADES, 0, end, "E   assert 'D' == 'C'", "test", "grade")
    assert cloze_lines(target, None) == [2, 3, 4, 5, 6, 7, 8]  # every statement, in order
    rows = [
        {"test": "test_a", "failed": False, "lines": [3, 4], "traceback": ""},
        {"test": "test_c", "failed": True, "lines": [3, 5, 7, 8], "traceback": ""},
    ]
    # 1-based 3, 5, 7, 8 ran in the failing test; 3 also in a passing one, so it ranks last
    assert cloze_lines(target, ranked(rows)) == [4, 6, 7, 2]
    assert cloze_lines(target, ranked(rows), limit=2) == [4, 6]
    assert cloze_lines(FixTarget("/p", "a.js", "x;\n", 0, 0, "e", "test"), None) == []


def test_the_most_suspicious_lines_rank_first() -> None:
    answers = [Cloze(3, "a", True, -0.1), Cloze(5, "b", False, -0.9), Cloze(7, "c", False, -0.2)]
    assert [c.line for c in sorted(answers, key=Cloze.rank)] == [7, 5, 3]


def test_a_run_of_spaces_on_the_cursor_line_stops_the_generation() -> None:
    stream = StreamFilter(make_situation("def f():\n    x = 1\n    ", "\n        return x\n", language="python"))
    assert stream(" " * (BLANK_RUN - 1))
    assert not stream(" " * BLANK_RUN) and stream.stopped_reason == "blank"
    assert StreamFilter(make_situation("def f():\n    x = 1\n    ", "\n", language="python"))("return x")
    # from column 0 a completion may start with deep indentation
    at_start = StreamFilter(make_situation("def f():\n    x = 1\n", "\n", language="python"))
    assert at_start(" " * BLANK_RUN)
    assert not at_start(" " * BLANK_RUN_AT_LINE_START) and at_start.stopped_reason == "blank"


def test_a_one_line_request_stops_at_the_line_end(engine: Engine) -> None:
    text = "def total(xs):\n    \n"
    res = engine.complete(CompletionRequest(text, 1, 4, path="/tmp/t.py", multiline=False), remember=False)
    assert "\n" not in res.text.strip("\n"), res.raw_text


def test_the_model_never_fills_a_cut_line_with_the_line_as_it_stands(engine: Engine) -> None:
    end = len(GRADES.rstrip("\n").split("\n")) - 1
    target = FixTarget("/p", "grades.py", GRADES, 0, end, "E   assert 'D' == 'C'", "test", "grade")
    lines = GRADES.split("\n")
    answers = cloze(engine, target, [SEEDED - 1, SEEDED - 2], deadline=None, cancel=None)
    assert answers, "no line got an answer"
    for a in answers:
        assert a.text.strip() != lines[a.line].strip() and a.text.startswith(" " * 4), a


def test_cloze_candidates_are_checked_before_the_chat_prompt(engine: Engine, sandbox: Sandbox, tmp_path: Path) -> None:
    root = make_project(tmp_path / "g", {"grades.py": GRADES, "test_grades.py": TESTS})
    verifier = Verifier(sandbox)
    target = locate(str(root / "grades.py"), verifier=verifier, root=str(root))
    config = FixConfig(k=1, deadline_s=None, cloze=2, stop_at_first_verified=True)
    outcome = Fixer(engine, verifier, config).candidates_for(target)
    assert outcome.localization is not None and outcome.cloze_lines >= 1, outcome.to_json()
    clozes = [c for c in outcome.candidates if c.source == "cloze"]
    assert 1 <= len(clozes) <= 2, outcome.to_json()
    for c in clozes:  # one line changed each, and every one checked by the tests
        assert c.diff_lines <= 2 and c.verdict.tiers, c.to_json()
        assert "\n" not in c.replacement.strip()
    if any(c.verdict.verified for c in clozes):  # the chat prompt was not needed
        assert outcome.generated == 0 and outcome.stopped == "first_verified", outcome.to_json()
    else:  # then the chat prompt was asked
        assert outcome.generated >= 1, outcome.to_json()


def test_statement_kinds() -> None:
    assert statement_kind(CODE, 4) == "Assign" and statement_kind(CODE, 7) == "If"
    assert statement_kind(CODE, 8) == "Return" and statement_kind(CODE, 9) is None
    assert statement_kind("def f(:\n", 0) is None


def test_every_cut_line_reuses_the_prompt_above_it(engine: Engine, tmp_path: Path) -> None:
    """One pinned context for the whole series: asked out of position order, the second line's prompt is evaluated
    only from the cut down (the window does not move with the cursor), and the model does not read past the target."""
    helpers = "".join(f"def helper_{i}(values):\n    return [v * {i} for v in values]\n\n\n" for i in range(40))
    body = "".join(f"    out = [v + {i} for v in out]\n" for i in range(24))
    target_fn = f"def scaled(values, k):\n    out = helper_3(values)\n{body}    return out\n"
    text = helpers + target_fn + "\n\ndef after_target(x):\n    return x\n"
    start = text[: text.index("def scaled")].count("\n")
    end = start + 26
    (tmp_path / "m.py").write_text(text, encoding="utf-8")
    target = FixTarget(str(tmp_path), "m.py", text, start, end, "E   assert 1 == 2", "test", "scaled")
    seen: list[tuple[CompletionRequest, int, int]] = []
    complete = engine.complete

    def spy(req: CompletionRequest, cancel: object = None, *, remember: bool = True) -> CompletionResult:
        res = complete(req, None, remember=remember)
        seen.append((req, res.timings.evaluated_tokens, res.timings.prompt_tokens))
        return res

    engine.complete = spy  # type: ignore[method-assign]
    try:
        cloze(engine, target, [end, start + 1], deadline=None, cancel=None)
    finally:
        del engine.complete
    assert len(seen) >= 2, seen
    assert all("after_target" not in req.text and req.pinned is not None for req, _, _ in seen)
    _, evaluated, prompt = seen[1]
    assert 0 < evaluated < prompt // 2, (evaluated, prompt)
