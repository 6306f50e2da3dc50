"""Shared fixtures: the real embedded model, loaded once per test session.

No test mocks the model: tests that need it use the installed Qwen2.5-Coder-0.5B GGUF (``make test`` installs it).
The product's default tier is the 1.5B (chosen on the real-repository suite); tests pin the embedded 0.5B through
``$CODEASSIST_MODEL`` (inherited by every server and CLI they start) so they stay fast, whatever is installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from codeassist.sandbox import health

from codeassist.engine import Engine, EngineConfig
from codeassist.models import registry

os.environ[registry.MODEL_ENV] = registry.EMBEDDED_TIER

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Tests never read the developer's own ~/.config/codeassist/config.toml (it may point at a team server).
os.environ["CODEASSIST_USER_CONFIG"] = ""
CLI = [sys.executable, "-m", "codeassist.cli"]


@pytest.fixture(scope="session")
def docker_ok() -> None:
    """Skips a test that needs Docker when no daemon answers, with the reason; fails instead under
    ``CODEASSIST_REQUIRE_DOCKER=1`` (CI), so a missing daemon never passes silently there."""
    h = health(timeout_s=5.0)
    if not h.ok:
        if os.environ.get("CODEASSIST_REQUIRE_DOCKER") == "1":
            pytest.fail(f"Docker sandbox unavailable: {h.reason}")
        pytest.skip(f"Docker sandbox unavailable: {h.reason}")


@pytest.fixture(scope="session")
def model_path() -> str:
    return registry.resolve(None)


@pytest.fixture(scope="session")
def engine(model_path: str) -> Iterator[Engine]:
    eng = Engine(EngineConfig(model=model_path, n_threads=2, max_tokens=24))
    eng.load()
    yield eng
    eng.close()


def run_cli(*args: str, timeout: float = 120, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``codeassist`` CLI in a subprocess (so exit codes and stderr are what users see)."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd or REPO, check=False)


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli
