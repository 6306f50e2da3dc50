"""Host side of the in-container runner (see runner_main.py): the attached stdio of a pooled container.

Jobs go down the container's stdin as one JSON line plus a tar; the answer comes back as one JSON line on its
stdout, inside Docker's multiplexed stream framing (8-byte headers, since the container has no TTY).

The runner enforces the job's wall clock itself (a soft deadline: it kills the job, keeps the output so far and stays
usable); this side waits ``hard_timeout_s()`` before giving up on an answer, after which the caller kills the
container.
"""

from __future__ import annotations

import base64
import contextlib
import json
import select
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .confine import HIDE_MOUNTS, SHOW_MOUNTS
from .containers import JOB_ENV, attach
from .execjob import CANCEL_POLL_S, CANCELLED, CONFINE_SRC, JobOutcome, SetupFailed
from .types import Limits

RUNNER_SRC = (Path(__file__).resolve().parent / "runner_main.py").read_text()


def runner_command(hide_mounts: bool) -> list[str]:
    """The runner's command line: its source, confine.py's, and SHOW_MOUNTS when the jobs get no ruleset."""
    return ["python3", "-I", "-S", "-c", RUNNER_SRC, CONFINE_SRC, HIDE_MOUNTS if hide_mounts else SHOW_MOUNTS]


# How much longer than the job's timeout the host waits for the runner's answer: enough for the runner to kill the job,
# wipe and answer on a loaded machine, short enough that a wedged runner costs little.
HARD_GRACE_MIN_S = 1.0
HARD_GRACE_FRACTION = 0.1


class ChannelClosed(Exception):
    """The runner's stream ended: the container died or the daemon went away."""


class Cancelled(Exception):
    """The caller's cancel check turned true while waiting for the runner."""


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.setblocking(False)
        self.frames = bytearray()  # raw multiplexed bytes not yet parsed
        self.stdout = bytearray()  # runner stdout not yet consumed as lines
        self.stderr = bytearray()  # runner stderr (tracebacks), kept for diagnostics

    @classmethod
    def attach(cls, api: Any, cid: str) -> Channel:
        return cls(attach(api, cid))

    def send(self, data: bytes, deadline: float) -> bool:
        """Write all of data; False when the deadline passed first. Raises ChannelClosed."""
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            _, w, _ = select.select([], [self.sock], [], min(remaining, 0.5))
            if not w:
                continue
            try:
                sent = self.sock.send(view[:262144])
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                raise ChannelClosed(str(exc)) from exc
            view = view[sent:]
        return True

    def read_line(self, deadline: float, cancel: Callable[[], bool] | None = None) -> bytes | None:
        """The next line of the runner's stdout; None when the deadline passed first. Raises ChannelClosed, and
        Cancelled when ``cancel()`` turns true first."""
        while True:
            nl = self.stdout.find(b"\n")
            if nl >= 0:
                line = bytes(self.stdout[:nl])
                del self.stdout[: nl + 1]
                return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if cancel is not None and cancel():
                raise Cancelled
            poll = min(remaining, 0.5 if cancel is None else CANCEL_POLL_S)
            r, _, _ = select.select([self.sock], [], [], poll)
            if not r:
                continue
            try:
                chunk = self.sock.recv(262144)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                raise ChannelClosed(str(exc)) from exc
            if not chunk:
                raise ChannelClosed(self.last_error() or "runner stream ended")
            self.frames += chunk
            while len(self.frames) >= 8:
                kind, size = struct.unpack(">BxxxL", bytes(self.frames[:8]))
                if len(self.frames) < 8 + size:
                    break
                payload = self.frames[8 : 8 + size]
                (self.stdout if kind == 1 else self.stderr).extend(payload)
                del self.frames[: 8 + size]
                del self.stderr[:-4096]

    def is_dead(self) -> bool:
        """True when the runner's stream has already ended (container killed, daemon restarted)."""
        try:
            r, _, _ = select.select([self.sock], [], [], 0)
            return bool(r) and self.sock.recv(1, socket.MSG_PEEK) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    def last_error(self) -> str:
        lines = self.stderr.decode(errors="replace").strip().splitlines()
        return lines[-1][:200] if lines else ""

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def wait_ready(chan: Channel, timeout_s: float) -> None:
    line = chan.read_line(time.monotonic() + timeout_s)
    if line is None:
        raise ChannelClosed(f"runner did not start within {timeout_s:g}s")
    if not json.loads(line).get("ready"):
        raise ChannelClosed(f"unexpected runner greeting: {line[:100]!r}")


