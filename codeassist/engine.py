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
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from codeassist import syntax
from codeassist.chat import ChatMessage, chat_tokens
from codeassist.confidence import Confidence, confidence_of, unsure
from codeassist.context.assemble import AssembledContext, ContextBudget, Workspace, assemble_context
from codeassist.context.languages import detect_indentation, language_for_path
from codeassist.context.parsing import Document, count_errors
from codeassist.documents import offset_at
from codeassist.errors import ModelError
from codeassist.healing import prepare as prepare_healing
from codeassist.line_policy import decide_multiline
from codeassist.models.backend import CancelCheck, Generation, GenerationParams, ModelBackend, ModelInfo, OnText
from codeassist.postprocess import StreamFilter, make_situation
from codeassist.project import project_root
from codeassist.prompt import BuiltPrompt, build_prompt
from codeassist.static_checks import CHECKS, check_suggestion
from codeassist.syntax_gate import SyntaxGate
from codeassist.typed_ahead import TypedAheadCache

log = logging.getLogger(__name__)


@dataclass
class EngineConfig:
    """Knobs that matter for latency. Defaults are tuned for a 2-core laptop CPU; GPU users raise the budgets."""

    model: str | None = None  # tier or GGUF path; None: $CODEASSIST_MODEL, else the default tier (see resolve_model)
    n_ctx: int = 4096
    n_threads: int | None = None
    n_gpu_layers: int = 0
    max_tokens: int = 48
    prefix_tokens: int = 768
    suffix_tokens: int = 256
    time_budget_ms: float | None = 5000.0
    workspace: str | None = None  # root for the symbol index; None = the file's project root (codeassist.project)
    index_workspace: bool = True
    # build the index on a background thread (the server: the first completion need not wait for a big workspace;
    # the one-shot CLI builds it first so its one completion sees every definition)
    index_in_background: bool = False
    prompt_order: str = "psm"  # psm | spm (see bench/reuse_bench.py for the measured trade-off)
    # PSM with the cursor line's text after <|fim_middle|> (llama.vim's layout) makes a keystroke re-evaluate ~1
    # token instead of the whole suffix, but on the 0.5B model it cut HumanEval single-line exact match from 32/60 to
    # 12/60 (cursor a third into the line, same run). Quality first: off by default; worth it for larger models.
    line_in_middle: bool = False
    context: ContextBudget = field(default_factory=ContextBudget)
    syntax_gate: bool = True
    # prompt-lookup decoding: draft up to this many tokens from earlier occurrences in the prompt. Off: for the 0.5B
    # model on 2 CPU threads it is slower (bench/lookup_bench.py, 80 requests: 0.84x with 4 drafts, 0.67x with 8),
    # because checking a draft computes the 151,936-way output layer once per drafted token
    draft_tokens: int = 0
    typed_ahead: bool = True
    # Token healing (codeassist/healing.py): the partial word before the cursor is regenerated under a constraint
    # instead of being continued from an unnatural token boundary.
    token_healing: bool = True
    # Mid-line (code left of the cursor): suggest the rest of the line, more only when it opens a block or a bracket
    # the suggestion closes (codeassist/line_policy.py). False: multi-line wherever the text right of it allows.
    rest_of_line: bool = True
    # Static checks before anything is shown (codeassist/static_checks.py): invented trailing comments, self-calls
    # with the same arguments, names bound nowhere. An empty tuple turns them off.
    static_checks: tuple[str, ...] = CHECKS
    # Stay silent when unsure: (feature, threshold) from codeassist/confidence.py; a suggestion whose feature is below
    # the threshold is not shown. None = show everything (see bench/calibration/gate.json for the measured curve).
    confidence_gate: tuple[str, float] | None = None


@dataclass
class CompletionRequest:
    text: str
    line: int  # 0-based
    column: int  # 0-based, Unicode code points
    path: str | None = None
    language: str | None = None
    max_tokens: int | None = None


