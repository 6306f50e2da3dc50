"""Judging a test run against a baseline: which tests the edit fixed, broke, or left failing as they were.

Why a baseline: a workspace's tests are rarely all green. A correct fix of ``median`` must not be refused because
``test_mean`` fails before and after it (the user has not written ``mean`` yet), and a candidate must not be called
verified when it breaks a test that passed on the unmodified code. So the verifier runs the selected tests on the
unmodified snapshot too (cached by content hash, paid only when the candidate's run has failures) and compares
per-test outcomes parsed from pytest's ``-v`` lines and short summary.

The rule (:func:`compare`): the run is acceptable when at least one test passed, no test that passed before fails,
and every failing test is *pre-existing*: it failed before with the same message and it does not exercise the edited
symbols (a test that names the target, directly or through a helper in its file, must pass). Anything the baseline
cannot vouch for (it did not run, the message changed) counts against the candidate: "unknown" is never a pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

# A node id is a path and names joined by ``::``, the last name possibly with parameters in brackets, which may hold
# spaces (``test_x[a b]``, ``test_y[1 - 2]``): in a ``-v`` line the word follows the id, in the short summary the id
# follows the word, then maybe `` - message``.
_ID = r"\S+?::[^\s\[]+(?:\[.*?\])?"
_VERBOSE = re.compile(rf"^({_ID}) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b", re.M)
_SUMMARY = re.compile(rf"^(FAILED|ERROR) ({_ID}|\S+)(?: - (.*))?$", re.M)
_RAN = re.compile(r"\b(\d+) passed\b")


@dataclass(frozen=True)
class TestRun:
    """Per-test outcomes of one pytest run: node id -> "passed" | "failed" | "skipped", and each failure's message
    (the short summary's text after `` - ``). A collection error is a failure of the file's id."""

    outcomes: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    passed_count: int = 0

    @property
    def failed(self) -> list[str]:
        return sorted(t for t, o in self.outcomes.items() if o == "failed")


def parse_pytest(output: str) -> TestRun:
    """The outcomes pytest printed (``-v`` lines, then the short summary, which also names collection errors)."""
    outcomes: dict[str, str] = {}
    messages: dict[str, str] = {}
    for node, word in _VERBOSE.findall(output):
        state = {"PASSED": "passed", "XPASS": "passed", "SKIPPED": "skipped", "XFAIL": "skipped"}.get(word, "failed")
        if outcomes.get(node) != "failed":  # a teardown ERROR after PASSED is a failure
            outcomes[node] = state
    for _word, node, message in _SUMMARY.findall(output):
        outcomes[node] = "failed"
        messages[node] = (message or "").strip()
    ran = [int(n) for n in _RAN.findall(output)]
    return TestRun(outcomes, messages, max(ran, default=sum(o == "passed" for o in outcomes.values())))


@dataclass(frozen=True)
class Comparison:
    """How a candidate's run compares with the unmodified code's. ``failing``: failures that are the candidate's
    (new, changed, or in a test of the edited symbols); ``pre_existing``: identical before and after, elsewhere."""

    passed: int
    fixed: tuple[str, ...] = ()
    regressed: tuple[str, ...] = ()
    failing: tuple[str, ...] = ()
    pre_existing: tuple[str, ...] = ()

    @property
    def acceptable(self) -> bool:
        return self.passed > 0 and not self.regressed and not self.failing

    def describe(self, after: TestRun) -> str:
        """One line per finding, worst first, with the failure's message: what the user (and the next prompt) sees."""
        lines = [f"broke {t} (passed before): {after.messages.get(t, '')}".rstrip(": ") for t in self.regressed]
        lines += [f"fails {t}: {after.messages.get(t, '')}".rstrip(": ") for t in self.failing]
        lines += [f"fixed {t}" for t in self.fixed]
        lines += [f"pre-existing failure (same before the change): {t}" for t in self.pre_existing]
        return "\n".join(lines)


def compare(after: TestRun, before: TestRun | None, exercises_target: Callable[[str], bool]) -> Comparison:
    """The rule of this module. ``before`` None: the unmodified code was not run (or could not be)."""
    regressed: list[str] = []
    failing: list[str] = []
    pre_existing: list[str] = []
    prior = before.outcomes if before is not None else {}
    for test in after.failed:
        if prior.get(test) == "passed":
            regressed.append(test)
        elif (
            prior.get(test) == "failed"
            and before is not None
            and before.messages.get(test) == after.messages.get(test)
            and not exercises_target(test)
        ):
            pre_existing.append(test)
        else:
            failing.append(test)
    fixed = [t for t, o in after.outcomes.items() if o == "passed" and prior.get(t) != "passed" and before is not None]
    return Comparison(after.passed_count, tuple(sorted(fixed)), tuple(regressed), tuple(failing), tuple(pre_existing))
