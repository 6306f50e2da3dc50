"""A remote llama-server as the model: ``/infill`` (repository context as ``input_extra``), or ``/completion`` with our
own token ids where ``/infill``'s layout is not the family's; ``/v1/chat/completions`` for explain/fix.

Why both FIM endpoints: ``/infill`` is llama-server's own FIM (its slots, ``cache_prompt``, ``t_max_predict_ms``,
the repo-level layout when the vocabulary has the tokens) and what llama.vim/llama.vscode use; but it lays out every
family the same way, which is wrong for CodeLlama (llama.cpp puts SentencePiece's space before the suffix too) and for
StarCoder2 (llama.cpp knows neither ``<repo_name>`` nor ``<file_sep>``). For those, ``/completion`` takes the token ids
our prompt builder makes with the *server's* tokenizer (``/tokenize``), so the server sees exactly the local layout.

Requests for one document go to one slot (``id_slot``), so two open files do not evict each other's KV cache.
"""

from __future__ import annotations

import time
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from codeassist.errors import ModelError
from codeassist.models.backend import CancelCheck, Generation, GenerationParams, ModelInfo, OnText
from codeassist.models.families import FAMILIES
from codeassist.models.fim import FimFormat, VocabIds, detect_fim
from codeassist.models.http import BAD_RESPONSE, HttpClient, RemoteError
from codeassist.models.remote_common import ChatTurn, StreamState, chat_stream, check_model, served_models
from codeassist.models.remote_config import RemoteConfig
from codeassist.prompt import FimJob

INFILL_FAMILIES = ("qwen2.5-coder", "deepseek-coder", "codegemma", "generic")


