"""Fault localisation in the sandbox: which lines of the target file the failing tests run and the passing ones do not.

Why: a small model repairs better when told *where* to look. The tests that judge the target run once, in the
sandbox (never on the host: tests execute code), under a ``sys.settrace`` line collector limited to the target file
(stdlib only, nothing to install in the image); each line gets the Ochiai score
``failed(l) / sqrt(total_failed * (failed(l) + passed(l)))``, and lines named in a failure's traceback get a small
boost to break ties. The ranking is evidence in the fix's JSON (``localization``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

_SCRIPT = r"""
import json, os, re, sys
import pytest
TARGET = os.path.abspath(sys.argv[1])
rows = []
SEEN = {}
class Collector:
    def __init__(self):
        self.lines = set()
    def local(self, frame, event, arg):
        if event == "line":
            self.lines.add(frame.f_lineno)
        return self.local
    def glob(self, frame, event, arg):
        name = frame.f_code.co_filename
        hit = SEEN.get(name)
        if hit is None:  # relative when imported through a relative PYTHONPATH entry (a src layout's "src")
            hit = SEEN[name] = os.path.abspath(name) == TARGET
        if hit:
            self.lines.add(frame.f_lineno)
            return self.local
        return None
class Plugin:
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        self.cov = Collector()
        sys.settrace(self.cov.glob)
        yield
        sys.settrace(None)
    def pytest_runtest_makereport(self, item, call):
        if call.when == "call":
            tb = str(call.excinfo.getrepr(style="short")) if call.excinfo else ""
            rows.append((call.excinfo is not None, self.cov.lines, tb))
args = ["-q", "-p", "no:cacheprovider", *sys.argv[2:]]
code = int(pytest.main(list(args), plugins=[Plugin()]))  # a copy: pytest prepends the addopts to it
if code == 4 and args[-2:] != ["-o", "addopts="]:
    # the project's addopts name a plugin the image lacks (--cov=...): run as the tests tier then does
    rows.clear()
    pytest.main([*args, "-o", "addopts="], plugins=[Plugin()])
# Summed here, and only the lines a failing test ran: per-test rows of a big suite overflow the output tail the
# sandbox keeps (16 KiB), and a line no failing test ran scores 0 anyway; at most the 900 best (about 11 KiB).
counts = {}
for failed, lines, tb in rows:
    for line in lines:
        counts.setdefault(line, [0, 0])[0 if failed else 1] += 1
named = re.compile(re.escape(sys.argv[1]) + r":(\d+)")
summary = {
    "failing": sum(r[0] for r in rows), "passing": sum(not r[0] for r in rows),
    "lines": sorted(([ln, f, p] for ln, (f, p) in counts.items() if f), key=lambda r: -r[1] / (r[1] + r[2]))[:900],
    "traceback": sorted({int(n) for failed, _l, tb in rows if failed for n in named.findall(tb)}),
}
print("\n@@CA-LOCALIZE@@" + json.dumps(summary, separators=(",", ":")))
"""
_MARK = "@@CA-LOCALIZE@@"


@dataclass(frozen=True)
class LineScore:
    line: int  # 1-based
    score: float
    failed: int  # failing tests that ran it
    passed: int
    in_traceback: bool = False


@dataclass
class Localization:
    """The ranked lines (best first) and what they were computed from; ``error`` when nothing could be computed."""

    lines: list[LineScore] = field(default_factory=list)
    failing_tests: int = 0
    passing_tests: int = 0
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "method": "ochiai over line coverage (sys.settrace in the sandbox) + traceback frames",
            "failing_tests": self.failing_tests, "passing_tests": self.passing_tests, "error": self.error,
            "lines": [asdict(s) for s in self.lines[:10]],
        }  # fmt: skip


def rank(summary: dict[str, Any]) -> Localization:
    """Ochiai scores from the collector's summary: ``failing`` and ``passing`` test counts, ``lines`` as
    ``[line, failing tests that ran it, passing tests that ran it]`` and the target's ``traceback`` lines."""
    failing, passing = int(summary["failing"]), int(summary["passing"])
    if not failing:
        return Localization([], 0, passing, "no failing test ran")
    in_tb = {int(n) for n in summary["traceback"]}
    scores = []
    for line, f, p in summary["lines"]:
        ochiai = f / math.sqrt(failing * (f + p)) if f else 0.0
        boost = 0.05 if line in in_tb else 0.0
        scores.append(LineScore(line, round(ochiai + boost, 4), f, p, line in in_tb))
    scores.sort(key=lambda s: (-s.score, s.line))
    return Localization(scores, failing, passing)


def collector_argv(test_argv: Sequence[str], target: str) -> tuple[str, ...] | None:
    """The collector's argv for the pytest run ``test_argv`` the tests tier would make, None when it is no pytest run.
    It keeps that run's environment (a ``src/`` layout's ``PYTHONPATH``) and every pytest argument (the project's own,
    ``-k``), only not ``-x``: the passing tests after a failure are half of the evidence. Why all of them: with only
    the test files, a ``src/`` layout's tests could not import the package and parse's ``--cov`` addopts stopped
    pytest, so no test ran and those projects' fixes got no localisation."""
    argv = list(test_argv)
    if "pytest" not in argv:
        return None
    at = argv.index("pytest")
    head = argv[: at - 1] if at and argv[at - 1] == "-m" else argv[:at]
    interpreters = [i for i, arg in enumerate(head) if re.fullmatch(r"python[\d.]*", arg.rsplit("/", 1)[-1])]
    prefix = head[: interpreters[-1]] if interpreters else head
    options = [arg for arg in argv[at + 1 :] if arg not in ("-x", "--exitfirst")]
    return (*prefix, "python3", "-B", "-c", _SCRIPT, target, *options)


def localize(
    run: Callable[[Mapping[str, bytes], tuple[str, ...]], tuple[str, str]],
    files: Mapping[str, bytes],
    target: str,
    test_argv: Sequence[str],
) -> Localization:
    """Run the pytest run ``test_argv`` under the collector (:func:`collector_argv`) through ``run`` (files, argv) ->
    (status, output), a sandbox runner; rank the lines of ``target`` (a path relative to the workspace)."""
    argv = collector_argv(test_argv, target)
    if argv is None:
        return Localization(error="no pytest run to localise with")
    status, output = run(files, argv)
    if _MARK not in output:
        return Localization(error=f"coverage run {status}: {output.strip()[-300:]}")
    try:
        summary = json.loads(output.rsplit(_MARK, 1)[1].strip().split("\n", 1)[0])
        return rank(summary)
    except (ValueError, KeyError, TypeError) as exc:
        return Localization(error=f"unreadable coverage output: {exc}")
