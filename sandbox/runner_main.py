"""The in-container runner: PID 1 of each pooled container, serving jobs over its attached stdin/stdout.

This file is not imported by the host; its source is passed to ``python3 -c`` when a pooled container starts, so it
must stay standard-library only and run on any Python 3.7+. A ``docker exec`` per job costs ~85-100 ms; a fork from a
warm runner costs a few. The runner is trusted, the job is not:

- PID 1 of the container's pid namespace cannot be signalled from inside it, so the job cannot kill the runner;
- the runner marks itself non-dumpable, so the job (same uid) cannot read or write its memory or file descriptors
  through /proc;
- before and after every job it SIGKILLs every other process (``kill(-1)``), reaps them, and wipes /work, /tmp and
  /dev/shm, so nothing a job leaves behind reaches the next one. Any anomaly is reported and the host replaces the
  container.

Protocol (one job at a time): the host writes one JSON line ``{"argv", "env", "tar_size", "output_bytes",
"tail_bytes", "timeout_s"}`` followed by ``tar_size`` bytes of tar; the runner answers with one JSON line.

The wall clock is enforced twice. ``timeout_s`` after the header arrives the runner SIGKILLs the job (as above:
everything but itself), wipes, and answers ``"timeout": true`` with the output tails collected so far, so a hung
pytest still says which test hung and the container serves the next job. The host keeps a hard deadline a little
later and kills the whole container if no answer has come by then: a runner starved or wedged by its job cannot hang
the host, it only loses that job's output.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import io
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tarfile
import time

WORK = "/work"
SCRATCH = ("/work", "/tmp", "/dev/shm")
OOM_FILES = ("/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events")


def oom_kills() -> int:
    for path in OOM_FILES:
        try:
            with open(path) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2 and parts[0] == "oom_kill":
                        return int(parts[1])
        except OSError:
            continue
    return -1


def others() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and p != "1"]


def kill_all() -> bool:
    """SIGKILL and reap every process but ourselves; True when none is left."""
    deadline = time.monotonic() + 2.0
    while True:
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGKILL)
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if not others():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)


def wipe() -> None:
    for top in SCRATCH:
        if not os.path.isdir(top):
            continue
        with contextlib.suppress(OSError):
            os.chmod(top, 0o700 if top == WORK else 0o1777)  # a job may have locked its own work dir
        for entry in os.scandir(top):
            path = entry.path
            if entry.is_dir(follow_symlinks=False):
                _make_writable(path)
                shutil.rmtree(path)
            else:
                os.unlink(path)


def wiped() -> bool:
    """Wipe after a job; False when the job's mess (undeletable dirs, a full tmpfs) resists, which retires this
    container now rather than failing the next job."""
    try:
        wipe()
    except OSError:
        return False
    return True


def _make_writable(root: str) -> None:
    # A job may chmod its directories to 0 to make them undeletable; we own them, so restore access first.
    os.chmod(root, 0o700)
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                os.chmod(p, 0o700)


def extract(data: bytes) -> None:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():  # the host built this tar; check anyway
            name = member.name
            if name.startswith("/") or ".." in name.split("/") or not (member.isfile() or member.isdir()):
                raise ValueError("refusing tar member " + repr(name))
            target = os.path.join(WORK, name)
            if member.isdir():
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            src = tar.extractfile(member)
            assert src is not None
            with open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            os.chmod(target, member.mode & 0o755)


class Tail:
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.buf = bytearray()
        self.dropped = False

    def add(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) > self.cap:
            del self.buf[: len(self.buf) - self.cap]
            self.dropped = True


def spawn(job: dict) -> subprocess.Popen[bytes]:  # type: ignore[type-arg]
    """Start the job in a session of its own, its output on pipes. Raises OSError when argv[0] cannot run."""
    return subprocess.Popen(
        job["argv"],
        cwd=WORK,
        env=job["env"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        close_fds=True,
        start_new_session=True,
    )


def not_started(job: dict, exc: OSError) -> dict:  # type: ignore[type-arg]
    """The answer for a command that could not be executed, shaped like a shell's (127 missing, 126 not runnable)."""
    missing = 127 if isinstance(exc, FileNotFoundError) else 126
    msg = "{}: {}\n".format(job["argv"][0], exc.strerror or exc)
    return {
        "exit": missing,
        "stdout": "",
        "stderr": base64.b64encode(msg.encode()).decode(),
        "truncated": False,
        "over": False,
        "timeout": False,
        "oom": False,
    }


