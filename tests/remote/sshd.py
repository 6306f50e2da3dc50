"""An sshd for the tests on 127.0.0.1 (its own host key, authorized key, pidfile and config, nothing of the
machine's ssh setup touched), and an ``ssh`` wrapper that points the client at it — what a user's ``~/.ssh/config``
and ``known_hosts`` do for a real remote engine. Behind it, ``docker system dial-stdio`` reaches this machine's
dockerd: the ssh:// transport is what is tested, not a second engine (tests/remote/dockerd.py has that)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from servers import free_port

SSHD = "/usr/sbin/sshd"


@dataclass
class Sshd:
    port: int
    folder: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"ssh://root@127.0.0.1:{self.port}"

    @property
    def bin_dir(self) -> str:
        """Put first on PATH: its ``ssh`` uses this server's keys (``-F`` config), strict host key checking."""
        return str(self.folder / "bin")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, capture_output=True)


def start_sshd(folder: Path, timeout: float = 30) -> Sshd:
    """sshd in the foreground (``-D``), root login by key only. Skips when sshd is missing or we are not root
    (sshd needs root for privilege separation; CI runs as root and installs openssh-server)."""
    if not os.path.exists(SSHD) or shutil.which("ssh") is None or shutil.which("docker") is None:
        pytest.skip("openssh-server, openssh-client and the docker CLI are needed (scripts/install-apt.sh)")
    if os.geteuid() != 0:
        pytest.skip("sshd needs root")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    _keygen(folder / "host_key")
    _keygen(folder / "user_key")
    shutil.copy(folder / "user_key.pub", folder / "authorized_keys")
    port = free_port()
    (folder / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {folder / 'host_key'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPidFile {folder / 'sshd.pid'}\nStrictModes no\n"
        "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
    )
    host_key = (folder / "host_key.pub").read_text().split()[:2]
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {' '.join(host_key)}\n")
    (folder / "ssh_config").write_text(
        f"Host 127.0.0.1\n  IdentityFile {folder / 'user_key'}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {folder / 'known_hosts'}\n  StrictHostKeyChecking yes\n  BatchMode yes\n"
        "  ConnectTimeout 10\n"
    )
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec {shutil.which("ssh")} -F {folder / "ssh_config"} "$@"\n')
    wrapper.chmod(0o755)
    with open(folder / "sshd.log", "ab") as log:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(folder / "sshd_config")], stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    server = Sshd(port, folder, proc)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"sshd exited ({proc.returncode}):\n{(folder / 'sshd.log').read_text()[-2000:]}")
        probe = subprocess.run(["ssh", "-p", str(port), "root@127.0.0.1", "docker", "version"], env=env,
                               capture_output=True, timeout=30)  # fmt: skip
        if probe.returncode == 0:
            return server
        time.sleep(0.3)
    server.stop()
    pytest.fail(f"sshd did not answer in {timeout:.0f} s:\n{(folder / 'sshd.log').read_text()[-2000:]}")
