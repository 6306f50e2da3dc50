"""A sandbox over several Docker engines, for batch work (``codeassist refactor --jobs N``).

Each engine gets its own :class:`Sandbox` (its own warm pool, the same hardening); a run goes to the least busy
engine that is up. A run that an engine could not carry out (``status="error"``: the daemon died, the connection
broke, the container vanished) is run again, whole, on another engine: a run is a pure function of its snapshot and
command (it writes nothing outside its throwaway container), so repeating it loses nothing and duplicates nothing.
The caller gets exactly one result per run — so a batch whose engine dies midway still verifies every file once.
An engine that failed is left alone for a cool-down, then tried again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from codeassist.errors import InputError

from .core import Files, Sandbox, image_for
from .docker_conn import DockerHost, DockerUnavailable
from .engines import engine_configs, hosts_from_env, import_image
from .types import Limits, RunResult, SandboxConfig, SandboxHealth


@dataclass
class EngineState:
    url: str
    busy: int = 0
    runs: int = 0
    failures: int = 0
    down_until: float = 0.0
    last_error: str | None = None

    def up(self, now: float) -> bool:
        return now >= self.down_until


class MultiSandbox:
    """The :class:`Sandbox` API (``run``, ``command``, ``warm``, ``health``, ``close``, ``config``) over engines."""

    def __init__(self, configs: Sequence[SandboxConfig], *, cooldown_s: float = 10.0) -> None:
        if not configs:
            raise InputError("a multi-engine sandbox needs at least one engine")
        self.members = [Sandbox(c) for c in configs]
        self.config = configs[0]
        self.image = self.members[0].image
        self.cooldown_s = cooldown_s
        self.engines = [EngineState(m.engine) for m in self.members]
        self._cond = threading.Condition()
        self._image_lock = threading.Lock()
        self._image_copied = False

    def __enter__(self) -> MultiSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def command(self, name: str, *args: str) -> list[str]:
        return self.members[0].command(name, *args)

    # -- engines -----------------------------------------------------------------------------------------------------

    def _ensure_image(self) -> None:
        """Copy the image once, on the first health check or run (not when made: the LSP makes its sandbox on the
        event loop, and a copy takes seconds)."""
        with self._image_lock:
            if not self._image_copied:
                self.import_image()

    def import_image(self) -> dict[str, str]:
        """Copy the sandbox image from this machine's engine to every remote engine that lacks it."""
        self._image_copied = True
        out: dict[str, str] = {}
        for member in self.members:
            host = member.config.docker_host
            if host is None:
                continue
            try:
                out[host] = import_image(image_for(member.config), DockerHost(host, member.config.docker_tls_dir))
            except DockerUnavailable as exc:
                out[host] = f"failed: {exc}"
        return out

    def warm(self, timeout_s: float = 30.0) -> SandboxHealth:
        """Import the image where missing, then start every engine's pool; healthy when at least one engine is."""
        self._ensure_image()
        states = [m.warm(timeout_s) for m in self.members]
        for state, engine in zip(states, self.engines, strict=True):
            if not state.ok:
                self._mark_down(engine, state.reason or "unhealthy")
        return self._summary(states)

    def health(self) -> SandboxHealth:
        self._ensure_image()
        return self._summary([m.health() for m in self.members])

    def _summary(self, states: list[SandboxHealth]) -> SandboxHealth:
        ok = [s for s in states if s.ok]
        daemons = "; ".join(f"{s.daemon}: {'ok' if s.ok else s.reason}" for s in states)
        reason = None if ok else "no sandbox engine is usable: " + daemons
        return SandboxHealth(bool(ok), daemons, self.image, reason)

    def stats(self) -> list[dict[str, Any]]:
        with self._cond:
            now = time.monotonic()
            return [{"engine": e.url, "up": e.up(now), "busy": e.busy, "runs": e.runs, "failures": e.failures,
                     "last_error": e.last_error} for e in self.engines]  # fmt: skip

    def _mark_down(self, engine: EngineState, reason: str) -> None:
        with self._cond:
            engine.failures += 1
            engine.last_error = reason
            engine.down_until = time.monotonic() + self.cooldown_s
            self._cond.notify_all()

    def _pick(self, tried: set[int]) -> int | None:
        """The least busy engine that is up and not yet tried for this run (per container in its pool, then fewest
        runs so far); when every untried engine is cooling down, the one back soonest (better a late try than none)."""
        with self._cond:
            now = time.monotonic()
            untried = [i for i in range(len(self.members)) if i not in tried]
            if not untried:
                return None
            up = [i for i in untried if self.engines[i].up(now)]
            pool = up or [min(untried, key=lambda i: self.engines[i].down_until)]

            def load(i: int) -> float:
                return self.engines[i].busy / max(1, self.members[i].config.pool_size)

            best = min(pool, key=lambda i: (load(i), self.engines[i].runs, i))  # idle ties: fewest runs so far
            self.engines[best].busy += 1
            return best

    # -- runs --------------------------------------------------------------------------------------------------------

    def run(
        self,
        files: Files,
        command: Sequence[str],
        limits: Limits | None = None,
        *,
        cancel: Callable[[], bool] | None = None,
    ) -> RunResult:
        """Run on one engine; if that engine could not run it (status "error"), run it on the next; the last error
        when none could. A run its caller cancelled is not run again. Never raises for Docker trouble."""
        limits = limits or self.config.limits
        self._ensure_image()
        snap = self.members[0]._snapshot(files, limits)  # once, and bad input raises here, before any engine
        tried: set[int] = set()
        last: RunResult | None = None
        while True:
            i = self._pick(tried)
            if i is None:
                assert last is not None
                return last
            tried.add(i)
            engine = self.engines[i]
            try:
                result = self.members[i].run(snap, command, limits, cancel=cancel)
            finally:
                with self._cond:
                    engine.busy -= 1
            if result.status != "error":
                with self._cond:
                    engine.runs += 1
                return result
            if cancel is not None and cancel():
                return result  # the caller gave up: not the engine's failure, and not to be run again
            self._mark_down(engine, result.reason or "error")
            last = result

    def close(self) -> None:
        for member in self.members:
            member.close()


AnySandbox = Sandbox | MultiSandbox  # what a verifier runs on: one engine, or several


def open_sandbox(config: SandboxConfig, hosts: Sequence[str] = (), tls_dir: str | None = None) -> AnySandbox:
    """The sandbox for ``config`` on the engines named (``hosts`` or ``CODEASSIST_SANDBOX_DOCKER_HOST``: ``local``,
    ``tcp://…`` with TLS, ``ssh://…``), the image copied where missing; none named: this machine's engine."""
    env_hosts, env_tls = hosts_from_env()
    hosts = list(hosts) or env_hosts
    if not hosts:
        return Sandbox(config)
    return MultiSandbox(engine_configs(config, hosts, tls_dir or env_tls))  # the image is copied on first use
