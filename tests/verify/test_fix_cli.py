"""``codeassist fix`` end to end: the real model proposes, the real sandbox verifies (and, without Docker, the fix
is labelled unverified)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from codeassist.sandbox import Sandbox
from verify_fixtures import BUGGY_STATS, CliRun

from codeassist.verify import Change, Verifier

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.mark.docker
def test_fix_returns_a_verified_fix_that_makes_the_tests_pass(
    buggy_project: Path, run_cli_env: CliRun, sandbox: Sandbox
) -> None:
    path = buggy_project / "stats.py"
    r = run_cli_env("fix", str(path), "--json", "--apply", "-k", "5", "--threads", "2", "--budget", "1")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["verified"] and data["label"] == "verified: tests pass" and data["applied"]
    assert data["kind"] == "test" and data["symbol"] == "count_positive"
    assert "-        if n < 0:" in data["best"]["diff"]
    tiers = data["best"]["verdict"]["tiers"]
    assert [t["tier"] for t in tiers] == ["syntax", "compile", "tests"] and tiers[-1]["tests_ran"]
    fixed = path.read_text()
    assert fixed != BUGGY_STATS
    # Independently of the CLI's own verdict, the written file passes the project's tests in the sandbox.
    independent = Verifier(sandbox).check_tests(
        Change(str(buggy_project), {}, {}, test_command=("python3", "-m", "pytest", "-q", "test_stats.py"))
    )
    assert independent.status == "passed", independent.evidence


def test_fix_without_sandbox_is_labelled_unverified(buggy_project: Path, run_cli_env: CliRun) -> None:
    path = buggy_project / "stats.py"
    r = run_cli_env(
        "fix", f"{path}:5", "--error", "count_positive([1, -2, 3]) returned 1, expected 2", "-k", "1",
        "--threads", "2", env={"DOCKER_HOST": "unix:///nonexistent.sock"},
    )  # fmt: skip
    assert r.returncode == 3, r.stderr  # a fix, but not verified
    assert r.stdout.startswith("# unverified (sandbox unavailable"), r.stdout
    assert "--- a/stats.py" in r.stdout and "+++ b/stats.py" in r.stdout
    assert path.read_text() == BUGGY_STATS  # never written without --apply


def test_fix_rejects_bad_input(run_cli_env: CliRun, tmp_path: Path) -> None:
    r = run_cli_env("fix", str(tmp_path / "missing.py"))
    assert r.returncode == 2 and "no such file" in r.stderr
