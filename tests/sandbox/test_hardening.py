"""Hardening beyond the container settings: what the job can learn about the host, io_uring, hard-linked input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from codeassist.sandbox import Limits, RunResult, Sandbox, Snapshot, seccomp
from sbhelp import SIG_IGN_OF_SHELL

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

FAST = Limits(timeout_s=8.0)


@pytest.fixture(scope="session", params=["runner", "exec"])
def sb(request: pytest.FixtureRequest) -> Sandbox:
    box: Sandbox = request.getfixturevalue("sandbox" if request.param == "runner" else "exec_sandbox")
    return box


def docker_root() -> str:
    import docker

    root: str = docker.from_env(timeout=10).api.info()["DockerRootDir"]
    return root


MOUNT_VIEWS = [
    "/proc/self/mountinfo", "/proc/self/mounts", "/proc/self/mountstats", "/proc/mounts", "/etc/mtab",
    "/proc/1/mountinfo", "/proc/thread-self/mountinfo",
]  # fmt: skip
# Reads (64 KiB at most) every regular file it may under the places a job would look for the host's layout, and
# prints each one whose text names the host's Docker data root; then which mount views it could open.
SCAN = """
import os, subprocess, sys
secret = sys.argv[1][::-1].encode()  # reversed in our argv: /proc/self/cmdline must not count
def readable(path):
    try:
        with open(path, "rb") as f:
            return f.read(65536)
    except OSError:
        return None
for top, depth in (("/proc/self", 2), ("/proc/1", 2), ("/proc", 0), ("/etc", 3), ("/sys/fs/cgroup", 2)):
    for root, dirs, files in os.walk(top):
        dirs[:] = [] if root.count("/") - top.count("/") >= depth else [d for d in dirs if d != "fd"]  # our pipes
        for name in files:
            data = readable(os.path.join(root, name))
            if data and secret in data:
                print("LEAK", os.path.join(root, name))
for view in sys.argv[2:]:
    print("OPEN" if readable(view) is not None else "DENIED", view)
child = "import sys; print('CHILD', open(sys.argv[1]).read()[:20])"
print(subprocess.run([sys.executable, "-c", child, "/proc/self/mountinfo"], capture_output=True, text=True).returncode)
print("STATUS", "VmRSS" in open("/proc/self/status").read(), "CPUINFO", bool(open("/proc/cpuinfo").read()))
print("CGROUP", open("/proc/self/cgroup").read().replace("\\n", " "))
"""


def assert_no_host_path(res: RunResult) -> None:
    """SCAN's verdict: no file names the data root, every mount view is denied to the job and to its child, and the
    rest of /proc stays readable."""
    assert res.status == "passed", res
    lines = res.stdout.splitlines()
    assert not [line for line in lines if line.startswith("LEAK")], res.stdout
    assert [line for line in lines if line.startswith(("OPEN", "DENIED"))] == [f"DENIED {v}" for v in MOUNT_VIEWS]
    assert "1" in lines and "CHILD" not in res.stdout, res  # a child process cannot read its mount table either
    assert "STATUS True CPUINFO True" in lines, res.stdout  # the job's own /proc files and the system's are there
    # The cgroup namespace is private: /proc/self/cgroup does not name /docker/<container id>.
    cgroups = next(line for line in lines if line.startswith("CGROUP"))
    assert "docker" not in cgroups, cgroups


def test_no_host_path_is_visible_from_a_job(sb: Sandbox) -> None:
    """Docker puts the daemon's data root (overlay layers, the /etc/hostname bind's source with the container id)
    into every container's mount table; the job's Landlock ruleset (sandbox/confine.py) makes every view of it
    unreadable, to the job and its children, while the rest of /proc stays readable. Both ways a job runs: forked by
    the pooled runner, and as one `docker exec` (where confine.py is the job's first program)."""
    assert_no_host_path(sb.run({}, ["python3", "-c", SCAN, docker_root()[::-1], *MOUNT_VIEWS], Limits(timeout_s=60.0)))


def test_no_host_path_is_visible_from_a_one_shot_job(sandbox: Sandbox) -> None:
    """Non-default limits get a one-shot container of their own, run in exec mode: confined the same way."""
    limits = Limits(timeout_s=60.0, memory_mb=384)
    res = sandbox.run({}, ["python3", "-c", SCAN, docker_root()[::-1], *MOUNT_VIEWS], limits)
    assert not res.warm, res  # it did not come from the pool
    assert_no_host_path(res)


def test_a_job_starts_with_no_signal_ignored(sb: Sandbox) -> None:
    """An ignored signal survives exec: confine.py (Python, which ignores SIGPIPE and SIGXFSZ) resets them before it
    becomes the job, as the runner's Popen does, so `yes | head` ends by SIGPIPE as it would in a shell. The shell's
    builtin `read` reads the job's own status (the job's pid is the confined one)."""
    res = sb.run({}, ["sh", "-c", SIG_IGN_OF_SHELL], FAST)
    assert res.status == "passed", res
    assert int(res.stdout.strip(), 16) == 0, res.stdout


def test_io_uring_is_blocked(sb: Sandbox) -> None:
    code = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "params = ctypes.create_string_buffer(120)\n"
        "for nr, args in ((425, (8, params)), (426, (0, 1, 0, 0, None, 0)), (427, (0, 0, None, 0))):\n"
        "    r = libc.syscall(nr, *args)\n"
        "    print(nr, r, ctypes.get_errno())\n"
        "print(open('/proc/self/status').read().split('Seccomp:')[1].split()[0])\n"
    )
    res = sb.run({}, ["python3", "-c", code], FAST)
    assert res.status == "passed", res
    *calls, mode = res.stdout.split("\n")[:-1]
    assert calls == ["425 -1 38", "426 -1 38", "427 -1 38"], res.stdout  # ENOSYS, as without io_uring
    assert mode == "2", res.stdout  # a seccomp filter is on


