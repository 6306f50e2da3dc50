"""A warm pool of idle, hardened containers.

Starting a container costs ~0.3-0.9 s; handing a job to a warm one costs milliseconds. The pool keeps ``size``
containers running and hands each to one job at a time. A container whose job hit a limit or misbehaved is
destroyed and a fresh one is started in the background, so one bad job cannot poison the next. The exception is a
timeout the runner handled itself: it killed every process and wiped, exactly as after a normal job, so the container
is kept.

In runner mode (the default) each container's PID 1 is the runner from ``runner_main.py`` and the pool holds its
attached stdio; otherwise the container idles in ``sleep`` and each job is one ``docker exec``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from .channel import Channel, ChannelClosed, runner_command, wait_ready
from .containers import ContainerSpec, remove_quietly
from .docker_conn import DockerConn, DockerUnavailable, describe, is_connection_error

RUNNER_START_TIMEOUT_S = 20.0
NO_PYTHON = "sandbox image {} has no python3, which the sandbox needs (its runner, and to confine every job)"
# exec mode's check of a fresh container: "yes"/"no", or something else when the daemon failed the exec under load
PYTHON_PROBE = ["sh", "-c", "command -v python3 >/dev/null 2>&1 && echo yes || echo no"]


class PoolError(Exception):
    """No container could be had; ``str()`` is a one-line reason."""


@dataclass
class Worker:
    cid: str
    chan: Channel | None = None  # runner mode: the runner's attached stdio
    lifeline: Channel | None = None  # exec mode: the idle PID 1's attached stdin; the container ends when it closes

    def close(self) -> None:
        for stream in (self.chan, self.lifeline):
            if stream is not None:
                stream.close()


class Pool:
    def __init__(self, conn: DockerConn, spec: ContainerSpec, size: int, *, runner: bool) -> None:
        self.conn = conn
        self.spec = spec
        self.size = size
        self.runner = runner
        self._cond = threading.Condition()
        self._idle: deque[Worker] = deque()
        self._busy: dict[str, Worker] = {}
        self._creating = 0
        self._removing = 0
        self._generation = -1  # DockerConn generation our containers belong to
        self._last_error: str | None = None
        self._closed = False
        self.sweep_needed = False  # a removal failed (daemon down?): the owner should sweep once it is back

    # -- public ------------------------------------------------------------------------------------------------------
    def acquire(self, timeout_s: float) -> Worker:
        """Take an idle container (waiting for one to start if needed)."""
        deadline = time.monotonic() + timeout_s
        self._sync_generation()
        with self._cond:
            self._last_error = None
            while True:
                if self._closed:
                    raise PoolError("sandbox is closed")
                if self._idle:
                    worker = self._idle.popleft()
                    self._busy[worker.cid] = worker
                    self._fill_locked()
                    return worker
                if self._last_error is not None and self._creating == 0:
                    raise PoolError(self._last_error)
                self._fill_locked()  # replaces containers lost since; otherwise wait for a release
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PoolError(f"no sandbox container became free within {timeout_s:g}s")
                self._cond.wait(min(remaining, 1.0))

    def release(self, worker: Worker, *, reusable: bool) -> None:
        with self._cond:
            self._busy.pop(worker.cid, None)
            keep = reusable and not self._closed and len(self._idle) < self.size
            if keep:
                self._idle.append(worker)
                self._cond.notify()
        if not keep:
            self.discard(worker)

    def discard(self, worker: Worker) -> None:
        """Destroy a container in the background and start a replacement."""
        with self._cond:
            self._busy.pop(worker.cid, None)
            if not self._closed:
                self._fill_locked()
        self._remove_in_background(worker)

    def fill(self) -> None:
        self._sync_generation()
        with self._cond:
            self._fill_locked()

    def wait_ready(self, timeout_s: float) -> str | None:
        """Wait until the pool is full; the reason when its containers cannot start (an image without python3, a
        bad option), None when they are ready or merely slow (the wait timed out, the pool keeps starting them)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self._idle) < self.size and not self._closed:
                if self._last_error is not None and self._creating == 0:
                    return self._last_error
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(min(remaining, 0.5))
            return None

    def reset(self) -> None:
        """Forget every idle container (after a daemon restart they are gone or stopped)."""
        with self._cond:
            old = list(self._idle)
            self._idle.clear()
        for worker in old:
            self._remove_in_background(worker)

    def drop_dead(self) -> None:
        """Discard idle containers that are no longer running (e.g. after an unnoticed daemon restart)."""
        with self._cond:
            idle = list(self._idle)
        try:
            api = self.conn.api()
        except DockerUnavailable:
            return
        for worker in idle:
            try:
                running = bool(api.inspect_container(worker.cid)["State"]["Running"])
            except Exception:
                running = False
            if not running:
                with self._cond:
                    if worker not in self._idle:
                        continue
                    self._idle.remove(worker)
                self.discard(worker)

    def close(self, wait_s: float = 15.0) -> None:
        """Remove every container, waiting (bounded) for ones still starting so none outlives the process."""
        with self._cond:
            self._closed = True
            workers = list(self._idle) + list(self._busy.values())
            self._idle.clear()
            self._busy.clear()
            self._cond.notify_all()
            deadline = time.monotonic() + wait_s
            while (self._creating > 0 or self._removing > 0) and time.monotonic() < deadline:
                self._cond.wait(0.1)
        try:
            api = self.conn.api()
        except DockerUnavailable:
            api = None
        for worker in workers:
            if api is not None:
                remove_quietly(api, worker.cid)  # before closing its stream, which would start auto-removal
            worker.close()

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {"idle": len(self._idle), "busy": len(self._busy), "starting": self._creating}

    # -- internals ---------------------------------------------------------------------------------------------------
    def _sync_generation(self) -> None:
        try:
            self.conn.api()
        except DockerUnavailable as exc:
            raise PoolError(str(exc)) from exc
        if self.conn.generation != self._generation:
            self.reset()
            self._generation = self.conn.generation

    def _fill_locked(self) -> None:
        while not self._closed and len(self._idle) + len(self._busy) + self._creating < self.size:
            self._creating += 1
            threading.Thread(target=self._create_one, daemon=True, name="sandbox-start").start()

    def _start_worker(self) -> Worker:
        api = self.conn.api()
        cid = self.spec.create(api, pooled=True, command=runner_command(self.spec.hide_mounts) if self.runner else None)
        chan: Channel | None = None
        try:
            chan = Channel.attach(api, cid)  # before start, so the greeting cannot be missed
            self.spec.start(api, cid)
            if not self.runner:
                _require_python(api, cid, self.spec)
                return Worker(cid, lifeline=chan)
            wait_ready(chan, RUNNER_START_TIMEOUT_S)
        except ChannelClosed as exc:
            remove_quietly(api, cid)
            if chan is not None:
                chan.close()
            raise PoolError(
                f"the sandbox runner did not start in {self.spec.image} ({exc}); the image needs python3 3.7+ "
                "(the runner, and every job's confinement in either mode)"
            ) from exc
        except Exception:
            remove_quietly(api, cid)
            if chan is not None:
                chan.close()
            raise
        return Worker(cid, chan=chan)

    def _create_one(self) -> None:
        worker: Worker | None = None
        error: str | None = None
        try:
            worker = self._start_worker()
        except (DockerUnavailable, PoolError) as exc:
            error = str(exc)
        except Exception as exc:
            if is_connection_error(exc):
                self.conn.invalidate()
            error = _creation_reason(exc, self.spec.image)
        with self._cond:
            if worker is not None and not self._closed:
                self._idle.append(worker)
                worker = None
            elif error is not None:
                self._last_error = error
            if worker is None:
                self._creating -= 1
                self._cond.notify_all()
                return
        self._remove(worker)  # closed while starting; close() waits for this
        with self._cond:
            self._creating -= 1
            self._cond.notify_all()

    def _remove_in_background(self, worker: Worker) -> None:
        def work() -> None:
            try:
                self._remove(worker)
            finally:
                with self._cond:
                    self._removing -= 1
                    self._cond.notify_all()

        with self._cond:
            self._removing += 1
        threading.Thread(target=work, daemon=True, name="sandbox-remove").start()

    def _remove(self, worker: Worker) -> None:
        try:
            removed = remove_quietly(self.conn.api(), worker.cid)
        except DockerUnavailable:
            removed = False
        worker.close()  # after the removal: closing first would race it with auto-removal
        if not removed:
            self.sweep_needed = True


