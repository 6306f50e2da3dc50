"""Fault injection: a remote model server that is killed mid-stream, slow, stalled, serving another model, refusing
the key, or answering garbage — each ends as a clear status within the timeout, the same request is answered by the
local model, and the circuit breaker spares the following requests the wait."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from servers import FaultProxy, LlamaServer, start_llama_server

from codeassist.context.assemble import assemble_context
from codeassist.context.parsing import Document
from codeassist.errors import ModelError
from codeassist.models.backend import GenerationParams, ModelBackend
from codeassist.models.fallback import FallbackBackend, connect
from codeassist.models.llama_backend import LlamaBackend
from codeassist.models.remote_config import RemoteConfig
from codeassist.prompt import FimJob

pytestmark = pytest.mark.model

CODE = 'def add(a, b):\n    """Return the sum of a and b."""\n    return \n\n\nprint(add(2, 3))\n'
OFFSET = CODE.index("return ") + 7
TIMEOUT_MS = 3000  # short, so faults show quickly; answers stay fast because the slot already holds the prompt
PARAMS = GenerationParams(max_tokens=4)


def job() -> FimJob:
    return FimJob(assemble_context(Document(CODE, language="python"), OFFSET), key="add.py")


def local_loader(path: str) -> Callable[[], ModelBackend]:
    return lambda: LlamaBackend(path, n_ctx=1024, n_threads=1)


def make(url: str, backend: str, tiny_local: str | None, timeout_ms: int = TIMEOUT_MS, **kw: object) -> FallbackBackend:
    config = RemoteConfig(backend=backend, url=url, timeout_ms=timeout_ms, **kw)  # type: ignore[arg-type]
    return FallbackBackend(config, connect, local_loader(tiny_local) if tiny_local else None)


def warm_slot(url: str, backend: str) -> None:
    """Put the test prompt into the server's KV cache (no time limit here), so later short-timeout requests for it
    only generate: the timeout then measures faults, not this shared machine's load."""
    remote = connect(RemoteConfig(backend=backend, url=url, timeout_ms=300_000))
    try:
        remote.complete_fim(job(), PARAMS)
    finally:
        remote.close()


@pytest.fixture
def fallbacks() -> Iterator[list[FallbackBackend]]:
    made: list[FallbackBackend] = []
    yield made
    for fb in made:
        fb.close()


@pytest.mark.parametrize("backend", ["llama-server", "openai"])
def test_healthy_server_answers(proxy: FaultProxy, tiny_local: str, backend: str,
                                fallbacks: list[FallbackBackend]) -> None:  # fmt: skip
    fb = make(proxy.url, backend, tiny_local, timeout_ms=300_000)
    fallbacks.append(fb)
    gen = fb.complete_fim(job(), PARAMS)
    status = fb.status()
    assert fb.answered_by == "remote", json.dumps(status)
    assert fb.answered_by == "remote" and status["using"] == "remote" and status["breaker"] == "closed"
    assert gen.text.strip() and not fb.local_ready  # the local model was never even loaded
    assert status["fallback"] == "local model (loads on first use)"


FAULTS = [("slow", "timeout"), ("stall", "timeout"), ("garbage", "bad_response"), ("garbage_sse", "bad_response"),
          ("cut", "unreachable"), ("error500", "http")]  # fmt: skip


@pytest.mark.parametrize("backend", ["llama-server", "openai"])
@pytest.mark.parametrize(("mode", "kind"), FAULTS)
def test_fault_falls_back_within_the_request(proxy: FaultProxy, tiny_local: str, backend: str, mode: str, kind: str,
                                             fallbacks: list[FallbackBackend]) -> None:  # fmt: skip
    warm_slot(proxy.url, backend)
    fb = make(proxy.url, backend, tiny_local)
    fallbacks.append(fb)
    assert fb.prepare_local()  # the local model's load is not what is timed here
    proxy.mode = mode
    fb.breaker.cooldown_s = 60.0
    path = "/infill" if backend == "llama-server" else "/v1/completions"
    started = time.monotonic()
    gen = fb.complete_fim(job(), PARAMS)
    elapsed = time.monotonic() - started
    status = fb.status()
    # the failing request itself is answered, by the local model, and the status says why
    assert fb.answered_by == "local" and gen.stop_reason in ("eot", "max_tokens")
    assert status["reason"].startswith(f"{kind}: "), status
    # never a hang past the timeout (plus the tiny local model's few milliseconds and a loaded machine's slack)
    assert elapsed < TIMEOUT_MS / 1000 + 2.0, elapsed
    # at most one more attempt (a timeout needs two in a row), then the breaker is open: no waiting at all
    if status["breaker"] != "open":
        fb.complete_fim(job(), PARAMS)
    assert fb.status()["breaker"] == "open" and fb.status()["using"] == "local"
    hits = proxy.hits.get(path, 0)
    started = time.monotonic()
    fb.complete_fim(job(), PARAMS)
    assert proxy.hits.get(path, 0) == hits and time.monotonic() - started < 1.0
    # the server recovers; after the cool-down one request probes it (half-open) and it takes over again
    proxy.mode = "ok"
    fb.breaker.cooldown_s = 0.0
    fb.complete_fim(job(), PARAMS)
    assert fb.answered_by == "remote" and fb.status()["breaker"] == "closed" and "reason" not in fb.status()


