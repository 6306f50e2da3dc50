"""Fixtures for the verify-before-suggest tests: small fixture projects, a real sandbox, the real CLI.

No mocks: sandbox tests run against a real dockerd (skipped with the reason when none answers; set
CODEASSIST_REQUIRE_DOCKER=1 to fail instead), model tests use the embedded GGUF through the CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from codeassist.sandbox import Sandbox, SandboxConfig
from verify_fixtures import BUGGY_STATS, REPO, TEST_STATS, CliRun, loaded_engine, make_project

from codeassist.engine import Engine, EngineConfig


@pytest.fixture(scope="session")
def sandbox(docker_ok: None) -> Iterator[Sandbox]:
    sb = Sandbox(SandboxConfig(pool_size=2))
    assert sb.warm().ok
    yield sb
    sb.close()


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """The embedded model with no generation time budget: the fix tests judge what it writes, not how fast (a
    loaded machine must not cut a candidate short). test_services.py overrides it with its own token budget."""
    yield from loaded_engine(EngineConfig(time_budget_ms=None))


@pytest.fixture
def buggy_project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj", {"stats.py": BUGGY_STATS, "test_stats.py": TEST_STATS})


@pytest.fixture
def run_cli_env() -> CliRun:
    """Run the real CLI with extra environment variables (e.g. a dead DOCKER_HOST)."""

    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 600, cwd: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "codeassist.cli", *args], capture_output=True, text=True, timeout=timeout,
            cwd=cwd or str(REPO), env=full_env, check=False,
        )  # fmt: skip

    return run
