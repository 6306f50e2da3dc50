"""Fixture projects shared by the verify tests (a plain module: the test dirs are not packages)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from seeded import BUGGY_STATS as BUGGY_STATS  # re-exported: the suites import the seeded bug from here
from seeded import TEST_STATS as TEST_STATS

from codeassist.engine import Engine, EngineConfig

REPO = Path(__file__).resolve().parents[2]


def git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=env)


def make_project(root: Path, files: dict[str, str], *, commit: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "init", "-q")
    if commit:
        git(root, "add", "-A")
        git(root, "commit", "-qm", "fixture")
    return root


CliRun = Callable[..., subprocess.CompletedProcess[str]]


def loaded_engine(config: EngineConfig) -> Iterator[Engine]:
    """The embedded model loaded with ``config`` for a module-scoped fixture (``yield from``), closed after it."""
    engine = Engine(config)
    engine.load()
    try:
        yield engine
    finally:
        engine.close()
