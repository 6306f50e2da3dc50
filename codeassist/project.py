"""The one project-root rule: which folder a file's project is, and that a file in no project is alone.

Why one rule: the symbol index, test discovery, the files shipped to the sandbox, refactors and their undo records
must all see the same project, whether the request came from the editor, the CLI or a benchmark; three rules (the
git root, the nearest project file, the editor's workspace folder) made the server and ``codeassist complete`` judge
one completion by different tests.

Why "alone": a scratch file under a big shared folder (a home directory, /tmp) has no project. Walking that folder
for the symbol index or shipping it to the sandbox for tests would be slow and wrong, so such a file gets no index
walk and its completions are checked for syntax only (:func:`project_root` is None). Commands that must keep state
somewhere (fix, refactor's journal) use the file's folder (:func:`find_root`).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_MARKERS = (".git", "pyproject.toml", "setup.py", "setup.cfg", ".codeassist")

NOT_IN_PROJECT = "not in a project (no .git or project file above it), so no tests were searched"


def project_root(path: str | os.PathLike[str]) -> Path | None:
    """The project of ``path``: the nearest ancestor holding a VCS dir or project file; None when there is none."""
    start = Path(path).resolve()
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in ROOT_MARKERS):
            return candidate
    return None


def find_root(path: str | os.PathLike[str]) -> Path:
    """Where work on ``path`` keeps its state: :func:`project_root`, else the file's folder (fix and refactor)."""
    start = Path(path).resolve()
    return project_root(start) or (start if start.is_dir() else start.parent)
