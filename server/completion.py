"""Inline and fallback completions: an LSP position in, the completion service's answer out.

A suggestion the typed-ahead cache already holds (the user is typing the one on screen, or asks again at the same
place) is answered here on the event loop, at once: the debounce exists to spare the model a burst of keystrokes, and
a cache hit calls no model. Everything else — complete → gate → verify (:class:`codeassist.completion.
CompletionService`) — is one worker job keyed by the document and the request method, so a newer request of the same
method for the same document cancels it wherever it is: waiting out its debounce, generating, or running the tests of
the completed function in the sandbox (the run is killed) — except a generation the newer request only typed on from,
which finishes into the typed-ahead cache (:func:`complete`). The two methods have separate keys: VS Code asks for
``textDocument/inlineCompletion`` and ``textDocument/completion`` at the same keystroke, and with one key each
cancelled the other.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lsprotocol import types

from codeassist.api import (
    LABEL_CHECKING,
    MAX_CAP_SCALE,
    Completion,
    CompletionRequest,
    Engine,
    clamped_offset,
    offset_at,
    position_at,
    prose_at,
)

from . import background_check
from .convert import Pos, offset_of, position_of
from .documents import Document
from .shown import Shown
from .worker import PRIORITY_BACKGROUND, PRIORITY_COMPLETION, CancelCheck, Job, JobCancelled

if TYPE_CHECKING:
    from .app import CodeassistServer

log = logging.getLogger("codeassist.server")


INLINE = "inline"  # textDocument/inlineCompletion
ITEM = "item"  # textDocument/completion
METHODS = (INLINE, ITEM)
BACKSTOP_S = 2.0  # the worker's hard cap comes at least this long after the model's own deadline
# a running generation is spared by a newer request that only typed this many characters on from its state: why, in
# :func:`complete`
SPARE_TYPED_MAX = 64
WARM_IDLE_S = 0.4  # after a request capped in its prompt, the editor idle this long: evaluate the rest of that prompt
# a prefetch has this many times the interactive cap: nobody waits for it (any real request stops it at once), and
# under load the accepted state's prompt alone can take the whole interactive cap — then it left nothing in the cache
PREFETCH_CAP_SCALE = 4


def job_key(uri: str, method: str) -> str:
    """The worker's newest-wins key: one per document and request method."""
    return uri if method == INLINE else f"{method}:{uri}"


def cancel_document(ls: CodeassistServer, uri: str) -> None:
    """Cancel every completion job of a document (it was closed), wherever the job is."""
    for method in METHODS:
        ls.worker.cancel_key(job_key(uri, method))
    background_check.cancel(ls, uri)


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
    version: int = 0  # the document's version the request saw (a replacement is announced for it)


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
    return Prepared(doc, text, cursor, line, column, method, started, doc.version)


def request_of(ls: CodeassistServer, prep: Prepared) -> CompletionRequest:
    """The engine's request for a prepared position, with the user's settings."""
    return CompletionRequest(
        text=prep.text, line=prep.line, column=prep.column, path=prep.doc.path, language=prep.doc.language,
        max_tokens=ls.settings.max_tokens,
    )  # fmt: skip


@dataclass(frozen=True)
class Typed:
    """A completion job's document state, to tell whether a newer request only typed on from it."""

    uri: str
    text: str
    cursor: int  # code-point offset

    def extends(self, old: Typed) -> bool:
        """This state is ``old`` with at most ``SPARE_TYPED_MAX`` characters typed at its cursor, no line break:
        the generation running for ``old`` is worth finishing, its answer (in the typed-ahead cache) may be what the
        user is typing. O(document) in C (two slice compares), once per keystroke."""
        typed = self.cursor - old.cursor
        if self.uri != old.uri or not 0 <= typed <= SPARE_TYPED_MAX or len(self.text) != len(old.text) + typed:
            return False
        return (
            "\n" not in self.text[old.cursor : self.cursor]
            and self.text[self.cursor :] == old.text[old.cursor :]
            and self.text[: old.cursor] == old.text[: old.cursor]
        )


