"""What the remote backends share: the prompting interface the engine calls, OpenAI-style chat streaming, and the
bookkeeping that turns a streamed answer into a :class:`Generation`.

Why a second interface next to ``ModelBackend``: a server that tokenizes for itself takes *text* (or llama-server's
``/infill`` fields), not our token ids, so the engine hands such a backend the prompt material (:class:`FimJob`) and
chat messages, and the backend lays them out for its server. Token-level methods remain for what needs them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from codeassist.models.backend import CancelCheck, Generation, GenerationParams, ModelBackend, ModelInfo, OnText
from codeassist.models.http import BAD_RESPONSE, MODEL, UNREACHABLE, HttpClient, RemoteError
from codeassist.prompt import FimJob

CHAT_MAX_S = 600.0  # an explanation that is still streaming after 10 minutes has gone wrong


class ChatTurn(Protocol):
    role: str
    content: str


@runtime_checkable
class PromptingBackend(Protocol):
    """A backend that builds prompts from :class:`FimJob` / chat messages (remote servers, and the fallback router
    around them). Same threading rule as ``ModelBackend``: the engine serialises calls."""

    info: ModelInfo

    def complete_fim(
        self, job: FimJob, params: GenerationParams, *, on_text: OnText | None = None, cancel: CancelCheck | None = None
    ) -> Generation: ...

    def complete_chat(
        self,
        messages: Sequence[ChatTurn],
        params: GenerationParams,
        *,
        on_text: OnText | None = None,
        cancel: CancelCheck | None = None,
    ) -> Generation: ...

    def count_tokens(self, text: str) -> int:
        """Exact where the server can tokenize, else an estimate: for budgets only."""
        ...

    def status(self) -> dict[str, Any]:
        """For ``codeassist/status`` and ``doctor``: which backend answers, and why."""
        ...

    def close(self) -> None: ...


AnyBackend = ModelBackend | PromptingBackend


@dataclass
class StreamState:
    """Accumulates one streamed answer; ``feed`` applies our stops and the caller's ``on_text``."""

    on_text: OnText | None
    stop_ids: frozenset[int] = frozenset()
    stop_texts: tuple[str, ...] = ()
    gen: Generation = field(default_factory=lambda: Generation(text=""))
    started: float = field(default_factory=time.perf_counter)
    first_at: float | None = None
    final: dict[str, Any] = field(default_factory=dict)

    def feed(self, piece: str, tokens: Sequence[int] = ()) -> bool:
        """Add a piece of generated text; False to stop (a stop token or marker text, or ``on_text`` said so)."""
        if self.first_at is None:
            self.first_at = time.perf_counter()
        if any(t in self.stop_ids for t in tokens):
            self.gen.stop_reason = "eot"
            return False
        if not piece:
            return True
        text = self.gen.text + piece
        cut = min((i for i in (text.find(s) for s in self.stop_texts if s) if i >= 0), default=-1)
        if cut >= 0:  # a server that renders special tokens as text: never let a marker into the suggestion
            self.gen.text = text[:cut]
            self.gen.stop_reason = "eot"
            return False
        self.gen.text = text
        self.gen.tokens.extend(int(t) for t in tokens)
        if self.on_text is not None and not self.on_text(text):
            self.gen.stop_reason = "callback"
            return False
        return True

    def finish(self, outcome: str, n_predict: int, final_seen: bool = True) -> Generation:
        """Set stop reason and timings: the server's own (when it sent them) or what we measured. A stream that
        just ended ("eof") without its final event (``final_seen``) was cut: that is a failure, not an answer."""
        gen = self.gen
        now = time.perf_counter()
        if outcome == "eof" and not final_seen and gen.stop_reason != "callback":
            raise RemoteError(UNREACHABLE, "the answer stream ended before its final event (connection cut?)")
        if outcome == "cancelled":
            gen.stop_reason = "cancelled"
        elif outcome in ("done", "eof"):
            gen.stop_reason = _stop_reason(self.final, n_predict, len(gen.tokens))
        timings = self.final.get("timings") if isinstance(self.final.get("timings"), dict) else None
        usage = self.final.get("usage") if isinstance(self.final.get("usage"), dict) else None
        if timings:  # llama-server: prompt_n evaluated + cache_n reused
            gen.evaluated_tokens = int(timings.get("prompt_n", 0))
            gen.reused_tokens = int(timings.get("cache_n", 0))
            gen.prompt_tokens = gen.evaluated_tokens + gen.reused_tokens
            gen.prompt_ms = float(timings.get("prompt_ms", 0.0))
            gen.generation_ms = float(timings.get("predicted_ms", 0.0))
        else:
            if usage:
                gen.prompt_tokens = gen.evaluated_tokens = int(usage.get("prompt_tokens", 0))
            first = self.first_at or now
            gen.prompt_ms = (first - self.started) * 1000
            gen.generation_ms = (now - first) * 1000
        return gen