def hard_timeout_s(limits: Limits) -> float:
    """The host's backstop: past this the runner is presumed wedged and its container is killed."""
    return limits.timeout_s + max(HARD_GRACE_MIN_S, HARD_GRACE_FRACTION * limits.timeout_s)


def run_job(
    chan: Channel, tar: bytes, argv: list[str], limits: Limits, cancel: Callable[[], bool] | None = None
) -> JobOutcome:
    """One job through the runner. Raises SetupFailed if the runner was already gone (nothing ran). A job whose
    ``cancel()`` turns true is abandoned unanswered (status error, reason CANCELLED): the caller kills the container."""
    deadline = time.monotonic() + hard_timeout_s(limits)
    header = {
        "argv": argv,
        "env": JOB_ENV,
        "tar_size": len(tar),
        "output_bytes": limits.output_bytes,
        "tail_bytes": limits.tail_bytes,
        "timeout_s": limits.timeout_s,
    }
    if chan.is_dead():
        raise SetupFailed("runner gone before the job was sent")
    try:
        if not chan.send(json.dumps(header).encode() + b"\n" + tar, deadline):
            return _outcome_timeout(limits)
    except ChannelClosed as exc:
        raise SetupFailed(f"runner gone: {exc}") from exc
    try:
        line = chan.read_line(deadline, cancel)
    except Cancelled:
        return JobOutcome("error", None, b"", b"", False, CANCELLED, reusable=False)
    except ChannelClosed as exc:
        # The runner was lost with the job running: the job is the suspect, so this is never "could not check".
        # The caller asks the daemon for the cause (see containers.fate).
        return JobOutcome("crashed", None, b"", b"", False, f"runner stream: {exc}", reusable=False, runner_lost=True)
    if line is None:
        return _outcome_timeout(limits)
    try:
        res: dict[str, Any] = json.loads(line)
    except ValueError:
        return JobOutcome("error", None, b"", b"", False, "sandbox runner sent garbage", reusable=False)
    if "fatal" in res:
        return JobOutcome("error", None, b"", b"", False, f"sandbox runner: {res['fatal']}", reusable=False)
    return _outcome(res, limits)


def _outcome(res: dict[str, Any], limits: Limits) -> JobOutcome:
    """Map the runner's answer to a status. An OOM kill outranks a timeout: a job left hanging after one of its
    processes was OOM-killed is reported with that cause. A job that broke the runner (its processes outlived
    SIGKILL, it changed the runner's limits, the runner failed under it) is "crashed": the job's failure."""
    if "exit" not in res:
        return JobOutcome("crashed", None, b"", b"", False, str(res.get("crashed")), reusable=False)
    out = base64.b64decode(res["stdout"])
    err = base64.b64decode(res["stderr"])
    truncated = bool(res["truncated"])
    code = res["exit"]
    clean = not res.get("dirty", True)
    if res.get("crashed"):
        return JobOutcome("crashed", code, out, err, truncated, str(res["crashed"]), reusable=False)
    if res["over"]:
        return JobOutcome(
            "output_limit",
            None,
            out,
            err,
            truncated,
            f"output exceeded {limits.output_bytes} bytes; job killed",
            reusable=False,
        )
    if res["oom"]:
        return JobOutcome(
            "oom",
            code,
            out,
            err,
            truncated,
            f"memory limit of {limits.memory_mb} MiB exceeded; process killed",
            reusable=False,
        )
    if res.get("timeout"):
        # The runner killed the job and wiped: the container is as clean as after any job and serves the next one.
        reason = f"wall-clock limit of {limits.timeout_s:g}s exceeded; job killed"
        return JobOutcome("timeout", None, out, err, truncated, reason, reusable=clean)
    if code == 0:
        return JobOutcome("passed", 0, out, err, truncated, None, reusable=clean)
    return JobOutcome("failed", code, out, err, truncated, f"exit code {code}", reusable=clean)


def _outcome_timeout(limits: Limits) -> JobOutcome:
    """The runner did not answer by the hard deadline: its output is lost and the container must be killed."""
    return JobOutcome(
        "timeout",
        None,
        b"",
        b"",
        False,
        f"wall-clock limit of {limits.timeout_s:g}s exceeded and the sandbox runner did not answer; container killed",
        reusable=False,
    )
