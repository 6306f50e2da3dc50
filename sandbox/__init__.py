"""codeassist sandbox (installed as ``codeassist.sandbox``): runs code in hardened, warm Docker containers.

It knows nothing of models. One small API::

    with Sandbox() as sb:
        result = sb.run({"test_x.py": "def test(): assert 1"}, sb.command("pytest"), Limits(timeout_s=5))
        if not result.verified: ...   # status "error": Docker unusable, label the suggestion "unverified"

and ``health()`` for `codeassist doctor`.
"""

from .core import Sandbox, config_from_env, health, image_for
from .snapshot import Snapshot
from .types import STATUSES, Limits, RunResult, SandboxConfig, SandboxHealth, Status

__all__ = [
    "STATUSES",
    "Limits",
    "RunResult",
    "Sandbox",
    "SandboxConfig",
    "SandboxHealth",
    "Snapshot",
    "Status",
    "config_from_env",
    "health",
    "image_for",
]
