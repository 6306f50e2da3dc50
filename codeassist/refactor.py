"""Batch refactors: per file, propose an edit from an instruction, verify it in the sandbox, collect a diff; optionally
apply the verified edits atomically with an undo record. Resumable through an append-only journal.

Why a journal: a batch over many files takes minutes with a CPU model; an interruption (Ctrl-C, a killed terminal)
must not throw that work away. Each finished file is appended to ``.codeassist/refactor/<run>.jsonl`` (flushed and
fsynced) keyed by the hash of the file's original bytes, so re-running the same command skips finished files whose
content did not change since.

Why an undo record: ``--apply`` first writes a manifest holding every file's original bytes (atomically, before any
file is touched), then replaces files one by one with :func:`codeassist.edits.atomic_write`. ``--undo`` restores the
originals byte for byte, and refuses to clobber a file that was edited again after the refactor (unless forced).
"""

from __future__ import annotations

import base64
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

from codeassist.edits import atomic_write, git_dirty
from codeassist.errors import InputError
from codeassist.fix_target import MAX_WHOLE_FILE_LINES, FixTarget
from codeassist.fixer import FixConfig, Fixer
from codeassist.project import find_root
from codeassist.verify import Change, Verifier

STATE_DIR = ".codeassist"
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


def ensure_state_dir(folder: Path) -> Path:
    """Create ``folder`` (under the workspace's ``.codeassist/``) with a ``.gitignore`` so our state never shows up
    as untracked files in the user's repository."""
    folder.mkdir(parents=True, exist_ok=True)
    for parent in (folder, *folder.parents):
        if parent.name == STATE_DIR:
            ignore = parent / ".gitignore"
            if not ignore.exists():
                ignore.write_text("*\n")
            break
    return folder


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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

    def load(self) -> dict[str, FileResult]:
        done: dict[str, FileResult] = {}
        if not self.path.exists():
            return done
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a kill mid-append
            if row.get("type") == "file":
                done[row["rel"]] = FileResult(**row["result"])
        return done

    def append(self, result: FileResult) -> None:
        data = json.dumps({"type": "file", "rel": result.rel, "result": asdict(result)}) + "\n"
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


# -- undo -------------------------------------------------------------------------------------------------------------


def write_undo(plan: RefactorPlan, originals: dict[str, bytes], new: dict[str, bytes]) -> str:
    """Write the undo manifest (originals base64-encoded) atomically before any file is replaced; returns its id."""
    undo_id = time.strftime("%Y%m%d-%H%M%S") + f"-{plan.run_id[:8]}"
    manifest = {
        "id": undo_id, "root": str(plan.root), "instruction": plan.instruction,
        "files": [
            {"rel": rel, "original_sha": sha(data), "new_sha": sha(new[rel]),
             "original": base64.b64encode(data).decode()}
            for rel, data in originals.items()
        ],
    }  # fmt: skip
    folder = ensure_state_dir(plan.state_dir / "undo")
    atomic_write(folder / f"{undo_id}.json", json.dumps(manifest).encode())
    return undo_id


@dataclass
class UndoResult:
    undo_id: str
    restored: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def undo(root: Path, *, undo_id: str | None = None, force: bool = False) -> UndoResult:
    """Restore the files of the latest (or given) applied refactor byte for byte. A file changed after the refactor
    is a conflict and is left alone unless ``force``; nothing is written when there is any conflict."""
    folder = root / STATE_DIR / "refactor" / "undo"
    records = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if undo_id is not None:
        records = [r for r in records if r.stem == undo_id]
    if not records:
        raise InputError(f"nothing to undo under {folder}", exit_code=1)
    record = records[-1]
    manifest = json.loads(record.read_text(encoding="utf-8"))
    result = UndoResult(manifest["id"])
    plan: list[tuple[Path, bytes]] = []
    for entry in manifest["files"]:
        path = root / entry["rel"]
        original = base64.b64decode(entry["original"])
        current = path.read_bytes() if path.exists() else None
        current_sha = sha(current) if current is not None else None
        if current_sha == entry["original_sha"]:
            result.already.append(entry["rel"])
        elif current_sha == entry["new_sha"] or force:
            plan.append((path, original))
            result.restored.append(entry["rel"])
        else:
            result.conflicts.append(entry["rel"])
    if result.conflicts and not force:
        result.restored = []
        return result
    for path, original in plan:
        atomic_write(path, original)
    os.replace(record, record.with_suffix(".undone"))
    return result


# -- the run ----------------------------------------------------------------------------------------------------------

Progress = Callable[[int, int, FileResult, float], None]


class Refactorer:
    def __init__(self, fixer: Fixer, verifier: Verifier) -> None:
        self.fixer = fixer
        self.verifier = verifier

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
        outcome = self.fixer.candidates_for(target)
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
        report = RefactorReport(plan)
        journal = Journal(plan.state_dir / f"journal-{plan.run_id}.jsonl")
        done = journal.load()
        dirty = git_dirty(plan.root, plan.files) if apply and not force else set()
        results: dict[str, FileResult] = {}
        todo: list[tuple[str, bytes]] = []
        for rel in plan.files:
            data = (plan.root / rel).read_bytes()
            prev = done.get(rel)
            if prev is not None and prev.original_sha == sha(data):
                prev.resumed = True
                results[rel] = prev
            elif dirty and rel in dirty:
                results[rel] = FileResult(rel, "skipped", "uncommitted changes (commit them or use --force)")
            else:
                todo.append((rel, data))
        finished = len(results)
        total = len(plan.files)
        lock = threading.Lock()

        def work(item: tuple[str, bytes]) -> FileResult:
            nonlocal finished
            res = self.propose(plan, *item)
            journal.append(res)
            with lock:
                finished += 1
                if progress is not None:
                    progress(finished, total, res, time.monotonic() - started)
            return res

        with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="codeassist-refactor") as pool:
            for res in pool.map(work, todo):
                results[res.rel] = res
        report.results = [results[rel] for rel in plan.files]
        if apply:
            self._apply(plan, report, allow_unverified)
        journal.finish()
        report.elapsed_s = time.monotonic() - started
        return report

    def _apply(self, plan: RefactorPlan, report: RefactorReport, allow_unverified: bool) -> None:
        ok = ("verified", "changed") if allow_unverified else ("verified",)
        chosen = [r for r in report.results if r.status in ok and r.new_text is not None]
        if not chosen:
            return
        originals: dict[str, bytes] = {}
        for r in chosen:
            data = (plan.root / r.rel).read_bytes()
            if sha(data) != r.original_sha:
                r.status, r.reason = "skipped", "changed on disk during the refactor"
                continue
            originals[r.rel] = data
        chosen = [r for r in chosen if r.rel in originals]
        new = {r.rel: (r.new_text or "").encode("utf-8") for r in chosen}
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
        report.undo_id = write_undo(plan, originals, new)
        for r in chosen:
            atomic_write(plan.root / r.rel, new[r.rel])
            report.applied.append(r.rel)
        self.verifier.forget_workspace(str(plan.root))


def default_fix_config(k: int, seed: int, verify_command: tuple[str, ...] | None, workers: int) -> FixConfig:
    """Refactors want one good candidate per file quickly: a greedy one first, stop as soon as one is verified."""
    return FixConfig(
        k=k, seed=seed, temperature=0.7, test_command=verify_command, stop_at_first_verified=True, workers=workers,
        budget_s=0.0,
    )  # fmt: skip
