"""The job's start resets every ignored signal, glibc's reserved 32 and 33 included (a CI machine's dockerd passed
signal 32 down to every job). Runs on the host: the same code the runner and exec mode run in the container."""

from __future__ import annotations

import ctypes
import os
import struct

import pytest
from codeassist.sandbox import confine  # not `sandbox`: tests/sandbox shadows it when only this folder runs
from sbhelp import SIG_IGN_OF_SHELL

NUMBER = confine.SYS_RT_SIGACTION.get(os.uname().machine)


def ignore(sig: int) -> None:
    """Ignore `sig` through the kernel (glibc's sigaction refuses 32 and 33)."""
    act = ctypes.create_string_buffer(struct.pack("=Q", confine.SIG_IGN_HANDLER), confine.KERNEL_SIGACTION)
    assert ctypes.CDLL(None, use_errno=True).syscall(NUMBER, sig, act, None, 8) == 0


def ignored_after(start: bool) -> int:
    """SigIgn of a shell exec'd by a child that ignored 32, 33, SIGPIPE and SIGUSR1 (and reset them when `start`)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            for sig in (32, 33, 13, 10):
                ignore(sig)
            if start:
                confine.reset_ignored_signals()
            os.dup2(write, 1)
            os.execvp("sh", ["sh", "-c", SIG_IGN_OF_SHELL])
        finally:
            os._exit(99)
    os.close(write)
    with os.fdopen(read) as f:
        out = f.read()
    assert os.waitpid(pid, 0)[1] == 0
    return int(out.strip(), 16)


@pytest.mark.skipif(NUMBER is None, reason="rt_sigaction's number is known for x86_64 and arm64 only")
def test_every_ignored_signal_is_reset_before_the_job_execs() -> None:
    assert ignored_after(start=False) & (1 << 31) and ignored_after(start=False) & (1 << 12)  # the setup took
    assert ignored_after(start=True) == 0
