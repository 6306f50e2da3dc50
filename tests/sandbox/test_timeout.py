"""Timeouts keep the job's output so far: a hung pytest must still say which test hung.

In runner mode the runner kills the job at ``timeout_s`` and the container serves the next job; the host's later hard
deadline kills the container only when the runner does not answer. Exec mode streams output to the host as it comes,
so it keeps the output too, but retires the container.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
from codeassist.sandbox import Limits, Sandbox
from codeassist.sandbox.channel import Channel, hard_timeout_s, run_job
from sbhelp import one_container

pytestmark = pytest.mark.timeout(120)

SHORT = Limits(timeout_s=1.5)
# Prints on both streams, flushes, then hangs far past any timeout used here.
HANG = [
    "python3",
    "-c",
    "import sys, time\n"
    "print('before-hang', flush=True)\n"
    "print('err-before-hang', file=sys.stderr, flush=True)\n"
    "time.sleep(300)\n",
]


@pytest.fixture(scope="module", params=["runner", "exec"])
def sb(request: pytest.FixtureRequest) -> Sandbox:
    """Both pool modes: the in-container runner (default) and one exec per job."""
    box: Sandbox = request.getfixturevalue("sandbox" if request.param == "runner" else "exec_sandbox")
    return box


@pytest.fixture
def solo(docker_ok: None) -> Iterator[Sandbox]:
    """A runner pool of one container, so consecutive runs certainly share it (or prove it was replaced)."""
    with one_container(SHORT) as box:
        yield box


def hostname_then(code: str) -> list[str]:
    """A job printing its container's hostname (Docker sets it from the container id), then running ``code``."""
    return ["python3", "-c", f"import socket, time\nprint(socket.gethostname(), flush=True)\n{code}\n"]


@pytest.mark.docker
def test_timeout_keeps_output_so_far(sb: Sandbox) -> None:
    start = time.monotonic()
    res = sb.run({}, HANG, SHORT)
    elapsed = time.monotonic() - start
    assert res.status == "timeout" and res.exit_code is None, res
    assert res.stdout == "before-hang\n" and res.stderr == "err-before-hang\n", res
    assert "1.5s" in (res.reason or "") and "killed" in (res.reason or ""), res
    assert SHORT.timeout_s <= elapsed < hard_timeout_s(SHORT) + 2.0, elapsed
    assert sb.run({}, ["true"]).status == "passed"


@pytest.mark.docker
def test_hung_pytest_names_the_hung_test(sandbox: Sandbox) -> None:
    tests = "import time\n\ndef test_fast():\n    pass\n\ndef test_hangs_forever():\n    time.sleep(300)\n"
    argv = sandbox.command("pytest", "-vv")  # the recipe's -q, then -v -v: one line per test, named before it runs
    res = sandbox.run({"test_hang.py": tests}, argv, Limits(timeout_s=6.0))
    assert res.status == "timeout", res
    assert "test_fast PASSED" in res.stdout and "test_hang.py::test_hangs_forever" in res.stdout, res.stdout
    assert res.reason == "wall-clock limit of 6s exceeded; job killed", res


@pytest.mark.docker
def test_runner_timeout_keeps_the_container_clean(solo: Sandbox) -> None:
    # The timed-out job leaves files and a process that left its session; the next job must see neither.
    mess = (
        "open('/tmp/left', 'w').close()\n"
        "import subprocess\n"
        "subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
    )
    hung = solo.run({}, hostname_then(mess + "time.sleep(300)"), SHORT)
    assert hung.status == "timeout" and hung.stdout.strip(), hung
    host = hung.stdout.split()[0]
    start = time.monotonic()
    check = (
        "import os\n"
        "procs = sorted(p for p in os.listdir('/proc') if p.isdigit())\n"
        "print(os.listdir('/tmp'), procs == sorted(['1', str(os.getpid())]))"
    )
    nxt = solo.run({}, hostname_then(check), SHORT)
    wall = time.monotonic() - start
    assert nxt.status == "passed", nxt
    assert nxt.stdout.split("\n")[:2] == [host, "[] True"], (
        f"not the same clean container: {hung.stdout!r} {nxt.stdout!r}"
    )
    assert wall < 1.0, f"the next job waited {wall:.2f}s: was the container replaced?"
    assert solo.pool_stats() == {"idle": 1, "busy": 0, "starting": 0}


