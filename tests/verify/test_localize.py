"""Fault localisation (issue 13, item 3) in the real sandbox: the seeded line ranks first, and the ranking is evidence
in the fix's JSON (the real model generates the candidate)."""

from __future__ import annotations

from pathlib import Path

import pytest
from codeassist.sandbox import Sandbox
from verify_fixtures import make_project

from codeassist.engine import Engine
from codeassist.fix_target import locate
from codeassist.fixer import FixConfig, Fixer
from codeassist.localize import collector_argv, rank
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
    # tests a (passing: lines 3, 4), c (failing: 3, 5, 7, 8; traceback at 8), f (passing: 3, 5, 7, 9), summed
    summary = {"failing": 1, "passing": 2, "lines": [[3, 1, 2], [5, 1, 1], [7, 1, 1], [8, 1, 0]], "traceback": [8]}
    found = rank(summary)
    assert found.lines[0].line == 8 and found.lines[0].in_traceback and found.lines[0].score > 1.0
    assert found.failing_tests == 1 and found.passing_tests == 2
    assert [s.line for s in found.lines] == [8, 5, 7, 3]


def test_the_seeded_line_ranks_first_in_the_fix_json(engine: Engine, sandbox: Sandbox, tmp_path: Path) -> None:
    root = make_project(tmp_path / "g", {"grades.py": GRADES, "test_grades.py": TESTS})
    verifier = Verifier(sandbox)
    target = locate(str(root / "grades.py"), verifier=verifier, root=str(root))
    outcome = Fixer(engine, verifier, FixConfig(k=1, localize=True, cloze=0)).candidates_for(target)
    evidence = outcome.to_json()["localization"]
    assert evidence is not None and not evidence["error"], evidence
    assert evidence["failing_tests"] == 1 and evidence["passing_tests"] == 3
    top = evidence["lines"][0]
    assert top["line"] == SEEDED and top["failed"] == 1 and top["passed"] == 0, evidence


def test_the_collector_runs_as_the_tests_tier_would() -> None:
    tier = ("env", "PYTHONPATH=src", "python3", "-B", "-m", "pytest", "-v", "-x", "-o", "addopts=", "t/test_a.py::t")
    argv = collector_argv(tier, "src/p/m.py")
    assert argv is not None and argv[:3] == ("env", "PYTHONPATH=src", "python3") and argv[6] == "src/p/m.py"
    assert argv[7:] == ("-v", "-o", "addopts=", "t/test_a.py::t")  # all but -x: passing tests are evidence too
    assert collector_argv(("pytest", "-k", "grade"), "m.py")[-2:] == ("-k", "grade")  # type: ignore[index]
    assert collector_argv(("make", "test"), "m.py") is None


@pytest.mark.docker
def test_a_src_layout_with_cov_addopts_is_localised(engine: Engine, sandbox: Sandbox, tmp_path: Path) -> None:
    """The package under ``src/`` (imported through ``PYTHONPATH=src``) and ``addopts`` naming pytest-cov, which
    the image lacks: both used to leave the collector with no test run, so such projects' fixes got no ranking."""
    files = {
        "src/school/__init__.py": "",
        "src/school/grades.py": GRADES,
        "tests/test_grades.py": TESTS.replace("from grades import", "from school.grades import"),
        "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "--cov=school"\n',
    }
    root = make_project(tmp_path / "s", files)
    verifier = Verifier(sandbox)
    target = locate(str(root / "src/school/grades.py"), verifier=verifier, root=str(root))
    found = Fixer(engine, verifier, FixConfig(k=1)).localize(target)
    assert not found.error and found.failing_tests == 1 and found.passing_tests == 3, found
    assert found.lines[0].line == SEEDED and found.lines[0].passed == 0, found
