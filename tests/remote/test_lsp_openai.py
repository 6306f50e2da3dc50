"""The LSP server with ``backend = "openai"`` against llama-server's OpenAI-compatible endpoints (/v1/completions
with a raw FIM prompt, /v1/chat/completions for explain and fix)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsp_remote import backend_status, explain, fix, inline_completion, settings
from lsphelp import CONFIG, start
from pytest_lsp import LanguageClient
from servers import FaultProxy, LlamaServer

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]
ROOT = Path(tempfile.mkdtemp(prefix="codeassist-lsp-openai-"))
PROXY: list[FaultProxy] = []


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient, llama_server: LlamaServer) -> Any:
    PROXY.append(FaultProxy(llama_server.url).start())  # a plain pass-through: it counts which endpoints are used
    await start(lsp_client, ROOT, settings(backend="openai", url=PROXY[0].url, model="qwen-test"))
    yield
    await lsp_client.shutdown_session()
    PROXY[0].stop()


async def test_completion_explain_and_fix_through_v1(client: LanguageClient) -> None:
    await inline_completion(client, ROOT)
    status = backend_status(client)
    assert status["backend"] == "openai" and status["answeredBy"] == "remote" and status["family"] == "qwen2.5-coder"
    await explain(client, ROOT)
    await fix(client, ROOT)
    hits = PROXY[0].hits
    assert hits.get("/v1/completions", 0) >= 1 and hits.get("/v1/chat/completions", 0) >= 2, hits
    assert not hits.get("/infill") and not hits.get("/completion")
