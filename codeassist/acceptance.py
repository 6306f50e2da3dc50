"""Local acceptance stats: what happened to the suggestions shown in a workspace, counted per day in the user's
data directory (``$XDG_DATA_HOME/codeassist/stats/``). Nothing leaves the machine and nothing of the code is stored:
only counts (suggestions shown / accepted fully / accepted partly / dismissed, characters shown / accepted /
still present some time after acceptance) and the workspace's path, which names the file's owner.

Why per day: "today" is what an editor's status shows, and a user deleting or reading the file sees what it holds at a
glance. Several servers may serve one workspace (two editor windows): every update is a read-modify-write under an
exclusive ``flock`` and lands by an atomic rename, so counts add up and a crash never leaves half a file.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import hashlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

VERSION = 1
COUNTERS = ("shown", "accepted", "accepted_full", "accepted_partial", "dismissed", "chars_shown", "chars_accepted")
NO_WORKSPACE = "(no workspace)"
MIN_BLOCK = 4
RETENTION_WINDOW = 2000  # characters around the insertion point searched for what is left of an accepted text


def stats_dir() -> Path:
    """``$XDG_DATA_HOME/codeassist/stats`` (``~/.local/share/codeassist/stats`` by default)."""
    return Path(platformdirs.user_data_dir("codeassist")) / "stats"


def today() -> str:
    return time.strftime("%Y-%m-%d", time.localtime())


def retention_label(delay_s: float) -> str:
    """The key of a retention check in the file: ``30s``, ``120s``."""
    return f"{round(delay_s)}s"


def file_for(workspace: str | None, directory: Path | None = None) -> Path:
    key = workspace or NO_WORKSPACE
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return (directory or stats_dir()) / f"{digest}.json"


@dataclass
class Delta:
    """Increments to one day's counts; ``retained`` maps a check's label to (checked, accepted chars, present)."""

    counts: dict[str, int] = field(default_factory=dict)
    retained: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    def add(self, name: str, n: int = 1) -> Delta:
        if name not in COUNTERS:
            raise ValueError(f"unknown counter {name!r}")
        self.counts[name] = self.counts.get(name, 0) + n
        return self

    def __bool__(self) -> bool:
        return any(self.counts.values()) or bool(self.retained)


def empty_day() -> dict[str, Any]:
    return {**{c: 0 for c in COUNTERS}, "retained": {}}


def apply(day: dict[str, Any], delta: Delta) -> None:
    for name, n in delta.counts.items():
        day[name] = max(0, int(day.get(name, 0)) + n)
    retained = day.setdefault("retained", {})
    for label, (checks, accepted, present) in delta.retained.items():
        r = retained.setdefault(label, {"checks": 0, "chars_accepted": 0, "chars_present": 0})
        r["checks"] += checks
        r["chars_accepted"] += accepted
        r["chars_present"] += present


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read(path: Path) -> dict[str, Any] | None:
    """A stats file's content, or None when it is missing or unreadable (a damaged file is started afresh)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("days"), dict):
        return None
    return data