@pytest.mark.docker
def test_job_that_closes_its_output_still_times_out(solo: Sandbox) -> None:
    # No pipe left to watch: the runner must still stop waiting for the job at its deadline, not the host's.
    silent = "import os, sys\nsys.stdout.flush()\nos.close(1)\nos.close(2)\ntime.sleep(300)"
    start = time.monotonic()
    res = solo.run({}, hostname_then(silent), SHORT)
    elapsed = time.monotonic() - start
    assert res.status == "timeout" and res.reason == "wall-clock limit of 1.5s exceeded; job killed", res
    assert elapsed < hard_timeout_s(SHORT), elapsed
    nxt = solo.run({}, hostname_then("pass"), SHORT)
    assert nxt.status == "passed" and nxt.stdout == res.stdout, (res, nxt)


@pytest.mark.docker
def test_timeout_counts_from_the_job_not_the_pool(solo: Sandbox) -> None:
    # Several timeouts in a row on one container: each is cut at its own limit and the container survives them all.
    hosts = set()
    for _ in range(3):
        res = solo.run({}, hostname_then("time.sleep(300)"), Limits(timeout_s=0.5))
        assert res.status == "timeout", res
        hosts.add(res.stdout.split()[0])
    assert len(hosts) == 1, hosts


# -- the host side against a fake runner (no Docker) ---------------------------------------------------------------


def frame(payload: bytes) -> bytes:
    """Docker's stream framing for stdout, as the attached container's output arrives."""
    return struct.pack(">BxxxL", 1, len(payload)) + payload


def read_job(sock: socket.socket) -> dict[str, object]:
    buf = b""
    while b"\n" not in buf:
        buf += sock.recv(65536)
    header: dict[str, object] = json.loads(buf.split(b"\n", 1)[0])
    return header


def test_hard_deadline_is_a_little_later() -> None:
    assert hard_timeout_s(Limits(timeout_s=1.5)) == 2.5
    assert hard_timeout_s(Limits(timeout_s=60)) == pytest.approx(66.0)


def test_host_keeps_soft_timeout_output_and_container() -> None:
    host, runner = socket.socketpair()
    seen: list[dict[str, object]] = []

    def fake_runner() -> None:
        seen.append(read_job(runner))
        answer = {
            "exit": None,
            "stdout": base64.b64encode(b"test_x.py::test_hangs ").decode(),
            "stderr": "",
            "truncated": False,
            "over": False,
            "timeout": True,
            "oom": False,
            "dirty": False,
        }
        runner.sendall(frame(json.dumps(answer).encode() + b"\n"))

    thread = threading.Thread(target=fake_runner)
    thread.start()
    try:
        outcome = run_job(Channel(host), b"", ["pytest"], Limits(timeout_s=3.0))
    finally:
        thread.join(5)
        host.close()
        runner.close()
    assert seen[0]["timeout_s"] == 3.0
    assert (outcome.status, outcome.stdout, outcome.reusable) == ("timeout", b"test_x.py::test_hangs ", True)
    assert outcome.reason == "wall-clock limit of 3s exceeded; job killed"


def test_wedged_runner_hits_the_hard_deadline() -> None:
    host, runner = socket.socketpair()  # the runner takes the job and never answers
    limits = Limits(timeout_s=0.3)
    start = time.monotonic()
    try:
        outcome = run_job(Channel(host), b"", ["sleep", "300"], limits)
    finally:
        host.close()
        runner.close()
    elapsed = time.monotonic() - start
    assert outcome.status == "timeout" and not outcome.reusable, outcome
    assert "did not answer; container killed" in (outcome.reason or ""), outcome
    assert hard_timeout_s(limits) <= elapsed < hard_timeout_s(limits) + 1.0, elapsed