class LlamaServerBackend:
    """One llama-server, probed at construction (health, model name, vocabulary): raises RemoteError if unusable."""

    def __init__(self, config: RemoteConfig) -> None:
        self.config = config
        self.client = HttpClient(config.endpoint())
        self._tokens: OrderedDict[str, list[int]] = OrderedDict()
        started = time.perf_counter()
        timeout = config.timeout_ms / 1000
        self.client.json("GET", "/health", timeout=timeout, retries=3)
        self.model = check_model(config.model, served_models(self.client, timeout), config.url or "")
        props = self.client.json("GET", "/props", timeout=timeout, retries=2)
        if not isinstance(props, dict):
            raise RemoteError(BAD_RESPONSE, f"{config.url}/props is not an object")
        self.slots = max(1, int(props.get("total_slots") or 1))
        settings = props.get("default_generation_settings") or {}
        n_ctx = int(settings.get("n_ctx") or 0) if isinstance(settings, dict) else 0
        fim = self._detect_fim()
        self.info = ModelInfo(
            path=config.url or "", name=str(props.get("model_alias") or self.model), architecture="llama-server",
            n_ctx=n_ctx or 4096, n_ctx_train=None, n_threads=0, load_ms=(time.perf_counter() - started) * 1000,
            fim=fim, chat_template=props.get("chat_template") if isinstance(props.get("chat_template"), str) else None,
            system_info=str(props.get("build_info", "")),
        )  # fmt: skip

    # -- vocabulary, through the server's tokenizer -----------------------------------------------------------------

    def _tokenize_raw(self, text: str, *, special: bool, add_special: bool = False) -> list[dict[str, Any]]:
        body = {"content": text, "add_special": add_special, "parse_special": special, "with_pieces": True}
        data = self.client.json("POST", "/tokenize", body, retries=1)
        toks = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(toks, list):
            raise RemoteError(BAD_RESPONSE, f"{self.config.url}/tokenize answered {str(data)[:200]}")
        return [t for t in toks if isinstance(t, dict)]

    def _lookup(self, text: str) -> int | None:
        """The id of the single special token spelled ``text`` (SentencePiece pieces come back with spaces)."""
        want = text.replace("▁", " ")
        toks = self._tokenize_raw(text, special=True)
        hits = [t for t in toks if t.get("piece") == want]
        rest = [t for t in toks if t.get("piece") != want]
        if len(hits) == 1 and all(isinstance(t.get("piece"), str) and not t["piece"].strip() for t in rest):
            return int(hits[0]["id"])
        return None

    def _detect_fim(self) -> FimFormat | None:
        texts = {t for f in FAMILIES for t in f.all_texts}
        found = {t: self._lookup(t) for t in sorted(texts)}
        plain = self._tokenize_raw("a", special=False)
        with_bos = self._tokenize_raw("a", special=False, add_special=True)
        bos = int(with_bos[0]["id"]) if len(with_bos) > len(plain) else None
        space = bool(plain) and str(plain[0].get("piece", "")).startswith(" ")
        vocab = VocabIds(None, None, None, None, None, None, None, None, bos=bos, add_bos=bos is not None,
                         space_prefix=space)  # fmt: skip
        try:
            return detect_fim(vocab, found.get, model_name=self.model)
        except ModelError:
            return None  # no FIM markers: completions say so; chat still works

    def tokenize(self, text: str) -> list[int]:
        """The server's tokenizer, on user text (no special parsing); cached, since the stable parts of a prompt
        (other files, the window's head) repeat from keystroke to keystroke."""
        if not text:
            return []
        hit = self._tokens.get(text)
        if hit is not None:
            self._tokens.move_to_end(text)
            return list(hit)
        ids = [int(t["id"]) for t in self._tokenize_raw(text, special=False)]
        self._tokens[text] = ids
        if len(self._tokens) > 512:
            self._tokens.popitem(last=False)
        return list(ids)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    # -- completion -------------------------------------------------------------------------------------------------

    def _slot(self, key: str) -> int:
        return zlib.crc32(key.encode()) % self.slots if key else -1

    def _body(self, params: GenerationParams, slot: int) -> dict[str, Any]:
        # timings_per_token: every event carries the server's timings, so they survive stopping early
        body: dict[str, Any] = {"n_predict": params.max_tokens, "stream": True, "cache_prompt": True,
                                "id_slot": slot, "temperature": max(0.0, params.temperature),
                                "timings_per_token": True}  # fmt: skip
        if params.temperature <= 0:
            body.update(top_k=1, samplers=["top_k"])
        else:
            body.update(top_p=params.top_p, seed=params.seed)
        if params.stop:
            body["stop"] = list(params.stop)  # the stream then ends by itself where we would have closed it
        if params.time_budget_ms:
            body["t_max_predict_ms"] = int(params.time_budget_ms)
        return body

    def mode_for(self, job: FimJob) -> str:
        mode = self.config.llama_server_mode
        if mode != "auto":
            return mode
        fim = self.info.fim
        return "infill" if fim is not None and fim.family in INFILL_FAMILIES and job.order == "psm" else "completion"

    def complete_fim(
        self, job: FimJob, params: GenerationParams, *, on_text: OnText | None = None, cancel: CancelCheck | None = None
    ) -> Generation:
        fim = self.info.fim
        if fim is None:
            raise RemoteError(BAD_RESPONSE, f"the model at {self.config.url} has no fill-in-the-middle tokens")
        body = self._body(params, self._slot(job.key))
        if self.mode_for(job) == "infill":
            prefix, suffix, line, extra = job.infill_fields()
            body.update(input_prefix=prefix, input_suffix=suffix, prompt=line,
                        input_extra=[{"filename": p, "text": t} for p, t in extra])  # fmt: skip
            path = "/infill"
        else:
            body["prompt"] = job.tokens(fim, self.tokenize).tokens
            path = "/completion"
        return self._stream(path, body, params, on_text, cancel, fim)

    def _stream(
        self, path: str, body: dict[str, Any], params: GenerationParams, on_text: OnText | None,
        cancel: CancelCheck | None, fim: FimFormat | None,
    ) -> Generation:  # fmt: skip
        state = StreamState(on_text, fim.control_ids if fim else frozenset(), fim.stop_texts if fim else ())

        def on_event(event: dict[str, Any]) -> bool:
            if event.get("stop"):
                state.final = event
            elif isinstance(event.get("timings"), dict):
                state.final = {"timings": event["timings"]}
            toks = event.get("tokens")
            piece = event.get("content", "")
            if not isinstance(piece, str):
                raise RemoteError(BAD_RESPONSE, f"stream event without text: {str(event)[:200]}")
            return state.feed(piece, toks if isinstance(toks, list) else ())  # the server ends the stream after "stop"

        outcome = self.client.stream(path, body, on_event, cancel=cancel, timeout=self.config.timeout_ms / 1000)
        return state.finish(outcome, params.max_tokens, final_seen=bool(state.final.get("stop")))

    def warm_fim(self, job: FimJob) -> Generation:
        """Evaluate the prompt into the document's slot without generating (``n_predict`` 0)."""
        return self.complete_fim(job, GenerationParams(max_tokens=0))

    def generate(
        self, prompt: Sequence[int], params: GenerationParams, *, on_text: OnText | None = None,
        cancel: CancelCheck | None = None,
    ) -> Generation:  # fmt: skip
        """Token ids in, as ``ModelBackend.generate`` (``/completion`` takes ids)."""
        body = {**self._body(params, -1), "prompt": list(prompt)}
        return self._stream("/completion", body, params, on_text, cancel, self.info.fim)

    def complete_chat(
        self, messages: Sequence[ChatTurn], params: GenerationParams, *, on_text: OnText | None = None,
        cancel: CancelCheck | None = None,
    ) -> Generation:  # fmt: skip
        return chat_stream(self.client, self.model, messages, params, on_text=on_text, cancel=cancel,
                           idle_timeout=self.config.timeout_ms / 1000)  # fmt: skip

    def status(self) -> dict[str, Any]:
        return {"backend": "llama-server", "url": self.config.url, "model": self.model, "slots": self.slots}

    def close(self) -> None:
        self.client.close()
