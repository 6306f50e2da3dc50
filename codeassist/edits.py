"""Writing users' files safely: atomic replacement, unified diffs and git cleanliness.

Why atomic: an interrupted write (Ctrl-C, a crash, a full disk) must leave either the old bytes or the new bytes,
never half a file. So every write goes to a temporary file in the same directory (same filesystem), is flushed and
fsynced, takes the original's permission bits, and then replaces the original with ``os.replace`` (atomic on POSIX).
"""

from __future__ import annotations

import contextlib
import difflib
import glob
import os
import secrets
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

TEMP_SUFFIX = ".codeassist-tmp"
# Test hook: seconds to pause halfway through writing each temporary file, so a test can kill a process "mid-write"
# deterministically (the kill-anywhere refactor trials). Unset in normal use.
WRITE_PAUSE_ENV = "CODEASSIST_TEST_WRITE_PAUSE_S"


def atomic_write(path: str | os.PathLike[str], data: bytes, *, tag: str = "") -> None:
    """Replace ``path`` with ``data`` atomically, keeping its permission bits (0644 for a new file).

    The temporary file is ``.NAME.[TAG.]RANDOM.codeassist-tmp`` next to the target; a batch passes its id as ``tag``
    so that, after a SIGKILL mid-write, it can find and remove its own leftovers (:func:`remove_temp_files`)."""
    target = Path(path)
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    prefix = f".{target.name}.{tag}." if tag else f".{target.name}."
    # The name is chosen before the file is created (not inside mkstemp), so a Ctrl-C that lands right after the
    # open (a loaded machine can preempt us there) still knows which file to remove.
    tmp = ""
    try:
        while True:
            tmp = str(target.parent / f"{prefix}{secrets.token_hex(4)}{TEMP_SUFFIX}")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                break
            except FileExistsError:
                tmp = ""  # someone else's: never removed; try another name
        with os.fdopen(fd, "wb") as fh:
            pause = float(os.environ.get(WRITE_PAUSE_ENV) or 0)
            if pause > 0:
                fh.write(data[: len(data) // 2])
                fh.flush()
                time.sleep(pause)
                data = data[len(data) // 2 :]
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def remove_temp_files(path: str | os.PathLike[str], tag: str) -> list[Path]:
    """Remove the temporary files :func:`atomic_write` left for ``path`` under ``tag`` (a kill mid-write); returns
    them. Only this tag's files: another batch's (or another program's) temporaries are none of our business."""
    target = Path(path)
    removed: list[Path] = []
    if not tag or not target.parent.is_dir():
        return removed
    for tmp in target.parent.glob(f".{glob.escape(target.name)}.{glob.escape(tag)}.*{TEMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def unified_diff(rel: str, old: str, new: str) -> str:
    """A ``git apply``-able unified diff of one file (``a/rel`` -> ``b/rel``), empty when nothing changed."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=f"a/{rel}", tofile=f"b/{rel}"
    )
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def diff_size(old: str, new: str) -> int:
    """Number of changed lines (removed + added): the ranking's "smaller diff"."""
    a, b = old.splitlines(), new.splitlines()
    size = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal":
            size += (i2 - i1) + (j2 - j1)
    return size


def git_dirty(root: str | os.PathLike[str], paths: Iterable[str]) -> set[str] | None:
    """The given root-relative paths with uncommitted changes (staged, unstaged or untracked); None when ``root``
    is not a git work tree or git is unavailable (cleanliness cannot be checked)."""
    rels = list(paths)
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if top.returncode != 0:
        return None
    res = subprocess.run(
        ["git", "status", "--porcelain", "-z", "--untracked-files=all", "--", *rels],
        cwd=root, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    if res.returncode != 0:
        return None
    toplevel = Path(top.stdout.strip()).resolve()
    base = Path(root).resolve()
    dirty: set[str] = set()
    entries = res.stdout.split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        status, name = entry[:2], entry[3:]
        if status[0] in "RC":
            i += 1  # a rename's source path follows
        full = (toplevel / name).resolve()
        with contextlib.suppress(ValueError):
            dirty.add(full.relative_to(base).as_posix())
    return dirty
