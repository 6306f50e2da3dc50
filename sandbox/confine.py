"""Hides the host's paths from a job: a Landlock ruleset (Linux >= 5.13) that lets the job read every file except the
kernel's views of the mount table (``/proc/<pid>/mounts``, ``mountinfo``, ``mountstats``, and ``/proc/mounts``,
``/etc/mtab`` that lead there).

Why: Docker cannot hide two host paths from a container's mount table — the overlay root's ``lowerdir``/``upperdir``
options and the source of its ``/etc/hostname`` bind mount, both under the daemon's data root (with the container
id). No ``docker run`` option or mask reaches every process's ``/proc/<pid>/mountinfo``, and AppArmor is not in every
kernel; Landlock is unprivileged and needs only ``no_new_privs`` (the containers run with ``no-new-privileges``).

The ruleset handles one right, reading files, and grants it beneath every top-level directory but ``/proc``, on
every ``/proc`` entry that is not a process's, and on the ``/proc/<pid>`` entries of the processes alive when the job
starts (the job itself, PID 1) but the three mount views and ``task/`` (each thread has them again). So the job still
reads its own ``status``, ``maps``, ``fd/`` …; processes born later (the job's children) cannot read their own
``/proc/self`` files (a new pid: no grant). Listing directories, writing and
executing are not Landlock's business here (the read-only root, the tmpfs mounts and seccomp govern them).

One file, standard library only, Python 3.7+: the in-container runner loads it (its source is the runner's argument)
and applies it between fork and exec; in exec mode it is the job's first program (``python3 -c SRC ARGV…``), which
applies it and execs ARGV (an image without python3 cannot, so its jobs are refused: execjob.NO_CONFINER). Where the
kernel has no Landlock (``abi_version()`` is 0), or the sandbox was told to show the mount table (SHOW_MOUNTS, for
suites whose subprocesses need their own ``/proc/self``), it makes no ruleset: the job runs with the mount table
visible (sandbox/README.md says so). Ignored signals are reset in every case.
"""

from __future__ import annotations

import ctypes
import os
import signal
import struct
import sys
from collections.abc import Callable

# x86_64 and arm64 share the numbers of syscalls added after 5.0 (one table for every architecture).
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
ACCESS_READ_FILE = 1 << 2
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38
READY = b"\x00codeassist-sandbox-ready\x00\n"  # exec mode: what the preamble prints once the job may start
# The runner's and the exec preamble's argument under SandboxConfig(hide_mount_table=False): no ruleset, so the
# job's children can read their own /proc/self (and every process the mount table); signals are reset all the same.
SHOW_MOUNTS, HIDE_MOUNTS = "show-mounts", "hide-mounts"
MOUNT_VIEWS = ("mounts", "mountinfo", "mountstats")
HIDDEN_IN_PID = (*MOUNT_VIEWS, "task")  # task/<tid>/ holds each thread's mount views again
# rt_sigaction: glibc refuses its two reserved real-time signals (32, 33), so the job's start asks the kernel itself
SYS_RT_SIGACTION = {"x86_64": 13, "aarch64": 134}
SIG_IGN_HANDLER = 1
KERNEL_SIGACTION = 32  # handler, flags, restorer, mask (8 bytes each): all zero is SIG_DFL on x86_64 and arm64


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """Landlock's ABI version, 0 when the kernel (or the seccomp profile) has none."""
    version = _libc().syscall(SYS_CREATE_RULESET, None, 0, 1)  # LANDLOCK_CREATE_RULESET_VERSION
    return max(0, int(version))


def _grant(libc: ctypes.CDLL, ruleset: int, path: str) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # gone (a racing entry) or unreadable: nothing to grant
    try:
        attr = ctypes.create_string_buffer(struct.pack("=Qi", ACCESS_READ_FILE, fd), 12)  # packed path_beneath_attr
        libc.syscall(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, attr, 0)
    finally:
        os.close(fd)


def _entries(folder: str) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return []


def _readable_paths() -> list[str]:
    """Where reading stays allowed. Symbolic links are skipped (``/proc/self``, ``/proc/mounts``, ``/proc/<pid>/root``
    and ``cwd`` lead back into a process's folder or to ``/``, which would grant everything beneath)."""
    # mq_open opens its queue through the kernel's own mount of the mqueue filesystem, not through /dev/mqueue: only
    # a rule on that filesystem's root (the same inode) reaches it
    paths: list[str] = ["/dev/mqueue"]
    for name in _entries("/"):
        path = "/" + name
        if name != "proc" and not os.path.realpath(path).startswith("/proc"):
            paths.append(path)
    for name in _entries("/proc"):
        path = "/proc/" + name
        if not name.isdigit() and not os.path.islink(path):
            paths.append(path)
    for process in [name for name in _entries("/proc") if name.isdigit()]:  # the job, PID 1, …: those alive now
        for name in _entries(f"/proc/{process}"):
            path = f"/proc/{process}/{name}"
            if name not in HIDDEN_IN_PID and not os.path.islink(path):
                paths.append(path)
    return paths


