"""Fixtures for the sandbox tests: one real Docker daemon, one warm pool per session.

No mocks: these tests exist to prove containment against a real dockerd. When no daemon answers the Docker tests are
skipped with the reason (CI starts one with scripts/ensure-dockerd.sh; set CODEASSIST_REQUIRE_DOCKER=1 to fail
instead of skipping).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from codeassist.sandbox import Limits, Sandbox, SandboxConfig, health

POOL_SIZE = 2


def _docker_reason() -> str | None:
    h = health(timeout_s=5.0)
    return None if h.ok else h.reason


@pytest.fixture(scope="session", autouse=True)
def no_leftover_containers() -> Iterator[None]:
    """Torn down last: once every sandbox of this session is closed, none of our containers may remain."""
    yield
    if _docker_reason() is not None:
        return
    import docker
    from codeassist.sandbox.containers import LABEL_OWNER, owner_id

    api = docker.from_env(timeout=10).api
    left = api.containers(all=True, filters={"label": f"{LABEL_OWNER}={owner_id()}"})
    assert not left, f"sandbox containers outlived their Sandbox: {[c['Names'] for c in left]}"


@pytest.fixture(scope="session")
def sandbox(docker_ok: None) -> Iterator[Sandbox]:
    sb = Sandbox(SandboxConfig(pool_size=POOL_SIZE, limits=Limits(timeout_s=10.0)))
    h = sb.warm()
    assert h.ok, h.reason
    yield sb
    sb.close()


@pytest.fixture(scope="session")
def exec_sandbox(docker_ok: None) -> Iterator[Sandbox]:
    """The same pool without the in-container runner: one `docker exec` per job (``runner=False``)."""
    sb = Sandbox(SandboxConfig(pool_size=POOL_SIZE, limits=Limits(timeout_s=10.0), runner=False))
    h = sb.warm()
    assert h.ok, h.reason
    yield sb
    sb.close()


def tree_hash(root: Path) -> str:
    """Hash of every path, mode and byte under root (symlinks by target), to prove a workspace is untouched."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        st = path.lstat()
        digest.update(f"{rel}\0{st.st_mode:o}\0".encode())
        if path.is_symlink():
            digest.update(os.readlink(path).encode())
        elif path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A host project with a .git holding a secret; its hash must not change whatever the jobs do."""
    root = tmp_path_factory.mktemp("workspace")
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (root / "test_calc.py").write_text("from pkg.calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[remote]\n  token = GIT-SECRET-4242\n")
    (root / "run.sh").write_text("#!/bin/sh\necho run\n")
    (root / "run.sh").chmod(0o755)
    before = tree_hash(root)
    yield root
    assert tree_hash(root) == before, "the host workspace changed during the sandbox tests"
