"""A warm pool of idle, hardened containers.

Starting a container costs ~0.3-0.9 s; an exec into a running one costs tens of milliseconds. The pool keeps
``size`` containers running and hands each to one job at a time. A container whose job timed out, hit a limit or
misbehaved is destroyed and a fresh one is started in the background, so one bad job cannot poison the next.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque

from .containers import ContainerSpec, remove_quietly
from .docker_conn import DockerConn, DockerUnavailable, describe, is_connection_error


class PoolError(Exception):
    """No container could be had; ``str()`` is a one-line reason."""


class Pool:
    def __init__(self, conn: DockerConn, spec: ContainerSpec, size: int) -> None:
        self.conn = conn
        self.spec = spec
        self.size = size
        self._cond = threading.Condition()
        self._idle: deque[tuple[str, int | None]] = deque()  # (container id, oom_kill count at start)
        self._busy: set[str] = set()
        self._creating = 0
        self._generation = -1  # DockerConn generation our containers belong to
        self._last_error: str | None = None
        self._closed = False

    # -- public -------------------------------------------------------------------------------------------------
    def acquire(self, timeout_s: float) -> tuple[str, int | None]:
        """Take an idle container (waiting for one to start if needed)."""
        deadline = time.monotonic() + timeout_s
        self._sync_generation()
        with self._cond:
            self._last_error = None
            while True:
                if self._closed:
                    raise PoolError("sandbox is closed")
                if self._idle:
                    entry = self._idle.popleft()
                    self._busy.add(entry[0])
                    self._fill_locked(extra=0)
                    return entry
                if self._last_error is not None and self._creating == 0:
                    raise PoolError(self._last_error)
                self._fill_locked(extra=0)  # replaces containers lost since; otherwise wait for a release
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PoolError(f"no sandbox container became free within {timeout_s:g}s")
                self._cond.wait(min(remaining, 1.0))

    def release(self, cid: str, oom_count: int | None, *, reusable: bool) -> None:
        with self._cond:
            self._busy.discard(cid)
            keep = reusable and not self._closed and len(self._idle) < self.size
            if keep:
                self._idle.append((cid, oom_count))
                self._cond.notify()
        if not keep:
            self.discard(cid)

    def discard(self, cid: str) -> None:
        """Destroy a container in the background and start a replacement."""
        with self._cond:
            self._busy.discard(cid)
            if not self._closed:
                self._fill_locked(extra=0)
        threading.Thread(target=self._remove, args=(cid,), daemon=True, name="sandbox-discard").start()

    def fill(self) -> None:
        self._sync_generation()
        with self._cond:
            self._fill_locked(extra=0)

    def wait_ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self._idle) < self.size and not self._closed:
                if self._last_error is not None and self._creating == 0:
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.5))
            return True

    def reset(self) -> None:
        """Forget every container (after a daemon restart they are gone or stopped) and refill."""
        with self._cond:
            old = [cid for cid, _ in self._idle]
            self._idle.clear()
        for cid in old:
            threading.Thread(target=self._remove, args=(cid,), daemon=True).start()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            ids = [cid for cid, _ in self._idle] + list(self._busy)
            self._idle.clear()
            self._busy.clear()
            self._cond.notify_all()
        try:
            api = self.conn.api()
        except DockerUnavailable:
            return
        for cid in ids:
            remove_quietly(api, cid)

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {"idle": len(self._idle), "busy": len(self._busy), "starting": self._creating}

    # -- internals ----------------------------------------------------------------------------------------------
    def _sync_generation(self) -> None:
        try:
            self.conn.api()
        except DockerUnavailable as exc:
            raise PoolError(str(exc)) from exc
        if self.conn.generation != self._generation:
            self.reset()
            self._generation = self.conn.generation

    def _fill_locked(self, extra: int) -> None:
        while not self._closed and len(self._idle) + len(self._busy) + self._creating < self.size + extra:
            self._spawn_locked()

    def _spawn_locked(self) -> None:
        self._creating += 1
        threading.Thread(target=self._create_one, daemon=True, name="sandbox-start").start()

    def _create_one(self) -> None:
        from .execjob import oom_kills

        cid: str | None = None
        error: str | None = None
        oom: int | None = None
        try:
            api = self.conn.api()
            cid = self.spec.create(api, pooled=True)
            oom = oom_kills(api, cid, self.spec.user)
        except DockerUnavailable as exc:
            error = str(exc)
        except Exception as exc:
            if is_connection_error(exc):
                self.conn.invalidate()
            error = _creation_reason(exc, self.spec.image)
        with self._cond:
            self._creating -= 1
            if cid is not None and not self._closed:
                self._idle.append((cid, oom))
                cid = None
            elif error is not None:
                self._last_error = error
            self._cond.notify_all()
        if cid is not None:  # closed while starting
            self._remove(cid)

    def _remove(self, cid: str) -> None:
        with contextlib.suppress(DockerUnavailable):
            remove_quietly(self.conn.api(), cid)


def _creation_reason(exc: BaseException, image: str) -> str:
    import docker.errors

    if isinstance(exc, docker.errors.ImageNotFound) or (
        isinstance(exc, docker.errors.NotFound) and "image" in str(exc).lower()
    ):
        return f"sandbox image {image} is missing; build it with: codeassist sandbox build"
    return f"could not start a sandbox container: {describe(exc)}"
