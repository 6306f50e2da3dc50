"""``codeassist/status``: what the server tells the editor about itself (model state, last latency, verification
availability, how the last completion was checked), and the ``codeassist.debugStats`` snapshot."""

from __future__ import annotations

import threading
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .config import Settings

if TYPE_CHECKING:
    from .app import CodeassistServer

STATUS_METHOD = "codeassist/status"


def wants_sandbox(settings: Settings) -> bool:
    return "sandbox" in (settings.verify, settings.verify_actions)


class Status:
    """The state behind ``codeassist/status``; every change is sent (from any thread: it goes through the loop)."""

    def __init__(self, ls: CodeassistServer) -> None:
        self.ls = ls
        self.state = "loading"
        self.message = "starting"
        self.model_name: str | None = None
        self.last_latency_ms: float | None = None
        # how the last answered completion was checked: {"label", "reason", "shown"}; None before the first one
        self.last_check: dict[str, Any] | None = None
        self.sandbox_ok: bool | None = None

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def verification(self) -> str:
        settings = self.ls.settings
        if settings.verify == settings.verify_actions == "off":
            return "off"
        if not wants_sandbox(settings):
            return "on"
        return "on" if self.sandbox_ok else "unavailable"

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "message": self.message,
            "model": self.model_name,
            "lastLatencyMs": None if self.last_latency_ms is None else round(self.last_latency_ms, 1),
            "verification": self.verification(),
            "lastCheck": self.last_check,
            "acceptance": self.acceptance_today(),
        }

    def acceptance_today(self) -> dict[str, Any] | None:
        """Today's local acceptance counts for this workspace (None when stats are off)."""
        if not self.ls.settings.stats:
            return None
        day = self.ls.acceptance.today()
        retained = {
            label: {"chars": r["chars_accepted"], "present": r["chars_present"]}
            for label, r in (day.get("retained") or {}).items()
        }
        return {
            "shown": day["shown"], "accepted": day["accepted"], "acceptedFull": day["accepted_full"],
            "acceptedPartial": day["accepted_partial"], "dismissed": day["dismissed"],
            "charsAccepted": day["chars_accepted"], "retained": retained,
        }  # fmt: skip

    def send(self) -> None:
        self.ls.call_soon(lambda: self.ls.protocol.notify(STATUS_METHOD, self.to_json()))

    def set_state(self, state: str, message: str) -> None:
        self.state, self.message = state, message
        self.send()

    def completion_answered(self, latency_ms: float, check: dict[str, Any] | None) -> None:
        """After each answered completion: its latency and (when it had text) how it was checked."""
        self.last_latency_ms = latency_ms
        if check is not None:
            self.last_check = check
        self.send()

    def debug_stats(self) -> dict[str, Any]:
        """``codeassist.debugStats``: the worker's counters, threads, documents, settings and sandbox runs."""
        ls = self.ls
        threads = [t.name for t in threading.enumerate()]
        verifier = ls.host.verifier
        settings = asdict(ls.settings)
        settings["languages"] = list(ls.settings.languages) if ls.settings.languages is not None else None
        settings["retention_checks_s"] = list(ls.settings.retention_checks_s)
        return {
            "worker": ls.worker.stats.to_json(),
            "workerAlive": ls.worker.alive,
            "workerBusy": ls.worker.busy,
            "queueDepth": ls.worker.queue_depth(),
            "threads": threads,
            "threadCount": len(threads),
            "inferenceThreads": sum(1 for n in threads if n.startswith("codeassist-inference")),
            "documents": len(ls.docs),
            "state": self.state,
            "settings": settings,
            "sandbox": {
                "runs": verifier.sandbox_runs if verifier else 0,
                "cancelledRuns": verifier.cancelled_runs if verifier else 0,
            },
        }
