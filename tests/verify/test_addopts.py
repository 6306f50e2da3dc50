"""A project whose pytest ``addopts`` name a plugin the sandbox image lacks (``--cov=…``, common in real
repositories: parse on the real-repository suite): pytest stops with a usage error before any test runs. That is no
verdict on the code — it was reported "failed" and every suggestion there was withdrawn. Now the tests run again
without the project's addopts (as the benchmark's judge runs them), and a run pytest cannot start at all is
"unverified", never "failed"."""

from __future__ import annotations

from pathlib import Path

import pytest
from codeassist.sandbox import RunResult, Sandbox
from verify_fixtures import BUGGY_STATS, TEST_STATS, make_project

from codeassist.verdicts import judge_run, without_addopts
from codeassist.verify import LABEL_FAILED, LABEL_TESTS, Change, Verifier

FIXED_STATS = BUGGY_STATS.replace("n < 0", "n > 0")
COV = '[project]\nname = "stats"\n\n[tool.pytest.ini_options]\naddopts = "--cov=stats --cov-branch"\n'


def change(root: Path, text: str) -> Change:
    return Change(str(root), {"stats.py": text}, {"stats.py": BUGGY_STATS})


@pytest.mark.docker
def test_tests_run_without_addopts_pytest_cannot_start_with(sandbox: Sandbox, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"stats.py": BUGGY_STATS, "test_stats.py": TEST_STATS, "pyproject.toml": COV})
    v = Verifier(sandbox)
    good = v.verify(change(root, FIXED_STATS))
    assert good.label == LABEL_TESTS and good.tiers[-1].command[-2:] == ("-o", "addopts="), good
    bad = v.verify(change(root, BUGGY_STATS.replace("n < 0", "n == 0")))
    assert bad.label == LABEL_FAILED and bad.rejected, bad  # the tests ran, and they judge the code


def test_a_pytest_usage_error_is_no_verdict_on_the_code() -> None:
    argv = ("python3", "-m", "pytest", "-v", "test_x.py")
    said = "ERROR: usage: pytest [options]\npytest: error: unrecognized arguments: --cov"
    usage = RunResult("failed", 4, "", said, 0.1)
    assert without_addopts(argv, usage) == (*argv, "-o", "addopts=")
    assert without_addopts((*argv, "-o", "addopts="), usage) is None  # once only
    assert without_addopts(argv, RunResult("failed", 1, "", "", 0.1)) is None  # a real failure
    verdict = judge_run(usage, argv, "1 test file(s)")
    assert verdict.status == "error" and "unrecognized arguments" in verdict.evidence, verdict
