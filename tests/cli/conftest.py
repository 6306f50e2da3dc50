"""Fixtures for the CLI tests: the real installed ``codeassist`` entry point, a real dockerd, the embedded model.

Nothing is mocked: each case runs the console script the way a user's shell would, in a subprocess with a timeout.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def docker_ok() -> None:
    from codeassist.sandbox import health

    h = health(timeout_s=5.0)
    if not h.ok:
        if os.environ.get("CODEASSIST_REQUIRE_DOCKER") == "1":
            pytest.fail(f"Docker sandbox unavailable: {h.reason}")
        pytest.skip(f"Docker sandbox unavailable: {h.reason}")
