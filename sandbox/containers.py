"""Hardened container settings, creation, and cleanup of containers left behind by dead processes.

Everything a job could use to reach out is off by default: no network, read-only root, no capabilities, no new
privileges, Docker's seccomp profile without io_uring, a private cgroup namespace, a non-root uid, cgroup limits
with no swap, and only two size-limited tmpfs mounts (/tmp and the work dir). The host workspace is never mounted;
files arrive as a tar over the container's stdin.

Every container dies with the process that owns it: its PID 1 (the runner, or ``cat`` in exec mode) reads the
attached stdin, which Docker closes when the owner's attach connection closes (``StdinOnce``), however the owner
died, and the container is created with auto-remove. The owner label and ``remove_orphans`` remain for what that
cannot cover (a daemon that was down when the owner died).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from . import seccomp
from .docker_conn import describe
from .streams import as_socket
from .types import Limits

LABEL = "codeassist.sandbox"
LABEL_OWNER = "codeassist.sandbox.owner"
WORK_DIR = "/work"
IDLE_USER = "65533:65533"
# The idle PID 1 of exec-mode containers: it exits when the owner's attached stdin closes.
IDLE_COMMAND = ["cat"]
# PID 1 (runner or idle process) and each job: the runner raises every job to 1000, so a job that fills the memory
# limit is killed, not the runner; 500 still makes sandbox processes die before ordinary host processes under host
# memory pressure. (Lower values need CAP_SYS_RESOURCE, which dockerd may not have: Docker then fails to start it.)
RUNNER_OOM_SCORE_ADJ = 500
JOB_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}


def _start_time(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "0"


def owner_id(pid: int | None = None) -> str:
    """host:pid:start-time of a process, so a reused pid is not mistaken for the owner."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def owner_alive(owner: str) -> bool:
    try:
        host, pid_s, start = owner.rsplit(":", 2)
        pid = int(pid_s)
    except ValueError:
        return False
    if host != socket.gethostname():
        return True  # another machine's daemon client: not ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return start in ("0", _start_time(pid))


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    limits: Limits
    user: str
    hide_mounts: bool = True  # the jobs' Landlock ruleset (SandboxConfig.hide_mount_table)

    def host_config(self, api: Any) -> Any:
        lim = self.limits
        # docker (with requests) is imported only once Docker is used: `import codeassist.sandbox` stays cheap
        import docker.types

        return api.create_host_config(
            network_mode="none",
            read_only=True,
            tmpfs={
                "/tmp": f"rw,nosuid,nodev,exec,size={lim.tmp_mb}m,mode=1777",
                WORK_DIR: f"rw,nosuid,nodev,exec,size={lim.work_mb}m,uid={self.uid},gid={self.gid},mode=0700",
            },
            shm_size="16m",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges", seccomp.security_opt()],
            cgroupns="private",  # /proc/self/mountinfo and /proc/self/cgroup show "/", not /docker/<container id>
            pids_limit=lim.pids,
            mem_limit=f"{lim.memory_mb}m",
            memswap_limit=f"{lim.memory_mb}m",  # equal to mem_limit: no swap
            nano_cpus=int(lim.cpus * 1e9),
            ipc_mode="private",
            oom_score_adj=RUNNER_OOM_SCORE_ADJ,
            auto_remove=True,  # with StdinOnce: the container goes away when its owner does
            log_config={"type": "none"},  # the runner's answers are not kept on the host's disk
            ulimits=[
                docker.types.Ulimit(name="core", soft=0, hard=0),
                docker.types.Ulimit(name="nofile", soft=1024, hard=1024),
            ],
            privileged=False,
            init=False,
        )

    @property
    def uid(self) -> str:
        return self.user.split(":")[0]

    @property
    def gid(self) -> str:
        parts = self.user.split(":")
        return parts[1] if len(parts) > 1 else parts[0]

    def create(self, api: Any, *, pooled: bool, command: list[str] | None = None) -> str:
        """Create one container running ``command`` (the runner) or, without one, an idle PID 1 for exec mode;
        returns its id. Attach to its stdin (``attach``) before starting it: that connection is its lifeline.
        Raises docker errors.
        """
        name = f"codeassist-sb-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        created = api.create_container(
            self.image,
            command=command or IDLE_COMMAND,
            # docker-py sets StdinOnce with stdin_open on a non-detached container: stdin closes when we disconnect.
            stdin_open=True,
            # The idle PID 1 runs as a uid of its own so jobs (exec'd as self.user) can neither signal, ptrace nor
            # hijack it to outlive their run; the runner must share the job uid to clean up, and is non-dumpable.
            user=self.user if command else IDLE_USER,
            working_dir=WORK_DIR,
            environment=JOB_ENV,
            labels={LABEL: "pool" if pooled else "oneshot", LABEL_OWNER: owner_id()},
            network_disabled=True,
            host_config=self.host_config(api),
            name=name,
            stop_signal="SIGKILL",
        )
        cid: str = created["Id"]
        return cid

    def start(self, api: Any, cid: str) -> None:
        try:
            api.start(cid)
        except Exception:
            remove_quietly(api, cid)
            raise


