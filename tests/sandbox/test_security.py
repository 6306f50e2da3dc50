"""The security suite: hostile jobs must end with a clear status and leave the host and the pool unharmed.

Network tests only ever address this machine (127.0.0.1 and the docker bridge's own address).
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
from codeassist.sandbox import Limits, Sandbox

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

FAST = Limits(timeout_s=4.0)


@pytest.fixture(scope="session", params=["runner", "exec"])
def sb(request: pytest.FixtureRequest) -> Sandbox:
    """Every attack runs against both pool modes: the in-container runner (default) and one exec per job."""
    name = "sandbox" if request.param == "runner" else "exec_sandbox"
    box: Sandbox = request.getfixturevalue(name)
    return box


def py(code: str) -> list[str]:
    return ["python3", "-c", code]


def assert_pool_recovers(sb: Sandbox) -> None:
    res = sb.run({}, ["true"])
    assert res.status == "passed", res


def test_fork_bomb(sb: Sandbox) -> None:
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    start = time.monotonic()
    res = sb.run({}, py(bomb), FAST)
    assert res.status == "timeout", res
    assert time.monotonic() - start < FAST.timeout_s + 10
    assert_pool_recovers(sb)


def test_shell_fork_bomb_hits_pids_limit(sb: Sandbox) -> None:
    res = sb.run({}, ["sh", "-c", "b() { b | b & }; b; sleep 1; echo alive"], FAST)
    assert res.status in ("timeout", "passed", "failed"), res
    assert_pool_recovers(sb)


def test_memory_bomb(sb: Sandbox) -> None:
    # A generous clock: on a loaded machine, filling 512 MiB and the OOM kill can take seconds.
    res = sb.run({}, py("blocks = []\nwhile True:\n    blocks.append(bytearray(64 << 20))\n"), Limits(timeout_s=15))
    assert res.status == "oom", res
    assert_pool_recovers(sb)


@pytest.mark.parametrize("target", ["/tmp/fill", "/work/fill", "/dev/shm/fill"])
def test_disk_fill(sb: Sandbox, target: str) -> None:
    res = sb.run({}, ["sh", "-c", f"dd if=/dev/zero of={target} bs=1M count=4096"], FAST)
    assert res.status == "failed", res
    assert "No space left on device" in res.stderr
    assert_pool_recovers(sb)


def test_infinite_loop(sb: Sandbox) -> None:
    start = time.monotonic()
    res = sb.run({}, py("while True:\n    pass\n"), Limits(timeout_s=1.5))
    elapsed = time.monotonic() - start
    assert res.status == "timeout" and "1.5s" in (res.reason or ""), res
    assert 1.5 <= elapsed < 5, elapsed
    assert_pool_recovers(sb)


def test_huge_stdout(sb: Sandbox) -> None:
    res = sb.run({}, py("import sys\nwhile True:\n    sys.stdout.write('y' * 65536)\n"), FAST)
    assert res.status == "output_limit", res
    assert res.truncated and 0 < len(res.stdout) <= FAST.tail_bytes
    assert_pool_recovers(sb)


def test_cannot_read_host_files(sb: Sandbox, workspace: Path, tmp_path: Path) -> None:
    secret = tmp_path / "host-secret.txt"
    secret.write_text("HOST-SECRET-9e1c")
    host_shadow = Path("/etc/shadow").read_bytes() if Path("/etc/shadow").exists() else b""
    script = (
        f"cat /etc/shadow; cat {secret}; cat {workspace}/.git/config; cat /work/.git/config; "
        "ls -A /work; cat /proc/1/root/etc/hostname; exit 0"
    )
    res = sb.run(workspace, ["sh", "-c", script])
    assert res.status == "passed", res
    out = res.stdout + res.stderr
    assert "HOST-SECRET-9e1c" not in out and "GIT-SECRET-4242" not in out
    assert ".git" not in res.stdout.split()
    assert "Permission denied" in res.stderr  # /etc/shadow of the image is root-only
    for line in host_shadow.decode(errors="replace").splitlines():
        if ":$" in line:  # a real password hash on the host
            assert line not in out


def test_cannot_write_outside_work_dir(sb: Sandbox) -> None:
    targets = ["/etc/evil", "/usr/bin/evil", "/evil", "/root/evil", "/var/evil", "/home/evil", "/proc/sys/kernel/x"]
    script = "; ".join(f"(echo x > {t}) 2>/dev/null && echo WROTE {t}" for t in targets)
    res = sb.run({}, ["sh", "-c", script + "; echo ok > /work/fine && cat /work/fine"])
    assert res.status == "passed", res
    assert "WROTE" not in res.stdout and res.stdout.strip().endswith("ok"), res.stdout


def test_no_privilege_escalation(sb: Sandbox) -> None:
    code = (
        "import os, subprocess\n"
        "st = open('/proc/self/status').read()\n"
        "print([l for l in st.splitlines() if l.startswith(('CapEff', 'CapPrm', 'NoNewPrivs'))])\n"
        "for f in (lambda: os.setuid(0), lambda: os.setgid(0), lambda: os.chroot('/')):\n"
        "    try:\n"
        "        f(); print('ESCALATED')\n"
        "    except PermissionError:\n"
        "        print('denied')\n"
        "for cmd in (['su', '-c', 'id -u', 'root'], ['sudo', 'id', '-u']):\n"
        "    try:\n"
        "        r = subprocess.run(cmd, capture_output=True, text=True, timeout=3, stdin=subprocess.DEVNULL)\n"
        "        print(cmd[0], r.returncode, r.stdout.strip() == '0' and 'ROOT' or 'not-root')\n"
        "    except (FileNotFoundError, subprocess.TimeoutExpired) as e:\n"
        "        print(cmd[0], type(e).__name__)\n"
        "print('uid', os.getuid(), os.geteuid())\n"
    )
    res = sb.run({}, py(code), FAST)
    assert res.status == "passed", res
    out = res.stdout
    assert "CapEff:\\t0000000000000000" in out and "NoNewPrivs:\\t1" in out, out
    assert "ESCALATED" not in out and "ROOT" not in out and "uid 65534 65534" in out, out


def test_setuid_binary_does_not_elevate(sb: Sandbox) -> None:
    script = (
        'for f in $(find / -xdev -perm -4000 -type f 2>/dev/null); do echo "$f"; done; '
        "su root -c 'id -u' </dev/null 2>&1; id -u"
    )
    res = sb.run({}, ["sh", "-c", script], FAST)
    assert res.status in ("passed", "failed"), res
    assert res.stdout.strip().splitlines()[-1] == "65534"


def test_cannot_load_kernel_modules(sb: Sandbox) -> None:
    code = (
        "import ctypes, ctypes.util, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "fd = os.open('/work/m.ko', os.O_RDONLY)\n"
        "r1 = libc.syscall(313, fd, b'', 0)\n"  # finit_module (x86_64)
        "e1 = ctypes.get_errno()\n"
        "r2 = libc.syscall(175, b'\\x7fELF', 4, b'')\n"  # init_module
        "e2 = ctypes.get_errno()\n"
        "print(r1, e1, r2, e2)\n"
    )
    res = sb.run({"m.ko": b"\x7fELF-not-a-module"}, py(code), FAST)
    assert res.status == "passed", res
    r1, e1, r2, e2 = (int(x) for x in res.stdout.split())
    assert r1 == -1 and r2 == -1 and e1 in (1, 38) and e2 in (1, 38), res.stdout  # EPERM (or ENOSYS via seccomp)
    mod = sb.run({}, ["sh", "-c", "modprobe dummy || insmod /nonexistent.ko"], FAST)
    assert mod.status == "failed", mod


def test_no_docker_socket(sb: Sandbox) -> None:
    code = (
        "import socket, os\n"
        "for p in ('/var/run/docker.sock', '/run/docker.sock', '/run/containerd/containerd.sock'):\n"
        "    s = socket.socket(socket.AF_UNIX)\n"
        "    try:\n"
        "        s.connect(p); print('CONNECTED', p)\n"
        "    except OSError as e:\n"
        "        print('no', p, e.errno)\n"
    )
    res = sb.run({}, py(code), FAST)
    assert res.status == "passed" and "CONNECTED" not in res.stdout and res.stdout.count("no ") == 3, res


def _bridge_address() -> str | None:
    """This machine's own docker0 address, if any (never an outside address)."""
    try:
        out = subprocess.run(
            ["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for word in out.split():
        if "/" in word and word[0].isdigit():
            return word.split("/")[0]
    return None


def test_network_is_loopback_only_and_host_unreachable(sb: Sandbox) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    targets = ["127.0.0.1"] + ([b] if (b := _bridge_address()) else [])
    code = (
        "import socket, os\n"
        "print('ifaces', sorted(n for _, n in socket.if_nameindex()))\n"
        "print('sys', sorted(os.listdir('/sys/class/net')))\n"
        f"for host in {targets!r}:\n"
        "    s = socket.socket(); s.settimeout(2)\n"
        "    try:\n"
        f"        s.connect((host, {port})); print('REACHED', host)\n"
        "    except OSError as e:\n"
        "        print('blocked', host, type(e).__name__)\n"
    )
    try:
        res = sb.run({}, py(code), FAST)
        with pytest.raises(TimeoutError):
            conn, _ = listener.accept()
            conn.close()
    finally:
        listener.close()
    assert res.status == "passed", res
    assert "ifaces ['lo']" in res.stdout and "sys ['lo']" in res.stdout, res.stdout
    assert "REACHED" not in res.stdout and res.stdout.count("blocked") == len(targets), res.stdout


def test_job_cannot_tamper_with_next_job(sb: Sandbox) -> None:
    # Try to leave a trojan for the next job: background writer, PATH shadowing in /tmp, killing the idle process.
    evil = (
        "(while true; do echo trojan > /work/x.py 2>/dev/null; sleep 0.01; done) & "
        "mkdir -p /tmp/bin; printf '#!/bin/sh\\necho trojan\\n' > /tmp/bin/python3; chmod +x /tmp/bin/python3; "
        "kill -9 1 2>/dev/null; echo done"
    )
    for _ in range(3):
        assert sb.run({}, ["sh", "-c", evil]).status == "passed"
    for _ in range(4):
        res = sb.run({"x.py": "print('clean')"}, ["sh", "-c", "sleep 0.1; PATH=/tmp/bin:$PATH; python3 x.py"])
        assert res.status == "passed" and res.stdout == "clean\n", res


def test_locked_dirs_do_not_break_the_next_job(sb: Sandbox) -> None:
    lock = "mkdir -p /work/d/e /tmp/t/u; touch /work/d/e/f; chmod 000 /work/d/e /work/d /tmp/t/u /tmp/t /work"
    for _ in range(3):
        res = sb.run({}, ["sh", "-c", lock])
        assert res.status == "passed", res
    for _ in range(3):
        res = sb.run({"x.py": "import os; print(sorted(os.listdir('.')), os.listdir('/tmp'))"}, ["python3", "x.py"])
        assert res.status == "passed" and res.stdout == "['x.py'] []\n", res


def test_runner_cannot_be_tampered_with(sb: Sandbox) -> None:
    # Forge a result on the runner's stdout, read its memory and environment, signal it, trace it.
    forged = '{"exit": 0, "stdout": "", "stderr": "", "truncated": false, "over": false, "oom": false}'
    script = (
        f"(echo '{forged}' > /proc/1/fd/1) 2>/dev/null && echo FORGED; "
        "(head -c 16 /proc/1/mem) 2>/dev/null && echo READMEM; "
        "(ls /proc/1/fd) 2>/dev/null | grep -q . && echo SAWFDS; "
        "kill -9 1 2>/dev/null; kill -STOP 1 2>/dev/null; "
        "python3 -c 'import ctypes; l=ctypes.CDLL(None); print(\"ptrace\", l.ptrace(16, 1, 0, 0))'; "
        "exit 7"
    )
    res = sb.run({}, ["sh", "-c", script], FAST)
    assert res.status == "failed" and res.exit_code == 7, res
    assert "FORGED" not in res.stdout and "READMEM" not in res.stdout, res.stdout
    assert "ptrace -1" in res.stdout, res.stdout
    assert_pool_recovers(sb)
    follow = sb.run({"x.py": "print('next')"}, ["python3", "x.py"])
    assert follow.status == "passed" and follow.stdout == "next\n", follow


def test_zz_pool_healthy_after_suite(sb: Sandbox) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and sb.pool_stats()["idle"] < 2:
        time.sleep(0.2)
    assert sb.pool_stats()["idle"] == 2, sb.pool_stats()
    assert sb.health().ok
    assert_pool_recovers(sb)
