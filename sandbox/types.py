"""Value types of the sandbox API: limits in, results out.

They are plain frozen dataclasses so results can cross threads, be logged as JSON, and be compared in tests.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from codeassist.errors import InputError

# "crashed": the job took the sandbox down with it (its runner died during the job) - a failed check, like "oom".
# Only "error" means the code was not checked.
Status = Literal["passed", "failed", "timeout", "oom", "output_limit", "crashed", "error"]
STATUSES: tuple[Status, ...] = ("passed", "failed", "timeout", "oom", "output_limit", "crashed", "error")

# The uid:gid jobs run as. 65534 is `nobody` in Debian and most images; it owns nothing in the image.
JOB_USER = "65534:65534"


@dataclass(frozen=True)
class Limits:
    """Resource limits for one run.

    ``timeout_s``, ``output_bytes`` and ``tail_bytes`` are enforced per run: by the in-container runner (which keeps
    the output so far on a timeout), with the host killing the container a little after ``timeout_s`` if the runner
    does not answer; in exec mode by the host alone. The others are properties of the container (cgroup and tmpfs
    sizes); a run asking for values other than the pool's gets a one-off container, which costs a cold start
    (~0.3-0.9 s) but never weakens the pool.
    """

    timeout_s: float = 10.0
    memory_mb: int = 512
    cpus: float = 1.0
    pids: int = 128
    tmp_mb: int = 64
    work_mb: int = 64
    output_bytes: int = 1 << 20
    tail_bytes: int = 16 << 10

    def __post_init__(self) -> None:
        for name in ("timeout_s", "cpus"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise InputError(f"sandbox limit {name} must be a positive number, got {value!r}")
        for name in ("memory_mb", "pids", "tmp_mb", "work_mb", "output_bytes", "tail_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise InputError(f"sandbox limit {name} must be a positive integer, got {value!r}")
        if self.memory_mb < 16:
            raise InputError(f"sandbox limit memory_mb must be at least 16, got {self.memory_mb}")

    def container_key(self) -> tuple[int, float, int, int, int]:
        """The part of the limits baked into a container; runs with equal keys can share pooled containers."""
        return (self.memory_mb, self.cpus, self.pids, self.tmp_mb, self.work_mb)


@dataclass(frozen=True)
class RunResult:
    """What happened to one run. ``status == "error"`` means the code was *not* checked: label it unverified."""

    status: Status
    exit_code: int | None
    stdout: str
    stderr: str
    wall_s: float
    reason: str | None = None
    truncated: bool = False
    image: str = ""
    warm: bool = False
    # Things the caller should know that did not stop the run, e.g. files of the input folder left out of it.
    warnings: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def verified(self) -> bool:
        """False when the sandbox could not run the code at all (degraded mode)."""
        return self.status != "error"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SandboxHealth:
    """One-line state of the sandbox for `codeassist doctor` and the LSP status bar."""

    ok: bool
    daemon: str
    image: str
    reason: str | None = None


@dataclass(frozen=True)
class SandboxConfig:
    """How the sandbox finds its image and sizes its pool.

    ``image`` names a registry image (say ``python:3.12-slim``) to use instead of the offline-built recipe image;
    the recipe's command table still applies. It must contain ``sh``, ``tar`` and ``sleep`` (any Debian/Alpine base
    does).
    """

    recipe: str = "python"
    image: str | None = None
    pool_size: int = 2
    limits: Limits = field(default_factory=Limits)
    docker_timeout_s: float = 5.0
    acquire_timeout_s: float = 30.0
    user: str = JOB_USER
    # Pooled containers run the in-container runner (fast: a fork per job, not a `docker exec`). False: each job is
    # one `docker exec` (~100 ms more). Both need python3 in the image, which confines every job (confine.py); an
    # image without it gets every job refused ("could not set up the run"), never run unconfined.
    runner: bool = True
    # Each job runs under a Landlock ruleset that hides the mount table (the host's Docker data root, the container
    # id): a job's children then cannot read their own /proc/self files either (a kernel limit: sandbox/README.md).
    # False: no ruleset, for test suites whose subprocesses need /proc/self (psutil, ps); the host's paths show.
    hide_mount_table: bool = True
    # Another machine's Docker engine: tcp://host:2376 (mutual TLS from docker_tls_dir: ca.pem, cert.pem, key.pem)
    # or ssh://user@host. None = the environment's (DOCKER_HOST, else the local socket). Same hardening everywhere.
    docker_host: str | None = None
    docker_tls_dir: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.pool_size, int) or self.pool_size < 0:
            raise InputError(f"sandbox pool_size must be a non-negative integer, got {self.pool_size!r}")
        if self.docker_timeout_s <= 0 or self.acquire_timeout_s <= 0:
            raise InputError("sandbox timeouts must be positive")
        if self.image is not None and not self.image.strip():
            raise InputError("sandbox image must be a non-empty image reference when set")