class AcceptanceStore:
    """The stats file of one workspace."""

    def __init__(self, workspace: str | None, directory: Path | None = None) -> None:
        self.workspace = workspace or NO_WORKSPACE
        self.path = file_for(workspace, directory)

    def record(self, delta: Delta, day: str | None = None) -> dict[str, Any]:
        """Add ``delta`` to ``day`` (today by default); returns that day's counts after the update."""
        with _locked(self.path):
            data = read(self.path) or {"version": VERSION, "workspace": self.workspace, "days": {}}
            counts = data["days"].setdefault(day or today(), empty_day())
            apply(counts, delta)
            fd, tmp = tempfile.mkstemp(prefix=".stats-", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
            return dict(counts)

    def day(self, day: str | None = None) -> dict[str, Any]:
        data = read(self.path)
        found = data["days"].get(day or today()) if data else None
        return found if isinstance(found, dict) else empty_day()


def load_all(directory: Path | None = None) -> list[dict[str, Any]]:
    """Every workspace's stats file, sorted by workspace."""
    folder = directory or stats_dir()
    found = [d for p in sorted(folder.glob("*.json")) if (d := read(p)) is not None]
    return sorted(found, key=lambda d: str(d.get("workspace", "")))


def delete_all(directory: Path | None = None, workspace: str | None = None) -> list[Path]:
    """Remove the stats files (of one workspace, or all) and their lock files; returns what was removed."""
    folder = directory or stats_dir()
    targets = [file_for(workspace, folder)] if workspace is not None else sorted(folder.glob("*.json"))
    removed = []
    for path in targets:
        for p in (path, path.with_suffix(".lock")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                if p.suffix == ".json":
                    removed.append(p)
    with contextlib.suppress(OSError):
        folder.rmdir()  # only when empty
    return removed


def totals(days: Mapping[str, Any]) -> dict[str, Any]:
    """The sum of several days' counts."""
    out = empty_day()
    for counts in days.values():
        if not isinstance(counts, dict):
            continue
        delta = Delta({c: int(counts.get(c, 0)) for c in COUNTERS})
        for label, r in (counts.get("retained") or {}).items():
            delta.retained[label] = (int(r["checks"]), int(r["chars_accepted"]), int(r["chars_present"]))
        apply(out, delta)
    return out


def rates(counts: Mapping[str, Any]) -> dict[str, float | None]:
    """Acceptance rate (suggestions accepted / shown) and the share of accepted characters still present at each
    retention check."""
    shown = int(counts.get("shown", 0))
    out: dict[str, float | None] = {"acceptance": counts.get("accepted", 0) / shown if shown else None}
    for label, r in (counts.get("retained") or {}).items():
        out[f"retained_{label}"] = r["chars_present"] / r["chars_accepted"] if r["chars_accepted"] else None
    return out


def saved_text(path: str, max_bytes: int = 4 << 20) -> str | None:
    """A closed document's text as saved (for a retention check after the editor closed it): a regular file only
    (opened non-blocking and checked on the descriptor: no FIFO or device), at most ``max_bytes``; None otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return None
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        return None
    return data.decode("utf-8", errors="replace")


def retained_chars(accepted: str, text: str, offset: int) -> int:
    """How many characters of ``accepted`` (inserted at code-point ``offset``) are still in ``text``: all of them
    when it is still there verbatim near where it went in, else the characters the longest matching blocks share
    with the text around that place (edits inside it, lines deleted, moved a little)."""
    if not accepted:
        return 0
    lo = max(0, offset - RETENTION_WINDOW)
    window = text[lo : offset + len(accepted) + RETENTION_WINDOW]
    if accepted in window:
        return len(accepted)
    matcher = difflib.SequenceMatcher(None, accepted, window, autojunk=False)
    least = min(MIN_BLOCK, len(accepted))  # single characters match anywhere: they say nothing about retention
    return sum(block.size for block in matcher.get_matching_blocks() if block.size >= least)


def summary(data: Mapping[str, Any] | None, path: Path | None = None) -> dict[str, Any]:
    """One workspace's file as the CLI and the editors show it: today's and all days' counts, with rates."""
    days = (data or {}).get("days") or {}
    found = days.get(today())
    day: dict[str, Any] = found if isinstance(found, dict) else empty_day()
    total = totals(days)
    return {
        "workspace": (data or {}).get("workspace"),
        "file": str(path) if path else None,
        "days": len(days),
        "today": {**totals({"today": day}), "rates": rates(day)},
        "total": {**total, "rates": rates(total)},
    }


def stats_summary(path: Path) -> dict[str, Any]:
    return summary(read(path), path)


def delete_workspace_stats(workspace: str | None) -> list[str]:
    """Remove one workspace's stats file (the ``codeassist.deleteStats`` command)."""
    return [str(p) for p in delete_all(None, workspace or NO_WORKSPACE)]
