"""Snapshots: the files a run sees, packed as one tar before anything touches Docker.

Packing on the host means the host workspace is never mounted into a container, and the container only ever sees a
copy taken at one instant. Paths are checked here so a job cannot be handed ``../`` or absolute names.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from codeassist.errors import InputError

# Never copied out of a workspace: repository metadata, virtual envs and caches (big, and none of the job's business).
DEFAULT_EXCLUDES: frozenset[str] = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
    }
)
JOB_UID = 65534


@dataclass(frozen=True)
class Snapshot:
    """A tar of the files a run starts with, owned by the job uid."""

    tar: bytes
    files: int
    size: int

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
        base = Path(root)
        if not base.is_dir():
            raise InputError(f"sandbox: {str(base)!r} is not a directory")
        skip = frozenset(excludes)
        entries: list[tuple[str, bytes, int]] = []
        total = 0
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if d not in skip and not (Path(dirpath) / d).is_symlink())
            for fname in sorted(filenames):
                if fname in skip:
                    continue
                path = Path(dirpath) / fname
                st = path.lstat()
                if not stat.S_ISREG(st.st_mode):
                    continue  # symlinks, sockets, fifos, devices: never followed, never copied
                total += st.st_size
                if max_bytes is not None and total > max_bytes:
                    raise InputError(f"sandbox: {base} holds more than {max_bytes} bytes of files")
                mode = 0o755 if st.st_mode & 0o111 else 0o644
                entries.append((path.relative_to(base).as_posix(), path.read_bytes(), mode))
        return cls._pack(entries, max_bytes)

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