def pump(proc: subprocess.Popen[bytes], tails: dict[int, Tail], limit: int, deadline: float) -> str:
    """Collect the job's output into ``tails`` until it exits, writes more than ``limit`` bytes or reaches
    ``deadline``: returns "exited", "over" or "timeout". The deadline is checked here, on every pass, because the host
    only kills the container when this runner fails to answer; stopping the job ourselves keeps its output so far."""
    assert proc.stdout is not None and proc.stderr is not None
    streams = {proc.stdout.fileno(): 1, proc.stderr.fileno(): 2}
    total = 0
    exited_at = None
    while streams:
        left = deadline - time.monotonic()
        if left <= 0 and exited_at is None:
            return "timeout"
        ready, _, _ = select.select(list(streams), [], [], min(max(left, 0.0), 0.05))
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                del streams[fd]
                continue
            total += len(chunk)
            tails[streams[fd]].add(chunk)
            if total > limit:
                return "over"
        if proc.poll() is not None:
            # Background children may hold the pipes open: drain briefly after the job exits, then stop listening.
            if exited_at is None:
                exited_at = time.monotonic()
            elif time.monotonic() - exited_at > 0.05:
                break
    return "exited"


def wait_exit(proc: subprocess.Popen[bytes], deadline: float) -> int | None:
    """The job's exit status, or None when the deadline passes first (a job may close its pipes and keep running)."""
    try:
        return proc.wait(max(deadline - time.monotonic(), 0.0))
    except subprocess.TimeoutExpired:
        return None


def run(job: dict, data: bytes, deadline: float) -> dict:  # type: ignore[type-arg]
    if not kill_all():
        return {"fatal": "processes of an earlier job survived SIGKILL"}
    wipe()
    extract(data)
    oom_before = oom_kills()
    tails = {1: Tail(job["tail_bytes"]), 2: Tail(job["tail_bytes"])}
    try:
        proc = spawn(job)
    except OSError as exc:
        return not_started(job, exc)
    assert proc.stdout is not None and proc.stderr is not None
    state = pump(proc, tails, job["output_bytes"], deadline)
    code: int | None = None
    if state == "exited":
        code = wait_exit(proc, deadline)
        if code is None:
            state = "timeout"
    # The job's whole session and anything that escaped it die here, as after every job, so the container stays
    # clean and the host keeps it: a timeout costs the job, not a container restart.
    if kill_all():
        dirty = not wiped()
    elif state == "exited":
        return {"fatal": "processes of this job survived SIGKILL"}
    else:
        dirty = True  # a timeout or output flood stays the verdict (with its output); the host retires the container
    proc.stdout.close()
    proc.stderr.close()
    if code is not None and code < 0:
        code = 128 - code
    after = oom_kills()
    return {
        "exit": code,
        "stdout": base64.b64encode(bytes(tails[1].buf)).decode(),
        "stderr": base64.b64encode(bytes(tails[2].buf)).decode(),
        "truncated": tails[1].dropped or tails[2].dropped,
        "over": state == "over",
        "timeout": state == "timeout",
        "oom": after > oom_before >= 0,
        "dirty": dirty,
    }


def main() -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0: no /proc/1/mem, /proc/1/fd for the job
    inp = sys.stdin.buffer
    out = sys.stdout.buffer
    out.write(json.dumps({"ready": True, "pid": os.getpid()}).encode() + b"\n")
    out.flush()
    while True:
        line = inp.readline()
        if not line:
            return
        try:
            job = json.loads(line)
            # The clock starts when the job is announced, as the host's does: unpacking counts against it.
            deadline = time.monotonic() + float(job["timeout_s"])
            data = inp.read(job["tar_size"])
            if len(data) != job["tar_size"]:
                return
            result = run(job, data, deadline)
        except Exception as exc:
            result = {"fatal": f"runner: {type(exc).__name__}: {exc}"}
        out.write(json.dumps(result).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    main()