def stream_finished(final: dict[str, Any]) -> bool:
    """Whether an OpenAI-style stream's last event carried its finish_reason."""
    choices = final.get("choices")
    first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    return bool(first.get("finish_reason"))


def _stop_reason(final: dict[str, Any], n_predict: int, n_tokens: int) -> str:
    stop_type = final.get("stop_type")  # llama-server
    if stop_type in ("eos", "word"):
        return "eot"
    if stop_type == "limit":
        predicted = int(final.get("tokens_predicted", n_tokens) or n_tokens)
        return "max_tokens" if predicted >= n_predict else "time_budget"
    choices = final.get("choices")
    reason = choices[0].get("finish_reason") if isinstance(choices, list) and choices else None
    if reason == "length":
        return "max_tokens"
    return "eot"


def sampling(params: GenerationParams) -> dict[str, Any]:
    """OpenAI-style sampling fields for ``params`` (greedy = temperature 0)."""
    body: dict[str, Any] = {"max_tokens": params.max_tokens, "temperature": max(0.0, params.temperature)}
    if params.temperature > 0:
        body.update(top_p=params.top_p, seed=params.seed)
    return body


def chat_stream(
    client: HttpClient,
    model: str | None,
    messages: Sequence[ChatTurn],
    params: GenerationParams,
    *,
    on_text: OnText | None,
    cancel: CancelCheck | None,
    idle_timeout: float,
    stop_texts: tuple[str, ...] = (),
) -> Generation:
    """``/v1/chat/completions`` streamed (the server applies the model's chat template). An answer may take long
    (explanations run to hundreds of tokens), so the limit is on silence: ``idle_timeout`` without a token fails it;
    a ``time_budget_ms`` in ``params`` caps the whole answer."""
    body: dict[str, Any] = {"messages": [{"role": m.role, "content": m.content} for m in messages], "stream": True,
                            **sampling(params)}  # fmt: skip
    if model:
        body["model"] = model
    state = StreamState(on_text, stop_texts=stop_texts)

    def on_event(event: dict[str, Any]) -> bool:
        choices = event.get("choices")
        if not isinstance(choices, list):
            raise RemoteError(BAD_RESPONSE, f"chat stream event without choices: {str(event)[:200]}")
        if choices and isinstance(choices[0], dict) and choices[0].get("finish_reason"):
            state.final = event
        delta = choices[0].get("delta", {}) if choices and isinstance(choices[0], dict) else {}
        piece = delta.get("content") if isinstance(delta, dict) else None
        if "timings" in event or "usage" in event:
            state.final = {**state.final, **{k: event[k] for k in ("timings", "usage") if k in event}}
        return state.feed(piece if isinstance(piece, str) else "")

    total = (params.time_budget_ms / 1000 + idle_timeout) if params.time_budget_ms else CHAT_MAX_S
    outcome = client.stream("/v1/chat/completions", body, on_event, cancel=cancel, timeout=total,
                            idle_timeout=idle_timeout)  # fmt: skip
    return state.finish(outcome, params.max_tokens, final_seen=stream_finished(state.final))


def served_models(client: HttpClient, timeout: float) -> list[str]:
    """Model ids (and llama-server aliases) from ``/v1/models``, retried: idempotent."""
    data = client.json("GET", "/v1/models", timeout=timeout, retries=3)
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise RemoteError(BAD_RESPONSE, f"{client.endpoint.url}/v1/models did not list models: {str(data)[:200]}")
    names: list[str] = []
    for item in items:
        if isinstance(item, dict):
            names += [str(item["id"])] if "id" in item else []
            names += [str(a) for a in item.get("aliases", []) or [] if isinstance(a, str)]
    return list(dict.fromkeys(names))  # llama-server lists its model path as id and again as an alias


def check_model(wanted: str | None, served: list[str], url: str) -> str:
    """The model to ask for: ``wanted`` when served, the only served one when unset; else a MODEL error."""

    if wanted:
        if wanted in served or any(s.rsplit("/", 1)[-1] == wanted for s in served):
            return wanted
        raise RemoteError(MODEL, f"{url} does not serve model {wanted!r} (it serves: {', '.join(served) or 'none'})",
                          hint="set model to one of the served names, or start the server with that model")  # fmt: skip
    if len(served) == 1:
        return served[0]
    raise RemoteError(MODEL, f"{url} serves {len(served)} models ({', '.join(served[:5])}); set model to one of them")
