"""Snapshots: the files a run sees, packed as one tar before anything touches Docker.

Packing on the host means the host workspace is never mounted into a container, and the container only ever sees a
copy taken at one instant. Paths are checked here so a job cannot be handed ``../`` or absolute names.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import os
import stat
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from codeassist.errors import InputError
from codeassist.walk import SKIP_DIRS, walk

# Never copied out of a workspace: the project walker's skip list (repository metadata, virtual envs, caches, build
# output), so the sandbox sees the files test discovery saw.
DEFAULT_EXCLUDES: frozenset[str] = SKIP_DIRS
JOB_UID = 65534


@dataclass(frozen=True)
class Snapshot:
    """A tar of the files a run starts with, owned by the job uid; ``skipped`` says which files of a folder were
    left out, and why (for the run's warnings)."""

    tar: bytes
    files: int
    size: int
    skipped: tuple[str, ...] = ()

    @classmethod
    def from_files(cls, files: Mapping[str, bytes | str], *, max_bytes: int | None = None) -> Snapshot:
        entries: list[tuple[str, bytes, int]] = []
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            if not isinstance(data, (bytes, bytearray)):
                raise InputError(f"sandbox file {name!r}: content must be bytes or str, got {type(content).__name__}")
            entries.append((_check_name(name), bytes(data), 0o644))
        return cls._pack(entries, max_bytes)

    @classmethod
    def from_dir(
        cls,
        root: str | os.PathLike[str],
        *,
        excludes: Iterable[str] = DEFAULT_EXCLUDES,
        max_bytes: int | None = None,
    ) -> Snapshot:
        """The regular files under ``root``. Never copied: excluded names, symlinks (to files or folders), sockets,
        FIFOs, devices, and hard links that lead out of the folder (see :func:`_outside_links`), which are named in
        ``skipped`` instead."""
        base = Path(root)
        if not base.is_dir():
            raise InputError(f"sandbox: {str(base)!r} is not a directory")
        entries: list[tuple[str, bytes, int]] = []
        nlinks: list[int] = []
        keys: list[tuple[int, int]] = []
        total = 0
        # the shared project walker lists the regular files (symlinks, sockets, fifos, devices: never followed);
        # each is then read through one descriptor that refuses a file swapped for a link or a pipe since
        for entry in walk(base, skip=excludes):
            path = Path(entry.path)
            got = _read_regular(path, None if max_bytes is None else max_bytes - total)
            if got is None:
                continue
            data, st = got
            total += len(data)
            if max_bytes is not None and total > max_bytes:
                raise InputError(f"sandbox: {base} holds more than {max_bytes} bytes of files")
            mode = 0o755 if st.st_mode & 0o111 else 0o644
            entries.append((entry.rel, data, mode))
            nlinks.append(st.st_nlink)
            keys.append((st.st_dev, st.st_ino))
        leaving = _outside_links(nlinks, keys)
        skipped = tuple(
            f"{entries[i][0]}: not copied, a hard link to a file with links outside the folder" for i in leaving
        )
        kept = [e for i, e in enumerate(entries) if i not in leaving]
        return dataclasses.replace(cls._pack(kept, max_bytes), skipped=skipped)

    @classmethod
    def _pack(cls, entries: list[tuple[str, bytes, int]], max_bytes: int | None) -> Snapshot:
        size = sum(len(data) for _, data, _ in entries)
        if max_bytes is not None and size > max_bytes:
            raise InputError(f"sandbox: files total {size} bytes, over the work dir limit of {max_bytes}")
        buf = io.BytesIO()
        dirs: set[str] = set()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, data, mode in entries:
                for parent in reversed(PurePosixPath(name).parents[:-1]):
                    if str(parent) not in dirs:
                        dirs.add(str(parent))
                        tar.addfile(_info(str(parent), tarfile.DIRTYPE, 0o755, 0))
                info = _info(name, tarfile.REGTYPE, mode, len(data))
                tar.addfile(info, io.BytesIO(data))
        return cls(tar=buf.getvalue(), files=len(entries), size=size)


def _read_regular(path: Path, limit: int | None) -> tuple[bytes, os.stat_result] | None:
    """The bytes and status of ``path`` if it is a regular file, read through one descriptor opened without following
    a symlink or blocking on a FIFO, so a file swapped for a link or a pipe after the walk saw it is skipped, never
    followed or waited on. At most ``limit`` + 1 bytes are read (the caller reports the overflow)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.ENOENT):
            return None  # a symlink, a socket, or gone since the walk
        raise InputError(f"sandbox: cannot read {path}: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        want = st.st_size if limit is None else min(st.st_size, limit + 1)
        chunks: list[bytes] = []
        while want > 0:
            chunk = os.read(fd, min(want, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            want -= len(chunk)
        return b"".join(chunks), st
    except OSError as exc:
        raise InputError(f"sandbox: cannot read {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)


def _outside_links(nlinks: list[int], keys: list[tuple[int, int]]) -> set[int]:
    """Indices of files that are hard links to a file with links outside the copied tree.

    A hard link carries no "original": a link in the folder to, say, ~/.ssh/id_ed25519 is indistinguishable from a
    file created there. The honest rule is proof: a file with ``st_nlink`` > 1 is copied only when all of its links
    were found in the tree being copied; otherwise every copy of it is left out and reported. Links inside excluded
    folders (.git, .venv...) are not searched, so such a file is left out too - on the safe side."""
    seen: dict[tuple[int, int], list[int]] = {}
    for i, (nlink, key) in enumerate(zip(nlinks, keys, strict=True)):
        if nlink > 1:
            seen.setdefault(key, []).append(i)
    return {i for idx in seen.values() if len(idx) < nlinks[idx[0]] for i in idx}


def _info(name: str, kind: bytes, mode: int, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.uid = info.gid = JOB_UID
    info.mtime = 0
    return info


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name or "\0" in name:
        raise InputError(f"sandbox file name {name!r} is empty or not a string")
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name:
        raise InputError(f"sandbox file name {name!r} must be a relative path inside the work dir")
    clean = "/".join(p for p in path.parts if p != ".")
    if not clean:
        raise InputError(f"sandbox file name {name!r} names no file")
    return clean