@dataclass
class Answer:
    text: str  # what to show
    insert_at: int  # code-point offset
    partial: bool = False  # cut by the time cap: what was generated by then, past the gate and the checks
    alternatives: list[str] = field(default_factory=list)  # more checked candidates at insert_at (an invoked request)


async def complete(ls: CodeassistServer, prep: Prepared, candidates: int = 1) -> Answer | None:
    """One completion: from the typed-ahead cache at once, else on the worker (newest wins per document and method,
    after the debounce). None if superseded or cancelled. ``candidates`` > 1 (an invoked request): alternatives too
    (:meth:`CompletionService.complete_candidates`), so not from the cache alone.

    The model has ``timeout_ms`` (context, prompt evaluation, generation) from when the engine takes the job, up to
    ``MAX_CAP_SCALE`` times on a machine measured slow (engine_cap.py); what it generated by then is kept, gated and
    labelled partial. A request capped while still reading its prompt has nothing to show: the status says so, and the
    rest of that prompt is evaluated in the background once the editor is idle (:func:`warm_after_cap`). The worker's
    hard cap comes ``BACKSTOP_S`` after the longest model deadline, for a job that does not stop by itself.

    A generation already running for a state this request only typed on from (:meth:`Typed.extends`) is not
    cancelled — neither by this request nor by the editor cancelling the older one at each keystroke (VS Code does):
    it finishes into the typed-ahead cache, and this request, queued behind it, answers from there when the user typed
    what it suggested (llama.vim's client keeps its one request too). Cancelling it instead meant that on a machine
    where an answer takes longer than the gap between keystrokes nothing ever finished while the user typed."""
    service, settings = ls.host.completions, ls.settings
    assert service is not None
    request = request_of(ls, prep)
    key = job_key(prep.doc.uri, prep.method)
    # verify = sandbox: answer after the cheap checks, the tests settle it in the background (background_check.py);
    # one suggestion then (complete_candidates: alternatives would be shown untested)
    background = service.policy.verify == "sandbox"
    candidates = 1 if background else candidates
    ls.debounce.observe()  # a keystroke, cache hit or not: the rhythm the debounce adapts to
    hit = service.cached(request, prep.cursor) if candidates == 1 else None
    if hit is not None:
        ls.worker.cancel_key(key)  # a job for an older keystroke here is worthless now: newest wins
        return from_cache(ls, prep, hit, key)
    cap_s = settings.timeout_ms / 1000
    job_cap_s = (ls.host.job_cap_s(service.policy.verify) + (MAX_CAP_SCALE - 1) * cap_s) * candidates
    engine, quiet_in_prose = ls.host.engine, not settings.suggest_in_comments
    if background:
        background_check.cancel(ls, prep.doc.uri)  # the suggestion it checks is being replaced

    def job(cancel: CancelCheck) -> list[Completion] | None:
        if candidates == 1 and (hit := service.cached(request, prep.cursor)) is not None:
            return [hit]  # a generation this job waited for (a spared one) left the answer in the cache
        if quiet_in_prose and engine is not None and in_prose(engine, request):
            return None
        request.time_cap_ms = settings.timeout_ms
        found = service.complete_candidates(request, candidates, cancel, pending=background)
        if found and sparing:  # its request may be gone (spared): a later typed-ahead hit reports this check
            ls.status.unreported[key] = found[0]
        return found

    state = Typed(prep.doc.uri, prep.text, prep.cursor)
    # a spared generation must leave a finished answer in the cache: under verify = sandbox its tests run only once
    # the request that asked is answered (background_check.py), so a generation outliving its request is not spared
    sparing = candidates == 1 and not background

    def spare(old: Job) -> bool:
        return sparing and isinstance(old.tag, Typed) and state.extends(old.tag)

    try:
        found: list[Completion] | None = await ls.run_job(
            job,
            kind="completion",
            key=key,
            priority=PRIORITY_COMPLETION,
            debounce_s=debounce_ms(ls, prep, spare if sparing else None) / 1000,
            timeout_s=job_cap_s + max(BACKSTOP_S, cap_s / 2),
            tag=state,
            spare=spare,
            outlive_caller=sparing,
        )
    except JobCancelled:
        return None
    if found is None:
        log.debug("completion: none in a comment or string (suggest_in_comments is off)")
        return None
    return answered(ls, prep, request, found, key)


