"""Fault localisation (issue 13, item 3) in the real sandbox: the seeded line ranks first, and the ranking is evidence
in the fix's JSON (the real model generates the candidate)."""

from __future__ import annotations

from pathlib import Path

from codeassist.sandbox import Sandbox
from verify_fixtures import make_project

from codeassist.engine import Engine
from codeassist.fix_target import locate
from codeassist.fixer import FixConfig, Fixer
from codeassist.localize import rank
from codeassist.verify import Verifier

GRADES = '''def grade(score):
    """Letter grade: A from 90, B from 80, C from 70, else F."""
    if score >= 90:
        return "A"
    if score >= 80:
        return "B"
    if score >= 70:
        return "D"
    return "F"
'''
SEEDED = 8  # 1-based: return "D"
TESTS = """from grades import grade


def test_a():
    assert grade(95) == "A"


def test_b():
    assert grade(85) == "B"


def test_c():
    assert grade(75) == "C"


def test_f():
    assert grade(10) == "F"
"""


def test_ochiai_rank() -> None:
    rows = [
        {"test": "a", "failed": False, "lines": [3, 4], "traceback": ""},
        {"test": "c", "failed": True, "lines": [3, 5, 7, 8], "traceback": "grades.py:8: AssertionError"},
        {"test": "f", "failed": False, "lines": [3, 5, 7, 9], "traceback": ""},
    ]
    found = rank(rows, "grades.py")
    assert found.lines[0].line == 8 and found.lines[0].in_traceback and found.lines[0].score > 1.0
    assert found.failing_tests == 1 and found.passing_tests == 2


def test_the_seeded_line_ranks_first_in_the_fix_json(engine: Engine, sandbox: Sandbox, tmp_path: Path) -> None:
    root = make_project(tmp_path / "g", {"grades.py": GRADES, "test_grades.py": TESTS})
    verifier = Verifier(sandbox)
    target = locate(str(root / "grades.py"), verifier=verifier, root=str(root))
    outcome = Fixer(engine, verifier, FixConfig(k=1, localize=True)).candidates_for(target)
    evidence = outcome.to_json()["localization"]
    assert evidence is not None and not evidence["error"], evidence
    assert evidence["failing_tests"] == 1 and evidence["passing_tests"] == 3
    top = evidence["lines"][0]
    assert top["line"] == SEEDED and top["failed"] == 1 and top["passed"] == 0, evidence
