"""Inline and fallback completions: an LSP position in, the completion service's answer out.

A suggestion the typed-ahead cache already holds (the user is typing the one on screen, or asks again at the same
place) is answered here on the event loop, at once: the debounce exists to spare the model a burst of keystrokes, and
a cache hit calls no model. Everything else — complete → gate → verify (:class:`codeassist.completion.
CompletionService`) — is one worker job keyed by the document and the request method, so a newer request of the same
method for the same document cancels it wherever it is: waiting out its debounce, generating, or running the tests of
the completed function in the sandbox (the run is killed). The two methods have separate keys: VS Code asks for
``textDocument/inlineCompletion`` and ``textDocument/completion`` at the same keystroke, and with one key each
cancelled the other.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsprotocol import types

from codeassist.api import Completion, CompletionRequest, clamped_offset, position_at

from .convert import Pos, offset_of
from .documents import Document
from .worker import PRIORITY_COMPLETION, JobCancelled

if TYPE_CHECKING:
    from .app import CodeassistServer

log = logging.getLogger("codeassist.server")


INLINE = "inline"  # textDocument/inlineCompletion
ITEM = "item"  # textDocument/completion
METHODS = (INLINE, ITEM)


def job_key(uri: str, method: str) -> str:
    """The worker's newest-wins key: one per document and request method."""
    return uri if method == INLINE else f"{method}:{uri}"


def cancel_document(ls: CodeassistServer, uri: str) -> None:
    """Cancel every completion job of a document (it was closed), wherever the job is."""
    for method in METHODS:
        ls.worker.cancel_key(job_key(uri, method))


@dataclass
class Prepared:
    """A validated completion request: the document snapshot and cursor, in both coordinate systems."""

    doc: Document
    text: str
    cursor: int  # code-point offset
    line: int  # engine coordinates
    column: int
    method: str = INLINE
    started: float = 0.0  # perf_counter when the handler got the request: the latency the user sees starts here


def prepare(ls: CodeassistServer, uri: str, position: types.Position, method: str = INLINE) -> Prepared | None:
    """Validate a request's document and position (raises InputError) and snapshot the text; None when no
    completion is wanted (the model is not ready, or the language is disabled)."""
    started = time.perf_counter()
    doc = ls.docs.get(uri)
    text = doc.text
    cursor = offset_of(text, Pos(position.line, position.character), ls.encoding)
    if not ls.host.ready or not ls.settings.language_enabled(doc.language):
        return None
    line, column = position_at(text, cursor)
    return Prepared(doc, text, cursor, line, column, method, started)


async def complete(ls: CodeassistServer, prep: Prepared) -> tuple[str, int] | None:
    """One completion: from the typed-ahead cache at once, else on the worker (newest wins per document and method,
    after the debounce). The text to show and the code-point offset it is inserted at; None if superseded or
    cancelled."""
    service, settings = ls.host.completions, ls.settings
    assert service is not None
    request = CompletionRequest(
        text=prep.text, line=prep.line, column=prep.column, path=prep.doc.path, language=prep.doc.language,
        max_tokens=settings.max_tokens,
    )  # fmt: skip
    key = job_key(prep.doc.uri, prep.method)
    hit = service.cached(request, prep.cursor)
    if hit is not None:
        ls.worker.cancel_key(key)  # a job for an older keystroke here is worthless now: newest wins
        ls.status.completion_answered((time.perf_counter() - prep.started) * 1000, None, cached=True)
        return hit.text, prep.cursor
    try:
        done: Completion = await ls.run_job(
            lambda cancel: service.complete(request, cancel),
            kind="completion",
            key=key,
            priority=PRIORITY_COMPLETION,
            debounce_s=settings.debounce_ms / 1000,
            timeout_s=ls.host.job_cap_s(service.policy.verify),
        )
    except JobCancelled:
        return None
    result = done.result
    if done.check is not None and done.check.verdict.tiers:
        log.info("completion check: %s", done.check.verdict.display)
    # the request's latency as this server saw it (debounce, queueing, context, model, checks), not the engine's part
    latency = (time.perf_counter() - prep.started) * 1000
    ls.status.completion_answered(latency, done.check.to_json() if done.check is not None else None)
    log.debug(
        "completion: %d chars, stop=%s, %.0f ms", len(result.text), result.stop_reason, latency,
        extra={"code": result.text},
    )  # fmt: skip
    return done.text, clamped_offset(prep.text, result.line, result.column)
