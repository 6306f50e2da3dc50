"""Helpers for the sandbox suites (a plain module, importable by name: pytest puts this folder on ``sys.path``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from codeassist.sandbox import Limits, Sandbox, SandboxConfig


@contextlib.contextmanager
def one_container(limits: Limits, *, runner: bool = True) -> Iterator[Sandbox]:
    """A warm pool of one container, so consecutive runs certainly share it (or prove it was replaced)."""
    with Sandbox(SandboxConfig(pool_size=1, limits=limits, runner=runner)) as box:
        assert box.warm().ok
        yield box
