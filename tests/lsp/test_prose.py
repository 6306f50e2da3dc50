"""Inline suggestions are suppressed in comments and strings unless ``suggest_in_comments`` asks for them (real
server over stdio, real model): the same request in a comment is empty by default and answered once the setting is
on, while code positions are answered either way."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsphelp import CONFIG, inline_items, open_doc, start
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

WORKSPACE = Path(tempfile.mkdtemp(prefix="codeassist-prose-"))
CODE = (
    "def area(width: float, height: float) -> float:\n"
    "    # Multiply the width by the \n"
    '    label = "the area of a rect"\n'
    "    return \n"
)
COMMENT = (1, len("    # Multiply the width by the "))
STRING = (2, len('    label = "the area of a'))
CODE_POS = (3, len("    return "))


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient) -> Any:
    await start(lsp_client, WORKSPACE, {"max_tokens": 8, "debounce_ms": 0, "timeout_ms": 60000})
    yield
    await lsp_client.shutdown_session()


async def ask(client: LanguageClient, u: str, at: tuple[int, int]) -> list[types.InlineCompletionItem]:
    return await inline_items(client, u, at)


async def test_comments_and_strings_are_quiet_unless_asked(client: LanguageClient) -> None:
    u = (WORKSPACE / "area.py").as_uri()
    open_doc(client, u, CODE)
    assert await ask(client, u, COMMENT) == []
    assert await ask(client, u, STRING) == []
    assert await ask(client, u, CODE_POS), "no suggestion in code"
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"codeassist": {"suggestInCommentsAndStrings": True}})
    )
    items = await ask(client, u, COMMENT)
    assert items and str(items[0].insert_text).strip(), "no suggestion in the comment with the setting on"
