"""The script ``bench repo`` ships into the sandbox next to the repository (as ``.cabench/driver.py``); the host never
runs it. It needs only the image's python3 and pytest.

``python3 .cabench/driver.py trace ARGS.json`` runs the selected tests once with a line tracer on the repository's
source files and prints which tests executed which lines (``<collect>`` for lines run while importing/collecting),
plus each test's outcome. ``python3 .cabench/driver.py run ARGS.json`` runs exactly the given test ids (a collection
hook deselects the rest) and prints how many passed. Results are the last stdout line, ``CABENCH-RESULT <base64 of
zlib-compressed JSON>``, so pytest's own output can precede it.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
import zlib
from types import FrameType
from typing import Any

COLLECT = "<collect>"
MARK = "CABENCH-RESULT "


def _emit(data: dict[str, Any]) -> None:
    sys.stdout.flush()
    blob = base64.b64encode(zlib.compress(json.dumps(data).encode(), 6)).decode()
    print("\n" + MARK + blob, flush=True)


class Tracer:
    """Records (file, line) executed per current test, for the given source files only."""

    def __init__(self, root: str, files: list[str]) -> None:
        self.index = {os.path.join(root, f): i for i, f in enumerate(files)}
        self.current = COLLECT
        self.hits: dict[str, set[tuple[int, int]]] = {COLLECT: set()}

    def global_trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event != "call":
            return None
        idx = self.index.get(frame.f_code.co_filename)
        if idx is None:
            return None
        bucket = self.hits.setdefault(self.current, set())

        def local(frame: FrameType, event: str, arg: Any) -> Any:
            if event == "line":
                bucket.add((idx, frame.f_lineno))
            return local

        return local

    def start(self) -> None:
        sys.settrace(self.global_trace)
        threading.settrace(self.global_trace)


class Plugin:
    """pytest hooks: which test is running, its outcome, and (for ``run``) which ids to keep."""

    def __init__(self, tracer: Tracer | None, keep: set[str] | None) -> None:
        self.tracer = tracer
        self.keep = keep
        self.outcomes: dict[str, str] = {}
        self.durations: dict[str, float] = {}
        self.selected: list[str] = []

    def pytest_collection_modifyitems(self, session: Any, config: Any, items: list[Any]) -> None:
        if self.keep is not None:
            kept = [it for it in items if it.nodeid in self.keep]
            dropped = [it for it in items if it.nodeid not in self.keep]
            if dropped:
                config.hook.pytest_deselected(items=dropped)
            items[:] = kept
        self.selected = [it.nodeid for it in items]

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        if self.tracer is not None:
            self.tracer.current = nodeid
            self.tracer.hits.setdefault(nodeid, set())

    def pytest_runtest_logreport(self, report: Any) -> None:
        prev = self.outcomes.get(report.nodeid, "passed")
        self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + float(report.duration)
        if report.failed:
            self.outcomes[report.nodeid] = "failed"
        elif report.skipped and prev != "failed":
            self.outcomes[report.nodeid] = "skipped"
        else:
            self.outcomes.setdefault(report.nodeid, "passed")

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        if self.tracer is not None:
            self.tracer.current = COLLECT


def _trace_result(tracer: Tracer, plugin: Plugin, files: list[str]) -> dict[str, Any]:
    """Per file and line, the index of the set of tests (into ``sets``) that executed it."""
    tests = list(plugin.selected)
    number = {t: i for i, t in enumerate(tests)}
    per_line: dict[tuple[int, int], list[int]] = {}
    collect_lines: dict[str, list[int]] = {}
    for test, hits in tracer.hits.items():
        if test == COLLECT:
            for fi, line in hits:
                collect_lines.setdefault(files[fi], []).append(line)
            continue
        if test not in number:
            continue
        for hit in hits:
            per_line.setdefault(hit, []).append(number[test])
    sets: list[list[int]] = []
    set_ids: dict[tuple[int, ...], int] = {}
    lines: dict[str, dict[str, int]] = {}
    for (fi, line), who in sorted(per_line.items()):
        key = tuple(sorted(set(who)))
        sid = set_ids.setdefault(key, len(sets))
        if sid == len(sets):
            sets.append(list(key))
        lines.setdefault(files[fi], {})[str(line)] = sid
    return {
        "tests": tests,
        "outcomes": [plugin.outcomes.get(t, "not run") for t in tests],
        "durations": [round(plugin.durations.get(t, 0.0), 4) for t in tests],
        "sets": sets,
        "lines": lines,
        "collect_lines": {f: sorted(set(v)) for f, v in collect_lines.items()},
    }


def main(argv: list[str]) -> int:
    import pytest  # only inside the sandbox image; the host never runs this script

    mode, args_path = argv[1], argv[2]
    with open(args_path, encoding="utf-8") as fh:
        args: dict[str, Any] = json.load(fh)
    root = os.getcwd()
    for entry in reversed([root, *[os.path.join(root, p) for p in args.get("paths", [])]]):
        sys.path.insert(0, entry)
    pytest_args = [*args.get("pytest_args", []), "-p", "no:cacheprovider", "-o", "addopts=", "-q", "--tb=short"]
    started = time.monotonic()
    if mode == "trace":
        files: list[str] = list(args["files"])
        tracer = Tracer(root, files)
        plugin = Plugin(tracer, None)
        tracer.start()
        code = int(pytest.main(pytest_args, plugins=[plugin]))
        sys.settrace(None)
        threading.settrace(None)
        result = _trace_result(tracer, plugin, files)
    else:
        keep = set(args["tests"])
        plugin = Plugin(None, keep)
        code = int(pytest.main([*pytest_args, "-x"], plugins=[plugin]))
        outcomes = [plugin.outcomes.get(t, "not run") for t in plugin.selected]
        result = {
            "selected": len(plugin.selected),
            "missing": sorted(keep - set(plugin.selected))[:20],
            "passed": outcomes.count("passed"),
            "failed": outcomes.count("failed"),
            "skipped": outcomes.count("skipped"),
        }
    result["exit_code"] = code
    result["seconds"] = round(time.monotonic() - started, 3)
    _emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
