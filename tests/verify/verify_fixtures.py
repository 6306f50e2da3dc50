"""Fixture projects shared by the verify tests (a plain module: the test dirs are not packages)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# A bug the 0.5B model fixes reliably: a flipped comparison, a docstring that states the intent, a clear assertion.
BUGGY_STATS = '''def count_positive(numbers):
    """Return how many numbers are greater than zero."""
    count = 0
    for n in numbers:
        if n < 0:
            count += 1
    return count
'''
TEST_STATS = """from stats import count_positive


def test_count_positive():
    assert count_positive([1, -2, 3]) == 2
    assert count_positive([]) == 0
"""


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
