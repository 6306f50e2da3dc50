"""The in-container runner: PID 1 of each pooled container, serving jobs over its attached stdin/stdout.

Not imported by the host: its source is passed to ``python3 -c`` (with confine.py's as argument) when a pooled
container starts, so it is standard-library only, Python 3.7+. A ``docker exec`` per job costs ~85-100 ms; a fork from
a warm runner a few. The runner is trusted, the job is not (confine.py: the job cannot read the mount table):

- the kernel drops a signal sent from inside a pid namespace to its init unless init has a handler for it, so the
  runner resets every handler (Python's SIGINT included) to the default: no signal from the job reaches it;
- the runner is non-dumpable, so the job (same uid) cannot read or write its memory or descriptors through /proc;
- each job starts with ``oom_score_adj`` 1000 while the runner keeps the container's lower value: when the job
  fills the memory limit the kernel kills the job, not the runner;
- before and after every job it SIGKILLs every other process (``kill(-1)``), reaps them, wipes /work, /tmp and
  /dev/shm and removes every SysV IPC object and POSIX message queue, so nothing a job leaves behind reaches the
  next one; after each job it checks that the job did not change its limits or priority (``prlimit`` works across a
  uid). Any anomaly is reported and the host replaces the container;
- it exits when its stdin ends, also mid-job: the host that owned it is gone (Docker closes a ``StdinOnce``
  container's stdin when the client disconnects), and the auto-removed container goes with it.

Protocol (one job at a time): the host writes one JSON line ``{"argv", "env", "tar_size", "output_bytes",
"tail_bytes", "timeout_s"}`` followed by ``tar_size`` bytes of tar; the runner answers with one JSON line. The wall
clock is enforced twice. ``timeout_s`` after the header arrives the runner kills the job, wipes, and answers
``"timeout": true`` with the output so far (a hung pytest still names the test) and serves the next job. The host
kills the whole container if no answer comes a little later: a runner wedged by its job cannot hang the host.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import io
import json
import os
import resource
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
JOB_OOM_SCORE_ADJ = b"1000"  # the job is always the OOM killer's first choice; the runner's value is set by the host
SYSV_IPC = ("shm", "msg", "sem")  # /proc/sysvipc/<kind>: one object per line after the header, its id second
MQUEUE = "/dev/mqueue"
IPC_RMID = 0
LIBC = ctypes.CDLL(None, use_errno=True)


def neutralise_signals() -> None:
    """Reset every signal handler to the default. Init of a pid namespace only receives the signals it has a handler
    for from processes inside it, so with none installed the job cannot stop, interrupt or kill the runner. SIG_IGN
    stays (the job's preexec_fn resets it: confine.reset_ignored_signals); SIGCHLD's default keeps waitpid working."""
    for sig in range(1, signal.NSIG):
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            if signal.getsignal(sig) is not signal.SIG_IGN:
                signal.signal(sig, signal.SIG_DFL)


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


def ipc_ids(kind: str) -> list[int]:
    try:
        with open("/proc/sysvipc/" + kind) as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        return []
    return [int(row.split()[1]) for row in rows if row.strip()]


def wipe_ipc() -> None:
    """Remove every SysV IPC object and POSIX message queue of this container's IPC namespace. Every process but the
    runner is dead by now, so removed segments are freed at once (their memory counts against the container's limit).
    The job runs as the runner's uid and cannot change an object's creator, so the runner may remove them all."""
    for kind in SYSV_IPC:
        for ident in ipc_ids(kind):
            if kind == "sem":
                LIBC.semctl(ident, 0, IPC_RMID)
            else:
                getattr(LIBC, kind + "ctl")(ident, IPC_RMID, None)  # shmctl, msgctl
    queues = os.listdir(MQUEUE) if os.path.isdir(MQUEUE) else []
    for name in queues:
        os.unlink(os.path.join(MQUEUE, name))
    left = [kind for kind in SYSV_IPC if ipc_ids(kind)] + (["mqueue"] if queues and os.listdir(MQUEUE) else [])
    if left:
        raise OSError("IPC objects survived removal: " + ", ".join(left))


def wipe() -> None:
    wipe_ipc()
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


class OomScore:
    """Our /proc/self/oom_score_adj, opened while still dumpable (non-dumpable makes /proc/self root-owned). Around
    each spawn it is raised to 1000, which the job inherits, then restored. A job may lower its own value (not below
    the container's minimum) to compete with the runner on size: a runner lost so is the job's failure."""

    def __init__(self) -> None:
        self.fd = os.open("/proc/self/oom_score_adj", os.O_RDWR | os.O_CLOEXEC)
        self.own = os.pread(self.fd, 16, 0).strip()

    def set(self, value: bytes) -> None:
        os.pwrite(self.fd, value, 0)


OOM_SCORE: list[OomScore] = []  # set by main()
CONFINE: list = []  # type: ignore[type-arg]  # the job's start: ruleset + signals, from confine.py (main())


def spawn(job: dict) -> subprocess.Popen[bytes]:  # type: ignore[type-arg]
    """Start the job in a session of its own, its output on pipes, as the OOM killer's first choice. Raises OSError
    when argv[0] cannot run."""
    for score in OOM_SCORE:
        score.set(JOB_OOM_SCORE_ADJ)
    try:
        return subprocess.Popen(
            job["argv"],
            cwd=WORK,
            env=job["env"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
            start_new_session=True,
            preexec_fn=CONFINE[0] if CONFINE else None,  # safe: the runner has one thread
        )
    finally:  # the child has exec'd (or failed) by now: it no longer shares our memory, so keeps its own value
        for score in OOM_SCORE:
            score.set(score.own)


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
    ``deadline``: returns "exited", "over", "timeout", or "orphaned" when our stdin ends (the host is gone: nobody
    will read the answer). The deadline is checked here, on every pass, because the host only kills the container
    when this runner fails to answer; stopping the job ourselves keeps its output so far."""
    assert proc.stdout is not None and proc.stderr is not None
    streams = {proc.stdout.fileno(): 1, proc.stderr.fileno(): 2}
    host = sys.stdin.fileno()  # the host sends nothing during a job: readable means EOF (or a broken host)
    total = 0
    exited_at = None
    while streams:
        left = deadline - time.monotonic()
        if left <= 0 and exited_at is None:
            return "timeout"
        ready, _, _ = select.select([*streams, host], [], [], min(max(left, 0.0), 0.05))
        if host in ready:
            return "orphaned"
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


def own_state() -> tuple:  # type: ignore[type-arg]
    """What a job running as our uid can change about us without ptrace: resource limits (hard ones cannot be raised
    back), priority, scheduling policy, CPU affinity. Compared after every job; a change retires the container."""
    limits = [
        (name, resource.getrlimit(getattr(resource, name))) for name in dir(resource) if name.startswith("RLIMIT_")
    ]
    return (limits, os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0), sorted(os.sched_getaffinity(0)))


BASELINE = own_state()


def run(job: dict, data: bytes, deadline: float) -> dict | None:  # type: ignore[type-arg]
    """One job, start to answer; None when the host went away during it (the job is killed, nobody to answer).
    Failures before the job starts raise (the host reports "could not check"); from then on, the job is the suspect."""
    if not kill_all():
        raise RuntimeError("processes of an earlier job survived SIGKILL")
    wipe()
    extract(data)
    oom_before = oom_kills()
    try:
        proc = spawn(job)
    except OSError as exc:
        return not_started(job, exc)
    try:
        return finish(job, proc, deadline, oom_before)
    except Exception as exc:  # e.g. the job lowered our limits: its failure, not "could not check"
        with contextlib.suppress(Exception):
            kill_all()  # best effort: the host retires this container
        return {"crashed": f"the sandbox runner failed during the job: {type(exc).__name__}: {exc}"}


def finish(job: dict, proc: subprocess.Popen[bytes], deadline: float, oom0: int) -> dict | None:  # type: ignore
    """The job from its start to the answer (None when orphaned); ``oom0``: the OOM kill count before it."""
    assert proc.stdout is not None and proc.stderr is not None
    tails = {1: Tail(job["tail_bytes"]), 2: Tail(job["tail_bytes"])}
    state = pump(proc, tails, job["output_bytes"], deadline)
    if state == "orphaned":
        kill_all()
        return None
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
        return {"crashed": "processes of the job survived SIGKILL"}
    else:
        dirty = True  # a timeout or output flood stays the verdict (with its output); the host retires the container
    proc.stdout.close()
    proc.stderr.close()
    if code is not None and code < 0:
        code = 128 - code
    after = oom_kills()
    tampered = own_state() != BASELINE
    return {
        "exit": code,
        "stdout": base64.b64encode(bytes(tails[1].buf)).decode(),
        "stderr": base64.b64encode(bytes(tails[2].buf)).decode(),
        "truncated": tails[1].dropped or tails[2].dropped,
        "over": state == "over",
        "timeout": state == "timeout",
        "oom": after > oom0 >= 0,
        "dirty": dirty or tampered,
        "crashed": "the job changed the sandbox runner's limits or priority" if tampered else None,
    }


def main() -> None:
    neutralise_signals()
    space: dict = {"__name__": "codeassist_confine"}  # type: ignore[type-arg]
    exec(compile(sys.argv[1] if len(sys.argv) > 1 else "", "confine.py", "exec"), space)  # the host's source
    if "job_start" in space:  # ruleset + signals; the signals alone without Landlock or with the mount table shown
        CONFINE.append(space["job_start"](sys.argv[2:]))
    with contextlib.suppress(OSError):
        OOM_SCORE.append(OomScore())  # before PR_SET_DUMPABLE = 0, which makes /proc/self root-owned
    with contextlib.suppress(Exception):
        LIBC.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0: no /proc/1/mem, /proc/1/fd for the job
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
        if result is None:
            return  # orphaned: the host is gone, and with our exit the container
        out.write(json.dumps(result).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    main()
