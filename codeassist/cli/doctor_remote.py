"""``doctor``'s checks of a remote model server: reachable, the served model, its FIM format, and how long a probe
takes. Kept apart from ``doctor_cmd`` so the local checks read as before."""

from __future__ import annotations

import time
from typing import Any

from codeassist.models.remote_config import RemoteConfig


def probe(config: RemoteConfig) -> tuple[bool, str]:
    """Connect as the engine would (health, model list, vocabulary) and describe what answered."""
    # lazy: the parser imports every subcommand's module; the HTTP client only when a server is probed
    from codeassist.models.fallback import connect

    started = time.perf_counter()
    backend = connect(config)  # RemoteError (a CodeassistError) carries the reason and a hint
    try:
        ms = (time.perf_counter() - started) * 1000
        fim = backend.info.fim
        fim_desc = f"FIM {fim.family} ({fim.source})" if fim else "no FIM tokens (completions unavailable)"
        extra = backend.status()
        slots = f", {extra['slots']} slots" if "slots" in extra else ""
        detail = f"{config.describe()}: model {backend.info.name}, {fim_desc}{slots}; probed in {ms:.0f} ms"
        return fim is not None, detail
    finally:
        backend.close()


def answered_by(status: dict[str, Any]) -> tuple[bool, str]:
    """Whether the canary was answered by the remote server (a fallback answer is a failure to report)."""
    who = status.get("answeredBy", "local")
    if status.get("backend", "local") == "local" or who == "remote":
        return True, f"answered by {who}"
    return False, f"answered by the local fallback, not the server ({status.get('reason', 'no reason recorded')})"
