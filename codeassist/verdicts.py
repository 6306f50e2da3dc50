"""Verdicts: what a check found, as typed values with evidence, and how a test run becomes one.

Why a module of its own: the verifier (:mod:`codeassist.verify`), the services that label suggestions and the
baseline comparison (:mod:`codeassist.testrun`) all speak these types; the rule that "verified: tests pass" needs a
sandbox run in which tests ran and passed (or failed only as they did before the edit) lives here, once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from codeassist.sandbox import RunResult
from codeassist.testrun import Comparison, TestRun

LABEL_TESTS = "verified: tests pass"
LABEL_COMPILES = "compiles"
LABEL_UNVERIFIED = "unverified"
LABEL_FAILED = "failed"
LABEL_CHECKING = "checking…"  # shown at once; the tests' verdict follows (an editor's background check)
CancelCheck = Callable[[], bool]
CHECK_CANCELLED = "check cancelled"  # a newer request superseded it, or the job's time cap cut it

VerifyMode = Literal["off", "syntax", "sandbox"]
VERIFY_MODES: tuple[VerifyMode, ...] = ("off", "syntax", "sandbox")
TierName = Literal["syntax", "compile", "tests"]
# passed: checked and fine; failed: checked and wrong; skipped: nothing to check (e.g. no tests found);
# error: could not check (sandbox unavailable, timeout of the checker itself) -- never counts as a pass.
TierStatus = Literal["passed", "failed", "skipped", "error"]


@dataclass(frozen=True)
class TierVerdict:
    """The outcome of one tier, with what it ran and the evidence (error output tail or reason)."""

    tier: TierName
    status: TierStatus
    evidence: str = ""
    command: tuple[str, ...] = ()
    wall_s: float = 0.0
    cached: bool = False
    tests_ran: bool = False  # only for the tests tier: the run shows at least one test executed
    pre_existing: tuple[str, ...] = ()  # tests tier: failures the unmodified code has too (not the edit's)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    """All tiers run for one candidate, and the label to show. ``rejected`` means a check ran and failed."""

    label: str
    reason: str
    tiers: tuple[TierVerdict, ...] = ()
    rejected: bool = False

    @property
    def verified(self) -> bool:
        """True only when tests ran and passed in the sandbox."""
        return self.label == LABEL_TESTS

    @property
    def display(self) -> str:
        """The label with its reason when it is not a full pass, e.g. ``unverified (sandbox unavailable: …)``."""
        if not self.reason:
            return self.label
        return f"{self.label} ({self.reason})"

    @property
    def rank(self) -> int:
        """Lower is better: verified < compiles < unverified < failed."""
        return {LABEL_TESTS: 0, LABEL_COMPILES: 1, LABEL_UNVERIFIED: 2}.get(self.label, 3)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label, "reason": self.reason, "verified": self.verified, "rejected": self.rejected,
            "tiers": [t.to_json() for t in self.tiers],
        }  # fmt: skip


@dataclass(frozen=True)
class TierBudget:
    """Per-tier wall-clock limits (seconds) for the sandbox runs."""

    compile_s: float = 15.0
    tests_s: float = 60.0


_PYTEST_RAN = re.compile(r"\b(\d+) passed\b")
_PYTEST_FAILED = re.compile(r"\b(\d+) (failed|error|errors)\b")


def tail(text: str, n: int = 2000) -> str:
    return text if len(text) <= n else "…" + text[-n:]


PYTEST_USAGE_ERROR = 4  # pytest's exit code when it cannot start with its arguments (its own or the project's addopts)
NO_ADDOPTS = ("-o", "addopts=")


def without_addopts(argv: tuple[str, ...], res: RunResult) -> tuple[str, ...] | None:
    """The argv to run again when pytest could not start (usage error) under the project's ``addopts`` — e.g.
    ``--cov=…`` with pytest-cov not in the sandbox image: without them, as the benchmark's judge runs pytest. None
    when the run was not such an error or already ran without them."""
    if "pytest" not in argv or res.exit_code != PYTEST_USAGE_ERROR or argv[-2:] == NO_ADDOPTS:
        return None
    return (*argv, *NO_ADDOPTS)


def judge_run(res: RunResult, argv: tuple[str, ...], what: str) -> TierVerdict:
    """The tests tier's verdict of one sandbox run on its own (status not ``error``). pytest's usage or internal
    error (exit code 4, 3) is no verdict on the code: the tests never ran, so "could not check" (``error``)."""
    output = res.stdout + res.stderr
    is_pytest = "pytest" in argv
    if is_pytest and res.exit_code in (3, PYTEST_USAGE_ERROR):
        said = [line.strip() for line in output.splitlines() if "error" in line.lower()]
        why = f"pytest could not run the tests (exit code {res.exit_code}{': ' + said[-1] if said else ''})"
        return TierVerdict("tests", "error", tail(why, 300), argv, res.wall_s)
    if res.status == "passed":
        if is_pytest and not _PYTEST_RAN.search(output):
            return TierVerdict("tests", "skipped", tail(f"no test ran ({what})\n{output}"), argv, res.wall_s)
        return TierVerdict("tests", "passed", tail(f"{what}: {output}", 600), argv, res.wall_s, tests_ran=True)
    if is_pytest and res.exit_code == 5:
        return TierVerdict("tests", "skipped", tail(f"no tests collected ({what})\n{output}"), argv, res.wall_s)
    why = res.reason or f"exit code {res.exit_code}"
    return TierVerdict("tests", "failed", tail(f"{why}\n{output}"), argv, res.wall_s, tests_ran=True)


def judge_comparison(
    found: Comparison, after: TestRun, argv: tuple[str, ...], what: str, res: RunResult
) -> TierVerdict:
    """A failed run re-judged against the baseline: passed when every failure is pre-existing (they are listed as
    such), else failed with the candidate's own failures first, then the output tail (for the next prompt)."""
    summary = found.describe(after)
    if found.acceptable:
        evidence = tail(f"{what}: {found.passed} passed; {summary}", 1200)
        return TierVerdict(
            "tests", "passed", evidence, argv, res.wall_s, tests_ran=True, pre_existing=found.pre_existing
        )
    why = f"exit code {res.exit_code}" if found.passed or found.regressed or found.failing else "no test passed"
    evidence = tail(f"{why}\n{summary}\n{res.stdout}{res.stderr}")
    return TierVerdict("tests", "failed", evidence, argv, res.wall_s, tests_ran=True, pre_existing=found.pre_existing)
