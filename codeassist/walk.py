"""The workspace walker: which files of a project the tools look at.

Why one walker: test discovery, the files shipped to the sandbox and the symbol index must agree on what belongs
to a project (no VCS data, environments, caches or build output), or a test found on the host is missing in the
sandbox, or the sandbox ships a virtualenv.
"""

from __future__ import annotations

import os
from pathlib import Path

# Directories never shipped to the sandbox: VCS data, environments, caches, our own state.
SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", ".venv", "venv", "env", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache",
     ".pytest_cache", ".tox", ".codeassist", "build", "dist", ".eggs"}
)  # fmt: skip
MAX_FILE_BYTES = 512 << 10
MAX_WORKSPACE_BYTES = 24 << 20


def workspace_files(root: str | os.PathLike[str]) -> dict[str, bytes]:
    """The workspace files shipped to the sandbox: every regular file under ``root`` outside VCS/env/cache dirs,
    skipping files over :data:`MAX_FILE_BYTES`; stops at :data:`MAX_WORKSPACE_BYTES` in total."""
    base = Path(root)
    out: dict[str, bytes] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            if not path.is_file() or path.is_symlink() or st.st_size > MAX_FILE_BYTES:
                continue
            if total + st.st_size > MAX_WORKSPACE_BYTES:
                return out
            total += st.st_size
            out[path.relative_to(base).as_posix()] = path.read_bytes()
    return out
