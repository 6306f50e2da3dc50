"""codeassist sandbox (installed as ``codeassist.sandbox``): runs code in hardened, warm Docker containers.

It knows nothing of models. One small API::

    with Sandbox() as sb:
        result = sb.run({"test_x.py": "def test(): assert 1"}, sb.command("pytest"), Limits(timeout_s=5))
        if not result.verified: ...   # status "error": Docker unusable, label the suggestion "unverified"

and ``health()`` for `codeassist doctor`. Containers die with the process that owns them, however it ends;
``close_all()`` removes them at once (for a program's own SIGTERM handler).
"""

from .core import Sandbox, close_all, config_from_env, health, image_for
from .engines import engine_configs, hosts_from_env
from .multi import MultiSandbox, open_sandbox
from .snapshot import Snapshot
from .types import STATUSES, Limits, RunResult, SandboxConfig, SandboxHealth, Status

__all__ = [
    "STATUSES",
    "Limits",
    "MultiSandbox",
    "RunResult",
    "Sandbox",
    "SandboxConfig",
    "SandboxHealth",
    "Snapshot",
    "Status",
    "close_all",
    "config_from_env",
    "engine_configs",
    "health",
    "hosts_from_env",
    "image_for",
    "open_sandbox",
]
