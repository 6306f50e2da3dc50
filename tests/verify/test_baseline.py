"""Verification relative to a baseline (issue 13, item 1), against a real sandbox and, for the fix, the real model.

The workspace is shaped like examples/: ``mean`` is still a stub, so ``test_mean`` fails before and after any edit
of ``median``. A correct fix of ``median`` must be verified; a candidate that breaks a test that passed before, or
leaves a test of the edited function failing, must not be.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from codeassist.sandbox import Sandbox
from seeded import BUGGY_MEDIAN
from verify_fixtures import make_project

from codeassist.completion import CompletionPolicy, check_completion
from codeassist.engine import CompletionRequest, CompletionResult, Engine
from codeassist.fix_target import locate
from codeassist.fixer import FixConfig, Fixer
from codeassist.testfinder import exercising_tests
from codeassist.testrun import compare, parse_pytest
from codeassist.verify import Change, Verifier

STATS = '''def mean(values):
    """Return the arithmetic mean of values."""
    if not values:
        raise ValueError("mean of empty list")
    return


'''
STATS += BUGGY_MEDIAN
STATS += '''

def spread(values):
    """Return max minus min."""
    return max(values) - min(values)
'''
FIXED = STATS.replace("// 3", "// 2")
TESTS = """from stats import mean, median, spread


def test_mean():
    assert mean([1.0, 2.0, 3.0, 6.0]) == 3.0


def test_median():
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5


def test_spread():
    assert spread([3.0, 1.0, 2.0]) == 2.0
