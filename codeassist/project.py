"""The one project-root rule: which folder a file's project is.

Why one rule: the symbol index, test discovery, the files shipped to the sandbox, refactors and their undo records
must all see the same project, whether the request came from the editor, the CLI or a benchmark; three rules (the
git root, the nearest project file, the editor's workspace folder) made the server and ``codeassist complete`` judge
one completion by different tests.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_MARKERS = (".git", "pyproject.toml", "setup.py", "setup.cfg", ".codeassist")


def find_root(path: str | os.PathLike[str]) -> Path:
    """The project root of ``path``: the nearest ancestor holding a VCS dir or project file, else its folder."""
    start = Path(path).resolve()
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in ROOT_MARKERS):
            return candidate
    return folder