def confine() -> bool:
    """Restrict this process and its future children; True once the ruleset is in force. Never raises (it runs
    between fork and exec): a kernel without Landlock leaves the process as it was."""
    try:
        libc = _libc()
        attr = ctypes.create_string_buffer(struct.pack("=Q", ACCESS_READ_FILE), 8)  # ruleset_attr, ABI 1's size
        ruleset = libc.syscall(SYS_CREATE_RULESET, attr, 8, 0)
        if ruleset < 0:
            return False
        try:
            for path in _readable_paths():
                _grant(libc, ruleset, path)
            libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            return bool(libc.syscall(SYS_RESTRICT_SELF, ruleset, 0) == 0)
        finally:
            os.close(ruleset)
    except Exception:
        return False


def confine_or_fail() -> None:
    """The runner's preexec_fn where the kernel has Landlock: one that refuses the ruleset fails the spawn (the job is
    not run, the check is not passed) rather than run the job unconfined. Then the signals, as for every job."""
    if not confine():
        raise OSError("landlock refused the job's ruleset")
    reset_ignored_signals()


def job_start(options: list[str]) -> Callable[[], None]:
    """The runner's preexec_fn, given its arguments after this source: the ruleset and the signals, or the signals
    alone where the kernel has no Landlock or the sandbox was told to leave the mount table visible (SHOW_MOUNTS)."""
    if SHOW_MOUNTS in options or abi_version() == 0:
        return reset_ignored_signals
    return confine_or_fail


def reset_ignored_signals() -> None:
    """Give every ignored signal its default back before the job execs. An ignored signal survives exec, so the job
    would inherit whatever the chain above it ignored: Python's SIGPIPE and SIGXFSZ, and anything ignored by whoever
    started dockerd (Go keeps an inherited SIG_IGN through dockerd, containerd, runc and the runner; a CI machine's
    dockerd passed signal 32 down). A job must start as it would from a shell: ``yes | head`` ends by SIGPIPE.
    Never raises (it runs between fork and exec)."""
    number = SYS_RT_SIGACTION.get(os.uname().machine)
    if number is None:  # another architecture: the signals glibc lets us set
        for valid in signal.valid_signals():
            try:
                if signal.getsignal(valid) is signal.SIG_IGN:
                    signal.signal(valid, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
        return
    try:
        libc = _libc()
        default = ctypes.create_string_buffer(KERNEL_SIGACTION)
        for sig in range(1, 65):
            old = ctypes.create_string_buffer(KERNEL_SIGACTION)
            if libc.syscall(number, sig, None, old, 8) == 0 and struct.unpack_from("=Q", old.raw)[0] == SIG_IGN_HANDLER:
                libc.syscall(number, sig, default, None, 8)
    except Exception:
        pass


def exec_confined(argv: list[str], hide_mounts: bool = True) -> None:
    """Exec mode's entry, run by the preamble once the files are unpacked: confine this process (the job's pid: it is
    alive when the ruleset is made, so its own ``/proc/self`` stays readable), say ready, then become ``argv``
    (127/126 with the shell's message when it cannot run, as a job's own exit). The ready marker comes after the
    ruleset, so a kernel that has Landlock but refuses it is a setup failure (the job never ran: "could not set up"),
    not a job that failed. Ignored signals are reset first (``reset_ignored_signals``), so the job starts with the
    dispositions it would have had from a shell, as in the runner. ``hide_mounts`` False: no ruleset (SHOW_MOUNTS)."""
    if hide_mounts and not confine() and abi_version() > 0:
        sys.stderr.write("codeassist-sandbox: landlock refused the job's ruleset\n")
        sys.stderr.flush()
        os._exit(125)
    reset_ignored_signals()
    os.write(1, READY)
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        sys.stderr.write(f"{argv[0]}: {exc.strerror or exc}\n")
        sys.stderr.flush()
        os._exit(127 if isinstance(exc, FileNotFoundError) else 126)


if __name__ == "__main__" and len(sys.argv) > 2:  # exec mode: MODE ARGV…
    exec_confined(sys.argv[2:], hide_mounts=sys.argv[1] != SHOW_MOUNTS)
