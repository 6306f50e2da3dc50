"""Token healing through the real server over stdio: completing inside a word the user is typing."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsphelp import CONFIG, inline_params, open_doc, start
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

WORKSPACE = Path(tempfile.mkdtemp(prefix="codeassist-healing-"))


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient) -> Any:
    await start(lsp_client, WORKSPACE, {"max_tokens": 8, "debounce_ms": 0, "timeout_ms": 120000})
    yield
    await lsp_client.shutdown_session()


async def test_inline_completion_finishes_the_word_being_typed(client: LanguageClient) -> None:
    """``return N`` before a ``None`` check: unhealed, the model continued the token `` N`` with ``o`` or ``:``."""
    uri = (WORKSPACE / "healing.py").as_uri()
    open_doc(client, uri, "def first(x):\n    if x is None:\n        return N\n    return x\n")
    result = await client.text_document_inline_completion_async(inline_params(uri, (2, 16)))
    assert result is not None and len(result.items) == 1
    item = result.items[0]
    assert str(item.insert_text) == "one"
    assert item.range == types.Range(types.Position(2, 16), types.Position(2, 16))