"""
WHOLE_FILE = ("python3", "-m", "pytest", "-v", "-p", "no:cacheprovider", "test_stats.py")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj", {"stats.py": STATS, "test_stats.py": TESTS})


def edit(root: Path, text: str, command: tuple[str, ...] | None = None) -> Change:
    return Change(str(root), {"stats.py": text}, {"stats.py": STATS}, test_command=command)


def test_the_finder_selects_the_tests_that_exercise_the_target() -> None:
    assert exercising_tests(TESTS, ["median"]) == ["test_median"]
    helper = "from s import f\n\ndef _check(x):\n    assert f(x)\n\ndef test_a():\n    _check(1)\n\n"
    helper += "def test_b():\n    pass\n"
    assert exercising_tests(helper, ["f"]) == ["test_a"]  # through the file's own helper
    klass = "class TestF:\n    def setup_method(self):\n        self.g = f\n\n    def test_x(self):\n        self.g()\n"
    assert exercising_tests(klass, ["f"]) == ["TestF::test_x"]
    # unittest classes are collected under any name: a fix's still-failing test there is the fix's, not pre-existing
    unit = "import unittest\n\nclass SlidingWindowTests(unittest.TestCase):\n    def test_zero(self):\n        f(0)\n"
    assert exercising_tests(unit, ["f"]) == ["SlidingWindowTests::test_zero"]
    assert exercising_tests(unit.replace("unittest.TestCase", "object"), ["f"]) == []


def test_the_comparison_rule() -> None:
    before = parse_pytest(
        "t.py::test_a FAILED\nt.py::test_b PASSED\nt.py::test_c FAILED\n"
        "FAILED t.py::test_a - assert 1 == 2\nFAILED t.py::test_c - assert None == 3\n"
    )
    after = parse_pytest(
        "t.py::test_a PASSED\nt.py::test_b FAILED\nt.py::test_c FAILED\n"
        "FAILED t.py::test_b - assert 0\nFAILED t.py::test_c - assert None == 3\n"
    )
    found = compare(after, before, lambda t: t.endswith("test_a"))
    assert found.fixed == ("t.py::test_a",) and found.regressed == ("t.py::test_b",)
    assert found.pre_existing == ("t.py::test_c",) and not found.acceptable
    # the same identical failure in a test of the edited function is the candidate's, not pre-existing
    assert compare(after, before, lambda t: True).failing == ("t.py::test_c",)


def test_a_correct_fix_is_verified_although_an_unrelated_test_fails(sandbox: Sandbox, project: Path) -> None:
    v = Verifier(sandbox)
    argv, _ = v.test_command(edit(project, FIXED), v.snapshot_files(edit(project, FIXED)))
    assert argv is not None and "test_stats.py::test_median" in argv and "test_stats.py" not in argv
    assert v.verify(edit(project, FIXED)).verified
    # the user's test command runs the whole file: test_mean fails identically before and after -> pre-existing
    verdict = v.verify(edit(project, FIXED, WHOLE_FILE))
    assert verdict.verified, verdict.to_json()
    assert verdict.tiers[-1].pre_existing == ("test_stats.py::test_mean",)
    assert "pre-existing" in verdict.display


def test_candidates_the_baseline_does_not_excuse(sandbox: Sandbox, project: Path) -> None:
    v = Verifier(sandbox)
    # fixes median but breaks spread, whose test passed before
    broke = v.verify(edit(project, FIXED.replace("max(values) - min", "max(values) + min"), WHOLE_FILE))
    assert broke.rejected and "broke test_stats.py::test_spread (passed before)" in broke.tiers[-1].evidence
    # changes median without fixing it: test_median fails identically, but it tests the edited function
    noop = v.verify(edit(project, STATS.replace("ordered = sorted(values)", "ordered = list(sorted(values))")))
    assert noop.rejected and "fails test_stats.py::test_median" in noop.tiers[-1].evidence
    noop_all = v.verify(edit(project, STATS.replace("ordered = sorted(values)", "ordered = sorted(values)  # x")))
    assert noop_all.rejected


def test_the_same_rule_for_completions(sandbox: Sandbox, tmp_path: Path) -> None:
    """A completion finishing ``median`` is verified though the module's doctests include ``mean``'s, which fails
    before and after (the doctests of an edited module all run: a case the finder cannot narrow)."""
    with_doctests = FIXED.replace(
        '"""Return the arithmetic mean of values."""',
        '"""Return the arithmetic mean of values.\n\n    >>> mean([1, 3])\n    2.0\n    """',
    ).replace(
        '"""Return the median of values."""',
        '"""Return the median of values.\n\n    >>> median([1, 3])\n    2.0\n    """',
    )
    doc = with_doctests.replace("    return (ordered[middle - 1] + ordered[middle]) / 2\n", "    return \n")
    root = make_project(tmp_path / "c", {"stats.py": doc, "test_stats.py": TESTS})
    line = doc.split("\n").index("    return ")
    request = CompletionRequest(doc, line, 11, path=str(root / "stats.py"))
    result = CompletionResult("(ordered[middle - 1] + ordered[middle]) / 2", line, 11)
    checked = check_completion(request, result, CompletionPolicy(verify="sandbox"), Verifier(sandbox))
    assert checked.verdict.verified, checked.verdict.to_json()
    assert checked.verdict.tiers[-1].pre_existing == ("stats.py::stats.mean",)


def test_the_model_fixes_median_and_the_fix_is_verified(engine: Engine, sandbox: Sandbox, tmp_path: Path) -> None:
    """The issue's VS Code scenario end to end: a one-character syntax error in ``median`` while ``mean`` is a stub;
    the fix service (the editor's configuration) offers a verified fix."""
    broken = FIXED.replace("ordered = sorted(values)", "ordered = sorted(values")
    root = make_project(tmp_path / "ex", {"stats.py": broken, "test_stats.py": TESTS})
    verifier = Verifier(sandbox)
    target = locate(str(root / "stats.py"), verifier=verifier, root=str(root))
    outcome = Fixer(engine, verifier, FixConfig.for_editor("sandbox", k=3)).candidates_for(target)
    assert outcome.best is not None and outcome.best.verdict.verified, outcome.to_json()
