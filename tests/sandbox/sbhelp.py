"""Helpers for the sandbox suites (a plain module, importable by name: pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from codeassist.sandbox import Limits, Sandbox, SandboxConfig

# prints the SigIgn mask of the shell that runs it: the shell's builtin `read`, so the pid read is the shell's own
SIG_IGN_OF_SHELL = 'while read -r k v; do [ "$k" != SigIgn: ] || echo "$v"; done < /proc/self/status'


@contextlib.contextmanager
def one_container(limits: Limits, *, runner: bool = True) -> Iterator[Sandbox]:
    """A warm pool of one container, so consecutive runs certainly share it (or prove it was replaced)."""
    with Sandbox(SandboxConfig(pool_size=1, limits=limits, runner=runner)) as box:
        assert box.warm().ok
        yield box
