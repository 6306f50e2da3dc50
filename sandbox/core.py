"""The sandbox API: ``Sandbox.run(files, command, limits) -> RunResult`` and ``health()``.

Callers never see a Docker exception: a missing daemon, socket permission or image becomes ``status="error"`` with a
one-line reason, and callers label their result "unverified". Bad input (an empty command, a path escaping the work
dir, nonsensical limits) is the caller's bug and raises :class:`codeassist.errors.InputError` instead.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from codeassist.errors import InputError

from . import channel, recipes
from .containers import ContainerSpec, Fate, attach, fate, remove_orphans, remove_quietly
from .docker_conn import DockerConn, DockerHost, DockerUnavailable, daemon_url, describe, is_connection_error
from .execjob import CANCELLED, SETUP_FAILED, JobOutcome, SetupFailed, run_job
from .pool import Pool, PoolError, _creation_reason
from .snapshot import Snapshot
from .types import Limits, RunResult, SandboxConfig, SandboxHealth

Files = Mapping[str, bytes | str] | Snapshot | os.PathLike[str]

_live: weakref.WeakSet[Sandbox] = weakref.WeakSet()


def close_all() -> None:
    """Close every open Sandbox of this process now (its containers are removed). Idempotent; also run at exit.

    Containers die with their owner anyway (see containers.py), however it ends; this removes them at once. A
    program that handles SIGTERM itself should call it (or raise SystemExit) before exiting.
    """
    for sb in list(_live):
        sb.close()


atexit.register(close_all)


def config_from_env(base: SandboxConfig | None = None) -> SandboxConfig:
    """Apply ``CODEASSIST_SANDBOX_IMAGE`` (a registry image to use instead of the recipe image),
    ``CODEASSIST_SANDBOX_POOL`` (pool size) and ``CODEASSIST_SANDBOX_SHOW_MOUNTS=1`` (no Landlock ruleset:
    ``SandboxConfig.hide_mount_table``) on top of ``base``."""
    cfg = base or SandboxConfig()
    image = os.environ.get("CODEASSIST_SANDBOX_IMAGE") or cfg.image
    pool = os.environ.get("CODEASSIST_SANDBOX_POOL")
    size = cfg.pool_size
    if pool is not None:
        try:
            size = int(pool)
        except ValueError as exc:
            raise InputError(f"CODEASSIST_SANDBOX_POOL must be an integer, got {pool!r}") from exc
    show = os.environ.get("CODEASSIST_SANDBOX_SHOW_MOUNTS", "")
    if show not in ("", "0", "1"):
        raise InputError(f"CODEASSIST_SANDBOX_SHOW_MOUNTS must be 0 or 1, got {show!r}")
    hide = cfg.hide_mount_table if not show else show == "0"
    return dataclasses.replace(cfg, image=image, pool_size=size, hide_mount_table=hide)


def image_for(config: SandboxConfig) -> str:
    return config.image or recipes.load(config.recipe).image


class Sandbox:
    """Runs commands on file snapshots in hardened containers from a warm pool. Thread-safe; close() when done
    (also done at interpreter exit)."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.recipe = recipes.load(self.config.recipe)
        self.image = self.config.image or self.recipe.image
        try:
            host = DockerHost(self.config.docker_host, self.config.docker_tls_dir) if self.config.docker_host else None
        except DockerUnavailable as exc:
            raise InputError(str(exc)) from exc  # a configuration mistake (no TLS for tcp://, missing certs)
        self._conn = DockerConn(self.config.docker_timeout_s, host)
        self._pool = Pool(
            self._conn,
            ContainerSpec(self.image, self.config.limits, self.config.user, self.config.hide_mount_table),
            self.config.pool_size,
            runner=self.config.runner,
        )
        self._lock = threading.Lock()
        self._cleaned_generation = -1
        self._sweep_needed = False
        self._closed = False
        _live.add(self)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public -------------------------------------------------------------------------------------------------
    def command(self, name: str, *args: str) -> list[str]:
        """A named command from the image's recipe table, e.g. ``sb.command("pytest", "-x")``."""
        return self.recipe.command(name, *args)

    def warm(self, timeout_s: float = 30.0) -> SandboxHealth:
        """Connect, clean up orphans and start the pool now rather than on the first run. Not ok when its
        containers cannot start (say, an image without python3): every run would fail, so ``doctor`` says why now."""
        try:
            self._prepare()
            self._pool.fill()
        except (DockerUnavailable, PoolError) as exc:
            return SandboxHealth(False, self._conn.url, self.image, str(exc))
        failed = self._pool.wait_ready(timeout_s)
        if failed is not None:
            return SandboxHealth(False, self._conn.url, self.image, failed)
        return self.health()

    def health(self) -> SandboxHealth:
        return _probe(self._conn, self.image)

    @property
    def engine(self) -> str:
        """The Docker engine this sandbox runs on (its URL)."""
        return self._conn.url

    def pool_stats(self) -> dict[str, int]:
        return self._pool.stats()

    def run(
        self,
        files: Files,
        command: Sequence[str],
        limits: Limits | None = None,
        *,
        cancel: Callable[[], bool] | None = None,
    ) -> RunResult:
        """Run ``command`` (argv, no shell) in /work holding ``files``; never raises for Docker trouble. ``cancel``
        is polled while the job runs: once it is true the job is killed and the result is status ``error`` with
        reason ``"cancelled by the caller"`` (nothing was checked)."""
        limits = limits or self.config.limits
        argv = _check_command(command)
        snap = self._snapshot(files, limits)
        if self._closed:
            return self._error("sandbox is closed", 0.0)
        if cancel is not None and cancel():
            return self._error(CANCELLED, 0.0)
        start = time.monotonic()
        pooled = self.config.pool_size > 0 and limits.container_key() == self.config.limits.container_key()
        retried: tuple[str, ...] = ()
        for attempt in range(2):  # one retry when the container vanished before the job started (daemon restart)
            try:
                self._prepare()
                run = self._run_pooled if pooled else self._run_oneshot
                outcome = run(snap, argv, limits, cancel)
            except (DockerUnavailable, PoolError) as exc:
                self._sweep_needed = True
                return self._error(str(exc), time.monotonic() - start)
            except SetupFailed as exc:
                self._sweep_needed = True
                if attempt == 0:
                    continue
                return self._error(f"could not start the job: {str(exc)[:200]}", time.monotonic() - start)
            except Exception as exc:  # a Docker failure mid-run: degrade, never crash the caller
                self._sweep_needed = True
                if is_connection_error(exc):
                    self._conn.invalidate()
                return self._error(describe(exc, self._conn.url), time.monotonic() - start)
            if outcome.status == "error":
                self._sweep_needed = True
                # the container's state kept the job from starting (an earlier job's leftovers still dying: a
                # preamble that cannot fork): nothing ran, that container is retired, try once in another
                if attempt == 0 and pooled and (outcome.reason or "").startswith(SETUP_FAILED):
                    retried = (f"retried in another container: {outcome.reason}",)
                    continue
            return RunResult(
                status=outcome.status,
                exit_code=outcome.exit_code,
                stdout=outcome.stdout.decode(errors="replace"),
                stderr=outcome.stderr.decode(errors="replace"),
                wall_s=round(time.monotonic() - start, 4),
                reason=outcome.reason,
                truncated=outcome.truncated,
                image=self.image,
                warm=pooled,
                warnings=(*snap.skipped, *retried),
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Remove every container this sandbox started. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._pool.close()
        self._conn.close()

    # -- internals ----------------------------------------------------------------------------------------------
    def _snapshot(self, files: Files, limits: Limits) -> Snapshot:
        cap = limits.work_mb << 20
        if isinstance(files, Snapshot):
            if files.size > cap:
                raise InputError(f"sandbox: snapshot of {files.size} bytes exceeds the work dir limit of {cap}")
            return files
        if isinstance(files, (str, os.PathLike)):
            return Snapshot.from_dir(Path(files), max_bytes=cap)
        if isinstance(files, Mapping):
            return Snapshot.from_files(files, max_bytes=cap)
        raise InputError(f"sandbox files must be a mapping, a Snapshot or a directory, got {type(files).__name__}")

    def _prepare(self) -> None:
        """Connect if needed. After a (re)connect or any sign of trouble (a vanished container, a failed removal),
        sweep: remove containers of dead processes and our own stopped ones, drop dead pool entries. This is what
        makes a daemon restart harmless even when the client never saw the connection drop."""
        api = self._conn.api()
        with self._lock:
            fresh = self._cleaned_generation != self._conn.generation
            if not (fresh or self._sweep_needed or self._pool.sweep_needed):
                return
            self._cleaned_generation = self._conn.generation
            self._sweep_needed = self._pool.sweep_needed = False
        try:
            remove_orphans(api, include_own_stopped=True)
            if not fresh:
                self._pool.drop_dead()
        except Exception as exc:
            self._sweep_needed = True
            if is_connection_error(exc):
                self._conn.invalidate(api)
                raise DockerUnavailable(describe(exc, self._conn.url)) from exc

    def _run_pooled(
        self, snap: Snapshot, argv: list[str], limits: Limits, cancel: Callable[[], bool] | None
    ) -> JobOutcome:
        worker = self._pool.acquire(self.config.acquire_timeout_s)
        reusable = False
        hide = self.config.hide_mount_table
        try:
            api = self._conn.api()
            if worker.chan is not None:
                since = time.time()
                outcome = channel.run_job(worker.chan, snap.tar, argv, limits, cancel)
                if outcome.runner_lost:
                    outcome = self._lost_runner(api, worker.cid, since, outcome)
            else:
                outcome = run_job(api, worker.cid, snap.tar, argv, limits, self.config.user, cancel, hide_mounts=hide)
            reusable = outcome.reusable
            if not reusable and (outcome.status in ("timeout", "output_limit") or outcome.reason == CANCELLED):
                # The job may still be running (the host's hard deadline, exec mode): stop it now; removal and
                # replacement happen in the background. A runner that killed the job itself keeps its container.
                _kill(api, worker.cid)
            return outcome
        except SetupFailed:
            # The container was gone before the job started: the daemon may have restarted under us.
            self._pool.drop_dead()
            raise
        finally:
            self._pool.release(worker, reusable=reusable)

    def _lost_runner(self, api: Any, cid: str, since: float, outcome: JobOutcome) -> JobOutcome:
        """A runner lost during a job is the job's failure ("crashed", or "oom" when the memory limit took it), not
        "could not check" - unless the daemon is gone or this sandbox is being closed under the job."""
        status: Fate = "error"
        why = "the sandbox was closed during the job"
        if not self._closed:
            status, why = fate(api, cid, since)
        if status == "error":
            self._sweep_needed = True
        return dataclasses.replace(outcome, status=status, reason=f"{why} ({outcome.reason})")

    def _run_oneshot(
        self, snap: Snapshot, argv: list[str], limits: Limits, cancel: Callable[[], bool] | None
    ) -> JobOutcome:
        api = self._conn.api()
        spec = ContainerSpec(self.image, limits, self.config.user, self.config.hide_mount_table)
        lifeline: socket.socket | None = None
        try:
            cid = spec.create(api, pooled=False)
            lifeline = attach(api, cid)
            spec.start(api, cid)
        except Exception as exc:
            if lifeline is not None:
                lifeline.close()
            if is_connection_error(exc):
                self._conn.invalidate()
                raise DockerUnavailable(describe(exc, self._conn.url)) from exc
            raise PoolError(_creation_reason(exc, self.image)) from exc
        try:
            return run_job(api, cid, snap.tar, argv, limits, self.config.user, cancel, hide_mounts=spec.hide_mounts)
        finally:
            remove_quietly(api, cid)  # synchronous: a one-shot container must not outlive its run
            lifeline.close()

    def _error(self, reason: str, wall: float) -> RunResult:
        return RunResult("error", None, "", "", round(wall, 4), reason=reason, image=self.image)


def _kill(api: Any, cid: str) -> None:
    with contextlib.suppress(Exception):
        api.kill(cid)


def _check_command(command: Sequence[str]) -> list[str]:
    if isinstance(command, (str, bytes)) or not isinstance(command, Sequence):
        raise InputError("sandbox command must be a list of arguments, e.g. ['python3', 'main.py'], not a string")
    argv = list(command)
    if not argv or not all(isinstance(a, str) and "\0" not in a for a in argv) or not argv[0]:
        raise InputError(f"sandbox command must be a non-empty list of strings, got {command!r}")
    return argv


def _probe(conn: DockerConn, image: str) -> SandboxHealth:
    # docker (with requests) is imported only once Docker is used: `import codeassist.sandbox` stays cheap
    import docker.errors

    try:
        api = conn.api()
    except DockerUnavailable as exc:
        return SandboxHealth(False, conn.url, image, str(exc))
    try:
        version = str(api.version().get("Version", "?"))
        daemon = f"{conn.url} (Docker {version})"
    except Exception as exc:
        conn.invalidate(api)
        return SandboxHealth(False, conn.url, image, describe(exc, conn.url))
    try:
        api.inspect_image(image)
    except docker.errors.ImageNotFound:
        hint = "codeassist sandbox build" if image.startswith(recipes.REPO_PREFIX) else f"docker pull {image}"
        return SandboxHealth(False, daemon, image, f"sandbox image {image} is missing; run: {hint}")
    except Exception as exc:
        return SandboxHealth(False, daemon, image, describe(exc, conn.url))
    return SandboxHealth(True, daemon, image, None)


def health(config: SandboxConfig | None = None, timeout_s: float = 2.0) -> SandboxHealth:
    """Fast check for `codeassist doctor`: daemon reachable, image present. Bounded by ``timeout_s``; never raises."""
    result: list[SandboxHealth] = []
    url = (config.docker_host if config else None) or daemon_url()
    image = "?"
    try:
        cfg = config_from_env(config)
        image = image_for(cfg)
        host = DockerHost(cfg.docker_host, cfg.docker_tls_dir) if cfg.docker_host else None
    except Exception as exc:
        return SandboxHealth(False, url, image, f"sandbox configuration: {exc}")

    def probe() -> None:
        conn = DockerConn(min(timeout_s, 1.0), host)
        try:
            result.append(_probe(conn, image))
        except Exception as exc:  # pragma: no cover - _probe is meant not to raise
            result.append(SandboxHealth(False, url, image, describe(exc, url)))
        finally:
            conn.close()

    worker = threading.Thread(target=probe, daemon=True, name="sandbox-health")
    worker.start()
    worker.join(timeout_s)
    if result:
        return result[0]
    return SandboxHealth(False, url, image, f"Docker daemon at {url} did not answer within {timeout_s:g}s")
