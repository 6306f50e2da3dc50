"""The LSP server with ``backend = "llama-server"`` set in the workspace's .codeassist.toml only: completion, explain
and fix answered by a real llama-server, and the status says so."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsp_remote import backend_status, explain, fix, inline_completion, settings
from lsphelp import CONFIG, start
from pytest_lsp import LanguageClient
from servers import LlamaServer

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]
ROOT = Path(tempfile.mkdtemp(prefix="codeassist-lsp-remote-"))


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient, llama_server: LlamaServer) -> Any:
    # the remote backend comes from the workspace's config file alone (the editor sends only timing settings)
    config = f'backend = "llama-server"\nurl = "{llama_server.url}"\nmodel = "qwen-test"\n'
    (ROOT / ".codeassist.toml").write_text(config)
    ready = await start(lsp_client, ROOT, settings())
    assert ready["backend"]["using"] == "remote", ready
    yield
    await lsp_client.shutdown_session()


async def test_completion_explain_and_fix_answered_by_the_server(client: LanguageClient) -> None:
    await inline_completion(client, ROOT)
    status = backend_status(client)
    assert status["backend"] == "llama-server" and status["answeredBy"] == "remote" and status["slots"] == 2
    assert status["fallback"] == "local model (loads on first use)"  # never loaded: nothing failed
    await explain(client, ROOT)
    await fix(client, ROOT)
    assert backend_status(client)["answeredBy"] == "remote" and "reason" not in backend_status(client)
