"""The workspace walker: which files of a project the tools look at.

Why one walker: test discovery, the files shipped to the sandbox and the symbol index must agree on what belongs
to a project (no VCS data, environments, caches or build output), or a test found on the host is missing in the
sandbox, or the sandbox ships a virtualenv. Only regular files are yielded: symlinks (to files or folders) are never
followed, and FIFOs, sockets and devices are never opened (reading a FIFO would block forever).

Near a leaf (the standard library and the bounded reader of :mod:`codeassist.documents`, itself a leaf), so that
``codeassist.sandbox``, which imports nothing of the engine, can walk a folder the same way. Walks are bounded: the
readers stop at a file count and a byte total, so a huge tree is never listed to the end.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from codeassist.documents import read_regular_file
from codeassist.errors import InputError

# Never part of a project's files: VCS data, environments, caches, build output, editor state and our own state.
SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", ".venv", "venv", "env", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache",
     ".pytest_cache", ".tox", ".codeassist", "build", "dist", ".eggs", "target", ".idea", ".vscode"}
)  # fmt: skip
MAX_FILE_BYTES = 512 << 10
MAX_WORKSPACE_BYTES = 24 << 20
MAX_WORKSPACE_FILES = 20_000  # with the byte cap, bounds the walk of a huge tree
MAX_GITIGNORE_BYTES = 1 << 20


def skipped_dir(name: str, skip: Iterable[str] = SKIP_DIRS) -> bool:
    """True for a folder no tool looks into (see :data:`SKIP_DIRS`; also ``*.egg-info``)."""
    return name in skip or name.endswith(".egg-info")


@dataclass(frozen=True)
class Entry:
    """One regular file of the workspace."""

    rel: str  # relative to the root, '/'-separated
    path: str  # absolute (or as the root was given)
    size: int
    executable: bool


@dataclass
class WalkStats:
    ignored: int = 0  # files and folders left out by a .gitignore or the skip list


class GitIgnore:
    """A small ``.gitignore`` matcher: globs, ``**``, anchored patterns, directory-only patterns and negation.

    Nested ``.gitignore`` files apply to their own directory. Good enough to keep generated and vendored code out of
    prompts; not a full reimplementation of git's rules.
    """

    def __init__(self) -> None:
        self._rules: list[tuple[str, str, bool, bool, bool]] = []  # (base, pattern, negate, dir_only, anchored)

    def add_file(self, base: str, path: str) -> None:
        try:  # bounded, and never blocks on a FIFO named .gitignore
            lines = read_regular_file(path, max_bytes=MAX_GITIGNORE_BYTES).decode("utf-8", "replace").splitlines()
        except InputError:
            return
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:]
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = "/" in line
            line = line.lstrip("/")
            if line:
                self._rules.append((base, line, negate, dir_only, anchored))

    def ignored(self, rel: str, is_dir: bool) -> bool:
        result = False
        for base, pattern, negate, dir_only, anchored in self._rules:
            if dir_only and not is_dir:
                continue
            if base:
                if not rel.startswith(base + "/"):
                    continue
                sub = rel[len(base) + 1 :]
            else:
                sub = rel
            hit = _glob(sub, pattern) if anchored else fnmatch.fnmatchcase(os.path.basename(sub), pattern)
            if hit:
                result = not negate
        return result


def _glob(path: str, pattern: str) -> bool:
    if "**" not in pattern:
        return fnmatch.fnmatchcase(path, pattern)
    regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
    regex = regex.replace(r"\?", "[^/]")
    return re.fullmatch(regex, path) is not None


def walk(
    root: str | os.PathLike[str],
    *,
    skip: Iterable[str] = SKIP_DIRS,
    gitignore: GitIgnore | None = None,
    stats: WalkStats | None = None,
) -> Iterator[Entry]:
    """Every regular file under ``root``, in sorted order, outside skipped folders. With ``gitignore``, the
    ``.gitignore`` files met on the way are loaded into it and what they ignore is left out."""
    skip = frozenset(skip)
    base = os.fspath(root)
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        rel_dir = os.path.relpath(dirpath, base).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir
        if gitignore is not None and ".gitignore" in filenames:
            gitignore.add_file(rel_dir, os.path.join(dirpath, ".gitignore"))
        keep = []
        for name in sorted(dirnames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if skipped_dir(name, skip) or (gitignore is not None and gitignore.ignored(rel, True)):
                if stats is not None:
                    stats.ignored += 1
                continue
            if not os.path.islink(os.path.join(dirpath, name)):
                keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            # a dot-name of the skip list is VCS metadata even as a file (a worktree's ``.git`` file)
            if (name in skip and name.startswith(".")) or (gitignore is not None and gitignore.ignored(rel, False)):
                if stats is not None:
                    stats.ignored += 1
                continue
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                yield Entry(rel, path, st.st_size, bool(st.st_mode & 0o111))


def read_files(
    root: str | os.PathLike[str], *, max_file_bytes: int = MAX_FILE_BYTES, max_total_bytes: int = MAX_WORKSPACE_BYTES
) -> dict[str, bytes]:
    """The workspace's files by relative path, as the verifier discovers tests in and ships to the sandbox: files
    over ``max_file_bytes`` are left out, and reading stops at ``max_total_bytes`` in total or
    :data:`MAX_WORKSPACE_FILES` files. Unreadable files are left out: the tests cannot use them either."""
    out: dict[str, bytes] = {}
    total = 0
    for entry in walk(root):
        if entry.size > max_file_bytes:
            continue
        if total + entry.size > max_total_bytes or len(out) >= MAX_WORKSPACE_FILES:
            break
        try:  # bounded and non-blocking: the file may have changed since it was listed
            data = read_regular_file(entry.path, max_bytes=max_file_bytes)
        except InputError:
            continue
        total += len(data)
        out[entry.rel] = data
    return out
