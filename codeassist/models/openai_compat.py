"""An OpenAI-compatible server as the model (vLLM, llama-server's ``/v1``, llama-cpp-python's server, TGI, Ollama):
``/v1/completions`` with a raw FIM prompt in the model family's layout, ``/v1/chat/completions`` for explain/fix.

Why a text prompt: these servers tokenize for themselves and expose no vocabulary, so the family's marker texts go in
the prompt and the server's tokenizer turns them into its special tokens (vLLM and llama.cpp both parse added/special
token text in completion prompts). The family comes from ``fim_family`` or, failing that, the served model's name.
Whatever the server sends back is checked for marker text: a server that renders special tokens as text must not put
``<|file_sep|>`` into a suggestion.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from codeassist.context.current_file import estimate_tokens
from codeassist.models.backend import CancelCheck, Generation, GenerationParams, ModelInfo, OnText
from codeassist.models.families import BY_NAME, FamilySpec, family_from_model_name
from codeassist.models.fim import FimFormat
from codeassist.models.http import BAD_RESPONSE, CONFIG, HttpClient, RemoteError
from codeassist.models.remote_common import (
    ChatTurn,
    StreamState,
    chat_stream,
    check_model,
    sampling,
    served_models,
    stream_finished,
)
from codeassist.models.remote_config import RemoteConfig
from codeassist.prompt import FimJob


def _family(config: RemoteConfig, model: str) -> FamilySpec | None:
    if config.fim_family:
        return BY_NAME[config.fim_family]
    return family_from_model_name(model)


class OpenAIBackend:
    """One OpenAI-compatible server, probed at construction (``/v1/models``): raises RemoteError if unusable."""

    def __init__(self, config: RemoteConfig) -> None:
        self.config = config
        self.client = HttpClient(config.endpoint())
        started = time.perf_counter()
        self.model = check_model(config.model, served_models(self.client, config.timeout_ms / 1000), config.url or "")
        self.family = _family(config, self.model)
        fim = None
        if self.family is not None:  # ids are the server's business: only the family's texts matter here
            fim = FimFormat(self.family.name, -1, -1, -1, stop_texts=self.family.all_texts, source="model name"
                            if not config.fim_family else "fim_family setting")  # fmt: skip
        self.info = ModelInfo(
            path=config.url or "", name=self.model, architecture="openai-compatible", n_ctx=32768, n_ctx_train=None,
            n_threads=0, load_ms=(time.perf_counter() - started) * 1000, fim=fim,
        )  # fmt: skip

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)  # no tokenizer endpoint in the OpenAI API: budgets use the estimate

    def complete_fim(
        self, job: FimJob, params: GenerationParams, *, on_text: OnText | None = None, cancel: CancelCheck | None = None
    ) -> Generation:
        if self.family is None:
            raise RemoteError(CONFIG, f"cannot tell the FIM format of {self.model!r} from its name",
                              hint=f"set fim_family to one of: {', '.join(BY_NAME)}")  # fmt: skip
        built = job.text(self.family)
        body: dict[str, Any] = {"model": self.model, "prompt": built.text, "stream": True, **sampling(params),
                                "stop": [*params.stop, *self.family.all_texts]}  # fmt: skip
        state = StreamState(on_text, stop_texts=self.family.all_texts)

        def on_event(event: dict[str, Any]) -> bool:
            choices = event.get("choices")
            if not isinstance(choices, list):
                raise RemoteError(BAD_RESPONSE, f"completion stream event without choices: {str(event)[:200]}")
            first = choices[0] if choices and isinstance(choices[0], dict) else {}
            if first.get("finish_reason") or "timings" in event or "usage" in event:
                state.final = {**state.final, **event}
            piece = first.get("text", "")
            if not isinstance(piece, str):
                raise RemoteError(BAD_RESPONSE, f"completion stream event without text: {str(event)[:200]}")
            return state.feed(piece)

        timeout = self.config.timeout_ms / 1000
        outcome = self.client.stream("/v1/completions", body, on_event, cancel=cancel, timeout=timeout)
        return state.finish(outcome, params.max_tokens, final_seen=stream_finished(state.final))

    def complete_chat(
        self, messages: Sequence[ChatTurn], params: GenerationParams, *, on_text: OnText | None = None,
        cancel: CancelCheck | None = None,
    ) -> Generation:  # fmt: skip
        return chat_stream(self.client, self.model, messages, params, on_text=on_text, cancel=cancel,
                           idle_timeout=self.config.timeout_ms / 1000)  # fmt: skip

    def status(self) -> dict[str, Any]:
        return {"backend": "openai", "url": self.config.url, "model": self.model,
                "family": self.family.name if self.family else None}  # fmt: skip

    def close(self) -> None:
        self.client.close()
