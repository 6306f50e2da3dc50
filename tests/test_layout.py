"""Packaging: server/ and sandbox/ install as codeassist.server / codeassist.sandbox, never as top-level modules,
both from the editable install and from a real (non-editable) wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_editable_install_imports_from_elsewhere(tmp_path: Path) -> None:
    code = "import codeassist.server, codeassist.sandbox, codeassist.engine; print(codeassist.server.__file__)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(REPO / "server" / "__init__.py")


@pytest.mark.slow
def test_wheel_layout_and_import(tmp_path: Path) -> None:
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    build = subprocess.run(
        [*pip_wheel, "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    wheel = next(tmp_path.glob("codeassist-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"codeassist"}, tops
    assert "codeassist/server/__init__.py" in names and "codeassist/sandbox/__init__.py" in names
    # Data the code reads at run time travels with the wheel.
    assert "codeassist/context/queries/python-tags.scm" in names
    assert "codeassist/sandbox/images/python.toml" in names
    assert "codeassist/sandbox/seccomp/docker-default.json" in names
    target = tmp_path / "site"
    inst = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert inst.returncode == 0, inst.stderr
    assert not (target / "server").exists() and not (target / "sandbox").exists()
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONNOUSERSITE": "1"}
    # PYTHONPATH comes before the editable install's import hook, so this imports the wheel's copy; dependencies
    # still come from the venv.
    code = (
        "import codeassist, codeassist.server, codeassist.sandbox, codeassist.cli;"
        "print(codeassist.__file__); print(codeassist.sandbox.__file__)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert all(line.startswith(str(target)) for line in proc.stdout.split()), proc.stdout
