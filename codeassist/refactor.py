"""Batch refactors: per file, propose an edit from an instruction, verify it in the sandbox, collect a diff; optionally
apply the verified edits atomically with an undo record. Resumable through an append-only journal.

Why a journal: a batch over many files takes minutes with a CPU model; an interruption (Ctrl-C, a killed terminal)
must not throw that work away. Each finished file is appended to ``.codeassist/refactor/<run>.jsonl`` (flushed and
fsynced) keyed by the hash of the file's original bytes, so re-running the same command skips finished files whose
content did not change since.

Why a batch record: ``--apply`` writes the chosen edits as one :class:`codeassist.batches.Batch` — a write-ahead
manifest (every file's original and new bytes) before any file is touched, then one atomic write per file, each
logged. A run killed between writes is finished by re-running the same command (it recognises its own writes by
content hash), and ``--undo`` restores the whole batch byte for byte from its one record. While a batch is pending,
no other refactor starts in that workspace.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codeassist import batches
from codeassist.batches import STATE_DIR, BatchFile, ensure_state_dir, sha
from codeassist.documents import read_regular_file
from codeassist.edits import git_dirty
from codeassist.errors import InputError
from codeassist.fix_target import MAX_WHOLE_FILE_LINES, FixTarget
from codeassist.fixer import FixConfig, Fixer
from codeassist.project import find_root
from codeassist.verify import Change, Verifier

# Per-file statuses: verified (edit passes its tests), changed (an edit that could not be verified by tests: shown,
# not applied unless allowed), failed (every candidate failed a check), skipped (not attempted, with the reason),
# unchanged (the model proposed no change).
STATUSES = ("verified", "changed", "failed", "skipped", "unchanged")
EXIT_OK, EXIT_PARTIAL, EXIT_COMBINED_FAILED = 0, 1, 4


@dataclass
class FileResult:
    rel: str
    status: str
    reason: str = ""
    label: str = ""
    original_sha: str = ""
    new_text: str | None = None
    diff: str = ""
    seconds: float = 0.0
    resumed: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("new_text")
        return data


@dataclass
class RefactorPlan:
    root: Path
    files: list[str]  # root-relative, sorted
    instruction: str
    verify_command: tuple[str, ...] | None
    k: int = 2
    seed: int = 0

    @property
    def run_id(self) -> str:
        key = json.dumps([self.instruction, self.files, self.verify_command, self.k, self.seed])
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR / "refactor"


@dataclass
class RefactorReport:
    plan: RefactorPlan
    results: list[FileResult] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    combined: str | None = None  # outcome of the whole-batch check before applying
    undo_id: str | None = None
    elapsed_s: float = 0.0

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for r in self.results if r.status == s) for s in STATUSES}

    @property
    def diff(self) -> str:
        return "".join(r.diff for r in self.results if r.status == "verified")

    def exit_code(self) -> int:
        if self.combined is not None and self.combined != "passed":
            return EXIT_COMBINED_FAILED
        if any(r.status in ("failed", "skipped", "changed") for r in self.results):
            return EXIT_PARTIAL
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "root": str(self.plan.root), "run_id": self.plan.run_id, "instruction": self.plan.instruction,
            "counts": self.counts(), "files": [r.to_json() for r in self.results], "applied": self.applied,
            "combined_check": self.combined, "undo_id": self.undo_id, "elapsed_s": round(self.elapsed_s, 2),
            "exit_code": self.exit_code(),
        }  # fmt: skip


def expand(paths: Sequence[str], root: Path | None = None) -> tuple[Path, list[str]]:
    """Expand PATHS/GLOBS (``**`` allowed) to regular files; returns the workspace root and root-relative paths."""
    found: list[Path] = []
    for spec in paths:
        matches = glob.glob(spec, recursive=True) if glob.has_magic(spec) else [spec]
        if not matches:
            raise InputError(f"{spec}: matches no file")
        for m in matches:
            p = Path(m)
            if p.is_dir():
                found += sorted(q for q in p.rglob("*.py") if q.is_file())
            elif p.is_file():
                found.append(p)
            elif p.exists():
                raise InputError(f"{m}: not a regular file or directory")
            else:
                raise InputError(f"{m}: no such file")
    if not found:
        raise InputError("no files to refactor")
    base = (root or find_root(found[0])).resolve()
    rels: list[str] = []
    for p in found:
        try:
            rel = p.resolve().relative_to(base).as_posix()
        except ValueError as exc:
            raise InputError(f"{p}: outside the workspace {base}") from exc
        if STATE_DIR not in rel.split("/") and rel not in rels:
            rels.append(rel)
    return base, sorted(rels)


# -- journal ----------------------------------------------------------------------------------------------------------


class Journal:
    """Append-only JSON lines of finished files; each line is fsynced so a kill loses at most the file in progress."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def rows(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a torn last line from a kill mid-append
                out.append(json.loads(line))
        return out

    def load(self) -> dict[str, FileResult]:
        return {row["rel"]: FileResult(**row["result"]) for row in self.rows() if row.get("type") == "file"}

    def load_finished(self) -> dict[str, FileResult]:
        """The results of this plan's last completed run (its journal renamed by :meth:`finish`)."""
        done = sorted(self.path.parent.glob(f"{self.path.stem}.done-*.jsonl"))
        return Journal(done[-1]).load() if done else {}

    def append(self, result: FileResult) -> None:
        self._append({"type": "file", "rel": result.rel, "result": asdict(result)})

    def _append(self, row: dict[str, Any]) -> None:
        data = json.dumps(row) + "\n"
        with self._lock:
            ensure_state_dir(self.path.parent)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())

    def finish(self) -> None:
        """The run completed: keep the journal for the record, but a new run starts afresh."""
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.path, self.path.with_suffix(f".done-{int(time.time())}.jsonl"))


