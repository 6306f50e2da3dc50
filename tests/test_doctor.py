"""``codeassist doctor`` reports every check and fails loudly when one fails."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Cli = Callable[..., subprocess.CompletedProcess[str]]
CHECKS = ["model", "llama.cpp build", "model load", "canary completion", "docker sandbox"]


@pytest.mark.model
@pytest.mark.docker
def test_doctor_all_green(cli: Cli) -> None:
    proc = cli("doctor", "--json", timeout=300)
    data = json.loads(proc.stdout)
    assert [c["name"] for c in data["checks"]] == CHECKS
    failed = [c for c in data["checks"] if not c["ok"]]
    assert not failed, failed
    assert proc.returncode == 0
    canary = next(c for c in data["checks"] if c["name"] == "canary completion")
    assert canary["ms"] > 0


def test_doctor_fails_on_bad_model(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"\x00" * 64)
    proc = cli("doctor", "--model", str(bad), timeout=300)
    assert proc.returncode == 1
    assert "[FAIL] model" in proc.stdout and "not a GGUF" in proc.stdout
    assert "canary completion" in proc.stdout and "skipped" in proc.stdout
    assert "Traceback" not in proc.stderr
