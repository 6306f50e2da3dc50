"""Exec mode: one job in one running container as a single ``docker exec`` that resets the work dir, unpacks the
snapshot from stdin and execs the command, with the wall clock and output caps enforced here on the host.

Used for one-shot containers (non-default limits) and for pools with ``SandboxConfig(runner=False)``; the default
pooled path is the in-container runner (``channel.py``), ~5x faster. Like the runner it needs python3 in the image
(the job confines itself with confine.py; without python3 the job is refused: ``NO_CONFINER``). One exec per job
(not three) keeps it as cheap as an exec gets. Anything a job leaves behind (background processes, files in /tmp or
the work dir, SysV IPC objects, POSIX message queues) is killed and wiped by the next job's preamble, and a
container whose job hit a limit is not reused at all. The container's idle PID 1 runs as a different uid, so a job
cannot signal or ptrace it.

A timeout keeps the output read so far (it streams to the host as it comes) but, unlike in runner mode, retires the
container: nothing inside it outlives the job to kill the job's processes (a lone ``kill -9 -1`` may miss a fork
bomb's children, where the runner retries until none is left), so the host kills the container.
"""

from __future__ import annotations

import contextlib
import select
import shlex
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .confine import HIDE_MOUNTS, READY, SHOW_MOUNTS
from .containers import JOB_ENV, WORK_DIR
from .streams import as_socket
from .types import Limits, Status

# confine.py runs in the container (the runner loads it; in exec mode it is the job's first program): its source
CONFINE_SRC = (Path(__file__).resolve().parent / "confine.py").read_text()
# Removes every SysV IPC object until none is listed: a segment still attached by a process that is dying from the
# `kill -9 -1` stays listed (and attachable by id) until it is gone. Objects that outlive ~1 s (no `ipcrm` in the
# image) fail the setup, so the job is reported unverified and the container replaced rather than leaking into it.
IPC_WIPE = (
    "n=0; while :; do ipcrm -a 2>/dev/null; c=0; "
    "for f in /proc/sysvipc/shm /proc/sysvipc/msg /proc/sysvipc/sem; do "
    '[ -r "$f" ] && while read -r _; do c=$((c+1)); done < "$f"; done; '
    "[ $c -le 3 ] && break; n=$((n+1)); "  # 3 header lines: no object left
    "[ $n -lt 20 ] || { echo 'codeassist-sandbox: IPC objects of an earlier job survived' >&2; exit 125; }; "
    "sleep 0.05; done; "
)
# Why a job in an image without python3 is refused rather than run unconfined: the Landlock ruleset that hides the
# host's paths and the reset of inherited ignored signals (without which `yes | head` can hang: a wrong verdict) are
# built by confine.py, and nothing else in such an image can build them. A job that runs without them must not
# pass for a checked one, so it never runs: the setup fails ("could not set up the run", status error, never
# "verified") with this line, which says what would fix it.
NO_CONFINER = (
    "codeassist-sandbox: the image has no python3, which every job needs to be confined (confine.py: Landlock "
    "ruleset, signal reset); the job was not run unconfined. Use an image with python3 (3.7+ with ctypes)"
)
# `kill -9 -1` signals every process this uid may signal except PID 1 (the idle process, another uid) and the shell
# itself: leftovers of earlier jobs die here. The shell raises its oom_score_adj, which the job inherits, so the
# job is the OOM killer's first choice.
PREAMBLE = (
    "mode=$1; shift; "  # confine.py's HIDE_MOUNTS or SHOW_MOUNTS, then the job's argv
    "kill -9 -1 2>/dev/null; "
    "{ echo 1000 > /proc/self/oom_score_adj; } 2>/dev/null; "
    f"chmod -R u+rwx {WORK_DIR} /tmp /dev/shm 2>/dev/null; "  # an earlier job may have locked its dirs
    f"cd {WORK_DIR} || exit 125; "
    f"find {WORK_DIR} /tmp /dev/shm /dev/mqueue -mindepth 1 -delete 2>/dev/null; "
    + IPC_WIPE
    + f"tar -x -f - -C {WORK_DIR} --no-same-owner -m "
    "|| { echo 'codeassist-sandbox: unpacking files failed' >&2; exit 125; }; "
    # The job's Landlock ruleset and signal reset (confine.py): it confines itself, prints the ready marker and
    # becomes the job (same pid). An image without python3 cannot run it, so the job is refused (NO_CONFINER).
    f"command -v python3 >/dev/null 2>&1 || {{ echo {shlex.quote(NO_CONFINER)} >&2; exit 125; }}; "
    f'exec python3 -I -S -c {shlex.quote(CONFINE_SRC)} "$mode" "$@"'
)
OOM_PROBE = "cat /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events 2>/dev/null"


