"""Several candidates for an explicit request (issue 15: cycled with the editor's own keys, VS Code's Alt+] / Alt+[),
one for typing: real server over stdio, real embedded model. The greedy suggestion comes first; the others are
distinct samples past the same gate and check (``verify = syntax``: each keeps the file parsing)."""

from __future__ import annotations

import ast
import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsphelp import CONFIG, inline_items, item_text, open_doc, start
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

WORKSPACE = Path(tempfile.mkdtemp(prefix="codeassist-candidates-"))
# A spot where more than one answer is right ("n * 2", "2 * n", …), in a file that parses, so the syntax check has a
# parse to keep.
CODE = "def double(n: int) -> int:\n    return \n"
CURSOR = (1, 11)
SETTINGS = {"max_tokens": 16, "debounce_ms": 0, "timeout_ms": 120000, "verify": "syntax", "candidates": 3}


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient) -> Any:
    (WORKSPACE / "pyproject.toml").write_text("[project]\nname = 'double'\n")
    await start(lsp_client, WORKSPACE, SETTINGS)
    yield
    await lsp_client.shutdown_session()


def inserted(item: types.InlineCompletionItem) -> str:
    """The document with the item accepted (its range is empty here: it inserts at the cursor)."""
    assert item.range is not None and item.range.start == item.range.end == types.Position(*CURSOR)
    lines = CODE.split("\n")
    line = lines[CURSOR[0]]
    lines[CURSOR[0]] = line[: CURSOR[1]] + item_text(item) + line[CURSOR[1] :]
    return "\n".join(lines)


async def test_typing_gets_one_and_asking_gets_several_distinct_checked_ones(client: LanguageClient) -> None:
    uri = (WORKSPACE / "double.py").as_uri()
    open_doc(client, uri, CODE)
    typed = await inline_items(client, uri, CURSOR, invoked=False)
    assert len(typed) == 1, typed  # automatic trigger: one candidate, the latency of one completion
    asked = await inline_items(client, uri, CURSOR)
    texts = [item_text(i) for i in asked]
    assert 2 <= len(asked) <= 3, texts
    assert texts[0] == item_text(typed[0]), texts  # the greedy suggestion first, the one typing showed
    assert len({t.rstrip() for t in texts}) == len(texts), texts  # distinct
    for item in asked:
        ast.parse(inserted(item))  # verify = syntax: every candidate keeps the file parsing
    ids = [i.command.arguments[0]["id"] for i in asked if i.command is not None and i.command.arguments]
    assert len(set(ids)) == len(asked), asked  # each one's acceptance is counted as its own


async def test_one_candidate_when_the_setting_says_so(client: LanguageClient) -> None:
    uri = (WORKSPACE / "one.py").as_uri()
    open_doc(client, uri, CODE)
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"codeassist": {**SETTINGS, "candidates": 1}})
    )
    await asyncio.sleep(0.5)
    asked = await inline_items(client, uri, CURSOR)
    assert len(asked) == 1, [item_text(i) for i in asked]
