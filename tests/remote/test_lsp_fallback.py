"""The LSP server pointed at a server that is not there: it comes up on the local model, completes, and its status
names the remote failure."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsp_remote import backend_status, inline_completion, settings
from lsphelp import CONFIG, start
from pytest_lsp import LanguageClient
from servers import free_port

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]
ROOT = Path(tempfile.mkdtemp(prefix="codeassist-lsp-fallback-"))


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient) -> Any:
    await start(lsp_client, ROOT, settings(backend="llama-server", url=f"http://127.0.0.1:{free_port()}"))
    yield
    await lsp_client.shutdown_session()


async def test_unreachable_server_falls_back_to_the_local_model(client: LanguageClient) -> None:
    text = await inline_completion(client, ROOT)
    assert "a" in text
    status = backend_status(client)
    assert status["using"] == "local" and status["answeredBy"] == "local"
    assert status["breaker"] in ("open", "half-open")  # half-open once the cool-down passed: the next request probes
    assert status["reason"].startswith("unreachable: cannot reach http://127.0.0.1:")
    assert status["fallback"].startswith("local model ")