def test_seccomp_profile_is_dockers_default_without_io_uring() -> None:
    base = json.loads(seccomp.BASE_PROFILE.read_text())
    ours = json.loads(seccomp.profile())
    allowed = {n for r in ours["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}
    base_allowed = {n for r in base["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}
    assert base_allowed - allowed == set(seccomp.DENIED)
    assert allowed <= base_allowed and ours["defaultAction"] == base["defaultAction"] == "SCMP_ACT_ERRNO"
    (deny,) = [r for r in ours["syscalls"] if set(r["names"]) & set(seccomp.DENIED)]
    assert deny["action"] == "SCMP_ACT_ERRNO" and deny["errnoRet"] == 38


def test_profile_still_denies_what_docker_denies(sb: Sandbox) -> None:
    code = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "print(libc.syscall(250, 0, 0, 0, 0, 0), ctypes.get_errno())\n"  # keyctl
        "print(libc.unshare(0x10000000), ctypes.get_errno())\n"  # unshare(CLONE_NEWUSER)
        "pid = os.fork()\n"
        "if pid == 0:\n    os._exit(0)\n"
        "open('/work/ok', 'w').write('fine'); print(open('/work/ok').read(), os.waitpid(pid, 0)[1])\n"
    )
    res = sb.run({}, ["python3", "-c", code], FAST)
    assert res.status == "passed", res
    assert res.stdout.split("\n")[:3] == ["-1 1", "-1 1", "fine 0"], res.stdout


def test_hard_link_to_a_file_outside_is_not_copied(sb: Sandbox, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "id_ed25519"
    secret.write_text("HOST-KEY-7f3a")
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "main.py").write_text("print('main')\n")
    os.link(secret, project / "sub" / "innocent.txt")  # a link out of the folder
    (project / "a.txt").write_text("SHARED")
    os.link(project / "a.txt", project / "sub" / "b.txt")  # both links inside: an ordinary hard-linked pair
    script = "find /work -type f | sort; cat /work/sub/innocent.txt 2>&1; cat /work/a.txt /work/sub/b.txt"
    res = sb.run(project, ["sh", "-c", script], FAST)
    assert res.status == "passed", res
    assert "HOST-KEY-7f3a" not in res.stdout + res.stderr
    assert "/work/sub/innocent.txt" not in res.stdout.split("\n")[:3], res.stdout
    assert "/work/a.txt" in res.stdout and "/work/sub/b.txt" in res.stdout and "SHAREDSHARED" in res.stdout
    assert len(res.warnings) == 1 and res.warnings[0].startswith("sub/innocent.txt: not copied"), res.warnings


def test_snapshot_opens_files_without_following_links_or_blocking_on_fifos(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("HOST-SECRET")
    project = tmp_path / "p"
    project.mkdir()
    (project / "ok.py").write_text("x = 1\n")
    os.symlink(tmp_path / "secret", project / "link.py")
    os.mkfifo(project / "pipe.py")  # would hang a plain read
    snap = Snapshot.from_dir(project)
    assert snap.files == 1 and b"HOST-SECRET" not in snap.tar and snap.skipped == ()