# -- the run ----------------------------------------------------------------------------------------------------------

Progress = Callable[[int, int, FileResult, float], None]


class Refactorer:
    """Runs a plan. ``fixer`` may be a factory: the model is then loaded only when some file needs a proposal, so
    resuming a finished proposal phase (or finishing an interrupted apply) costs no model load."""

    def __init__(self, fixer: Fixer | Callable[[], Fixer], verifier: Verifier) -> None:
        self._fixer = fixer
        self._fixer_lock = threading.Lock()
        self.verifier = verifier
        self.cancelled = threading.Event()  # set on Ctrl-C: in-flight proposals are not journalled

    @property
    def fixer(self) -> Fixer:
        with self._fixer_lock:
            if not isinstance(self._fixer, Fixer):
                self._fixer = self._fixer()
            return self._fixer

    def propose(self, plan: RefactorPlan, rel: str, data: bytes) -> FileResult:
        started = time.monotonic()
        digest = sha(data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return FileResult(rel, "skipped", "not UTF-8 text", original_sha=digest)
        n_lines = len(text.split("\n"))
        if n_lines > MAX_WHOLE_FILE_LINES:
            return FileResult(rel, "skipped", f"longer than {MAX_WHOLE_FILE_LINES} lines", original_sha=digest)
        target = FixTarget(str(plan.root), rel, text, 0, n_lines - 1, "", "instruction", None, plan.instruction)
        outcome = self.fixer.candidates_for(target, cancel=self.cancelled.is_set)
        best = outcome.best
        took = time.monotonic() - started
        if best is None:
            if any(c.verdict.rejected for c in outcome.candidates):
                worst = outcome.candidates[0].verdict
                return FileResult(rel, "failed", worst.reason, worst.label, digest, seconds=took)
            return FileResult(rel, "unchanged", "the model proposed no change", original_sha=digest, seconds=took)
        status = "verified" if best.verdict.verified else "changed"
        return FileResult(
            rel, status, "" if best.verdict.verified else best.verdict.display, best.verdict.label, digest,
            best.new_text, best.diff, took,
        )  # fmt: skip

    def run(
        self,
        plan: RefactorPlan,
        *,
        jobs: int = 1,
        apply: bool = False,
        force: bool = False,
        allow_unverified: bool = False,
        progress: Progress | None = None,
    ) -> RefactorReport:
        started = time.monotonic()
        journal = Journal(plan.state_dir / f"journal-{plan.run_id}.jsonl")
        batches.remove_state_temp_files(plan.root)
        interrupted = batches.to_finish(plan.root, plan.run_id, apply=apply, force=force)
        if interrupted is not None:
            report = self._finish_batch(plan, interrupted, journal.load() or journal.load_finished())
        else:
            report = RefactorReport(plan)
            report.results = self._proposals(plan, journal, jobs, apply and not force, progress, started)
            if apply:
                self._apply(plan, report, allow_unverified)
        journal.finish()
        report.elapsed_s = time.monotonic() - started
        return report

    def _proposals(
        self, plan: RefactorPlan, journal: Journal, jobs: int, check_git: bool, progress: Progress | None,
        started: float,
    ) -> list[FileResult]:  # fmt: skip
        """One result per file: from the journal when the file did not change since, else proposed now (in
        ``jobs`` threads, each result journalled as it finishes)."""
        done = journal.load()
        dirty = git_dirty(plan.root, plan.files) if check_git else set()
        results: dict[str, FileResult] = {}
        todo: list[tuple[str, bytes]] = []
        for rel in plan.files:
            try:
                data = read_regular_file(str(plan.root / rel), what="source file")
            except InputError as exc:  # unreadable, too large, replaced by a FIFO since the glob…
                results[rel] = FileResult(rel, "skipped", exc.message)
                continue
            prev = done.get(rel)
            if prev is not None and prev.original_sha == sha(data):
                prev.resumed = True
                results[rel] = prev
            elif dirty and rel in dirty:
                results[rel] = FileResult(rel, "skipped", "uncommitted changes (commit them or use --force)")
            else:
                todo.append((rel, data))
        finished = len(results)
        lock = threading.Lock()

        def work(item: tuple[str, bytes]) -> FileResult:
            nonlocal finished
            res = self.propose(plan, *item)
            if self.cancelled.is_set():
                return res  # interrupted: its checks may have run against a closing sandbox; redo it on resume
            journal.append(res)
            with lock:
                finished += 1
                if progress is not None:
                    progress(finished, len(plan.files), res, time.monotonic() - started)
            return res

        # Not a `with` block: its exit waits for every running proposal, which would make Ctrl-C wait minutes.
        pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="codeassist-refactor")
        try:
            for res in pool.map(work, todo):
                results[res.rel] = res
        except BaseException:
            self.cancelled.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return [results[rel] for rel in plan.files]

    def _apply(self, plan: RefactorPlan, report: RefactorReport, allow_unverified: bool) -> None:
        ok = ("verified", "changed") if allow_unverified else ("verified",)
        chosen = [r for r in report.results if r.status in ok and r.new_text is not None]
        originals: dict[str, bytes] = {}
        for r in chosen:
            data = (plan.root / r.rel).read_bytes()
            if sha(data) != r.original_sha:
                r.status, r.reason = "skipped", "changed on disk during the refactor"
                continue
            originals[r.rel] = data
        chosen = [r for r in chosen if r.rel in originals]
        if not chosen:
            return
        if len(chosen) > 1 and plan.verify_command:
            # Each edit was checked alone; check them together before writing any of them.
            change = Change(
                str(plan.root), {r.rel: r.new_text or "" for r in chosen},
                {rel: d.decode("utf-8") for rel, d in originals.items()}, test_command=plan.verify_command,
            )  # fmt: skip
            verdict = self.verifier.verify(change, "sandbox")
            report.combined = "passed" if verdict.verified else verdict.display
            if not verdict.verified:
                return
        files = [BatchFile(r.rel, originals[r.rel], (r.new_text or "").encode("utf-8")) for r in chosen]
        batch = batches.Batch.create(plan.root, plan.run_id, plan.instruction, files, report.combined)
        report.undo_id = batch.id
        report.applied = batch.apply().applied
        self.verifier.forget_workspace(str(plan.root))

    def _finish_batch(self, plan: RefactorPlan, batch: batches.Batch, done: dict[str, FileResult]) -> RefactorReport:
        """Finish the apply a kill interrupted (or report the one already applied): no new proposals, no new batch
        record; the report is rebuilt from the journal of the run that made the batch."""
        outcome = batch.apply()
        report = RefactorReport(plan, combined=batch.combined, undo_id=batch.id, applied=outcome.applied)
        for rel in plan.files:
            res = done.get(rel) or FileResult(rel, "skipped", "no record of it in the interrupted run's journal")
            res.resumed = True
            if rel in outcome.conflicts:
                res.status, res.reason = "skipped", outcome.conflicts[rel]
            report.results.append(res)
        self.verifier.forget_workspace(str(plan.root))
        return report


def default_fix_config(k: int, seed: int, verify_command: tuple[str, ...] | None, workers: int) -> FixConfig:
    """Refactors want one good candidate per file quickly: a greedy one first, stop as soon as one is verified."""
    return FixConfig(
        k=k, seed=seed, temperature=0.7, test_command=verify_command, stop_at_first_verified=True, workers=workers,
        budget_s=0.0,
    )  # fmt: skip
