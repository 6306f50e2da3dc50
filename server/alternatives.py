"""A verified replacement for a suggestion its background check failed, offered with ``codeassist/suggestionReady``.

Why: the product promise is "right more often, because we check" — a withdrawn suggestion with nothing in its place
keeps the check's cost and drops its benefit. After a suggestion fails its tests (server/background_check.py), this
job draws up to ``verify_alternatives`` distinct samples and tests each
(:func:`codeassist.alternatives.find_verified_alternative`); the first that passes goes into the typed-ahead cache
for the same request, the status's ``lastCheck`` reports its verdict, and ``codeassist/suggestionReady`` tells the
editor, which re-asks at that position if the cursor and the document are where they were (a cache hit, answered at
once). It runs under the document's check key below completions' priority, so a new model-calling completion of the
document cancels it wherever it is (the sandbox run is killed) and typing never waits for it. The whole search is
bounded: ``n`` times a single check's job cap (one model call and one sandbox check each).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from codeassist.api import (
    AlternativeSearch,
    CompletionRequest,
    CompletionResult,
    CompletionService,
    find_verified_alternative,
)

from .shown import PRIORITY_CHECK, Shown, check_key
from .worker import JobCancelled

if TYPE_CHECKING:
    from .app import CodeassistServer

log = logging.getLogger("codeassist.server")

READY = "codeassist/suggestionReady"
BACKSTOP_S = 2.0  # the worker's hard cap comes this long after the search's own deadline


def search(
    ls: CodeassistServer,
    at: Shown,
    service: CompletionService,
    request: CompletionRequest,
    failed: CompletionResult,
    n: int,
) -> None:
    """Look for a verified replacement of ``failed`` (shown at ``at``, its tests failed) in the background."""
    budget_s = n * ls.host.job_cap_s("sandbox")

    def job(cancel_check: Any) -> AlternativeSearch:
        deadline = time.monotonic() + budget_s
        return find_verified_alternative(
            service, request, failed, n, cancel_check, deadline=deadline, ban=ls.settings.verify_alternatives_ban
        )

    async def run() -> None:
        try:
            found: AlternativeSearch = await ls.run_job(
                job, kind="completion-alternatives", key=check_key(at.uri), priority=PRIORITY_CHECK,
                timeout_s=budget_s + BACKSTOP_S,
            )  # fmt: skip
        except JobCancelled:
            return  # a newer completion of the document: the place this replacement was for is gone
        except Exception:  # the search's own failure must not look like a verdict on the code
            log.exception("alternative search failed")
            return
        announce(ls, at, failed, found)

    ls.spawn(run())


def announce(ls: CodeassistServer, at: Shown, failed: CompletionResult, found: AlternativeSearch) -> None:
    """Report how the search ended in ``lastCheck``; tell the editor about a verified replacement."""
    log.info("alternatives after a failed check: %s", found.to_json())
    if found.stopped == "cancelled":
        return  # as a cancelled check: nothing to report, the suggestion's place is gone
    if found.found is None:
        last = dict(ls.status.last_check or {})
        last["alternatives"] = "none"
        last["alternativesSearch"] = found.to_json()
        ls.status.last_check = last
        ls.status.send()
        return
    replacement = found.found
    check = replacement.check
    assert check is not None
    last = replacement.status_json() or {}
    last["alternatives"] = "found"
    last["alternativesSearch"] = found.to_json()
    last["replaces"] = failed.text
    ls.status.last_check = last
    ls.status.send()
    params = {
        "textDocument": {"uri": at.uri, "version": at.version},
        "position": at.position,
        "text": replacement.result.text,
        "label": check.verdict.label,
        "replaces": failed.text,
    }
    ls.call_soon(lambda: ls.protocol.notify(READY, params))
