"""A remote backend behind a circuit breaker, with the local model as the fallback.

Why: a team server goes down, gets slow, rotates its key or swaps its model; the editor must keep suggesting and say
why. The request that meets the failure is answered by the local model at once ("fallback engages within one
request"); then the breaker stays open for a cool-down, so later requests go straight to the local model instead of
each paying a timeout; after the cool-down one request probes the server again (half-open) and a success closes the
breaker. ``status()`` says which model answered and why, for ``codeassist/status`` and ``doctor``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from codeassist.context.current_file import estimate_tokens
from codeassist.errors import ModelError
from codeassist.models.backend import CancelCheck, Generation, GenerationParams, ModelBackend, OnText
from codeassist.models.http import AUTH, CANCELLED, CONFIG, MODEL, UNREACHABLE, RemoteError
from codeassist.models.llama_server import LlamaServerBackend
from codeassist.models.openai_compat import OpenAIBackend
from codeassist.models.remote_common import ChatTurn, PromptingBackend
from codeassist.models.remote_config import RemoteConfig
from codeassist.prompt import FimJob

# Failures that will not fix themselves within seconds open the breaker at once; the others after two in a row.
_PERSISTENT = (AUTH, MODEL, CONFIG, UNREACHABLE)


@dataclass
class CircuitBreaker:
    cooldown_s: float = 15.0
    threshold: int = 2
    failures: int = 0
    opened_at: float | None = None
    last_error: RemoteError | None = None

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if time.monotonic() - self.opened_at >= self.cooldown_s else "open"

    def allow(self) -> bool:
        return self.state != "open"

    def success(self) -> None:
        self.failures, self.opened_at, self.last_error = 0, None, None

    def failure(self, exc: RemoteError) -> None:
        self.failures += 1
        self.last_error = exc
        if exc.kind in _PERSISTENT or self.failures >= self.threshold or self.state == "half-open":
            self.opened_at = time.monotonic()


LocalLoader = Callable[[], ModelBackend]
RemoteFactory = Callable[[RemoteConfig], PromptingBackend]


class FallbackBackend:
    """A :class:`PromptingBackend` that asks the remote server and falls back to the local model."""

    def __init__(self, config: RemoteConfig, connect: RemoteFactory, local: LocalLoader | None) -> None:
        self.config = config
        self._connect = connect
        self._local_loader = local
        self._local: ModelBackend | None = None
        self._remote: PromptingBackend | None = None
        self._lock = threading.Lock()
        self.breaker = CircuitBreaker()
        self.answered_by = "none"
        self.last_remote_ms: float | None = None
        self._remote_or_none()
        self.info = self._remote.info if self._remote is not None else self._need_local("").info

    # -- the two models ----------------------------------------------------------------------------------------------

    def _remote_or_none(self) -> PromptingBackend | None:
        """The connected remote backend when the breaker lets us ask it, connecting (probing) when needed."""
        if not self.breaker.allow():
            return None
        if self._remote is not None:
            return self._remote
        try:
            self._remote = self._connect(self.config)
        except RemoteError as exc:
            self.breaker.failure(exc)
        return self._remote

    def _need_local(self, why: str) -> ModelBackend:
        with self._lock:
            if self._local is None:
                if self._local_loader is None or self.config.fallback == "none":
                    err = self.breaker.last_error
                    reason = err.message if err is not None else why
                    raise ModelError(f"remote model unavailable: {reason}", hint=err.hint if err else None)
                self._local = self._local_loader()
        return self._local

    @property
    def local_ready(self) -> bool:
        return self._local is not None

    def prepare_local(self) -> bool:
        """Load the fallback model now, so the first failure does not also pay for the load; False if none."""
        try:
            self._need_local("preparing the fallback")
        except ModelError:
            return False
        return True

    # -- requests ----------------------------------------------------------------------------------------------------

    def _attempt(self, call: Callable[[PromptingBackend], Generation]) -> Generation | RemoteError | None:
        remote = self._remote_or_none()
        if remote is None:
            return self.breaker.last_error
        started = time.perf_counter()
        try:
            gen = call(remote)
        except RemoteError as exc:
            if exc.kind == CANCELLED:
                raise
            self.breaker.failure(exc)
            if exc.kind in (AUTH, MODEL, CONFIG):  # reconnect (re-probe) after the cool-down: the fix is elsewhere
                self._drop_remote()
            return exc
        self.last_remote_ms = (time.perf_counter() - started) * 1000
        self.breaker.success()
        self.answered_by = "remote"
        return gen

    def _drop_remote(self) -> None:
        remote, self._remote = self._remote, None
        if remote is not None:
            remote.close()

    def complete_fim(
        self, job: FimJob, params: GenerationParams, *, on_text: OnText | None = None, cancel: CancelCheck | None = None
    ) -> Generation:
        got = self._attempt(lambda r: r.complete_fim(job, params, on_text=on_text, cancel=cancel))
        if isinstance(got, Generation):
            return got
        local = self._need_local(got.message if got else "remote unavailable")
        self.answered_by = "local"
        fim = local.info.fim
        if fim is None:
            raise ModelError(f"the local fallback model {local.info.name} has no fill-in-the-middle support")
        built = job.tokens(fim, local.tokenize)
        return local.generate(built.tokens, params, on_text=on_text, cancel=cancel)

    def complete_chat(
        self, messages: Sequence[ChatTurn], params: GenerationParams, *, on_text: OnText | None = None,
        cancel: CancelCheck | None = None,
    ) -> Generation:  # fmt: skip
        got = self._attempt(lambda r: r.complete_chat(messages, params, on_text=on_text, cancel=cancel))
        if isinstance(got, Generation):
            return got
        local = self._need_local(got.message if got else "remote unavailable")
        self.answered_by = "local"
        from codeassist.chat import ChatMessage, chat_tokens  # chat imports the model layer, not vice versa

        prompt = chat_tokens(local, [ChatMessage(m.role, m.content) for m in messages])
        return local.generate(prompt, params, on_text=on_text, cancel=cancel)

    def count_tokens(self, text: str) -> int:
        remote = self._remote
        if remote is not None and self.breaker.allow():
            try:
                return remote.count_tokens(text)
            except RemoteError:
                pass
        return estimate_tokens(text)

    # -- status ------------------------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        err = self.breaker.last_error
        state = self.breaker.state
        using = "remote" if state == "closed" and self._remote is not None else "local"
        if using == "local" and (self._local_loader is None or self.config.fallback == "none"):
            using = "none"
        data: dict[str, Any] = {
            "backend": self.config.backend, "url": self.config.url, "breaker": state, "using": using,
            "answeredBy": self.answered_by, "lastRemoteMs": None if self.last_remote_ms is None
            else round(self.last_remote_ms, 1),
            "fallback": "none" if self._local_loader is None or self.config.fallback == "none"
            else (f"local model {self._local.info.name}" if self._local else "local model (loads on first use)"),
        }  # fmt: skip
        if self._remote is not None:
            data.update({k: v for k, v in self._remote.status().items() if k in ("model", "slots", "family")})
        if err is not None:
            data["reason"] = f"{err.kind}: {err.message}"
        return data

    def close(self) -> None:
        self._drop_remote()
        if self._local is not None:
            self._local.close()
            self._local = None


def connect(config: RemoteConfig) -> PromptingBackend:
    """Probe the configured server and return its backend (RemoteError when it is unusable)."""
    if not config.url:
        raise RemoteError(CONFIG, f"backend {config.backend!r} needs url (for example http://127.0.0.1:8080)")
    if config.backend == "llama-server":
        return LlamaServerBackend(config)
    if config.backend == "openai":
        return OpenAIBackend(config)
    raise RemoteError(CONFIG, f"backend {config.backend!r} is not a remote backend")
