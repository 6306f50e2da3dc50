"""The engine: document + cursor -> context -> FIM prompt -> model -> post-processing -> result, and the one door to
the model for every other use case (chat turns for explain and fix).

One engine serves the LSP server, the CLI and the benchmarks. It owns one long-lived model context (so
consecutive requests reuse the KV cache) and the lock that serialises access to it: every model call is a method
here that takes the lock itself, so no caller can forget it. Callers pass a ``cancel`` check so that a newer
request can make an older one give up between tokens.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from codeassist import brackets, engine_load, syntax
from codeassist.chat import ChatMessage, chat_tokens
from codeassist.confidence import confidence_of, resolve_gate, unsure
from codeassist.context.assemble import AssembledContext, ContextBudget, Workspace, assemble_context
from codeassist.context.current_file import estimate_tokens
from codeassist.context.languages import detect_indentation, language_for_path
from codeassist.context.parsing import Document, count_errors
from codeassist.documents import offset_at
from codeassist.engine_cap import RateEstimator, pending_tokens, request_deadline, with_deadline
from codeassist.engine_config import EngineConfig as EngineConfig
from codeassist.engine_types import CompletionRequest as CompletionRequest
from codeassist.engine_types import CompletionResult as CompletionResult
from codeassist.engine_types import ContextPiece as ContextPiece
from codeassist.engine_types import Timings as Timings
from codeassist.engine_types import timings_of
from codeassist.errors import ModelError
from codeassist.line_policy import decide_multiline
from codeassist.models.backend import CancelCheck, Generation, GenerationParams, ModelBackend, ModelInfo, OnText
from codeassist.models.remote_common import AnyBackend, PromptingBackend
from codeassist.postprocess import StreamFilter, make_situation
from codeassist.project import editor_project
from codeassist.prompt import BuiltPrompt, FimJob
from codeassist.static_checks import check_suggestion
from codeassist.syntax_gate import SyntaxGate
from codeassist.typed_ahead import CacheHit, TypedAheadCache

log = logging.getLogger(__name__)


@dataclass
class _Prompt:
    tokens: list[int]
    pieces: list[ContextPiece]
    context: AssembledContext | None = None
    built: BuiltPrompt | None = None
    job: FimJob | None = None


class Engine:
    """Completion engine over one model backend. Thread-safe: model calls are serialised."""

    def __init__(self, config: EngineConfig | None = None, backend: AnyBackend | None = None) -> None:
        self.config = config or EngineConfig()
        self._backend = backend
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._ws_lock = threading.Lock()
        self._workspace: Workspace | None = None
        self.gate = SyntaxGate()
        self._avoid_warned = False
        self.typed_ahead = TypedAheadCache()
        self.rates = RateEstimator()  # measured prompt/decode tok/s: scales time caps, says when the machine is slow
        # Why the loaded model is not the one asked for (the default tier is not installed), for status and doctor.
        self.model_fallback: str | None = None
        self.model_name: str | None = None  # the local model's tier name (or path), once loaded

    # -- documents (fed by the LSP server; the CLI passes whole files) ------------------------------------------------

    def workspace_for(self, path: str | None) -> Workspace:
        """The workspace (symbol index + recent files + parsed documents), created on first use."""
        with self._ws_lock:
            if self._workspace is None:
                # a file in no project is alone: no index walk of its folder (codeassist.project)
                found = (
                    editor_project(path, self.config.workspace_folders) if path and not self.config.workspace else None
                )
                root = self.config.workspace or (str(found) if found is not None else None)
                self._workspace = Workspace(
                    root, build_index=self.config.index_workspace, background=self.config.index_in_background,
                    pause=self._lock.locked,  # a background build waits while the model runs (see Workspace)
                )  # fmt: skip
            return self._workspace

    def index_info(self) -> dict[str, Any] | None:
        """The symbol index's root and size, for ``debugStats`` (None: no workspace yet, or a file in no project)."""
        with self._ws_lock:
            ws = self._workspace
        if ws is None or ws.index is None:
            return None
        stats = ws.index.stats
        return {"root": ws.root, "files": stats.files, "symbols": stats.symbols, "built": ws.index.built.is_set()}

    def document_opened(self, path: str, text: str, language: str | None = None) -> None:
        self.workspace_for(path).opened(path, text, language)

    def document_changed(self, path: str, text: str) -> None:
        self.workspace_for(path).changed(path, text)

    def document_closed(self, path: str) -> None:
        self.workspace_for(path).closed(path)

    # -- model lifecycle ----------------------------------------------------------------------------------------------

    def load(self) -> ModelInfo:
        """Load the configured model (idempotent). Raises ModelError with a user-facing reason."""
        with self._load_lock:
            if self._backend is None:
                remote = self.config.remote
                if remote is not None and remote.remote:
                    self._backend = engine_load.open_remote(self.config, self._load_local)
                else:
                    self._backend = self._load_local()
            return self._backend.info

    def _load_local(self) -> ModelBackend:
        backend, self.model_fallback, self.model_name = engine_load.load_local(self.config)
        return backend

    def backend_status(self) -> dict[str, Any]:
        """Which model answers, for ``codeassist/status`` and ``doctor``: local, or remote with its breaker state."""
        backend = self._backend
        if isinstance(backend, PromptingBackend):
            return backend.status()
        return {"backend": "local", "using": "local"} if backend is not None else {"backend": "none"}

    @property
    def backend(self) -> AnyBackend:
        """The model itself: for the engine's own use and for benchmarks of the backend alone. Services go through
        the engine's methods, which hold the model lock (``tests/test_invariants.py`` checks nothing else reaches
        for it)."""
        if self._backend is None:
            self.load()
        assert self._backend is not None
        return self._backend

    @property
    def info(self) -> ModelInfo:
        """The loaded model's facts (loads it first when needed)."""
        return self.backend.info

    @property
    def busy(self) -> bool:
        """True while a model call runs (a background index build waits meanwhile)."""
        return self._lock.locked()

    @property
    def loaded(self) -> bool:
        return self._backend is not None

    def close(self) -> None:
        with self._lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None

    # -- prompt -----------------------------------------------------------------------------------------------------

    def _budget(self) -> ContextBudget:
        budget = self.config.context
        if budget.prefix_tokens != self.config.prefix_tokens or budget.suffix_tokens != self.config.suffix_tokens:
            budget.prefix_tokens, budget.suffix_tokens = self.config.prefix_tokens, self.config.suffix_tokens
        return budget

    def context_at(self, req: CompletionRequest) -> AssembledContext:
        """The context a completion at ``req``'s cursor gets (windows, header, other files' pieces): to pin for a
        series of requests in one function (``CompletionRequest.pinned``)."""
        offset = offset_at(req.text, req.line, req.column, where=req.path or "document")
        with self._lock:
            ws = self.workspace_for(req.path)
            doc = ws.document(req.path, req.text, req.language or language_for_path(req.path))
            return assemble_context(doc, offset, index=ws.index, recent=ws.recent, budget=self._budget())

    def _build_prompt(self, req: CompletionRequest, offset: int, doc: Document | None = None) -> _Prompt:
        backend = self.backend
        fim = backend.info.fim
        if fim is None:
            raise ModelError(f"model {backend.info.name} has no fill-in-the-middle support")
        ws = self.workspace_for(req.path)
        if doc is None:
            doc = ws.document(req.path, req.text, req.language)
        ctx = assemble_context(doc, offset, index=ws.index, recent=ws.recent, budget=self._budget(), pinned=req.pinned)
        repo = os.path.basename(ws.root) if ws.root else "workspace"
        max_prompt = self.config.n_ctx - (req.max_tokens or self.config.max_tokens) - 8
        job = FimJob(ctx, self.config.prompt_order, repo, max_prompt, self.config.line_in_middle, req.path or "",
                     heal=self.config.token_healing and not isinstance(backend, PromptingBackend))  # fmt: skip
        if isinstance(backend, PromptingBackend):  # the server lays the prompt out: token counts are estimates
            pieces = [ContextPiece(p.kind, p.path, p.tokens) for p in ctx.all_pieces()]
            pieces += [ContextPiece(k, req.path or "<buffer>", estimate_tokens(t))
                       for k, t in (("prefix", ctx.prefix), ("suffix", ctx.suffix))]  # fmt: skip
            return _Prompt([], pieces, ctx, None, job)
        built = job.tokens(fim, backend.tokenize)
        pieces = [ContextPiece(p.kind, p.source, p.tokens) for p in built.parts]
        return _Prompt(built.tokens, pieces, ctx, built, job)

    # -- completion -------------------------------------------------------------------------------------------------

    def cached_suggestion(self, req: CompletionRequest, cursor: int) -> CompletionResult | None:
        """The typed-ahead cache's answer at ``cursor`` (the code-point offset of ``req.line``/``req.column``), or
        None. No model, no lock, and O(the cache's window), not O(document): a caller may answer from here at once,
        before any debounce, and send only misses to the model."""
        if not self.config.typed_ahead:
            return None
        started = time.perf_counter()
        hit = self.typed_ahead.get(req.path, *self.typed_ahead.window(req.text, cursor))
        if hit is None:
            return None
        return _from_cache(req, hit, started)

    def forget_suggestion(self, req: CompletionRequest) -> None:
        """Never offer the cached suggestion for ``req`` again (a check after the gate hid it)."""
        offset = offset_at(req.text, req.line, req.column, where=req.path or "document")
        self.typed_ahead.forget(req.path, *self.typed_ahead.window(req.text, offset))

    def remember_suggestion(self, req: CompletionRequest, text: str) -> None:
        """Put a suggestion that was shown into the typed-ahead cache (callers that check after the gate remember
        only what passed, so a cache hit never shows a suggestion whose check failed or is still running)."""
        offset = offset_at(req.text, req.line, req.column, where=req.path or "document")
        self.typed_ahead.put(req.path, req.text[:offset], req.text[offset:], text)

    def complete(
        self, req: CompletionRequest, cancel: CancelCheck | None = None, *, remember: bool = True
    ) -> CompletionResult:
        """Context, model, post-processing and the syntax gate. ``remember``: put the result in the typed-ahead cache
        (False when the caller checks it further and remembers it itself: :meth:`remember_suggestion`)."""
        started, entered = time.perf_counter(), time.monotonic()  # the cap runs from here, context building included
        offset = offset_at(req.text, req.line, req.column, where=req.path or "document")
        req.language = req.language or language_for_path(req.path)
        prefix, suffix = req.text[:offset], req.text[offset:]
        sampled = req.temperature > 0  # an alternative candidate: not the cache's suggestion, nor one for it
        if self.config.typed_ahead and not sampled:
            hit = self.typed_ahead.get(req.path, prefix, suffix)
            if hit is not None:
                return _from_cache(req, hit, started)
        with self._lock:
            t0 = time.perf_counter()
            doc = self.workspace_for(req.path).document(req.path, req.text, req.language)
            # the gate, and the checks after it, use the document's own (incremental) parse instead of parsing again
            before = count_errors(doc.tree).total if doc.tree is not None else None
            if doc.tree is not None:
                syntax.remember(req.text, doc.language, doc.tree)
            prompt = self._build_prompt(req, offset, doc)
            fim = self.backend.info.fim
            situation = make_situation(
                prefix[-brackets.REACH :], suffix[:12000], language=doc.language,
                multiline=decide_multiline(doc, offset) if req.multiline is None else req.multiline,
                indentation=detect_indentation(req.text[:200_000]),
                stop_texts=fim.stop_texts if fim else (), rest_of_line=self.config.rest_of_line,
            )  # fmt: skip
            stream = StreamFilter(situation)
            context_ms = (time.perf_counter() - t0) * 1000
            backend = self.backend
            to_evaluate = pending_tokens(getattr(backend, "cached_tokens", ()), prompt.tokens)
            deadline, cap_s = request_deadline(req, self.rates, to_evaluate, self.config.scale_time_cap, entered)
            params = GenerationParams(
                max_tokens=req.max_tokens or self.config.max_tokens, draft_tokens=self.config.draft_tokens,
                heal=prompt.built.healed if prompt.built else "", deadline=deadline, temperature=req.temperature,
                seed=req.seed, avoid=req.avoid, stop=stream.server_stops,
                # a scaled cap covers generation too: the generation budget must not cut it shorter
                time_budget_ms=self.config.time_budget_ms if cap_s is None else None,
            )  # fmt: skip
            if isinstance(backend, PromptingBackend) and prompt.job is not None:
                gen = backend.complete_fim(prompt.job, params, on_text=stream, cancel=with_deadline(cancel, deadline))
            else:
                assert not isinstance(backend, PromptingBackend)
                gen = backend.generate(prompt.tokens, params, on_text=stream, cancel=cancel)
            self.rates.record(gen)
        if req.avoid and not gen.avoid_honoured and not self._avoid_warned:
            self._avoid_warned = True  # once per engine: every alternative draw would say it again
            log.warning("this model backend cannot steer samples off failed texts: alternatives may repeat them")
        if gen.stop_reason == "cancelled" and not (cancel is not None and cancel()):
            gen.stop_reason = "time_cap"  # our deadline, not the caller: keep what was generated
        processed = stream.finish(gen.text)
        index = self.workspace_for(req.path).index
        static = check_suggestion(doc, offset, processed.text, known=index.has if index else None,
                                   checks=self.config.static_checks)  # fmt: skip
        text, gate = static.text, "off"
        if self.config.syntax_gate and text:
            checked = self.gate.check(
                req.text, offset, text, path=req.path, language=doc.language, errors_before=before
            )
            text = checked.text
            gate = {"pass": "ok", "skipped": "off"}.get(checked.action, checked.action)
        confidence = confidence_of(gen, text)
        rule = resolve_gate(self.config.confidence_gate, self.model_name) if req.confidence_gate else None
        if text and unsure(confidence, rule):
            text, gate = "", "unsure"
        if remember and self.config.typed_ahead and text and gen.stop_reason != "cancelled" and not sampled:
            self.typed_ahead.put(req.path, prefix, suffix, text)
        return CompletionResult(
            text=text, line=req.line, column=req.column, stop_reason=gen.stop_reason, raw_text=gen.text,
            gate=gate, postprocess=processed.reason, partial=gen.stop_reason in ("time_cap", "time_budget"),
            capped_in_prompt=gen.stop_reason == "time_cap" and not gen.prompt_complete,
            time_cap_ms=None if cap_s is None else round(cap_s * 1000),
            checks=list(static.actions), confidence=confidence,
            timings=timings_of(gen, context_ms, started), context=prompt.pieces,
            branched=gen.branched if gen.avoid_honoured else None,
        )  # fmt: skip

    # -- chat (explain, fix, refactor) ---------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` as user text (for sizing prompts and budgets)."""
        with self._lock:
            backend = self.backend
            if isinstance(backend, PromptingBackend):  # exact where the server tokenizes, else an estimate
                return backend.count_tokens(text)
            return len(backend.tokenize(text))

    def chat_prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """How many tokens the chat prompt for ``messages`` takes."""
        with self._lock:
            backend = self.backend
            if isinstance(backend, PromptingBackend):  # the server renders the chat template: estimate its size
                return backend.count_tokens("\n".join(m.content for m in messages)) + 32
            return len(chat_tokens(backend, messages))

    def generate_chat(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        *,
        on_text: OnText | None = None,
        cancel: CancelCheck | None = None,
    ) -> Generation:
        """One chat turn on the shared model, under the model lock so it never interleaves with a completion on the
        KV cache. The engine's ``time_budget_ms`` applies unless ``params`` sets one. Raises ModelError when the
        prompt leaves no room for ``params.max_tokens``."""
        if params.time_budget_ms is None and self.config.time_budget_ms is not None:
            params = replace(params, time_budget_ms=self.config.time_budget_ms)
        with self._lock:
            backend = self.backend
            if isinstance(backend, PromptingBackend):  # a server applies the model's chat template itself
                return backend.complete_chat(messages, params, on_text=on_text, cancel=cancel)
            prompt = chat_tokens(backend, messages)
            room = backend.info.n_ctx - params.max_tokens - 1
            if len(prompt) > room:
                raise ModelError(
                    f"the code and its context are too long for the model context ({len(prompt)} prompt tokens, "
                    f"room for {room})"
                )
            return backend.generate(prompt, params, on_text=on_text, cancel=cancel)

    def warm(self, req: CompletionRequest, cancel: CancelCheck | None = None) -> Generation:
        """Evaluate the prompt for ``req`` without generating, so the next keystroke there is cheap."""
        offset = offset_at(req.text, req.line, req.column, where=req.path or "document")
        with self._lock:
            prompt = self._build_prompt(req, offset)
            backend = self.backend
            if isinstance(backend, PromptingBackend):
                return Generation(text="", stop_reason="evaluated")  # remote servers keep their own caches
            gen = backend.evaluate(prompt.tokens, cancel=cancel)
            self.rates.record(gen)
            return gen


def _from_cache(req: CompletionRequest, hit: CacheHit, started: float) -> CompletionResult:
    """A typed-ahead hit as a completion result (no model)."""
    return CompletionResult(
        text=hit.text, line=req.line, column=req.column, stop_reason="typed_ahead", model_called=False,
        cached=True, timings=Timings(total_ms=(time.perf_counter() - started) * 1000),
    )  # fmt: skip
