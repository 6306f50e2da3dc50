"""Hardened container settings, creation, and cleanup of containers left behind by dead processes.

Everything a job could use to reach out is off by default: no network, read-only root, no capabilities, no new
privileges, a non-root uid, cgroup limits with no swap, and only two size-limited tmpfs mounts (/tmp and the work
dir). The host workspace is never mounted; files arrive as a tar over the exec's stdin.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .types import Limits

LABEL = "codeassist.sandbox"
LABEL_OWNER = "codeassist.sandbox.owner"
WORK_DIR = "/work"
IDLE_USER = "65533:65533"
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

    def host_config(self, api: Any) -> Any:
        lim = self.limits
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
            security_opt=["no-new-privileges"],
            pids_limit=lim.pids,
            mem_limit=f"{lim.memory_mb}m",
            memswap_limit=f"{lim.memory_mb}m",  # equal to mem_limit: no swap
            nano_cpus=int(lim.cpus * 1e9),
            ipc_mode="private",
            oom_score_adj=1000,  # under host memory pressure, jobs die first
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

    def create(self, api: Any, *, pooled: bool, command: list[str] | None = None, attach: bool = False) -> str:
        """Create and start one container running ``command`` (default: an idle ``sleep``); returns its id.

        With ``attach`` the container keeps stdin open (the runner reads jobs from it). Raises docker errors.
        """
        name = f"codeassist-sb-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        created = api.create_container(
            self.image,
            # PID 1: signals sent from inside the container's pid namespace cannot kill it.
            command=command or ["sleep", "infinity"],
            stdin_open=attach,
            # The idle `sleep` runs as a uid of its own so jobs (exec'd as self.user) can neither signal, ptrace nor
            # hijack it to outlive their run; the runner must share the job uid to clean up, and is non-dumpable.
            user=self.user if attach else IDLE_USER,
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
    import docker.errors

    try:
        api.remove_container(cid, force=True, v=True)
    except docker.errors.NotFound:
        return True
    except Exception:
        return False
    return True


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