def answered(
    ls: CodeassistServer, prep: Prepared, request: CompletionRequest, found: list[Completion], key: str
) -> Answer:
    """What the worker found, to the editor: the status (latency, cap, check), the background work it leads to (a
    warm-up after a prompt cap, the prefetch of the accepted state, the tests under verify = sandbox), the answer."""
    service = ls.host.completions
    assert service is not None
    done = found[0]
    result = done.result
    if result.cached and len(found) == 1:  # a cache hit after all (the job found it there): as on the event loop
        return from_cache(ls, prep, done, key)
    ls.status.reported(key, done)
    if done.check is not None and done.check.verdict.tiers:
        log.info("completion check: %s", done.check.verdict.display)
    # the request's latency as this server saw it (debounce, queueing, context, model, checks), not the engine's part
    latency = (time.perf_counter() - prep.started) * 1000
    if result.model_called:
        t = result.timings
        ls.status.load.record(capped=result.partial, generated_tokens=t.generated_tokens,
                              generation_ms=t.generation_ms)  # fmt: skip
        if result.capped_in_prompt:
            warm_after_cap(ls, prep.doc.uri, request)
        elif done.text and ls.settings.prefetch:  # a partial one too: its continuation is ready when typed through
            prefetch_accepted(ls, prep, clamped_offset(prep.text, result.line, result.column), done.text)
    cut = ("prompt" if result.capped_in_prompt else "generation") if result.partial else None
    ls.status.completion_answered(latency, done.status_json(), partial=result.partial and bool(done.text), capped=cut)
    if done.text and done.check is not None and done.check.verdict.label == LABEL_CHECKING:
        where = position_of(prep.text, prep.cursor, ls.encoding)
        at = Shown(prep.doc.uri, prep.version, {"line": where.line, "character": where.character})
        background_check.start(ls, at, service, request, result)
    log.debug(
        "completion: %d chars, stop=%s, %.0f ms", len(result.text), result.stop_reason, latency,
        extra={"code": result.text},
    )  # fmt: skip
    alternatives = [c.text for c in found[1:]]
    return Answer(done.text, clamped_offset(prep.text, result.line, result.column), result.partial, alternatives)


def from_cache(ls: CodeassistServer, prep: Prepared, hit: Completion, key: str) -> Answer:
    """A typed-ahead answer: the status keeps the last check — unless the hit comes from a generation whose check
    nobody reported (a spared one, :func:`complete`: before, the status of an editor whose every request was spared
    showed latencies and never a check). Reporting every hit's own check would replace an alternative search's result
    in ``lastCheck`` (the real VS Code test of a verified replacement then never saw the search end). The answer is
    the hit's text at the cursor."""
    check = ls.status.take_unreported(key, hit.text)
    ls.status.completion_answered((time.perf_counter() - prep.started) * 1000, check, cached=True)
    return Answer(hit.text, prep.cursor)


def debounce_ms(ls: CodeassistServer, prep: Prepared, spare: Callable[[Job], bool] | None = None) -> float:
    """This request's debounce: adapted to the keystroke rhythm, between the configured bounds (server/debounce.py),
    where a model call it starts would cancel one already running (the churn the adaptive wait avoids); the configured
    ``debounce_ms`` alone where nothing would be cancelled — the worker is idle or runs background work, or runs a
    generation this request spares (``spare``, :func:`complete`). Why: a generation started during a burst is not
    wasted when the user types on from it (it is spared and finishes into the typed-ahead cache), while waiting for
    a pause in the typing meant, at 120 ms per key, no generation at all until the user stopped (the open-loop
    replay in bench/RESULTS-latency.md: 55 of 66 requests of one span cancelled before they started)."""
    settings = ls.settings
    running = ls.worker.running
    if spare is not None and (running is None or running.priority >= PRIORITY_BACKGROUND or spare(running)):
        return float(settings.debounce_ms)
    start = prep.text.rfind("\n", 0, prep.cursor) + 1
    end = prep.text.find("\n", prep.cursor)
    before, after = prep.text[start : prep.cursor], prep.text[prep.cursor : end if end >= 0 else len(prep.text)]
    return ls.debounce.delay_ms(settings.debounce_ms, settings.debounce_max_ms, before=before[-1:], after=after)