def _creation_reason(exc: BaseException, image: str) -> str:
    # docker (with requests) is imported only once Docker is used: `import codeassist.sandbox` stays cheap
    import docker.errors

    if isinstance(exc, docker.errors.ImageNotFound) or (
        isinstance(exc, docker.errors.NotFound) and "image" in str(exc).lower()
    ):
        return f"sandbox image {image} is missing; build it with: codeassist sandbox build"
    if "python3" in str(exc) and "executable file not found" in str(exc):  # runc could not start the runner
        return NO_PYTHON.format(image)
    return f"could not start a sandbox container: {describe(exc)}"


def _require_python(api: Any, cid: str, spec: ContainerSpec) -> None:
    """Refuse an exec-mode container whose image has no python3 (PoolError): each of its jobs would be refused by
    the preamble (execjob.NO_CONFINER), so the pool says why at once and ``warm()`` is not ok. One exec per container
    start, in the background; an answer the daemon garbled under load is retried, then left to the preamble."""
    for attempt in range(3):
        out: bytes = api.exec_start(api.exec_create(cid, PYTHON_PROBE, user=spec.user)["Id"])
        if out.strip() in (b"yes", b"no"):
            if out.strip() == b"no":
                raise PoolError(NO_PYTHON.format(spec.image))
            return
        time.sleep(0.1 * (attempt + 1))
