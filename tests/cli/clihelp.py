"""Helpers for the CLI tests (a plain module: the test dirs are not packages)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The console script pip installed next to the interpreter: what users run, not `python -m`.
CODEASSIST = str(Path(sys.executable).with_name("codeassist"))
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
# llama.cpp's OpenMP threads spin while they wait; on a shared CI core that multiplies the model's cost.
BASE_ENV = {"OMP_WAIT_POLICY": "passive"}


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, **BASE_ENV, **extra}


def run(
    *args: str, cwd: str | Path, timeout: float = 120, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CODEASSIST, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env(**(extra_env or {})),
        check=False,
    )  # fmt: skip


def git_project(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (root / rel).write_text(text)
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "fixture"]):
        subprocess.run(["git", *cmd], cwd=root, check=True, capture_output=True, env={**os.environ, **GIT_ENV})
    return root


def temp_files(root: Path) -> list[Path]:
    """Every atomic-write temporary under ``root``, our state folder included."""
    return sorted(p for p in root.rglob("*.codeassist-tmp"))


def containers_of(pid: int) -> list[str]:
    """Sandbox containers whose owner label names process ``pid`` on this host."""
    from codeassist.sandbox.containers import LABEL_OWNER, list_sandbox_containers
    from codeassist.sandbox.docker_conn import DockerConn

    conn = DockerConn(10.0)
    try:
        found = list_sandbox_containers(conn.api())
    finally:
        conn.close()
    out = []
    for c in found:
        owner = (c.get("Labels") or {}).get(LABEL_OWNER, "")
        parts = owner.split(":")
        if len(parts) == 3 and parts[1] == str(pid):
            out.append(c["Id"][:12])
    return out
