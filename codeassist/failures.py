"""Failing functions of a file: the tests that exercise its functions, run in the sandbox, mapped back to the
functions they exercise, with each failure's message. The LSP server publishes them as diagnostics on save.

Why from the tests' own source: a failing assertion's traceback usually ends in the test, not in the function that
computed the wrong value; the test functions that name a function (directly or through their file's helpers:
:func:`codeassist.testfinder.exercising_tests`) are the ones whose failure points at it.
"""

from __future__ import annotations

from dataclasses import dataclass

from codeassist.pyast import functions
from codeassist.testfinder import exercising_tests
from codeassist.testrun import parse_pytest
from codeassist.verify import CancelCheck, Change, Verifier


@dataclass(frozen=True)
class FunctionFailure:
    """A function whose tests fail: its span (0-based, inclusive), the failing tests and their messages."""

    symbol: str
    start_line: int
    end_line: int
    tests: tuple[str, ...]
    message: str


def failing_functions(
    verifier: Verifier, root: str, rel: str, text: str, cancel: CancelCheck | None = None
) -> list[FunctionFailure] | None:
    """The functions of ``rel`` (contents ``text``, e.g. a saved buffer) whose tests fail; None when nothing could
    be checked (no tests, the sandbox unavailable, cancelled), [] when the tests pass."""
    defs = [(n, s, e) for n, s, e in functions(text) if not n.startswith("_") or n.startswith("__")]
    names = tuple(dict.fromkeys(n for n, _s, _e in defs))
    if not names:
        return None
    change = Change(root, {rel: text}, {rel: text}, names)
    files = verifier.snapshot_files(change)
    verdict = verifier.check_tests(change, files, cancel)
    if verdict.status == "passed":
        return []
    if verdict.status != "failed":
        return None
    run = parse_pytest(verdict.evidence)
    out: list[FunctionFailure] = []
    for name, start, end in defs:
        failed: list[str] = []
        for test in run.failed:
            path, _, rest = test.partition("::")
            if not rest:
                continue
            exercising = exercising_tests(files.get(path, b"").decode("utf-8", "replace"), [name]) or []
            if rest.split("[", 1)[0] in exercising or (path == rel and rest.rsplit(".", 1)[-1] == name):
                failed.append(test)
        if failed:
            messages = [f"{t.split('::')[-1]}: {run.messages.get(t) or 'failed'}" for t in failed[:3]]
            out.append(FunctionFailure(name, start, end, tuple(failed), "; ".join(messages)))
    return out
