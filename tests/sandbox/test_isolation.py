"""Jobs sharing a pooled container: nothing of one reaches the next, and no job can take the runner down with it.

Each test uses a pool of ONE container so consecutive jobs certainly share it; every job prints its container's
hostname first, which proves they did (or that the container was replaced).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from codeassist.sandbox import Limits, RunResult, Sandbox, SandboxConfig
from sbhelp import one_container

from codeassist.verify import LABEL_FAILED, Change, Verifier

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]

FAST = Limits(timeout_s=8.0)
HOSTNAME = "import socket\nprint(socket.gethostname(), flush=True)\n"
LIBC = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.shmat.restype = ctypes.c_void_p\n"

# Job A: SysV shared memory holding a secret, a message queue with a message, a semaphore, a POSIX message queue,
# and a 300 MB segment (touched, so it is charged to the container's memory), all left behind on purpose.
LEAVE_IPC = (
    HOSTNAME
    + LIBC
    + """
def shm(key, size, fill):
    sid = libc.shmget(key, size, 0o1666)
    assert sid >= 0, ctypes.get_errno()
    addr = libc.shmat(sid, None, 0)
    ctypes.memset(addr, fill, size)
    ctypes.memmove(addr, b"SECRET", 6)
    libc.shmdt(ctypes.c_void_p(addr))

shm(0x5EC7, 4096, 0)
shm(0x5EC8, 300 << 20, 1)
q = libc.msgget(0x5EC9, 0o1666)
msg = ctypes.create_string_buffer(ctypes.sizeof(ctypes.c_long) + 16)
ctypes.memmove(ctypes.addressof(msg), ctypes.byref(ctypes.c_long(1)), ctypes.sizeof(ctypes.c_long))
ctypes.memmove(ctypes.addressof(msg) + ctypes.sizeof(ctypes.c_long), b"SECRET-MSG", 10)
assert libc.msgsnd(q, msg, 10, 0) == 0, ctypes.get_errno()
assert libc.semget(0x5ECA, 1, 0o1666) >= 0
assert libc.mq_open(b"/secret-q", os.O_CREAT | os.O_RDWR, 0o666, None) >= 0, ctypes.get_errno()
print("left", open("/proc/sysvipc/shm").read().count("\\n") - 1, "segments", os.listdir("/dev/mqueue"))
"""
)

# Job B: looks for every one of them by key and by listing, then needs 300 MB itself.
FIND_IPC = (
    HOSTNAME
    + LIBC
    + """
found = []
for kind in ("shm", "msg", "sem"):
    rows = open("/proc/sysvipc/" + kind).read().splitlines()[1:]
    found += [kind + ":" + r.split()[1] for r in rows if r.strip()]
found += ["mqueue:" + n for n in os.listdir("/dev/mqueue")]
for get, key in ((lambda k: libc.shmget(k, 0, 0), 0x5EC7), (lambda k: libc.shmget(k, 0, 0), 0x5EC8),
                 (lambda k: libc.msgget(k, 0), 0x5EC9), (lambda k: libc.semget(k, 0, 0), 0x5ECA)):
    if get(key) >= 0:
        found.append(hex(key))
if libc.mq_open(b"/secret-q", os.O_RDONLY) >= 0:
    found.append("/secret-q")
