"""Verified completions that never block typing: shown at once as "checking…", settled by the tests afterwards.

Why: with ``verify = "sandbox"`` the request used to wait for the test run (p50 12.7 s per suggestion on the
real-repository suite) — unusable, so nobody turned it on. Now the completion job stops after the cheap checks
(:meth:`codeassist.completion.CompletionService.complete_pending`) and answers; this module then runs the tests of
the completed function as a worker job of its own, one per document (newest wins, and a new model-calling
completion of the document cancels it: the suggestion it checks is gone from the screen), at a priority below
completions so a keystroke never queues behind a test run it did not ask for.

When the verdict arrives, ``codeassist/status``'s ``lastCheck`` says it. A suggestion that fails its tests is
forgotten by the typed-ahead cache (so a client that asks again gets nothing there) and withdrawn with a
``codeassist/withdrawSuggestion`` notification, on which the editors hide the ghost text if it is still shown; one
that passes stays in the cache, so asking again at the same place answers at once with the verified suggestion.
A failure also starts the search for a verified replacement (``verify_alternatives``; server/alternatives.py), a
job under the same key, so a new completion of the document cancels it too.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from codeassist.api import (
    Completion,
    CompletionCheck,
    CompletionRequest,
    CompletionResult,
    CompletionService,
    is_test_failure,
)

from . import alternatives
from .shown import PRIORITY_CHECK, Shown, check_key
from .worker import JobCancelled

if TYPE_CHECKING:
    from .app import CodeassistServer

log = logging.getLogger("codeassist.server")

WITHDRAW = "codeassist/withdrawSuggestion"


def cancel(ls: CodeassistServer, uri: str) -> None:
    """A new model-calling completion (or closing the document) makes the pending check worthless."""
    ls.worker.cancel_key(check_key(uri))


def start(
    ls: CodeassistServer,
    at: Shown,
    service: CompletionService,
    request: CompletionRequest,
    result: CompletionResult,
) -> None:
    """Run the full check of a completion just shown as "checking…" at ``at`` in the background."""

    def job(cancel_check: Any) -> CompletionCheck:
        return service.finish_check(request, result, cancel_check)

    async def run() -> None:
        try:
            check: CompletionCheck = await ls.run_job(
                job, kind="completion-check", key=check_key(at.uri), priority=PRIORITY_CHECK,
                timeout_s=ls.host.job_cap_s("sandbox"),
            )  # fmt: skip
        except JobCancelled:
            return  # superseded: the suggestion it was checking is no longer the one on screen
        except Exception:  # the check's own failure must not look like a verdict on the code
            log.exception("background check failed")
            return
        n = ls.settings.verify_alternatives if is_test_failure(check) else 0
        settle(ls, at, Completion(result, check), searching=n > 0)
        if n > 0:
            alternatives.search(ls, at, service, request, result, n)

    ls.spawn(run())


def settle(ls: CodeassistServer, at: Shown, done: Completion, *, searching: bool = False) -> None:
    """Report the verdict; withdraw a suggestion that failed (``searching``: a verified replacement is being looked
    for, and ``codeassist/suggestionReady`` follows if one is found)."""
    check = done.check
    assert check is not None
    log.info("completion check (background): %s", check.verdict.display)
    ls.status.last_check = done.status_json()
    if searching and ls.status.last_check is not None:
        ls.status.last_check["alternatives"] = "searching"
    ls.status.send()
    if not check.show:
        params = {
            "textDocument": {"uri": at.uri, "version": at.version},
            "position": at.position,
            "text": done.result.text,
            "label": check.verdict.label,
            "reason": check.verdict.reason,
            "searching": searching,
        }
        ls.call_soon(lambda: ls.protocol.notify(WITHDRAW, params))