@dataclass
class ContextPiece:
    """One piece of context that went into the prompt, for ``--json`` and the benchmarks."""

    kind: str  # prefix | suffix | scope | imports | definition | snippet
    source: str
    tokens: int


@dataclass
class Timings:
    prompt_tokens: int = 0
    reused_tokens: int = 0
    evaluated_tokens: int = 0
    generated_tokens: int = 0
    context_ms: float = 0.0
    prompt_ms: float = 0.0
    generation_ms: float = 0.0
    total_ms: float = 0.0


@dataclass
class CompletionResult:
    text: str  # inserted at (line, column)
    line: int
    column: int
    stop_reason: str = "eot"
    model_called: bool = True
    postprocess: str | None = None  # the post-processing rule that shaped the text (scope, bracket, ...)
    cached: bool = False
    gate: str = "ok"  # ok | truncated | dropped | off | unsure (hidden by the confidence gate)
    checks: list[str] = field(default_factory=list)  # static checks that changed the suggestion (static_checks.py)
    confidence: Confidence | None = None  # log-probability features of the shown text (confidence.py)
    raw_text: str = ""
    timings: Timings = field(default_factory=Timings)
    context: list[ContextPiece] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Prompt:
    tokens: list[int]
    pieces: list[ContextPiece]
    context: AssembledContext | None = None
    built: BuiltPrompt | None = None