# The reason of a job stopped because its caller gave up (a newer request superseded it): status "error", since the
# code was not checked, and the container is killed like after a timeout.
CANCELLED = "cancelled by the caller"
CANCEL_POLL_S = 0.1  # how often a running job checks its caller's cancel flag


# the reason of a job whose exec started but never reached the job (the preamble or confine.py failed): nothing of
# the job ran, so the caller may try it once more in another container (core.py)
SETUP_FAILED = "sandbox could not set up the run"


class SetupFailed(Exception):
    """The exec could not be started (container gone, daemon down); the job did not run and may be retried."""


@dataclass
class JobOutcome:
    status: Status
    exit_code: int | None
    stdout: bytes
    stderr: bytes
    truncated: bool
    reason: str | None
    reusable: bool  # may the container serve another job?
    runner_lost: bool = False  # the runner's stream ended during the job: the caller asks the daemon why


class _Tail:
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.buf = bytearray()
        self.dropped = False

    def add(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) > self.cap:
            del self.buf[: len(self.buf) - self.cap]
            self.dropped = True


def oom_kills(api: Any, cid: str, user: str) -> int | None:
    """The container cgroup's oom_kill counter (cgroup v1 or v2), or None when it cannot be read."""
    for attempt in range(4):  # a loaded daemon can fail an exec; the answer decides oom vs failed
        try:
            eid = api.exec_create(cid, ["sh", "-c", OOM_PROBE], user=user)["Id"]
            out: bytes = api.exec_start(eid)
        except Exception:
            out = b""
        for line in out.decode(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "oom_kill" and parts[1].isdigit():
                return int(parts[1])
        # Under load runc may fail the exec and say so as its *output* ("OCI runtime exec failed: ... read init-p:
        # connection reset by peer"): try again rather than calling an OOM kill a plain SIGKILL.
        time.sleep(0.1 * (attempt + 1))
    return None


@dataclass
class _Streams:
    """The exec's output as it arrives: Docker's stream frames, the preamble's ready marker, the job's tails."""

    out: _Tail
    err: _Tail
    limit: int
    frames: bytearray = field(default_factory=bytearray)
    ready: bytearray = field(default_factory=bytearray)
    ready_seen: bool = False
    total: int = 0

    def feed(self, chunk: bytes) -> tuple[Status, str] | None:
        """Take a chunk of the stream; a verdict when the output breaks a rule."""
        self.frames += chunk
        while len(self.frames) >= 8:
            kind, size = struct.unpack(">BxxxL", bytes(self.frames[:8]))
            if len(self.frames) < 8 + size:
                break
            payload = bytes(self.frames[8 : 8 + size])
            del self.frames[: 8 + size]
            if kind == 1 and not self.ready_seen:
                self.ready += payload
                if len(self.ready) < len(READY) and READY.startswith(bytes(self.ready)):
                    continue
                if not self.ready.startswith(READY):
                    return "error", "sandbox preamble printed unexpected output"
                self.ready_seen = True
                payload = bytes(self.ready[len(READY) :])
                if not payload:
                    continue
            self.total += len(payload)
            (self.out if kind == 1 else self.err).add(payload)
            if self.total > self.limit:
                return "output_limit", f"output exceeded {self.limit} bytes; container killed"
        return None

    def outcome(self, status: Status, code: int | None, reason: str | None, *, reusable: bool) -> JobOutcome:
        truncated = self.out.dropped or self.err.dropped
        return JobOutcome(status, code, bytes(self.out.buf), bytes(self.err.buf), truncated, reason, reusable)


def run_job(
    api: Any,
    cid: str,
    tar: bytes,
    command: list[str],
    limits: Limits,
    user: str,
    cancel: Callable[[], bool] | None = None,
    *,
    hide_mounts: bool = True,
) -> JobOutcome:
    """Run ``command`` on the snapshot in container ``cid``. Raises SetupFailed if the exec never started. When
    ``cancel()`` turns true the job is abandoned (status error, reason :data:`CANCELLED`; the caller kills it).
    ``hide_mounts`` False: the job gets no Landlock ruleset (``SandboxConfig.hide_mount_table``)."""
    try:
        eid = api.exec_create(
            cid,
            ["sh", "-c", PREAMBLE, "sh", HIDE_MOUNTS if hide_mounts else SHOW_MOUNTS, *command],
            stdin=True,
            stdout=True,
            stderr=True,
            user=user,
            workdir=WORK_DIR,
            environment=JOB_ENV,
        )["Id"]
        sock = as_socket(api.exec_start(eid, socket=True))
    except Exception as exc:
        raise SetupFailed(str(exc)) from exc
    streams = _Streams(_Tail(limits.tail_bytes), _Tail(limits.tail_bytes), limits.output_bytes)
    try:
        verdict = _converse(sock, tar, limits, streams, cancel)
    finally:
        with contextlib.suppress(OSError):
            sock.close()
    if verdict is not None:
        status, reason = verdict
        return streams.outcome(status, None, reason, reusable=False)
    return _judge(api, cid, eid, user, limits, streams)


def _converse(
    sock: socket.socket, tar: bytes, limits: Limits, streams: _Streams, cancel: Callable[[], bool] | None
) -> tuple[Status, str] | None:
    """Send the tar down the exec's stdin and read its output until it ends; a verdict when a limit is hit (or the
    caller cancels) first."""
    deadline = time.monotonic() + limits.timeout_s
    pending = memoryview(tar)
    wrote_eof = False
    sock.setblocking(False)
    while True:
        if not pending and not wrote_eof:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)  # EOF on the exec's stdin: tar finishes, the job sees EOF
            wrote_eof = True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout", f"wall-clock limit of {limits.timeout_s:g}s exceeded; container killed"
        if cancel is not None and cancel():
            return "error", CANCELLED
        poll = min(remaining, 0.5 if cancel is None else CANCEL_POLL_S)
        rlist, wlist, _ = select.select([sock], [sock] if pending else [], [], poll)
        if wlist and pending:
            try:
                sent = sock.send(pending[:65536])
                pending = pending[sent:]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                pending = memoryview(b"")  # the other side stopped reading (tar failed): its stderr says why
        if not rlist:
            continue
        try:
            chunk = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            chunk = b""
        if not chunk:
            return None
        verdict = streams.feed(chunk)
        if verdict is not None:
            return verdict


