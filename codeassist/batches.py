"""Applied batches: the write-ahead record of a multi-file edit, how an interrupted one is finished, and its undo.

Why a write-ahead record: a batch replaces files one by one (each atomically: :func:`codeassist.edits.atomic_write`), so
a kill between two writes leaves some files new and some old. Before the first file is touched, the batch's
manifest — every file's original bytes and planned new bytes with their hashes — is written atomically and fsynced;
then each completed write is appended (fsynced) to the batch's log, and a final ``complete`` line closes it.

What that buys:
- **Resume** recognises its own writes by content: a file whose hash is the planned *new* one is done (not "someone
  else's uncommitted change"), one still at the *original* hash is written now, anything else was edited by someone
  since and is left alone. The batch is finished, not started again, so there is exactly one manifest per batch.
- **Undo** is that one manifest: one ``--undo`` restores every file of the batch byte for byte, finished or not.
- **Leftover temporaries** of a kill mid-write are named after the batch (``.NAME.<batch id>.<rand>.codeassist-tmp``),
  so resume and undo remove exactly their own.

Layout under the workspace: ``.codeassist/refactor/undo/<id>.json`` (manifest; renamed ``<id>.undone`` once undone)
and ``<id>.log`` (JSON lines: ``written``, ``complete``, ``undoing``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codeassist.edits import TEMP_SUFFIX, atomic_write, remove_temp_files
from codeassist.errors import InputError

STATE_DIR = ".codeassist"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def undo_folder(root: Path) -> Path:
    return root / STATE_DIR / "refactor" / "undo"


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


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


@dataclass
class BatchFile:
    rel: str
    original: bytes
    new: bytes

    @property
    def original_sha(self) -> str:
        return sha(self.original)

    @property
    def new_sha(self) -> str:
        return sha(self.new)


@dataclass
class ApplyOutcome:
    applied: list[str] = field(default_factory=list)  # now holding the new bytes (written now or before a kill)
    resumed: list[str] = field(default_factory=list)  # of those, written by an earlier, interrupted run
    conflicts: dict[str, str] = field(default_factory=dict)  # rel -> why it was not written
    removed_temp_files: int = 0


@dataclass
class UndoResult:
    undo_id: str
    restored: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    removed_temp_files: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Batch:
    root: Path
    id: str
    run_id: str
    instruction: str
    files: list[BatchFile]
    combined: str | None = None  # the whole-batch check's outcome before the manifest was written

    @property
    def manifest_path(self) -> Path:
        return undo_folder(self.root) / f"{self.id}.json"

    @property
    def log_path(self) -> Path:
        return undo_folder(self.root) / f"{self.id}.log"

    # -- the record ---------------------------------------------------------------------------------------------------

    @classmethod
    def create(
        cls, root: Path, run_id: str, instruction: str, files: list[BatchFile], combined: str | None = None
    ) -> Batch:
        """Write the manifest (atomically, fsynced) before any file of the batch is touched."""
        batch_id = time.strftime("%Y%m%d-%H%M%S") + f"-{time.time_ns() % 10**9:09d}-{run_id[:8]}"
        batch = cls(root, batch_id, run_id, instruction, files, combined)
        manifest = {
            "id": batch_id, "run_id": run_id, "root": str(root), "instruction": instruction, "combined": combined,
            "files": [
                {"rel": f.rel, "original_sha": f.original_sha, "new_sha": f.new_sha,
                 "original": base64.b64encode(f.original).decode(), "new": base64.b64encode(f.new).decode()}
                for f in files
            ],
        }  # fmt: skip
        ensure_state_dir(undo_folder(root))
        atomic_write(batch.manifest_path, json.dumps(manifest).encode())
        return batch

    @classmethod
    def load(cls, root: Path, manifest: Path) -> Batch:
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            files = [
                BatchFile(e["rel"], base64.b64decode(e["original"]), base64.b64decode(e.get("new", "")))
                for e in data["files"]
            ]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{manifest}: unreadable undo record ({exc})") from None
        batch_id = manifest.name.split(".", 1)[0]
        return cls(root, batch_id, data.get("run_id", ""), data.get("instruction", ""), files, data.get("combined"))

    def events(self) -> list[dict[str, Any]]:
        return _events(self.log_path)

    def log(self, event: str, **data: Any) -> None:
        line = json.dumps({"event": event, **data}) + "\n"
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def completion(self) -> dict[str, Any] | None:
        return next((e for e in self.events() if e.get("event") == "complete"), None)

    @property
    def undoing(self) -> bool:
        return any(e.get("event") == "undoing" for e in self.events())

    def remove_temp_files(self) -> int:
        return sum(len(remove_temp_files(self.root / f.rel, self.id)) for f in self.files)

    # -- apply and undo -----------------------------------------------------------------------------------------------

    def apply(self) -> ApplyOutcome:
        """Bring every file to its new bytes; the same code applies a fresh batch and finishes an interrupted one."""
        out = ApplyOutcome(removed_temp_files=self.remove_temp_files())
        written_before = {e.get("rel") for e in self.events() if e.get("event") == "written"}
        for f in self.files:
            path = self.root / f.rel
            current = _read(path)
            digest = sha(current) if current is not None else None
            if digest == f.new_sha:
                out.applied.append(f.rel)
                if f.new_sha != f.original_sha or f.rel in written_before:
                    out.resumed.append(f.rel)
                continue
            if digest != f.original_sha:
                out.conflicts[f.rel] = "edited since the interrupted apply began; not written"
                continue
            atomic_write(path, f.new, tag=self.id)
            self.log("written", rel=f.rel)
            out.applied.append(f.rel)
        self.log("complete", applied=out.applied, conflicts=out.conflicts)
        return out

    def undo(self, *, force: bool = False) -> UndoResult:
        """Restore the batch's files byte for byte. A file edited after the batch is a conflict and nothing is
        written (unless ``force``); files still at their original bytes (never written) are fine as they are."""
        result = UndoResult(self.id, removed_temp_files=self.remove_temp_files())
        done = self.completion()
        considered = set(done["applied"]) if done is not None else {f.rel for f in self.files}
        plan: list[BatchFile] = []
        for f in self.files:
            if f.rel not in considered:
                continue
            current = _read(self.root / f.rel)
            digest = sha(current) if current is not None else None
            if digest == f.original_sha:
                result.already.append(f.rel)
            elif digest == f.new_sha or force:
                plan.append(f)
                result.restored.append(f.rel)
            else:
                result.conflicts.append(f.rel)
        if result.conflicts and not force:
            result.restored = []
            return result
        self.log("undoing")  # an interrupted undo must be finished by undo, never by a resume that re-applies
        for f in plan:
            atomic_write(self.root / f.rel, f.original, tag=self.id)
        os.replace(self.manifest_path, self.manifest_path.with_suffix(".undone"))
        return result


def _events(log: Path) -> list[dict[str, Any]]:
    try:
        lines = log.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        with contextlib.suppress(json.JSONDecodeError):
            out.append(json.loads(line))  # a torn last line (a kill mid-append) is dropped
    return out


def batches(root: Path) -> list[Path]:
    """Manifests not undone yet, oldest first (ids start with the time)."""
    folder = undo_folder(root)
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def pending(root: Path) -> Batch | None:
    """The batch whose apply (or undo) was interrupted, if any: at most one, since a new batch never starts while
    one is pending. Only its log is read for the others (manifests hold whole files)."""
    for manifest in reversed(batches(root)):
        kinds = {e.get("event") for e in _events(manifest.with_suffix(".log"))}
        if "complete" not in kinds or "undoing" in kinds:
            return Batch.load(root, manifest)
    return None


def to_finish(root: Path, run_id: str, *, apply: bool, force: bool) -> Batch | None:
    """The batch a refactor with ``run_id`` must finish (or report) instead of proposing anew, if any.

    - A pending batch: only the same refactor with ``--apply`` may finish it. Anything else would work on a half
      applied tree (and a second record would split the undo), so it is refused, saying what to do instead.
    - The same ``--apply`` run again after its batch completed, every file still holding the batch's bytes: the
      run was done (or killed after its last write, before it could say so), so it reports that batch. Without this,
      its own writes would look like someone's uncommitted changes. ``--force`` asks for a fresh run instead."""
    batch = pending(root)
    undo_cmd = f"codeassist refactor --undo {root}"
    if batch is not None:
        if batch.undoing:
            raise InputError(f"an interrupted --undo of batch {batch.id} is pending under {root}; run `{undo_cmd}`")
        if batch.run_id != run_id or not apply:
            raise InputError(
                f"an interrupted refactor --apply (batch {batch.id}: {batch.instruction!r}) is half applied under "
                f"{root}; re-run that command with --apply to finish it, or `{undo_cmd}` to roll it back"
            )
        return batch
    records = batches(root)
    if not apply or force or not records:
        return None
    last = Batch.load(root, records[-1])
    done = last.completion()
    if last.run_id != run_id or done is None:
        return None
    new = {f.rel: f.new_sha for f in last.files}
    for rel in done.get("applied", []):
        current = _read(root / rel)
        if current is None or sha(current) != new.get(rel):
            return None
    return last


def remove_state_temp_files(root: Path) -> int:
    """Remove temporaries a kill left in our own state folder (a manifest being written): nothing else writes there."""
    folder = undo_folder(root)
    removed = 0
    for tmp in folder.glob(f".*{TEMP_SUFFIX}") if folder.is_dir() else ():
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed += 1
    return removed


def undo(root: Path, *, undo_id: str | None = None, force: bool = False) -> UndoResult:
    """Undo the latest (or the given) batch under ``root``."""
    records = batches(root)
    if undo_id is not None:
        records = [r for r in records if r.name.split(".", 1)[0] == undo_id]
    remove_state_temp_files(root)
    if not records:
        raise InputError(f"nothing to undo under {undo_folder(root)}", exit_code=1)
    return Batch.load(root, records[-1]).undo(force=force)