class Engine:
    """Completion engine over one model backend. Thread-safe: model calls are serialised."""

    def __init__(self, config: EngineConfig | None = None, backend: ModelBackend | None = None) -> None:
        self.config = config or EngineConfig()
        self._backend = backend
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._ws_lock = threading.Lock()
        self._workspace: Workspace | None = None
        self.gate = SyntaxGate()
        self.typed_ahead = TypedAheadCache()
        # Why the loaded model is not the one asked for (the default tier is not installed), for status and doctor.
        self.model_fallback: str | None = None

    # -- documents (fed by the LSP server; the CLI passes whole files) ------------------------------------------------

    def workspace_for(self, path: str | None) -> Workspace:
        """The workspace (symbol index + recent files + parsed documents), created on first use."""
        with self._ws_lock:
            if self._workspace is None:
                # a file in no project is alone: no index walk of its folder (codeassist.project)
                found = project_root(path) if path and not self.config.workspace else None
                root = self.config.workspace or (str(found) if found is not None else None)
                self._workspace = Workspace(
                    root, build_index=self.config.index_workspace, background=self.config.index_in_background,
                    pause=self._lock.locked,  # a background build waits while the model runs (see Workspace)
                )  # fmt: skip
            return self._workspace

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
                # llama_cpp's native library (~0.3 s) is loaded only with a model; tests may pass their own backend
                from codeassist.models.llama_backend import LlamaBackend
                from codeassist.models.registry import resolve_model

                resolved = resolve_model(self.config.model)
                if resolved.fallback:
                    log.warning("%s", resolved.fallback)
                self.model_fallback = resolved.fallback
                path = resolved.path
                self._backend = LlamaBackend(
                    path, n_ctx=self.config.n_ctx, n_threads=self.config.n_threads,
                    n_gpu_layers=self.config.n_gpu_layers,
                )  # fmt: skip
                if self.config.token_healing:
                    prepare_healing(self._backend)
            return self._backend.info

    @property
    def backend(self) -> ModelBackend:
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

    def _build_prompt(self, req: CompletionRequest, offset: int, doc: Document | None = None) -> _Prompt:
        backend = self.backend
        fim = backend.info.fim
        if fim is None:
            raise ModelError(f"model {backend.info.name} has no fill-in-the-middle support")
        ws = self.workspace_for(req.path)
        if doc is None:
            doc = ws.document(req.path, req.text, req.language)
        budget = self.config.context
        if budget.prefix_tokens != self.config.prefix_tokens or budget.suffix_tokens != self.config.suffix_tokens:
            budget.prefix_tokens, budget.suffix_tokens = self.config.prefix_tokens, self.config.suffix_tokens
        ctx = assemble_context(doc, offset, index=ws.index, recent=ws.recent, budget=budget)
        repo = os.path.basename(ws.root) if ws.root else "workspace"
        max_prompt = self.config.n_ctx - (req.max_tokens or self.config.max_tokens) - 8
        built = build_prompt(ctx, fim, backend.tokenize, order=self.config.prompt_order, repo_name=repo,
                             max_prompt_tokens=max_prompt, line_in_middle=self.config.line_in_middle,
                             heal=self.config.token_healing)  # fmt: skip
        pieces = [ContextPiece(p.kind, p.source, p.tokens) for p in built.parts]
        return _Prompt(built.tokens, pieces, ctx, built)

    # -- completion -------------------------------------------------------------------------------------------------

    def complete(self, req: CompletionRequest, cancel: CancelCheck | None = None) -> CompletionResult:
        started = time.perf_counter()
        offset = offset_at(req.text, req.line, req.column, where=req.path or "document")
        req.language = req.language or language_for_path(req.path)
        prefix, suffix = req.text[:offset], req.text[offset:]
        if self.config.typed_ahead:
            hit = self.typed_ahead.get(req.path, prefix, suffix)
            if hit is not None:
                return CompletionResult(
                    text=hit.text, line=req.line, column=req.column, stop_reason="typed_ahead", model_called=False,
                    cached=True, timings=Timings(total_ms=(time.perf_counter() - started) * 1000),
                )  # fmt: skip
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
                prefix[-12000:], suffix[:12000], language=doc.language, multiline=decide_multiline(doc, offset),
                indentation=detect_indentation(req.text[:200_000]), stop_texts=fim.stop_texts if fim else (),
                rest_of_line=self.config.rest_of_line,
            )  # fmt: skip
            stream = StreamFilter(situation)
            context_ms = (time.perf_counter() - t0) * 1000
            params = GenerationParams(
                max_tokens=req.max_tokens or self.config.max_tokens, time_budget_ms=self.config.time_budget_ms,
                draft_tokens=self.config.draft_tokens, heal=prompt.built.healed if prompt.built else "",
            )  # fmt: skip
            gen = self.backend.generate(prompt.tokens, params, on_text=stream, cancel=cancel)
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
        if text and unsure(confidence, self.config.confidence_gate):
            text, gate = "", "unsure"
        if self.config.typed_ahead and text and gen.stop_reason != "cancelled":
            self.typed_ahead.put(req.path, prefix, suffix, text)
        return CompletionResult(
            text=text, line=req.line, column=req.column, stop_reason=gen.stop_reason, raw_text=gen.text,
            gate=gate, postprocess=processed.reason, checks=list(static.actions), confidence=confidence,
            timings=_timings(gen, context_ms, started), context=prompt.pieces,
        )  # fmt: skip

    # -- chat (explain, fix, refactor) ---------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` as user text (for sizing prompts and budgets)."""
        with self._lock:
            return len(self.backend.tokenize(text))

    def chat_prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """How many tokens the chat prompt for ``messages`` takes."""
        with self._lock:
            return len(chat_tokens(self.backend, messages))

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
            return self.backend.evaluate(prompt.tokens, cancel=cancel)


def _timings(gen: Generation, context_ms: float, started: float) -> Timings:
    return Timings(
        prompt_tokens=gen.prompt_tokens, reused_tokens=gen.reused_tokens, evaluated_tokens=gen.evaluated_tokens,
        generated_tokens=len(gen.tokens), context_ms=context_ms, prompt_ms=gen.prompt_ms,
        generation_ms=gen.generation_ms, total_ms=(time.perf_counter() - started) * 1000,
    )  # fmt: skip
