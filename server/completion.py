"""Inline and fallback completions: an LSP position in, the completion service's answer out.

The whole of complete → gate → verify (:class:`codeassist.completion.CompletionService`) is one worker job keyed by
the document, so a newer request for the same document cancels it wherever it is: waiting out its debounce,
generating, or running the tests of the completed function in the sandbox (the run is killed).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsprotocol import types

from codeassist.api import (
    Completion,
    CompletionRequest,
    Engine,
    clamped_offset,
    offset_at,
    position_at,
    prose_at,
)

from .convert import Pos, offset_of
from .documents import Document
from .worker import PRIORITY_COMPLETION, CancelCheck, JobCancelled

if TYPE_CHECKING:
    from .app import CodeassistServer

log = logging.getLogger("codeassist.server")


@dataclass
class Prepared:
    """A validated completion request: the document snapshot and cursor, in both coordinate systems."""

    doc: Document
    text: str
    cursor: int  # code-point offset
    line: int  # engine coordinates
    column: int


def prepare(ls: CodeassistServer, uri: str, position: types.Position) -> Prepared | None:
    """Validate a request's document and position (raises InputError) and snapshot the text; None when no
    completion is wanted (the model is not ready, or the language is disabled)."""
    doc = ls.docs.get(uri)
    text = doc.text
    cursor = offset_of(text, Pos(position.line, position.character), ls.encoding)
    if not ls.host.ready or not ls.settings.language_enabled(doc.language):
        return None
    line, column = position_at(text, cursor)
    return Prepared(doc, text, cursor, line, column)


async def complete(ls: CodeassistServer, prep: Prepared) -> tuple[str, int] | None:
    """Run one completion on the worker (newest wins per document, after the debounce): the text to show and the
    code-point offset it is inserted at; None if superseded or cancelled."""
    service, settings = ls.host.completions, ls.settings
    assert service is not None
    request = CompletionRequest(
        text=prep.text, line=prep.line, column=prep.column, path=prep.doc.path, language=prep.doc.language,
        max_tokens=settings.max_tokens,
    )  # fmt: skip
    started = time.perf_counter()
    engine, quiet_in_prose = ls.host.engine, not settings.suggest_in_comments

    def job(cancel: CancelCheck) -> Completion | None:
        if quiet_in_prose and engine is not None and in_prose(engine, request):
            return None
        return service.complete(request, cancel)

    try:
        done: Completion | None = await ls.run_job(
            job,
            kind="completion",
            key=prep.doc.uri,
            priority=PRIORITY_COMPLETION,
            debounce_s=settings.debounce_ms / 1000,
            timeout_s=ls.host.job_cap_s(service.policy.verify),
        )
    except JobCancelled:
        return None
    if done is None:
        log.debug("completion: none in a comment or string (suggest_in_comments is off)")
        return None
    result = done.result
    if done.check is not None and done.check.verdict.tiers:
        log.info("completion check: %s", done.check.verdict.display)
    latency = result.timings.total_ms or (time.perf_counter() - started) * 1000
    ls.status.completion_answered(latency, done.check.to_json() if done.check is not None else None)
    log.debug(
        "completion: %d chars, stop=%s, %.0f ms", len(result.text), result.stop_reason, latency,
        extra={"code": result.text},
    )  # fmt: skip
    return done.text, clamped_offset(prep.text, result.line, result.column)


def in_prose(engine: Engine, request: CompletionRequest) -> bool:
    """The cursor is in a comment or a string (on the worker: it brings the engine's parse of the document up to
    date, incrementally; the completion that may follow reuses it)."""
    doc = engine.workspace_for(request.path).document(request.path, request.text, request.language)
    return prose_at(doc, offset_at(request.text, request.line, request.column)) is not None
