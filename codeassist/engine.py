"""The engine: document + cursor -> context -> FIM prompt -> model -> post-processing -> result.

One engine serves the LSP server and the CLI. It owns one long-lived model context (so consecutive requests reuse
the KV cache) and serialises access to it with a lock; callers pass a ``cancel`` check so that a newer request can
make an older one give up between tokens.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from codeassist.documents import language_for_path, offset_at
from codeassist.errors import ModelError
from codeassist.models.backend import CancelCheck, Generation, GenerationParams, ModelBackend, ModelInfo


@dataclass
class EngineConfig:
    """Knobs that matter for latency. Defaults are tuned for a 2-core laptop CPU; GPU users raise the budgets."""

    model: str | None = None  # tier name or GGUF path; None = the embedded default tier
    n_ctx: int = 4096
    n_threads: int | None = None
    n_gpu_layers: int = 0
    max_tokens: int = 48
    prefix_tokens: int = 768
    suffix_tokens: int = 256
    time_budget_ms: float | None = 5000.0


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
    cached: bool = False
    gate: str = "ok"  # ok | truncated | dropped | off
    raw_text: str = ""
    timings: Timings = field(default_factory=Timings)
    context: list[ContextPiece] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Prompt:
    tokens: list[int]
    pieces: list[ContextPiece]


class Engine:
    """Completion engine over one model backend. Thread-safe: model calls are serialised."""

    def __init__(self, config: EngineConfig | None = None, backend: ModelBackend | None = None) -> None:
        self.config = config or EngineConfig()
        self._backend = backend
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()

    # -- model lifecycle ----------------------------------------------------------------------------------------------

    def load(self) -> ModelInfo:
        """Load the configured model (idempotent). Raises ModelError with a user-facing reason."""
        with self._load_lock:
            if self._backend is None:
                from codeassist.models.llama_backend import LlamaBackend
                from codeassist.models.registry import resolve

                path = resolve(self.config.model)
                self._backend = LlamaBackend(
                    path, n_ctx=self.config.n_ctx, n_threads=self.config.n_threads,
                    n_gpu_layers=self.config.n_gpu_layers,
                )  # fmt: skip
            return self._backend.info

    @property
    def backend(self) -> ModelBackend:
        if self._backend is None:
            self.load()
        assert self._backend is not None
        return self._backend

    @property
    def loaded(self) -> bool:
        return self._backend is not None

    def close(self) -> None:
        with self._lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None

    # -- prompt -----------------------------------------------------------------------------------------------------

    def _window(self, text: str, offset: int) -> tuple[str, str]:
        """Prefix and suffix windows around the cursor, cut at line boundaries, sized by a chars-per-token guess
        (then trimmed by real token counts in ``_build_prompt``)."""
        prefix, suffix = text[:offset], text[offset:]
        max_prefix_chars = self.config.prefix_tokens * 4
        if len(prefix) > max_prefix_chars:
            cut = prefix.find("\n", len(prefix) - max_prefix_chars)
            prefix = prefix[cut + 1 :] if cut >= 0 else prefix[-max_prefix_chars:]
        max_suffix_chars = self.config.suffix_tokens * 4
        if len(suffix) > max_suffix_chars:
            cut = suffix.rfind("\n", 0, max_suffix_chars)
            suffix = suffix[: cut + 1] if cut >= 0 else suffix[:max_suffix_chars]
        return prefix, suffix

    def _build_prompt(self, req: CompletionRequest, offset: int) -> _Prompt:
        backend = self.backend
        fim = backend.info.fim
        if fim is None:
            raise ModelError(f"model {backend.info.name} has no fill-in-the-middle support")
        prefix, suffix = self._window(req.text, offset)
        pre = backend.tokenize(prefix)[-self.config.prefix_tokens :]
        suf = backend.tokenize(suffix)[: self.config.suffix_tokens]
        source = req.path or "<buffer>"
        tokens = [fim.prefix, *pre, fim.suffix, *suf, fim.middle]
        return _Prompt(tokens, [ContextPiece("prefix", source, len(pre)), ContextPiece("suffix", source, len(suf))])

    # -- completion -------------------------------------------------------------------------------------------------

    def complete(self, req: CompletionRequest, cancel: CancelCheck | None = None) -> CompletionResult:
        started = time.perf_counter()
        offset = offset_at(req.text, req.line, req.column, where=req.path or "document")
        req.language = req.language or language_for_path(req.path)
        with self._lock:
            t0 = time.perf_counter()
            prompt = self._build_prompt(req, offset)
            context_ms = (time.perf_counter() - t0) * 1000
            line_rest = req.text[offset:].split("\n", 1)[0]
            single_line = bool(line_rest.strip())
            params = GenerationParams(
                max_tokens=req.max_tokens or self.config.max_tokens, time_budget_ms=self.config.time_budget_ms
            )

            def keep_going(text: str) -> bool:
                if single_line:
                    return "\n" not in text
                return "\n\n" not in text.lstrip("\n")

            gen = self.backend.generate(prompt.tokens, params, on_text=keep_going, cancel=cancel)
        text = _trim(gen.text, single_line)
        return CompletionResult(
            text=text, line=req.line, column=req.column, stop_reason=gen.stop_reason, raw_text=gen.text,
            timings=_timings(gen, context_ms, started), context=prompt.pieces,
        )  # fmt: skip

    def warm(self, req: CompletionRequest, cancel: CancelCheck | None = None) -> Generation:
        """Evaluate the prompt for ``req`` without generating, so the next keystroke there is cheap."""
        offset = offset_at(req.text, req.line, req.column, where=req.path or "document")
        with self._lock:
            prompt = self._build_prompt(req, offset)
            return self.backend.evaluate(prompt.tokens, cancel=cancel)


def _trim(text: str, single_line: bool) -> str:
    if single_line:
        text = text.split("\n", 1)[0]
    else:
        cut = text.lstrip("\n").find("\n\n")
        if cut >= 0:
            text = text[: len(text) - len(text.lstrip("\n")) + cut]
    lines = [ln.rstrip() for ln in text.split("\n")]
    return "\n".join(lines).rstrip("\n") if len(lines) > 1 else lines[0]


def _timings(gen: Generation, context_ms: float, started: float) -> Timings:
    return Timings(
        prompt_tokens=gen.prompt_tokens, reused_tokens=gen.reused_tokens, evaluated_tokens=gen.evaluated_tokens,
        generated_tokens=len(gen.tokens), context_ms=context_ms, prompt_ms=gen.prompt_ms,
        generation_ms=gen.generation_ms, total_ms=(time.perf_counter() - started) * 1000,
    )  # fmt: skip
