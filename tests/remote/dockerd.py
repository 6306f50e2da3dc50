"""A second Docker daemon for the tests: TCP on 127.0.0.1 with mutual TLS (certificates made here), its own
data-root, exec-root, pidfile and bridge, no iptables changes — so it never touches the machine's main dockerd,
which other work shares. Only the daemon started here is ever stopped or killed (by its pid).

Its bridge is one made here (``BRIDGE_PREFIX`` + tag), not ``--bridge=none``: a daemon without a bridge deletes the
default one, ``docker0``, at start — the main daemon's — and every container on the main daemon's default network
then failed to start ("could not find bridge docker0") until it was restarted."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from codeassist.sandbox import Limits, RunResult
from servers import free_port

# What a job sees of its container on any engine (local, TLS, ssh): its user, the network, the root filesystem.
JOB_PROBE = """
import json, os, socket
out = {"uid": os.getuid()}
try:
    socket.create_connection(("1.1.1.1", 53), timeout=1); out["net"] = "open"
except OSError as e:
    out["net"] = type(e).__name__
try:
    open("/etc/x", "w"); out["rootfs"] = "writable"
except OSError:
    out["rootfs"] = "read-only"
print(json.dumps(out))
"""


def assert_hardened_job(run: Callable[..., RunResult], timeout_s: float) -> None:
    """Run :data:`JOB_PROBE` with ``run`` (a sandbox's ``run``) and check the job is nobody, offline, read-only."""
    result = run({"probe.py": JOB_PROBE}, ["python3", "probe.py"], Limits(timeout_s=timeout_s))
    assert result.status == "passed", result
    seen = json.loads(result.stdout)
    assert seen["uid"] == 65534 and seen["rootfs"] == "read-only" and seen["net"] != "open", seen


def _openssl(cwd: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=cwd)


def make_tls(folder: Path) -> tuple[Path, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate. Returns (server dir, client dir); the
    client dir follows Docker's convention (ca.pem, cert.pem, key.pem)."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl(folder, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem",
             "-days", "1", "-subj", "/CN=codeassist test docker CA")  # fmt: skip
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):  # fmt: skip
        _openssl(folder, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-key.pem", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}")  # fmt: skip
        (folder / f"{name}.cnf").write_text(ext)
        _openssl(folder, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "1", "-extfile", f"{name}.cnf")  # fmt: skip
    client = folder / "client-dir"
    client.mkdir(exist_ok=True)
    shutil.copy(folder / "ca.pem", client / "ca.pem")
    shutil.copy(folder / "client.pem", client / "cert.pem")
    shutil.copy(folder / "client-key.pem", client / "key.pem")
    return folder, client


@dataclass
class SecondDockerd:
    url: str
    tls_client: Path
    tls_server: Path
    data_root: Path
    exec_root: Path
    log: Path
    bridge: str
    proc: subprocess.Popen[bytes] | None = None

    def _cmd(self) -> list[str]:
        s = self.tls_server
        return ["dockerd", "--host", self.url, "--tlsverify", f"--tlscacert={s / 'ca.pem'}",
                f"--tlscert={s / 'server.pem'}", f"--tlskey={s / 'server-key.pem'}", f"--data-root={self.data_root}",
                f"--exec-root={self.exec_root}", f"--pidfile={self.data_root / 'docker.pid'}",
                f"--bridge={self.bridge}", "--iptables=false", "--ip-masq=false", "--ip-forward=false",
                "--userland-proxy=false", "--log-level=warn"]  # fmt: skip

    def start(self, timeout: float = 60) -> None:
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(self._cmd(), stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        env = {**os.environ, "DOCKER_HOST": self.url, "DOCKER_TLS_VERIFY": "1",
               "DOCKER_CERT_PATH": str(self.tls_client)}  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"second dockerd exited ({self.proc.returncode}):\n{self.log.read_text()[-2000:]}")
            if subprocess.run(["docker", "info"], env=env, capture_output=True, timeout=20).returncode == 0:
                return
            time.sleep(0.5)
        pytest.fail(f"second dockerd did not answer in {timeout:.0f} s:\n{self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL the daemon (a crash): its API socket goes away mid-job."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)

    def stop(self) -> None:
        """Graceful stop (its containers are stopped with it); after a kill, start it once more so it reaps what
        the crash left, then stop it. Then remove its directories."""
        if self.proc is not None and self.proc.poll() is not None:
            self.start()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        for root in (self.exec_root, self.data_root):
            subprocess.run(["umount", "-R", "-l", str(root)], capture_output=True)
            shutil.rmtree(root, ignore_errors=True)
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)


DATA_PREFIX = "/var/lib/codeassist-test-dockerd-"
EXEC_PREFIX = "/tmp/cadx-"
BRIDGE_PREFIX = "cadx"  # + the 8-hex tag: 12 characters, under Linux's 15 for an interface name


def _pids_naming(paths: list[str]) -> list[int]:
    """Processes whose command line names one of these test-only folders (a leaked daemon, its containerd)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(p in cmdline for p in paths):
            found.append(int(entry.name))
    return found


def _owner_alive(tag: str) -> bool:
    try:
        pid = int(Path(f"{DATA_PREFIX}{tag}/owner.pid").read_text())
    except (OSError, ValueError):
        return False
    return Path(f"/proc/{pid}").exists()


def reap_leftovers() -> list[str]:
    """Remove what a killed earlier run left (a SIGKILLed pytest skips every teardown): for each tag whose owning
    test process is gone, daemons and containerds whose command line names its folders (``DATA_PREFIX``/
    ``EXEC_PREFIX`` + tag, made only here) are killed by pid, their mounts lazily unmounted, the folders removed.
    The main dockerd names none of these folders; a run still alive keeps its daemon."""
    tags = {p.name[len(Path(DATA_PREFIX).name) :] for p in Path("/var/lib").glob(Path(DATA_PREFIX).name + "*")}
    tags |= {p.name[len(Path(EXEC_PREFIX).name) :] for p in Path("/tmp").glob(Path(EXEC_PREFIX).name + "*")}
    roots = [r for t in sorted(tags) if not _owner_alive(t) for r in (f"{DATA_PREFIX}{t}", f"{EXEC_PREFIX}{t}")]
    for pid in _pids_naming(roots):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    for root in roots:
        subprocess.run(["umount", "-R", "-l", root], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    for tag in tags:
        if not _owner_alive(tag):
            subprocess.run(["ip", "link", "delete", BRIDGE_PREFIX + tag], capture_output=True)
    return roots


def start_second_dockerd(tmp: Path) -> SecondDockerd:
    reap_leftovers()
    tag = uuid.uuid4().hex[:8]
    server, client = make_tls(tmp / "tls")
    data_root = Path(f"{DATA_PREFIX}{tag}")  # the main engine's filesystem: overlay2 works there
    exec_root = Path(f"{EXEC_PREFIX}{tag}")  # short: unix socket paths are limited to ~100 bytes
    data_root.mkdir(parents=True)
    exec_root.mkdir(parents=True)
    (data_root / "owner.pid").write_text(str(os.getpid()))  # reap_leftovers() leaves a live run's daemon alone
    subprocess.run(["ip", "link", "add", "name", BRIDGE_PREFIX + tag, "type", "bridge"], check=True)
    daemon = SecondDockerd(f"tcp://127.0.0.1:{free_port()}", client, server, data_root, exec_root,
                           tmp / "dockerd.log", BRIDGE_PREFIX + tag)  # fmt: skip
    daemon.start()
    return daemon
