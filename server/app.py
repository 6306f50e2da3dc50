"""The codeassist language server: thin pygls handlers over :class:`CodeassistServer`'s plain methods.

Threads: the asyncio event loop (pygls) handles every message and never runs the model; one
:class:`~codeassist.server.worker.Worker` thread owns the engine (load, completions, explain/fix, document hooks).
Handlers validate input on the loop (bad input → an LSP error at once), submit work, and await its future, so
``shutdown``, code-action lists and configuration changes are answered while a generation runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from codeassist import __version__
from codeassist import actions as engine_actions
from codeassist.documents import clamped_offset, position_at
from codeassist.engine import CompletionRequest, CompletionResult, Engine, EngineConfig
from codeassist.errors import CodeassistError, InputError

from . import items
from .config import Settings, merge, workspace_file_settings
from .convert import UTF16, Pos, lsp_line_starts, offset_of
from .documents import Document, DocumentStore, materialized, path_of
from .protocol import CodeassistProtocol
from .validate import fix_span
from .worker import PRIORITY_ACTION, PRIORITY_COMPLETION, PRIORITY_LOAD, JobCancelled, Worker

log = logging.getLogger("codeassist.server")
T = TypeVar("T")

STATUS_METHOD = "codeassist/status"
CMD_EXPLAIN = "codeassist.explain"
CMD_DEBUG_STATS = "codeassist.debugStats"
CMD_DEBUG_DOCUMENT = "codeassist.debugDocument"
MAX_FIX_LINES = 40  # a syntax ERROR node can span a whole file; a fix prompt for that would be useless and slow
MAX_FIXES = 3
DOC_QUIET_S = 0.3  # engine document hooks run once typing pauses this long (see doc_event)


class RequestFailed(JsonRpcException):
    """LSP ``RequestFailed``: the request was valid but the server could not produce a result."""

    CODE = -32803
    MESSAGE = "Request failed"


class ContentModified(JsonRpcException):
    CODE = -32801
    MESSAGE = "Content modified"


@dataclass
class ServeOptions:
    log_file: str | None = None
    log_code: bool = False
    verbose: bool = False


@dataclass
class Prepared:
    """A validated completion request: the document snapshot and cursor, in both coordinate systems."""

    doc: Document
    text: str
    cursor: int  # code-point offset
    line: int  # engine coordinates
    column: int


class CodeassistServer(LanguageServer):
    """Server state and the logic behind each handler."""

    def __init__(self, options: ServeOptions | None = None) -> None:
        super().__init__(
            "codeassist",
            __version__,
            protocol_cls=CodeassistProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.options = options or ServeOptions()
        self.docs = DocumentStore()
        self.worker = Worker()
        self.settings = Settings()
        self.engine: Engine | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.root: str | None = None
        self.state = "loading"
        self.message = "starting"
        self.model_name: str | None = None
        self.model_fallback: str | None = None  # why the embedded tier, not the default, was loaded
        self.last_latency_ms: float | None = None
        # how the last answered completion was checked: {"label", "reason", "shown"}; None before the first one
        self.last_check: dict[str, Any] | None = None
        self.sandbox_ok: bool | None = None
        self._layers: dict[str, Any] = {}
        self._startup_errors: list[str] = []
        self._load_generation = 0
        self._progress_seq = 0
        self._progress: dict[str, str | None] = {}  # token -> None (awaiting create) | end message pending | ""
        self._doc_events: list[tuple[str, str, tuple[Any, ...]]] = []
        self._doc_events_lock = threading.Lock()
        self._doc_events_posted = False
        self._doc_timer: asyncio.TimerHandle | None = None

    # -- plumbing -----------------------------------------------------------------------------------------------------

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the event loop (from any thread): pygls' writer is not thread-safe."""
        if self.loop is None or self.loop.is_closed():
            return
        if threading.current_thread() is threading.main_thread() and self._on_loop():
            fn()
        else:
            self.loop.call_soon_threadsafe(fn)

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    def send_log(self, params: types.LogMessageParams) -> None:
        if self.protocol.writer is not None:
            self.call_soon(lambda: self.window_log_message(params))

    def show(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        """``window/showMessage`` (also logged, once, at the matching level)."""
        log.log(logging.ERROR if kind == types.MessageType.Error else logging.WARNING, "%s", message)
        self.call_soon(lambda: self.window_show_message(types.ShowMessageParams(type=kind, message=message)))

    @property
    def encoding(self) -> str:
        enc = getattr(self.protocol.server_capabilities, "position_encoding", None) if self._initialized() else None
        if enc is None:
            return UTF16
        return str(getattr(enc, "value", enc))

    def _initialized(self) -> bool:
        return getattr(self.protocol, "server_capabilities", None) is not None

    def client_supports(self, dotted: str) -> bool:
        obj: Any = self.protocol.client_capabilities if self._initialized() else None
        for part in dotted.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                return False
        return bool(obj)

    async def run_job(
        self,
        fn: Callable[[Callable[[], bool]], T],
        *,
        kind: str,
        key: str | None = None,
        priority: int = PRIORITY_ACTION,
        debounce_s: float = 0.0,
    ) -> T:
        """Submit to the worker and await; a cancelled request (``$/cancelRequest``) cancels the job too."""
        job = self.worker.submit(
            fn, kind=kind, key=key, priority=priority, debounce_s=debounce_s, timeout_s=self.settings.timeout_ms / 1000
        )
        try:
            result: T = await asyncio.wrap_future(job.future)
            return result
        except asyncio.CancelledError:
            self.worker.cancel(job)
            raise

    # -- status -------------------------------------------------------------------------------------------------------

    def wants_sandbox(self) -> bool:
        return "sandbox" in (self.settings.verify, self.settings.verify_actions)

    def verification(self) -> str:
        if self.settings.verify == self.settings.verify_actions == "off":
            return "off"
        if not self.wants_sandbox():
            return "on"
        return "on" if self.sandbox_ok else "unavailable"

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "message": self.message,
            "model": self.model_name,
            "modelFallback": self.model_fallback,
            "lastLatencyMs": None if self.last_latency_ms is None else round(self.last_latency_ms, 1),
            "verification": self.verification(),
            "lastCheck": self.last_check,
        }

    def send_status(self) -> None:
        self.call_soon(lambda: self.protocol.notify(STATUS_METHOD, self.status()))

    def set_state(self, state: str, message: str) -> None:
        self.state, self.message = state, message
        self.send_status()

    # -- configuration ------------------------------------------------------------------------------------------------

    def compute_settings(self) -> tuple[Settings, list[str]]:
        """Defaults, then workspace files, then initializationOptions, then didChangeConfiguration."""
        settings = Settings()
        errors: list[str] = []
        found, file_errors = workspace_file_settings(self.root)
        errors += file_errors
        layers: list[tuple[str, Any]] = [*found]
        if "init" in self._layers:
            layers.append(("initializationOptions", self._layers["init"]))
        if "client" in self._layers:
            layers.append(("workspace/didChangeConfiguration", self._layers["client"]))
        for source, raw in layers:
            settings, errs = merge(settings, raw, source)
            errors += errs
        return settings, errors

    def apply_settings(self, new: Settings) -> None:
        old = self.settings
        self.settings = new
        if self.engine is not None and new.engine_key() != old.engine_key():
            log.info("model settings changed; reloading")
            self.start_load()
        if (new.verify, new.verify_actions, new.sandbox_image) != (old.verify, old.verify_actions, old.sandbox_image):
            self.check_sandbox()
        self.send_status()

    def check_sandbox(self) -> None:
        """Probe Docker off the loop when verify = sandbox; the status notification reports the answer."""
        if not self.wants_sandbox() or self.loop is None:
            return

        def probe() -> bool:
            try:
                from codeassist.sandbox import health
            except ImportError:
                return False
            try:
                return bool(health().ok)
            except Exception:
                return False

        def done(fut: asyncio.Future[bool]) -> None:
            self.sandbox_ok = bool(fut.result()) if not fut.cancelled() and fut.exception() is None else False
            self.send_status()

        self.loop.run_in_executor(None, probe).add_done_callback(done)

    # -- model lifecycle ----------------------------------------------------------------------------------------------

    def _engine_config(self) -> EngineConfig:
        s = self.settings
        return EngineConfig(
            model=s.model,
            n_threads=s.threads,
            n_ctx=s.n_ctx,
            max_tokens=s.max_tokens,
            time_budget_ms=float(s.timeout_ms),
            index_in_background=True,
        )

    def start_load(self) -> None:
        """(Re)load the model on the worker, reported with work-done progress and ``codeassist/status``."""
        self._load_generation += 1
        generation = self._load_generation
        old = self.engine
        self.engine = engine = Engine(self._engine_config())
        self.worker.cancel_all()
        self.set_state("loading", f"loading model {self.settings.model or 'default'}")
        token = self._begin_progress("codeassist: loading model")

        def load(cancel: Callable[[], bool]) -> str:
            if old is not None:
                old.close()
            info = engine.load()
            for doc in list(self.docs._docs.values()):
                _call_hook(engine, "document_opened", doc.path or doc.uri, doc.text, doc.language)
            return f"{info.name} ({info.load_ms:.0f} ms, {info.n_threads} threads)"

        def finished(fut: concurrent.futures.Future[str]) -> None:
            if generation != self._load_generation:
                self._end_progress(token, "superseded")
                return
            exc = fut.exception() if not fut.cancelled() else JobCancelled("cancelled")
            if exc is None:
                self.model_name = engine.backend.info.name
                self.model_fallback = fallback = engine.model_fallback
                log.info("model ready: %s", fut.result())
                self.set_state("ready", f"model ready: {fut.result()}" + (f" — {fallback}" if fallback else ""))
                if fallback:
                    self.show(f"codeassist: {fallback}", types.MessageType.Warning)
                self._end_progress(token, "model ready")
            else:
                reason = str(exc) if isinstance(exc, CodeassistError) else f"{type(exc).__name__}: {exc}"
                self.set_state("error", f"model failed to load: {reason}")
                self.show(f"codeassist: model failed to load: {reason}", types.MessageType.Error)
                self._end_progress(token, "model failed to load")

        job = self.worker.submit(load, kind="load", priority=PRIORITY_LOAD)
        job.future.add_done_callback(lambda fut: self.call_soon(lambda: finished(fut)))

    def _begin_progress(self, title: str, kind: str = "load") -> str | None:
        """Server-initiated work-done progress (only when the client supports it). ``begin`` waits for the client's
        answer to ``window/workDoneProgress/create``; an ``end`` that comes first is held until then."""
        if not self.client_supports("window.work_done_progress"):
            return None
        self._progress_seq += 1
        token = f"codeassist/{kind}/{self._progress_seq}"
        self._progress[token] = None

        def created(*_: Any) -> None:
            self.work_done_progress.begin(token, types.WorkDoneProgressBegin(title=title, cancellable=False))
            pending = self._progress.pop(token, None)
            if pending is not None:
                self.work_done_progress.end(token, types.WorkDoneProgressEnd(message=pending))
            else:
                self._progress[token] = ""  # created, still running

        self.work_done_progress.create(token, lambda *a: self.call_soon(created))
        return token

    def _report_progress(self, token: str | None, message: str) -> None:
        """A ``report`` on a running progress (dropped before the client created the token, or after its end)."""
        if token is not None and self._progress.get(token) == "":
            self.work_done_progress.report(token, types.WorkDoneProgressReport(message=message))

    def _end_progress(self, token: str | None, message: str) -> None:
        if token is None or token not in self._progress:
            return
        if self._progress[token] is None:  # not created yet: end right after begin
            self._progress[token] = message
            return
        del self._progress[token]
        self.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))

    @property
    def ready(self) -> bool:
        return self.state == "ready" and self.engine is not None and self.engine.loaded

    # -- documents ----------------------------------------------------------------------------------------------------

    def doc_event(self, hook: str, *args: Any) -> None:
        """Queue an engine document hook for the worker (ordered; consecutive changes to one file coalesce, so a
        typing burst costs one hook call). Changes wait for DOC_QUIET_S without a keystroke: the hooks re-parse and
        re-index the whole file holding the GIL (0.5 s at 5 MB), which would stall the event loop on every key;
        completions bring their own document up to date anyway."""
        with self._doc_events_lock:
            path = str(args[0])
            if hook == "document_changed" and self._doc_events and self._doc_events[-1][:2] == (hook, path):
                self._doc_events[-1] = (hook, path, args)
            else:
                self._doc_events.append((hook, path, args))
        if self._doc_timer is not None:
            self._doc_timer.cancel()
            self._doc_timer = None
        if hook == "document_changed" and self.loop is not None and self._on_loop():
            self._doc_timer = self.loop.call_later(DOC_QUIET_S, self._post_doc_events)
        else:
            self._post_doc_events()

    def _post_doc_events(self) -> None:
        self._doc_timer = None
        with self._doc_events_lock:
            if self._doc_events_posted:
                return
            self._doc_events_posted = True
        self.worker.post(self._drain_doc_events)

    def _drain_doc_events(self) -> None:
        with self._doc_events_lock:
            events, self._doc_events = self._doc_events, []
            self._doc_events_posted = False
        engine = self.engine
        if engine is None:
            return
        for hook, _path, args in events:
            _call_hook(engine, hook, *materialized(args))  # chunked texts become strings here, off the event loop

    # -- completion ---------------------------------------------------------------------------------------------------

    def prepare(self, uri: str, position: types.Position) -> Prepared:
        """Validate a request's document and position (raises InputError) and snapshot the text."""
        doc = self.docs.get(uri)
        text = doc.text
        cursor = offset_of(text, Pos(position.line, position.character), self.encoding)
        line, column = position_at(text, cursor)
        return Prepared(doc, text, cursor, line, column)

    def wants_completion(self, prep: Prepared) -> bool:
        return self.ready and self.settings.language_enabled(prep.doc.language)

    async def complete(self, prep: Prepared) -> tuple[CompletionResult, int] | None:
        """Run one completion on the worker (newest wins per document, after the debounce); None if superseded."""
        engine = self.engine
        assert engine is not None
        request = CompletionRequest(
            text=prep.text,
            line=prep.line,
            column=prep.column,
            path=prep.doc.path,
            language=prep.doc.language,
            max_tokens=self.settings.max_tokens,
        )

        def run(cancel: Callable[[], bool]) -> CompletionResult:
            return engine.complete(request, cancel=cancel)

        started = time.perf_counter()
        try:
            result = await self.run_job(
                run,
                kind="completion",
                key=prep.doc.uri,
                priority=PRIORITY_COMPLETION,
                debounce_s=self.settings.debounce_ms / 1000,
            )
        except JobCancelled:
            return None
        if self.settings.verify == "sandbox" and "\n" in result.text.strip("\n") and prep.doc.path:
            result = await self.verify_completion(prep, result)
        elif result.text:
            why = "syntax checked only" if self.settings.verify != "off" else "verification is off"
            if self.settings.verify == "sandbox":
                why = "one-line completion: syntax checked only" if prep.doc.path else "unsaved buffer: syntax only"
            self.last_check = {"label": "unverified", "reason": why, "shown": True}
        self.last_latency_ms = result.timings.total_ms or (time.perf_counter() - started) * 1000
        self.send_status()
        log.debug(
            "completion: %d chars, stop=%s, %.0f ms",
            len(result.text),
            result.stop_reason,
            self.last_latency_ms,
            extra={"code": result.text},
        )
        insert_at = clamped_offset(prep.text, result.line, result.column)
        return result, insert_at

    async def verify_completion(self, prep: Prepared, result: CompletionResult) -> CompletionResult:
        """verify = sandbox: a multi-line completion that completes a tested function is shown only if those tests
        pass in the sandbox (codeassist.verify); one that fails them is hidden. No tests, or no sandbox: shown as is
        (the status notification says verification is unavailable)."""
        from codeassist.verify import shared_verifier
        from codeassist.verify import verify_completion as check

        verifier = shared_verifier(self.settings.sandbox_image)
        text, path, root = prep.text.replace("\r\n", "\n"), prep.doc.path, self.root

        def run() -> Any:
            return check(text, result.line, result.column, result.text, path=path, root=root, mode="sandbox",
                         verifier=verifier)  # fmt: skip

        verdict = await asyncio.get_running_loop().run_in_executor(None, run)
        log.info("completion verification: %s", verdict.verdict.display)
        self.last_check = {"label": verdict.verdict.label, "reason": verdict.verdict.reason, "shown": verdict.show}
        if not verdict.show:
            result.text = ""
            result.gate = "verify_failed"
        return result

    # -- actions ------------------------------------------------------------------------------------------------------

    def require_ready(self) -> Engine:
        if not self.ready or self.engine is None:
            raise RequestFailed(f"the model is not ready ({self.state}: {self.message})")
        return self.engine

    def selection(self, uri: str, rng: types.Range) -> tuple[Document, str, int, int]:
        doc = self.docs.get(uri)
        text = doc.text
        starts = lsp_line_starts(text)
        # Lines past the end are the client's mistake; a column past the end of its line is how editors (Neovim's
        # linewise selections) say "to the end of the line", and the spec says it means the line length.
        for pos in (rng.start, rng.end):
            if pos.line >= len(starts) and not (pos.line == len(starts) and pos.character == 0):
                raise InputError(f"line {pos.line} is past the end of the document ({len(starts)} lines)")
        a = offset_of(text, Pos(rng.start.line, rng.start.character), self.encoding, strict=False, starts=starts)
        b = offset_of(text, Pos(rng.end.line, rng.end.character), self.encoding, strict=False, starts=starts)
        if b < a:
            raise InputError("range end is before its start")
        return doc, text, a, b

    async def explain(self, uri: str, rng: types.Range, show_document: bool) -> str:
        """Explain the selected lines with their context (codeassist.explainer: enclosing definition, helpers it
        calls, callers), the same engine path as ``codeassist explain``. The text streams as ``$/progress`` reports
        on a ``codeassist/explain/N`` token (the explanation so far, at most every 250 ms) when the client supports
        work-done progress; the whole Markdown is the command's result."""
        from codeassist.explainer import stream_explain

        doc, text, a, b = self.selection(uri, rng)
        if not text[a:b].strip():
            raise InputError("select some code to explain")
        engine = self.require_ready()
        max_tokens = max(32, self.settings.max_tokens * 4)
        plain = text.replace("\r\n", "\n").replace("\r", "\n")  # LSP line numbers, one break character
        first = rng.start.line
        last = rng.end.line - 1 if rng.end.character == 0 and rng.end.line > first else rng.end.line
        last = min(last, plain.count("\n"))
        name = os.path.basename(doc.path or doc.uri)
        token = self._begin_progress(f"codeassist: explaining {name}", kind="explain")
        so_far: list[str] = []
        sent = [0.0]

        def on_delta(delta: str) -> None:  # on the worker thread
            so_far.append(delta)
            now = time.monotonic()
            if token is not None and now - sent[0] >= 0.25:
                sent[0] = now
                current = "".join(so_far)
                self.call_soon(lambda: self._report_progress(token, current))

        def run(cancel: Callable[[], bool]) -> Any:
            return stream_explain(
                engine, plain, first, last, path=doc.path or name, language=doc.language, on_delta=on_delta,
                max_tokens=max_tokens, cancel=cancel,
            )  # fmt: skip

        try:
            result = await self.run_job(run, kind="explain")
        except JobCancelled:
            self._end_progress(token, "cancelled")
            raise RequestFailed("explain was cancelled") from None
        except Exception:
            self._end_progress(token, "failed")
            raise
        self._end_progress(token, "done")
        lines = f"line {first + 1}" if first == last else f"lines {first + 1}–{last + 1}"
        markdown = f"### codeassist: {name}, {lines}\n\n{result.text}\n"
        if show_document and self.client_supports("window.show_document.support"):
            self.show_markdown(markdown, doc.uri, rng)
        return markdown

    def show_markdown(self, markdown: str, uri: str, rng: types.Range) -> None:
        """Write ``markdown`` to a read-only file in the user cache and ask the client to open it."""
        import platformdirs

        folder = os.path.join(platformdirs.user_cache_dir("codeassist"), "explain")
        os.makedirs(folder, exist_ok=True)
        digest = hashlib.sha1(f"{uri}:{rng.start.line}:{rng.end.line}:{markdown}".encode()).hexdigest()[:12]
        path = os.path.join(folder, f"explain-{digest}.md")
        if os.path.exists(path):
            os.chmod(path, 0o644)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(markdown)
        os.chmod(path, 0o444)
        from pygls.uris import from_fs_path

        target = from_fs_path(path) or f"file://{path}"
        self.window_show_document(types.ShowDocumentParams(uri=target, take_focus=True))

    def problems(
        self, doc: Document, rng: types.Range, diagnostics: list[types.Diagnostic]
    ) -> list[tuple[engine_actions.Problem, types.Diagnostic | None]]:
        """Diagnostics from the request context (any source) plus our own tree-sitter syntax errors in range."""
        found: list[tuple[engine_actions.Problem, types.Diagnostic | None]] = []
        for d in diagnostics:
            p = engine_actions.Problem(d.range.start.line, d.range.end.line, d.message, d.source or "")
            found.append((p, d))
        for p in engine_actions.syntax_problems(doc.text.replace("\r\n", "\n"), doc.language):
            if p.end_line < rng.start.line or p.start_line > rng.end.line:
                continue
            if any(q.start_line <= p.start_line <= q.end_line for q, _ in found):
                continue
            found.append((p, None))
        for p, _d in found:
            if p.end_line - p.start_line >= MAX_FIX_LINES:
                p.end_line = p.start_line
        return found[:MAX_FIXES]

    def fix_actions(
        self, doc: Document, rng: types.Range, diagnostics: list[types.Diagnostic]
    ) -> list[types.CodeAction]:
        result = []
        for problem, diag in self.problems(doc, rng, diagnostics):
            result.append(
                types.CodeAction(
                    title=items.fix_title(problem, engine_actions.VERIFICATION_UNVERIFIED),
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diag] if diag is not None else None,
                    data={
                        "uri": doc.uri,
                        "version": doc.version,
                        "startLine": problem.start_line,
                        "endLine": problem.end_line,
                        "message": problem.message,
                        "source": problem.source,
                    },
                )
            )
        return result

    async def resolve_fix(self, action: types.CodeAction) -> types.CodeAction:
        data = action.data
        if not isinstance(data, dict) or not {"uri", "startLine", "endLine", "message"} <= data.keys():
            raise JsonRpcInvalidParams("codeAction/resolve: not a codeassist fix action (missing data)")
        doc = self.docs.get(str(data["uri"]))
        if data.get("version") is not None and data["version"] != doc.version:
            raise ContentModified("the document changed since the fix was offered; ask for code actions again")
        start_line, end_line = fix_span(data, len(doc.lines), MAX_FIX_LINES)  # before any model time
        engine = self.require_ready()
        text = doc.text
        problem = engine_actions.Problem(start_line, end_line, str(data["message"]), str(data.get("source", "")))
        candidate = await self.generate_fix(engine, doc, text, problem)
        if candidate is None:
            raise RequestFailed("the model proposed no change for this problem")
        if self.settings.verify_actions == "sandbox" and doc.path:
            # Verify before suggest (codeassist.verify): run the workspace tests of the edited symbol in the sandbox
            # and say in the title how the fix was checked; a fix that fails a check is not offered.
            from codeassist.verify import shared_verifier, verify_line_fix

            normalized, path = text.replace("\r\n", "\n"), doc.path
            verifier = shared_verifier(self.settings.sandbox_image)

            def check() -> Any:
                return verify_line_fix(
                    path, normalized, candidate.start_line, candidate.end_line, candidate.replacement, verifier=verifier
                )

            verdict = await asyncio.get_running_loop().run_in_executor(None, check)
            if verdict.rejected:
                raise RequestFailed(f"the proposed fix failed verification ({verdict.reason})")
            candidate.verification = verdict.display
            action.title = items.fix_title(problem, verdict.display)
        action.edit = items.fix_edit(doc.uri, text, candidate, self.encoding)
        return action

    async def generate_fix(
        self, engine: Engine, doc: Document, text: str, problem: engine_actions.Problem
    ) -> engine_actions.FixCandidate | None:
        normalized = text.replace("\r\n", "\n")
        max_tokens = max(32, self.settings.max_tokens * 3)

        def run(cancel: Callable[[], bool]) -> engine_actions.FixCandidate | None:
            with engine.model_lock:
                found = engine_actions.fix(
                    engine.backend,
                    normalized,
                    problem,
                    language=doc.language,
                    path=doc.path,
                    max_tokens=max_tokens,
                    cancel=cancel,
                )
            if found is None and cancel():  # cut by the hard time cap: not the model's "no change"
                raise TimeoutError
            return found

        try:
            candidate = await self.run_job(run, kind="fix")
        except JobCancelled:
            return None
        except TimeoutError:
            raise RequestFailed(
                f"the fix was not finished within timeout_ms = {self.settings.timeout_ms} ms (a busy machine?); "
                "try again, or raise timeout_ms"
            ) from None
        if candidate is not None:
            log.info(
                "fix candidate for lines %d-%d (%s)",
                problem.start_line + 1,
                problem.end_line + 1,
                candidate.verification,
                extra={"code": candidate.replacement},
            )
        return candidate

    # -- debug --------------------------------------------------------------------------------------------------------

    def debug_stats(self) -> dict[str, Any]:
        threads = [t.name for t in threading.enumerate()]
        return {
            "worker": self.worker.stats.to_json(),
            "workerAlive": self.worker.alive,
            "workerBusy": self.worker.busy,
            "queueDepth": self.worker.queue_depth(),
            "threads": threads,
            "threadCount": len(threads),
            "inferenceThreads": sum(1 for n in threads if n.startswith("codeassist-inference")),
            "documents": len(self.docs),
            "state": self.state,
            "settings": _settings_json(self.settings),
        }

    def shutdown_worker(self) -> None:
        self.worker.stop()
        if self.engine is not None:
            self.engine.close()


def _settings_json(s: Settings) -> dict[str, Any]:
    from dataclasses import asdict

    data = asdict(s)
    data["languages"] = list(s.languages) if s.languages is not None else None
    return data


def _call_hook(engine: Engine, name: str, *args: Any) -> None:
    """Engine document hooks are optional (they land with the context work); call them when present."""
    hook = getattr(engine, name, None)
    if hook is None:
        return
    try:
        hook(*args)
    except Exception:
        log.exception("engine hook %s failed", name)


def to_lsp_error(exc: Exception) -> Exception:
    if isinstance(exc, InputError):
        return JsonRpcInvalidParams(exc.message)
    if isinstance(exc, CodeassistError):
        return RequestFailed(exc.message)
    return exc


def path_for(uri: str) -> str:
    return path_of(uri) or uri