print("found", found)
big = b"\\x01" * (300 << 20)
print("allocated", len(big) >> 20)
"""
)


@pytest.fixture(params=["runner", "exec"])
def solo(request: pytest.FixtureRequest, docker_ok: None) -> Iterator[Sandbox]:
    """A pool of one container, in each pool mode."""
    with one_container(FAST, runner=request.param == "runner") as box:
        yield box


@pytest.fixture
def solo_runner(docker_ok: None) -> Iterator[Sandbox]:
    with one_container(FAST) as box:
        yield box


def host_of(res: RunResult) -> str:
    return res.stdout.split("\n", 1)[0]


def test_ipc_objects_do_not_reach_the_next_job(solo: Sandbox) -> None:
    first = solo.run({}, ["python3", "-c", LEAVE_IPC])
    assert first.status == "passed", first
    assert "left 2 segments ['secret-q']" in first.stdout, first.stdout
    second = solo.run({}, ["python3", "-c", FIND_IPC])
    assert host_of(second) == host_of(first), "not the same container: the test proves nothing"
    assert second.status == "passed", second  # not "oom": the 300 MB segment is gone with the rest
    assert "found []" in second.stdout and "allocated 300" in second.stdout, second.stdout
    assert "SECRET" not in second.stdout + second.stderr


@pytest.mark.parametrize(
    "sig", ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGSTOP", "SIGKILL", "SIGALRM", "SIGCHLD"]
)
def test_signals_to_the_runner_do_nothing(solo_runner: Sandbox, sig: str) -> None:
    code = (
        HOSTNAME + "import os, signal, time\n"
        f"os.kill(1, signal.{sig})\n"
        "time.sleep(0.2)\n"
        "status = dict(l.split(':', 1) for l in open('/proc/1/status').read().splitlines())\n"
        "print('state', status['State'].split()[0], 'caught', status['SigCgt'].strip())\n"
        "raise SystemExit(3)\n"
    )
    res = solo_runner.run({}, ["python3", "-c", code])
    assert res.status == "failed" and res.exit_code == 3, res  # the job's own verdict, not "error"
    # the runner installed no handler (so the kernel drops every signal from inside), and was not stopped
    state, caught = res.stdout.split("\n")[1].split()[1::2]
    assert state in ("S", "R") and caught == "0000000000000000", res.stdout  # not T (stopped), nothing caught
    nxt = solo_runner.run({}, ["python3", "-c", HOSTNAME])
    assert nxt.status == "passed" and host_of(nxt) == host_of(res), (res, nxt)


@pytest.mark.parametrize(
    "tamper",
    [
        "resource.prlimit(1, resource.RLIMIT_NOFILE, (3, 3))",  # the runner can no longer open /proc
        "resource.prlimit(1, resource.RLIMIT_CPU, (0, 0))",  # the kernel kills the runner
        "os.setpriority(os.PRIO_PROCESS, 1, 19)",  # every later job would crawl
    ],
)
def test_job_that_tampers_with_the_runner_fails_and_its_container_goes(solo_runner: Sandbox, tamper: str) -> None:
    # The job runs as the runner's uid, so it may change the runner's limits and priority (not its memory or
    # signals). Lowering RLIMIT_NOFILE used to turn a failing job into "error" (unverified); now it is the job's
    # failure, and the container, whose hard limits cannot be raised back, is replaced.
    res = solo_runner.run({}, ["python3", "-c", HOSTNAME + f"import os, resource\n{tamper}\nraise SystemExit(1)\n"])
    assert res.status == "crashed" and res.verified, res
    nxt = solo_runner.run({}, ["python3", "-c", HOSTNAME + "import os\nprint(os.getpriority(os.PRIO_PROCESS, 1))"])
    assert nxt.status == "passed" and nxt.stdout.endswith("\n0\n"), nxt
    assert host_of(nxt) != host_of(res) or not res.stdout, (res, nxt)


@pytest.mark.parametrize(
    "body",
    [
        # issue 17: a wrong double() that interrupts the runner was labelled "unverified" (and shown)
        "    os.kill(1, signal.SIGINT)\n    os.kill(1, signal.SIGTERM)\n    return 3 * x\n",
        # a right answer that breaks the runner for later jobs: "crashed", which the verifier counts as a failure
        "    resource.prlimit(1, resource.RLIMIT_NOFILE, (3, 3))\n    return 2 * x\n",
    ],
    ids=["signals", "tampers"],
)
def test_code_that_attacks_the_runner_is_rejected(sandbox: Sandbox, tmp_path: Path, body: str) -> None:
    original = "def double(x):\n    return 2 * x\n"
    (tmp_path / "calc.py").write_text(original)
    (tmp_path / "test_calc.py").write_text("from calc import double\n\ndef test_double():\n    assert double(3) == 6\n")
    hostile = "import os, resource, signal\n\ndef double(x):\n" + body
    verdict = Verifier(sandbox).verify(Change(str(tmp_path), {"calc.py": hostile}, {"calc.py": original}))
    assert verdict.rejected and verdict.label == LABEL_FAILED, verdict
    assert verdict.tiers[-1].tier == "tests" and verdict.tiers[-1].status == "failed", verdict


def test_memory_filler_is_oom_and_the_pool_goes_on(solo: Sandbox) -> None:
    # Memory no process owns (an unattached 300 MB segment, full tmpfs) plus a growing process: the job dies as
    # "oom", the runner survives to say so, and the next job runs.
    fill = (
        HOSTNAME + LIBC + "sid = libc.shmget(0, 300 << 20, 0o1600)\n"
        "addr = libc.shmat(sid, None, 0)\nctypes.memset(addr, 1, 300 << 20)\nlibc.shmdt(ctypes.c_void_p(addr))\n"
        "for d in ('/tmp', '/work'):\n"
        "    try:\n"
        "        open(d + '/fill', 'wb').write(b'x' * (70 << 20))\n"
        "    except OSError:\n"
        "        pass\n"
        "blocks = []\nwhile True:\n    blocks.append(b'x' * (1 << 20))\n"
    )
    res = solo.run({}, ["python3", "-c", fill], Limits(timeout_s=30))
    assert res.status == "oom" and res.verified, res
    nxt = solo.run({}, ["python3", "-c", HOSTNAME + "print(len(b'y' * (300 << 20)) >> 20)"])
    assert nxt.status == "passed" and nxt.stdout.endswith("300\n"), nxt


def test_job_that_takes_the_runner_down_is_a_failure(solo_runner: Sandbox) -> None:
    # A hostile job lowers its own OOM priority below the runner's (the container's minimum allows it) and fills
    # memory: the kernel kills the runner. That is the job's failure ("oom"), never "could not check".
    hostile = (
        LIBC + "open('/proc/self/oom_score_adj', 'w').write('0')\n"
        "for _ in range(14):\n"
        "    sid = libc.shmget(0, 32 << 20, 0o1600)\n"
        "    addr = libc.shmat(sid, None, 0)\n"
        "    ctypes.memset(addr, 1, 32 << 20)\n"
        "    libc.shmdt(ctypes.c_void_p(addr))\n"
        "blocks = []\nwhile True:\n    blocks.append(b'x' * (1 << 20))\n"
    )
    res = solo_runner.run({}, ["python3", "-c", hostile], Limits(timeout_s=30))
    assert res.status == "oom" and res.verified, res
    assert "runner" in (res.reason or ""), res
    nxt = solo_runner.run({}, ["python3", "-c", HOSTNAME])
    assert nxt.status == "passed", nxt


def test_runner_lost_during_a_job_is_crashed_not_error(docker_ok: None) -> None:
    # Whatever takes the runner while a job runs, the job is the suspect: a failed check ("crashed"), not
    # "unverified". Here the container is killed from outside, the one way left to lose a runner mid-job on purpose.
    import docker
    from codeassist.sandbox.containers import LABEL_OWNER, owner_id

    api = docker.from_env(timeout=10).api
    mine = {"label": f"{LABEL_OWNER}={owner_id()}"}
    before = {c["Id"] for c in api.containers(all=True, filters=mine)}
    with Sandbox(SandboxConfig(pool_size=1, limits=FAST)) as box:
        assert box.warm().ok
        (cid,) = {c["Id"] for c in api.containers(all=True, filters=mine)} - before
        result: list[RunResult] = []
        job = threading.Thread(target=lambda: result.append(box.run({}, ["sleep", "6"])))
        job.start()
        time.sleep(1.5)
        api.kill(cid)
        job.join(30)
        assert result, "the run did not return"
        res = result[0]
        assert res.status == "crashed" and res.verified, res
        assert "runner died during the job" in (res.reason or "") and "137" in (res.reason or ""), res
        nxt = box.run({}, ["python3", "-c", HOSTNAME])
        assert nxt.status == "passed" and host_of(nxt) != cid[:12], nxt


@pytest.mark.parametrize(
    ("pid1", "expected"),
    [
        (["sh", "-c", "exit 3"], ("crashed", "exit code 3")),
        (["python3", "-c", "b = b'x' * (200 << 20)"], ("oom", "memory limit")),
    ],
)
def test_why_a_runner_went_is_known_after_auto_removal(
    docker_ok: None, pid1: list[str], expected: tuple[str, str]
) -> None:
    # The container is usually gone (auto-remove) by the time the host asks: the daemon's event log still tells an
    # OOM kill from any other end.
    import docker
    from codeassist.sandbox import image_for
    from codeassist.sandbox.containers import ContainerSpec, attach, fate

    api = docker.from_env(timeout=10).api
    spec = ContainerSpec(image_for(SandboxConfig()), Limits(memory_mb=64), "65534:65534")
    since = time.time()
    cid = spec.create(api, pooled=False, command=pid1)
    lifeline = attach(api, cid)
    try:
        spec.start(api, cid)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                api.inspect_container(cid)
            except docker.errors.NotFound:
                break
            time.sleep(0.05)
        status, why = fate(api, cid, since)
    finally:
        lifeline.close()
    assert status == expected[0] and expected[1] in why, (status, why)