def remove_quietly(api: Any, cid: str) -> bool:
    """Force-remove a container; False when it may still exist (daemon unreachable)."""
    # docker (with requests) is imported only once Docker is used: `import codeassist.sandbox` stays cheap
    import docker.errors

    try:
        api.remove_container(cid, force=True, v=True)
    except docker.errors.NotFound:
        return True
    except docker.errors.APIError as exc:
        if exc.status_code == 409 and "in progress" in str(exc):
            return _gone(api, cid)  # auto-remove got there first: wait for it, so removal stays synchronous
        return False
    except Exception:
        return False
    return True


def _gone(api: Any, cid: str, wait_s: float = 5.0) -> bool:
    # docker (with requests) is imported only once Docker is used: `import codeassist.sandbox` stays cheap
    import docker.errors

    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            api.inspect_container(cid)
        except docker.errors.NotFound:
            return True
        except Exception:
            return False
        time.sleep(0.05)
    return False


def attach(api: Any, cid: str) -> socket.socket:
    """The container's attached stdin/stdout/stderr as a raw socket (attach before start: no output is missed)."""
    return as_socket(api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}))


Fate = Literal["oom", "crashed", "error"]


def fate(api: Any, cid: str, since: float) -> tuple[Fate, str]:
    """Why a container's PID 1 went away during a job, as far as the daemon can tell: ``oom`` (the memory limit),
    ``crashed`` (anything else: nothing outside the job touches a busy container, so it is the job's doing), or
    ``error`` when the daemon itself is gone or the container still runs (the stream broke, not the runner)."""
    # docker (with requests) is imported only once Docker is used: `import codeassist.sandbox` stays cheap
    import docker.errors

    try:
        state = api.inspect_container(cid)["State"]
    except docker.errors.NotFound:
        state = None  # auto-removed already: the daemon's event log still knows
    except Exception as exc:
        return "error", describe(exc)
    if state is not None:
        if state.get("Running"):
            return "error", "lost the sandbox runner's output stream"
        # the daemon sets OOMKilled from an event that can trail the exit (seen on CI): the event log decides then
        if state.get("OOMKilled") or "oom" in (_events(api, cid, since) or {}):
            return "oom", "the memory limit was exceeded and the sandbox runner was killed with the job"
        return "crashed", f"the sandbox runner died during the job (exit code {state.get('ExitCode')})"
    actions = _events(api, cid, since)
    if actions is None:
        return "error", "the Docker daemon did not say what ended the sandbox runner"
    if "oom" in actions:
        return "oom", "the memory limit was exceeded and the sandbox runner was killed with the job"
    code = ((actions.get("die") or {}).get("Actor") or {}).get("Attributes", {}).get("exitCode", "?")
    return "crashed", f"the sandbox runner died during the job (exit code {code})"


def _events(api: Any, cid: str, since: float) -> dict[str, dict[str, Any]] | None:
    """The daemon's events for ``cid`` since ``since`` by action ("die", "oom"...), or None when it does not answer
    within a few seconds (docker-py streams events without a timeout, hence the thread)."""
    found: list[dict[str, dict[str, Any]]] = []

    def ask() -> None:
        # `until` a moment ahead: the OOM event can trail the container's exit
        with contextlib.suppress(Exception):  # daemon gone: no answer, which the caller reports
            events = api.events(since=since - 1.0, until=time.time() + 0.3, filters={"container": cid}, decode=True)
            found.append({(e.get("Action") or e.get("status") or ""): e for e in events})

    worker = threading.Thread(target=ask, daemon=True, name="sandbox-events")
    worker.start()
    worker.join(5.0)
    return found[0] if found else None


def remove_orphans(api: Any, *, include_own_stopped: bool = False) -> int:
    """Remove sandbox containers whose owning process is gone (a crash skipped atexit), and with
    ``include_own_stopped`` our own stopped ones (left by a daemon restart). Returns how many."""
    removed = 0
    me = owner_id()
    for c in api.containers(all=True, filters={"label": LABEL}):
        owner = (c.get("Labels") or {}).get(LABEL_OWNER, "")
        own_stopped = include_own_stopped and owner == me and c.get("State") in ("exited", "dead")
        if own_stopped or not owner_alive(owner):
            remove_quietly(api, c["Id"])
            removed += 1
    return removed


def list_sandbox_containers(api: Any) -> list[dict[str, Any]]:
    return list(api.containers(all=True, filters={"label": LABEL}))