def in_prose(engine: Engine, request: CompletionRequest) -> bool:
    """The cursor is in a comment or a string (on the worker: it brings the engine's parse of the document up to
    date, incrementally; the completion that may follow reuses it)."""
    doc = engine.workspace_for(request.path).document(request.path, request.text, request.language)
    return prose_at(doc, offset_at(request.text, request.line, request.column)) is not None


def warm_after_cap(ls: CodeassistServer, uri: str, request: CompletionRequest) -> None:
    """Evaluate the rest of a capped request's prompt in the background once the editor is idle, so the next request
    there starts from a warm cache. Background work: any other job cancels it at once (server/worker.py), and a newer
    warm-up of the same document replaces it. Also what ``codeassist/warm`` asks for (:func:`warm_at`)."""
    engine = ls.host.engine
    if engine is None:
        return
    warm_request = CompletionRequest(
        text=request.text, line=request.line, column=request.column, path=request.path, language=request.language,
        max_tokens=request.max_tokens,
    )  # fmt: skip

    def job(cancel: CancelCheck) -> None:
        gen = engine.warm(warm_request, cancel)
        log.debug("warm-up: %d prompt tokens evaluated (%s)", gen.evaluated_tokens, gen.stop_reason)

    ls.worker.submit(job, kind="warm", key=f"warm:{uri}", priority=PRIORITY_BACKGROUND, debounce_s=WARM_IDLE_S)


def warm_at(ls: CodeassistServer, prep: Prepared) -> None:
    """``codeassist/warm``: the editor put the cursor somewhere the user may type next (a document opened or brought
    to the front, a jump). LSP says nothing about the cursor until the first completion request, and that request
    then paid for the whole prompt — with the 1.5B tier on 2 cores more than the 5 s cap, so the first suggestion
    after opening a file was the one most often lost (bench/RESULTS-latency.md). Evaluating the prompt there while
    the user reads makes that request reuse it. Background work like :func:`warm_after_cap`: any real request
    cancels it, keeping what it evaluated."""
    warm_after_cap(ls, prep.doc.uri, request_of(ls, prep))


def prefetch_accepted(ls: CodeassistServer, prep: Prepared, at: int, shown: str) -> None:
    """llama.vim's speculative FIM: complete, in the background, the document as it will be once ``shown`` (inserted
    at ``at``) is accepted, so the request after a Tab is a typed-ahead hit, answered at once. After an answer the
    time cap cut (partial), this is how the rest of its line gets written: beyond the interactive cap, in the
    background, ready when the user has typed through (or accepted) the part shown. The result goes
    through the same checks and into the typed-ahead cache only if they pass (:class:`CompletionService`). It waits
    out the same debounce as a real request (a keystroke meanwhile means no acceptance) and is background work: any
    real request cancels it at once (server/worker.py)."""
    service = ls.host.completions
    if service is None:
        return
    text = prep.text[:at] + shown + prep.text[at:]
    line, column = position_at(text, at + len(shown))
    ahead = CompletionRequest(
        text=text, line=line, column=column, path=prep.doc.path, language=prep.doc.language,
        max_tokens=ls.settings.max_tokens,
    )  # fmt: skip
    cap_ms = ls.settings.timeout_ms * PREFETCH_CAP_SCALE

    def job(cancel: CancelCheck) -> None:
        ahead.time_cap_ms = cap_ms
        done = service.complete(ahead, cancel)
        log.debug("prefetch of the accepted state: %d chars, %s", len(done.text), done.result.stop_reason)

    ls.worker.submit(
        job, kind="prefetch", key=f"prefetch:{prep.doc.uri}", priority=PRIORITY_BACKGROUND,
        debounce_s=debounce_ms(ls, prep) / 1000,
    )  # fmt: skip