def _judge(api: Any, cid: str, eid: str, user: str, limits: Limits, streams: _Streams) -> JobOutcome:
    """The outcome of an exec that ran to its end, from its exit code (and the cgroup's OOM count for a SIGKILL)."""
    exit_code = _exit_code(api, eid)
    if not streams.ready_seen:
        msg = streams.err.buf.decode(errors="replace").strip().splitlines()
        why = msg[-1] if msg else f"exit code {exit_code}"
        return streams.outcome("error", exit_code, f"{SETUP_FAILED}: {why}", reusable=False)
    if exit_code is None:
        return streams.outcome("error", None, "lost track of the job's exit code", reusable=False)
    if exit_code == 137:  # SIGKILL: the OOM killer, or the job killed itself
        after = oom_kills(api, cid, user)
        # Baseline 0: a container that ever saw an OOM kill (or any SIGKILL) is never reused, so any kill counted
        # in its cgroup happened during this job.
        if after is not None and after > 0:
            reason = f"memory limit of {limits.memory_mb} MiB exceeded; process killed"
            return streams.outcome("oom", exit_code, reason, reusable=False)
        return streams.outcome("failed", exit_code, "killed by SIGKILL", reusable=False)
    if exit_code == 0:
        return streams.outcome("passed", 0, None, reusable=True)
    return streams.outcome("failed", exit_code, f"exit code {exit_code}", reusable=True)


def _exit_code(api: Any, eid: str) -> int | None:
    for _ in range(50):  # the stream can close a moment before the daemon records the exit
        try:
            info = api.exec_inspect(eid)
        except Exception:
            return None
        if not info.get("Running") and info.get("ExitCode") is not None:
            return int(info["ExitCode"])
        time.sleep(0.02)
    return None
