"""A request capped while its prompt is still being read, over stdio with the real model: the editor is told (the
status says capped in the prompt, busy), the rest of that prompt is evaluated in the background once the editor is
idle, any real request cancels that warm-up at once, and after a finished warm-up the same request is no longer
capped in its prompt.

The cap is the smallest allowed (100 ms) against a prompt of about a thousand tokens, which no CPU evaluates in that
time; nothing is compared with absolute wall-clock figures (the machine is shared)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsphelp import (
    CONFIG,
    debug_stats,
    initialize,
    open_doc,
    statuses,
    wait_for,
    wait_stats,
    wait_status,
    worker_idle,
)
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

WORKSPACE = Path(tempfile.mkdtemp(prefix="codeassist-warmup-"))
SETTINGS: dict[str, Any] = {"max_tokens": 16, "debounce_ms": 0, "timeout_ms": 100, "verify": "syntax"}
LONG = (Path(__file__).resolve().parents[2] / "codeassist" / "typed_ahead.py").read_text(encoding="utf-8")
LINE = LONG[: LONG.index("    def window(")].count("\n")


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient) -> Any:
    await initialize(lsp_client, WORKSPACE, SETTINGS)
    await wait_status(lsp_client, "ready")
    yield
    await lsp_client.shutdown_session()


async def ask(client: LanguageClient, uri: str, line: int, character: int) -> dict[str, Any]:
    """One completion request; the status sent after it was answered."""
    n = len(statuses(client))
    await client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line, character)
        )
    )
    await wait_for(lambda: any(s.get("lastLatencyMs") is not None for s in statuses(client)[n:]))
    return [s for s in statuses(client)[n:] if s.get("lastLatencyMs") is not None][-1]


def warms(stats: dict[str, Any]) -> int:
    return int(stats["worker"]["by_kind"].get("warm", 0))


async def test_a_prompt_capped_request_is_reported_and_warmed_in_the_background(client: LanguageClient) -> None:
    long_uri, short_uri = (WORKSPACE / "typed_ahead_copy.py").as_uri(), (WORKSPACE / "short.py").as_uri()
    open_doc(client, long_uri, LONG)
    open_doc(client, short_uri, "def add(a, b):\n    return \n")
    status = await ask(client, long_uri, LINE, 0)
    assert status["lastCapped"] == "prompt", status  # loud: not a silent empty answer
    assert status["busy"] and "time cap" in str(status["busyReason"]), status
    assert status["speed"]["promptTokS"], status  # the rate was measured on the part it evaluated

    # idle: the warm-up starts; a real request (another document) cancels it at once
    running = await wait_stats(client, lambda s: warms(s) == 1 and s["workerBusy"], timeout=30)
    cancelled = running["worker"]["cancelled_background"]
    await ask(client, short_uri, 1, 11)
    after = await debug_stats(client)
    assert after["worker"]["cancelled_background"] >= cancelled + 1, after["worker"]

    # back at the long document: capped again (the short one's prompt replaced its cache), warmed again, and once
    # the warm-up is done, the same request is not capped in its prompt any more
    await ask(client, long_uri, LINE, 0)
    await wait_stats(client, lambda s: warms(s) >= 2 and worker_idle(s), timeout=180)
    status = await ask(client, long_uri, LINE, 0)
    assert status["lastCapped"] != "prompt", status


async def test_an_answer_cut_in_its_generation_prefetches_its_continuation(client: LanguageClient) -> None:
    """The part the cap let through is shown; the rest of its line is written in the background, beyond the cap, as
    the completion of the document with that part accepted (server/completion.py ``prefetch_accepted``)."""
    long_uri = (WORKSPACE / "typed_ahead_copy.py").as_uri()
    await wait_stats(client, worker_idle, timeout=180)
    before = prefetches(await debug_stats(client))
    status = await ask(client, long_uri, LINE, 0)  # its prompt is warm (the test above): the cap cuts generation
    if not status["lastPartial"]:
        pytest.skip(f"this answer was not a partial one here (capped: {status['lastCapped']})")
    await wait_stats(client, lambda s: prefetches(s) > before, timeout=60)


async def test_a_warm_notification_prepares_the_prompt_where_the_cursor_rests(client: LanguageClient) -> None:
    """``codeassist/warm`` (sent by the editors when a document comes to the front or the cursor jumps): the prompt
    there is evaluated in the background, so the first request there is not capped in its prompt. A malformed one
    is ignored and the server goes on serving."""
    other = (Path(__file__).resolve().parents[2] / "codeassist" / "postprocess.py").read_text(encoding="utf-8")
    line = other[: other.index("def postprocess(")].count("\n")
    uri = (WORKSPACE / "postprocess_copy.py").as_uri()
    open_doc(client, uri, other)
    await wait_stats(client, worker_idle, timeout=180)
    before = warms(await debug_stats(client))
    client.protocol.notify("codeassist/warm", {"textDocument": {"uri": uri}, "position": {"line": "x"}})
    client.protocol.notify("codeassist/warm", {"textDocument": {"uri": uri + "-not-open"}, "position": {"line": 0}})
    client.protocol.notify(
        "codeassist/warm", {"textDocument": {"uri": uri}, "position": {"line": line, "character": 0}}
    )
    await wait_stats(client, lambda s: warms(s) == before + 1 and worker_idle(s), timeout=180)
    status = await ask(client, uri, line, 0)
    assert status["lastCapped"] != "prompt", status


def prefetches(stats: dict[str, Any]) -> int:
    return int(stats["worker"]["by_kind"].get("prefetch", 0))
