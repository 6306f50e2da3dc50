"""Prefetch of the accepted state (llama.vim's speculative FIM), over stdio with the real model: once a suggestion is
shown, the server completes the document as it will be after the suggestion is accepted, in the background; a real
request cancels that at once; a finished prefetch makes the request after the acceptance a typed-ahead hit (no
worker job, answered from the cache)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsphelp import CONFIG, debug_stats, initialize, open_doc, wait_stats, wait_status, worker_idle
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

WORKSPACE = Path(tempfile.mkdtemp(prefix="codeassist-prefetch-"))
SETTINGS: dict[str, Any] = {"max_tokens": 24, "debounce_ms": 0, "timeout_ms": 60000, "verify": "syntax"}
DOC = "def area(width, height):\n    return \n\n\ndef perimeter(width, height):\n    return 2 * (width + height)\n"


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient) -> Any:
    await initialize(lsp_client, WORKSPACE, SETTINGS)
    await wait_status(lsp_client, "ready")
    yield
    await lsp_client.shutdown_session()


async def inline(client: LanguageClient, uri: str, line: int, character: int) -> str:
    got = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line, character),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
        )
    )
    items = got.items if isinstance(got, types.InlineCompletionList) else (got or [])
    return str(items[0].insert_text) if items else ""


def prefetches(s: dict[str, Any]) -> int:
    return int(s["worker"]["by_kind"].get("prefetch", 0))


async def test_a_real_request_cancels_the_prefetch(client: LanguageClient) -> None:
    u = (WORKSPACE / "cancel.py").as_uri()
    open_doc(client, u, DOC)
    assert await inline(client, u, 1, 11), "no suggestion to prefetch after"
    running = await wait_stats(client, lambda s: prefetches(s) == 1 and s["workerBusy"], timeout=30, interval=0.05)
    before = running["worker"]["cancelled_background"]
    await inline(client, u, 5, 0)  # the user went elsewhere: a real request
    after = await debug_stats(client)
    assert after["worker"]["cancelled_background"] >= before + 1, after["worker"]


async def test_the_request_after_an_acceptance_is_answered_from_the_prefetch(client: LanguageClient) -> None:
    """A suggestion cut by max_tokens mid-list: after accepting it, the list goes on, and the prefetch has it."""
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"codeassist": {**SETTINGS, "max_tokens": 4}})
    )
    await asyncio.sleep(0.3)
    u = (WORKSPACE / "accept.py").as_uri()
    line = "PRIMES = [2, 3, 5, 7, 11, 13,"
    open_doc(client, u, line + "\n")
    before = await debug_stats(client)
    shown = await inline(client, u, 0, len(line))
    assert shown and "\n" not in shown, shown
    done = await wait_stats(client, lambda s: prefetches(s) > prefetches(before) and worker_idle(s), interval=0.05)
    # Tab: the editor inserts the suggestion and asks again at the end of it
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=u, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(types.Position(0, len(line)), types.Position(0, len(line))), text=shown
                )
            ],
        )
    )
    again = await inline(client, u, 0, len(line) + len(shown))
    after = await debug_stats(client)
    assert again, "nothing after the accepted suggestion"
    assert after["worker"]["submitted"] == done["worker"]["submitted"]  # no model job: the prefetch answered
    assert after["completions"]["fromCache"] == done["completions"]["fromCache"] + 1
