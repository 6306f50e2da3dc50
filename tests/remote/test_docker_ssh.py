"""Sandboxes over ``ssh://`` (issue 14): docker-py's ssh transport is a subprocess's pipes, not a socket, so the
runner channel and exec jobs need :mod:`codeassist.sandbox.streams`' bridge. A real sshd on 127.0.0.1
(tests/remote/sshd.py) in front of this machine's dockerd: pooled jobs, a timeout, an exec-mode job, the container's
hardening seen from inside, no ssh process left behind, and a refused key as a one-line reason in bounded time."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from codeassist.sandbox import Limits, Sandbox, SandboxConfig
from dockerd import assert_hardened_job
from sshd import Sshd, start_sshd

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ssh_path(sshd: Sshd, monkeypatch: pytest.MonkeyPatch) -> Sshd:
    """The test's ``ssh`` first on PATH, as a user's ssh config would make the engine reachable."""
    monkeypatch.setenv("PATH", f"{sshd.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return sshd


def _dial_stdio_procs(port: int) -> list[str]:
    out = subprocess.run(["pgrep", "-af", f"-p {port} .*dial-stdio"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def test_pooled_and_exec_jobs_run_over_ssh(ssh_path: Sshd) -> None:
    with Sandbox(SandboxConfig(docker_host=ssh_path.url, pool_size=1)) as sb:
        health = sb.health()
        assert health.ok and health.daemon is not None and health.daemon.startswith(ssh_path.url), health
        for _ in range(2):  # the second reuses the pool's next container
            assert_hardened_job(sb.run, 30)
        started = time.monotonic()
        slow = sb.run({"slow.py": "import time\ntime.sleep(60)\n"}, ["python3", "slow.py"], Limits(timeout_s=2))
        assert slow.status == "timeout" and time.monotonic() - started < 30, slow
        # non-default limits take a one-shot container and `docker exec` (its stdio is the bridged stream too)
        once = sb.run({"a.py": "import sys\nprint(sys.stdin.read() or 'no input')\n"}, ["python3", "a.py"],
                      Limits(timeout_s=30, memory_mb=300))  # fmt: skip
        assert once.status == "passed" and once.stdout.strip() == "no input", once
        failed = sb.run({"t.py": "assert 1 == 2\n"}, ["python3", "t.py"], Limits(timeout_s=30))
        assert failed.status == "failed" and "AssertionError" in failed.stderr, failed
    deadline = time.monotonic() + 15
    while _dial_stdio_procs(ssh_path.port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _dial_stdio_procs(ssh_path.port)  # every bridged stream's ssh process ended with its sandbox


def test_a_refused_key_is_a_one_line_reason(sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "stranger")], check=True)
    config = (sshd.folder / "ssh_config").read_text().replace(str(sshd.folder / "user_key"), str(tmp_path / "stranger"))
    (tmp_path / "ssh_config").write_text(config)
    (tmp_path / "bin").mkdir()
    wrapper = tmp_path / "bin" / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {tmp_path / "ssh_config"} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    started = time.monotonic()
    with Sandbox(SandboxConfig(docker_host=sshd.url, pool_size=1, acquire_timeout_s=10)) as sb:
        health = sb.health()
        result = sb.run({"a.py": "print(1)\n"}, ["python3", "a.py"], Limits(timeout_s=10))
    assert not health.ok and health.reason and "\n" not in health.reason, health
    assert f"ssh -p {sshd.port} root@127.0.0.1 docker version" in health.reason, health
    assert result.status == "error" and result.reason, result
    assert time.monotonic() - started < 90
