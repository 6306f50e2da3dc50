"""Judge spliced files by the repository's own tests, in the sandbox, cheaply and honestly.

Which tests: one traced run of the whole test command (``sandbox_driver.py trace``) records, per test, the source
lines it executed. A hole is *judgeable* when a test that passes on the original tree executes the hole's original
line(s). Its verdict comes from running exactly the passing tests that executed any line of the hole's enclosing
function body: a change inside a function cannot alter a test that never entered that function (not even through
compile-time effects such as a new local name, which only matter once the function runs), and a syntax error is
caught by those tests too, since they import its module. When the function ran while modules were being imported
(collection time), every passing test is used. Holes no passing test reaches are reported as unjudgeable, never as
passes or failures.

Verdicts are cached by (file, exact new text, test set), so two systems suggesting the same text, or a suggestion
equal to the original (whose verdict is the baseline's), share one sandbox run. Runs go through a thread pool so they
overlap with the model's inference.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codeassist.errors import CodeassistError
from codeassist.repobench.holes import Hole
from codeassist.repobench.store import JsonlWriter, read_jsonl
from codeassist.syntax import parse_python

if TYPE_CHECKING:
    from codeassist.sandbox import Sandbox

DRIVER = ".cabench/driver.py"
ARGS = ".cabench/args.json"
MARK = "CABENCH-RESULT "
TRACE_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class Verdict:
    """``status``: pass, fail (tests ran and failed, timed out, or the file does not parse) or error (the sandbox
    could not run them: never counted either way)."""

    status: str
    reason: str = ""
    tests: int = 0
    seconds: float = 0.0
    cached: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Selection:
    """The tests that can see a hole, or why none can."""

    tests: tuple[str, ...]
    judgeable: bool
    rule: str  # "function", "import-time", "no passing test executes the line"


@dataclass
class TraceMap:
    """Result of the traced run: tests, their outcomes, and which tests executed each source line."""

    tests: list[str]
    outcomes: list[str]
    durations: list[float]
    sets: list[list[int]]
    lines: dict[str, dict[str, int]]
    collect_lines: dict[str, list[int]]
    exit_code: int
    seconds: float

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> TraceMap:
        return TraceMap(**{k: data[k] for k in TraceMap.__dataclass_fields__})

    def _tests_at(self, path: str, lines: range) -> set[int]:
        table = self.lines.get(path, {})
        found: set[int] = set()
        for n in lines:
            sid = table.get(str(n))
            if sid is not None:
                found.update(self.sets[sid])
        return {i for i in found if self.outcomes[i] == "passed"}

    def select(self, hole: Hole) -> Selection:
        last = hole.line + hole.removed.count("\n")
        if not self._tests_at(hole.path, range(hole.line, last + 1)):
            return Selection((), False, "no passing test executes the line")
        body = range(hole.func_body[0], hole.func_body[1] + 1)
        if set(self.collect_lines.get(hole.path, ())) & set(body):
            passing = [t for t, o in zip(self.tests, self.outcomes, strict=True) if o == "passed"]
            return Selection(tuple(passing), True, "import-time")
        chosen = sorted(self._tests_at(hole.path, body))
        return Selection(tuple(self.tests[i] for i in chosen), True, "function")

    def run_seconds(self, tests: Sequence[str]) -> float:
        wanted = set(tests)
        return sum(d for t, d in zip(self.tests, self.durations, strict=True) if t in wanted)


def decode_result(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARK):
            data: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode(line[len(MARK) :])))
            return data
    return None


def test_files(tests: Sequence[str]) -> list[str]:
    return sorted({t.split("::", 1)[0] for t in tests})


class Judge:
    """Runs the repository's tests on spliced files; thread-safe, verdicts cached by content."""

    def __init__(
        self,
        files: Mapping[str, bytes],
        sandbox: Sandbox,
        *,
        pytest_args: Sequence[str],
        paths: Sequence[str],
        jobs: int = 2,
    ) -> None:
        self.files = dict(files)
        driver = Path(__file__).with_name("sandbox_driver.py").read_bytes()
        self.files[DRIVER] = driver
        self.driver_hash = hashlib.sha256(driver).hexdigest()[:16]
        self.sandbox = sandbox
        self.pytest_args = list(pytest_args)
        self.paths = list(paths)
        self.trace: TraceMap | None = None
        self._pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="bench-judge")
        self._lock = threading.Lock()
        self._futures: dict[str, Future[Verdict]] = {}
        self.runs = 0
        self._store: JsonlWriter | None = None

    def load_cache(self, path: str) -> None:
        """Reuse (and from now on append to) the verdicts stored at ``path`` by earlier runs on this tree."""
        for rec in read_jsonl(path):
            fut: Future[Verdict] = Future()
            fut.set_result(Verdict(**rec["verdict"]))
            self._futures.setdefault(rec["key"], fut)
        self._store = JsonlWriter(path)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, mode: str, args: dict[str, Any], replace: Mapping[str, str], timeout_s: float) -> Any:
        from codeassist.sandbox import Limits  # the sandbox package pulls in docker: only when a run is due

        files = dict(self.files)
        files.update({p: t.encode() for p, t in replace.items()})
        files[ARGS] = json.dumps({**args, "paths": self.paths}).encode()
        limits = Limits(timeout_s=timeout_s, output_bytes=64 << 20, tail_bytes=32 << 20)
        return self.sandbox.run(files, ["python3", DRIVER, mode, ARGS], limits)

    def run_trace(self, source_files: Sequence[str]) -> TraceMap:
        """The one traced run of the whole test command (slow: minutes for a big suite; callers cache it)."""
        result = self._run("trace", {"files": list(source_files), "pytest_args": self.pytest_args}, {}, TRACE_TIMEOUT_S)
        data = decode_result(result.stdout)
        if data is None:
            tail = (result.stderr or result.stdout or result.reason or "")[-600:]
            raise CodeassistError(f"the traced test run gave no result ({result.status}): {tail}")
        self.trace = TraceMap.from_json(data)
        return self.trace

    def submit(self, path: str, text: str, tests: Sequence[str]) -> Future[Verdict]:
        """The verdict of the tests ``tests`` on the tree with ``path`` replaced by ``text`` (cached, deduplicated)."""
        material = [self.driver_hash, self.pytest_args, self.paths, path, text, sorted(tests)]
        key = hashlib.sha256(json.dumps(material).encode()).hexdigest()
        with self._lock:
            known = self._futures.get(key)
            if known is not None:
                return _cached(known)
            fut = self._pool.submit(self._verdict, path, text, list(tests))
            self._futures[key] = fut
        fut.add_done_callback(lambda f: self._remember(key, f))
        return fut

    def _remember(self, key: str, fut: Future[Verdict]) -> None:
        if fut.cancelled() or fut.exception() is not None or self._store is None:
            return
        if fut.result().status in ("pass", "fail"):
            self._store.append({"key": key, "verdict": fut.result().to_json()})

    def _verdict(self, path: str, text: str, tests: list[str]) -> Verdict:
        try:
            parse_python(text)
        except (SyntaxError, ValueError) as exc:
            return Verdict("fail", f"syntax error: {exc.msg if isinstance(exc, SyntaxError) else exc}", len(tests))
        expected = self.trace.run_seconds(tests) if self.trace else 0.0
        timeout = min(900.0, max(60.0, 10 * expected + 30))
        args = {"tests": tests, "pytest_args": test_files(tests)}
        result = self._run("run", args, {path: text}, timeout)
        with self._lock:
            self.runs += 1
        if result.status == "timeout":
            return Verdict("fail", f"timed out after {timeout:.0f} s", len(tests), result.wall_s)
        if result.status == "error":
            return Verdict("error", result.reason or "sandbox error", len(tests), result.wall_s)
        data = decode_result(result.stdout)
        if data is None:
            return Verdict("fail", f"the test run died ({result.status}, exit {result.exit_code})", len(tests))
        ok = data["exit_code"] == 0 and data["passed"] + data["skipped"] == len(tests) and not data["missing"]
        reason = f"{data['passed']} passed, {data['failed']} failed, {len(data['missing'])} missing"
        return Verdict("pass" if ok else "fail", reason, len(tests), result.wall_s)


def _cached(fut: Future[Verdict]) -> Future[Verdict]:
    """A future that resolves to ``fut``'s verdict marked as cached."""
    out: Future[Verdict] = Future()

    def done(f: Future[Verdict]) -> None:
        if f.cancelled():
            out.cancel()
            return
        exc = f.exception()
        if exc is not None:
            out.set_exception(exc)
        else:
            v = f.result()
            out.set_result(Verdict(v.status, v.reason, v.tests, 0.0, True))

    fut.add_done_callback(done)
    return out