def test_server_killed_mid_stream(model_path: str, tiny_local: str, tmp_path: Path,
                                  fallbacks: list[FallbackBackend]) -> None:  # fmt: skip
    server = start_llama_server(model_path, log_dir=str(tmp_path))
    try:
        warm_slot(server.url, "llama-server")
        fb = make(server.url, "llama-server", tiny_local)
        fallbacks.append(fb)
        assert fb.prepare_local()
        seen: list[str] = []

        def on_text(text: str) -> bool:
            if not seen:
                server.kill()  # the first piece of the answer has arrived: now the server dies
            seen.append(text)
            return True

        started = time.monotonic()
        gen = fb.complete_fim(job(), GenerationParams(max_tokens=48), on_text=on_text)
        assert time.monotonic() - started < TIMEOUT_MS / 1000 + 2.0
        assert fb.answered_by == "local" and gen.stop_reason in ("eot", "max_tokens")
        assert fb.status()["reason"].startswith("unreachable: ") and fb.status()["breaker"] == "open"
    finally:
        server.stop()


def test_wrong_model_is_named(llama_server: LlamaServer, tiny_local: str, fallbacks: list[FallbackBackend]) -> None:
    fb = make(llama_server.url, "openai", tiny_local, model="gpt-4o")
    fallbacks.append(fb)
    status = fb.status()
    assert status["using"] == "local" and status["reason"].startswith("model: ")
    assert "does not serve model 'gpt-4o'" in status["reason"] and "qwen-test" in status["reason"]
    gen = fb.complete_fim(job(), PARAMS)
    assert fb.answered_by == "local" and gen.stop_reason in ("eot", "max_tokens")


def test_bad_key_is_refused_and_never_shown(model_path: str, tiny_local: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
                                            fallbacks: list[FallbackBackend]) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    server = start_llama_server(model_path, "--api-key", "right-key-0123456789", log_dir=str(tmp_path))
    try:
        monkeypatch.setenv("CODEASSIST_TEST_KEY", "wrong-key-9876543210")
        fb = make(server.url, "llama-server", tiny_local, api_key_env="CODEASSIST_TEST_KEY")
        fallbacks.append(fb)
        status = fb.status()
        assert status["reason"].startswith("auth: ") and "401" in status["reason"]
        assert fb.breaker.last_error is not None and "CODEASSIST_TEST_KEY" in str(fb.breaker.last_error.hint)
        fb.complete_fim(job(), PARAMS)
        assert fb.answered_by == "local"
        everything = json.dumps(status) + str(fb.breaker.last_error) + repr(fb.config) + caplog.text
        assert "wrong-key-9876543210" not in everything and "right-key" not in everything
        # the right key works; an unset variable is named, not guessed at
        monkeypatch.setenv("CODEASSIST_TEST_KEY", "right-key-0123456789")
        ok = make(server.url, "llama-server", tiny_local, timeout_ms=300_000, api_key_env="CODEASSIST_TEST_KEY")
        fallbacks.append(ok)
        ok.complete_fim(job(), PARAMS)
        assert ok.answered_by == "remote"
        monkeypatch.delenv("CODEASSIST_TEST_KEY")
        unset = make(server.url, "llama-server", tiny_local, api_key_env="CODEASSIST_TEST_KEY")
        fallbacks.append(unset)
        assert "CODEASSIST_TEST_KEY is not set" in unset.status()["reason"]
    finally:
        server.stop()


def test_unreachable_without_a_local_model_is_a_clear_error() -> None:
    closed = f"http://127.0.0.1:{__import__('servers').free_port()}"
    with pytest.raises(ModelError, match="remote model unavailable: cannot reach"):
        make(closed, "llama-server", None)
