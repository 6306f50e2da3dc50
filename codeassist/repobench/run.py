"""One benchmark run on one repository: snapshot, holes, traced tests, fills per system, verdicts, report.

Resumable: every finished (system, hole) is one line of ``rows.jsonl`` in the output directory; ``resume=True``
skips those (the holes are a pure function of the tree and the seed, checked through ``meta.json``). Verdicts and the
traced run are also cached by content under the user cache dir, so re-running on the same tree reuses them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import platformdirs

from codeassist.errors import InputError
from codeassist.repobench import report
from codeassist.repobench.fill import Fill, LspFiller
from codeassist.repobench.holes import Hole, HoleKind, cut_holes, is_source_file
from codeassist.repobench.infill import InfillFiller, InfillOptions
from codeassist.repobench.judge import Judge, Selection, TraceMap, Verdict
from codeassist.repobench.scoring import score
from codeassist.repobench.store import JsonlWriter, read_jsonl
from codeassist.testfinder import src_paths
from codeassist.walk import read_files

FORMAT = 1


@dataclass(frozen=True)
class System:
    """A completion source: our server with settings (``lsp``) or a llama-server ``/infill`` (``infill``)."""

    name: str
    kind: Literal["lsp", "infill"]
    settings: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)  # extra environment of the server process
    python: str | None = None  # the interpreter whose codeassist serves (another checkout's venv); None: this one
    url: str | None = None
    infill: InfillOptions = field(default_factory=InfillOptions)

    def describe(self) -> dict[str, Any]:
        if self.kind == "lsp":
            return {"name": self.name, "kind": "lsp", "settings": dict(self.settings), "env": dict(self.env),
                    "python": self.python}  # fmt: skip
        return {"name": self.name, "kind": "infill", "url": self.url, "options": asdict(self.infill)}


@dataclass
class RepoRun:
    path: str
    out_dir: str
    name: str = ""
    holes: int = 30  # per kind, unless ``counts`` gives a number per kind
    kinds: tuple[HoleKind, ...] = ("line",)
    counts: Mapping[HoleKind, int] | None = None
    seed: int = 0
    pytest_args: tuple[str, ...] = ()
    paths: tuple[str, ...] | None = None  # sys.path entries for the tests; None: "src" when the tree has one
    jobs: int = 2
    tests: bool = True  # False: fill and score text only
    resume: bool = False
    cache_dir: str | None = None


Progress = Callable[[str, int, int, dict[str, int]], None]


def _tree_hash(files: Mapping[str, bytes]) -> str:
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return h.hexdigest()


class _Pending:
    """Rows waiting for their verdict, written in completion order."""

    def __init__(self, writer: JsonlWriter, counts: dict[str, int]) -> None:
        self.writer = writer
        self.counts = counts
        self._lock = threading.Lock()
        self.outstanding = 0
        self.done = threading.Condition(self._lock)

    def add(self, row: dict[str, Any], verdict: Future[Verdict] | None) -> None:
        if verdict is None:
            self._write(row)
            return
        with self._lock:
            self.outstanding += 1

        def finish(f: Future[Verdict]) -> None:
            if f.cancelled():  # the run is being torn down: the row is redone on --resume
                with self._lock:
                    self.outstanding -= 1
                    self.done.notify_all()
                return
            exc = f.exception()
            row["verdict"] = Verdict("error", f"judge crashed: {exc}").to_json() if exc else f.result().to_json()
            self._write(row)
            with self._lock:
                self.outstanding -= 1
                self.done.notify_all()

        verdict.add_done_callback(finish)

    def _write(self, row: dict[str, Any]) -> None:
        self.writer.append(row)
        with self._lock:
            self.counts["rows"] += 1
            self.counts["shown"] += int(row["score"]["shown"])
            verdict = row.get("verdict") or {}
            self.counts["pass"] += int(verdict.get("status") == "pass")

    def wait(self) -> None:
        with self._lock:
            while self.outstanding:
                self.done.wait(1.0)


class Runner:
    """Runs ``systems`` over one repository (see the module docstring)."""

    def __init__(self, run: RepoRun, systems: Sequence[System], progress: Progress | None = None) -> None:
        if not os.path.isdir(run.path):
            raise InputError(f"{run.path!r} is not a directory")
        names = [s.name for s in systems]
        if len(set(names)) != len(names) or not names:
            raise InputError(f"systems need distinct names, got {names}")
        self.run = run
        self.systems = list(systems)
        self.progress = progress or (lambda *a: None)
        self.name = run.name or os.path.basename(os.path.abspath(run.path))
        self.cache_dir = run.cache_dir or os.path.join(platformdirs.user_cache_dir("codeassist"), "bench")
        self.paths: tuple[str, ...] = run.paths or ()

    def execute(self) -> dict[str, Any]:
        files = read_files(self.run.path)
        sources = {p: b.decode("utf-8") for p, b in files.items() if is_source_file(p) and _utf8(b)}
        if not sources:
            raise InputError(f"no Python source files found under {self.run.path!r}")
        holes = [h for kind, n in self._counts().items() if n > 0 for h in cut_holes(sources, n, kind, self.run.seed)]
        meta = self._meta(files, holes)
        rows_path = os.path.join(self.run.out_dir, "rows.jsonl")
        done = self._check_resume(meta, rows_path)
        writer = JsonlWriter(rows_path, truncate=not self.run.resume)
        with open(os.path.join(self.run.out_dir, "meta.json"), "w", encoding="utf-8") as fh:
            json.dump({**meta, "holes": [h.to_json() for h in holes]}, fh, indent=1)
        with tempfile.TemporaryDirectory(prefix="codeassist-bench-") as snap:
            for rel, data in files.items():
                dest = Path(snap, rel)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
            judge = self._judge(files, sources, meta["tree"]) if self.run.tests else None
            try:
                selections, baselines = self._baselines(judge, holes, sources)
                counts = {"rows": 0, "shown": 0, "pass": 0}
                pending = _Pending(writer, counts)
                for system in self.systems:
                    todo = [h for h in holes if (system.name, h.id) not in done]
                    self._fill_system(system, snap, todo, sources, judge, selections, pending)
                pending.wait()
            finally:
                if judge is not None:
                    judge.close()
        base = {hid: f.result().to_json() for hid, f in baselines.items()}
        judging = {h.id: {"selection": asdict(selections[h.id]), "baseline": base.get(h.id)} for h in holes}
        with open(os.path.join(self.run.out_dir, "judging.json"), "w", encoding="utf-8") as fh:
            json.dump(judging, fh, indent=1)
        summary = report.summarise(list(read_jsonl(rows_path)), holes, selections, base, meta)
        report.write(summary, self.run.out_dir)
        return summary

    def _counts(self) -> dict[HoleKind, int]:
        return dict(self.run.counts or {kind: self.run.holes for kind in self.run.kinds})

    def _meta(self, files: Mapping[str, bytes], holes: Sequence[Hole]) -> dict[str, Any]:
        paths = self.run.paths if self.run.paths is not None else src_paths(files)
        self.paths = paths
        return {
            "format": FORMAT, "repo": self.name, "tree": _tree_hash(files), "seed": self.run.seed,
            "kinds": sorted({h.kind for h in holes}), "holes_per_kind": self._counts(),
            "pytest_args": list(self.run.pytest_args), "paths": list(paths), "tests": self.run.tests,
            "systems": [s.describe() for s in self.systems], "hole_ids": [h.id for h in holes],
        }  # fmt: skip

    def _check_resume(self, meta: dict[str, Any], rows_path: str) -> set[tuple[str, str]]:
        os.makedirs(self.run.out_dir, exist_ok=True)
        if not self.run.resume:
            return set()
        old_path = os.path.join(self.run.out_dir, "meta.json")
        if os.path.exists(old_path):
            with open(old_path, encoding="utf-8") as fh:
                old = json.load(fh)
            for key in ("tree", "seed", "kinds", "holes_per_kind", "pytest_args", "hole_ids"):
                if old.get(key) != meta.get(key):
                    raise InputError(
                        f"cannot resume in {self.run.out_dir}: the {key} differs from the interrupted run's",
                        hint="run without --resume (or with another --out) to start over",
                    )
            # a resumed run may add or leave out systems: the earlier ones' rows stay, and so do their descriptions
            names = {s["name"] for s in meta["systems"]}
            meta["systems"] = [*(s for s in old.get("systems", []) if s["name"] not in names), *meta["systems"]]
        return {(r["system"], r["hole"]["id"]) for r in read_jsonl(rows_path)}

    def _judge(self, files: Mapping[str, bytes], sources: Mapping[str, str], tree: str) -> Judge:
        from codeassist.sandbox import Sandbox, SandboxConfig, config_from_env  # docker: only when tests are run

        sandbox = Sandbox(config_from_env(SandboxConfig(pool_size=max(1, self.run.jobs))))
        health = sandbox.warm(120)
        if not health.ok:
            sandbox.close()
            raise InputError(f"the sandbox is unavailable: {health.reason}", hint="codeassist doctor")
        judge = Judge(files, sandbox, pytest_args=self.run.pytest_args, paths=self.paths, jobs=self.run.jobs)
        judge.load_cache(os.path.join(self.cache_dir, f"verdicts-{tree[:16]}.jsonl"))
        key = hashlib.sha256(
            json.dumps([tree, judge.driver_hash, list(self.run.pytest_args), list(self.paths)]).encode()
        )
        trace_path = os.path.join(self.cache_dir, f"trace-{key.hexdigest()[:24]}.json")
        if os.path.exists(trace_path):
            with open(trace_path, encoding="utf-8") as fh:
                judge.trace = TraceMap.from_json(json.load(fh))
        else:
            self.progress(self.name, 0, 0, {"tracing": 1})
            trace = judge.run_trace(sorted(sources))
            os.makedirs(self.cache_dir, exist_ok=True)
            with open(trace_path + ".tmp", "w", encoding="utf-8") as fh:
                json.dump(asdict(trace), fh)
            os.replace(trace_path + ".tmp", trace_path)
        return judge

    def _baselines(
        self, judge: Judge | None, holes: Sequence[Hole], sources: Mapping[str, str]
    ) -> tuple[dict[str, Selection], dict[str, Future[Verdict]]]:
        selections: dict[str, Selection] = {}
        baselines: dict[str, Future[Verdict]] = {}
        for hole in holes:
            if judge is None or judge.trace is None:
                selections[hole.id] = Selection((), False, "tests not run")
                continue
            sel = judge.trace.select(hole)
            selections[hole.id] = sel
            if sel.judgeable:
                baselines[hole.id] = judge.submit(hole.path, sources[hole.path], sel.tests)
        return selections, baselines

    def _fill_system(
        self,
        system: System,
        snap: str,
        holes: Sequence[Hole],
        sources: Mapping[str, str],
        judge: Judge | None,
        selections: Mapping[str, Selection],
        pending: _Pending,
    ) -> None:
        if not holes:
            return
        by_file: dict[str, list[Hole]] = {}
        for hole in holes:
            by_file.setdefault(hole.path, []).append(hole)
        total, n = len(holes), 0
        self.progress(f"{self.name} {system.name}", 0, total, pending.counts)

        def record(hole: Hole, fill: Fill) -> None:
            nonlocal n
            original = sources[hole.path]
            sc, spliced = score(original, hole, fill)
            sel = selections[hole.id]
            row = {"repo": self.name, "system": system.name, "hole": hole.to_json(), "fill": fill.to_json(),
                   "score": sc.to_json(), "selection": {"judgeable": sel.judgeable, "rule": sel.rule,
                   "tests": len(sel.tests)}, "verdict": None}  # fmt: skip
            fut = judge.submit(hole.path, spliced, sel.tests) if judge and sel.judgeable and sc.shown else None
            pending.add(row, fut)
            n += 1
            self.progress(f"{self.name} {system.name}", n, total, pending.counts)

        if system.kind == "infill":
            infill = InfillFiller(system.url or "", system.infill)
            for hole in holes:
                record(hole, infill.fill(sources[hole.path], hole))
            return
        log = os.path.join(self.run.out_dir, f"server-{system.name}.log")
        filler = LspFiller(snap, system.settings, log_path=log, env=system.env, python=system.python)
        try:
            filler.start()
            for path, group in by_file.items():
                for hole, fill in filler.fill_file(path, sources[path], group):
                    record(hole, fill)
        finally:
            filler.close()


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def open_judge(run: RepoRun, files: Mapping[str, bytes], sources: Mapping[str, str]) -> Judge:
    """The judge ``bench_repo`` would use on ``run``'s tree: its sandbox, verdict cache and (cached) traced test run.
    For other benchmarks that judge edits by the repository's own tests (``bench/explain_roundtrip.py``); the caller
    closes it (and its sandbox: ``judge.sandbox.close()``)."""
    runner = Runner(run, [System("judge", "lsp")])
    runner.paths = run.paths if run.paths is not None else src_paths(files)
    return runner._judge(files, sources, _tree_hash(files))


def bench_repo(run: RepoRun, systems: Sequence[System], progress: Progress | None = None) -> dict[str, Any]:
    """Run the benchmark; returns the summary (also written to ``run.out_dir`` as report.json / report.md)."""
    return Runner(run, systems, progress).execute()
