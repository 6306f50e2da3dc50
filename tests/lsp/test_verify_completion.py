"""verify = "sandbox" for inline completions, end to end: real server, real model, real Docker sandbox.

Two modules hold the same half-written function; the workspace tests of one agree with the obvious body, the tests
of the other demand something else. The model's multi-line completion is the same for both, so the only difference
is what the tests say: the first completion is shown and reported "verified: tests pass" in ``codeassist/status``;
the second is hidden (empty result) and reported "failed" with ``shown: false``. A third module's test sleeps: its
check is cancelled by a newer request for the same document.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsphelp import CONFIG, FAST_SETTINGS, command, initialize, open_doc, statuses, wait_for, wait_status
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = [pytest.mark.model, pytest.mark.docker, pytest.mark.asyncio(loop_scope="module")]

WORKSPACE = Path(tempfile.mkdtemp(prefix="codeassist-lsp-verify-"))
BODY = (
    'def count_positive(numbers):\n    """Return how many numbers in the list are greater than zero."""\n'
    "    count = 0\n    for n in numbers:\n        \n    return count\n"
)
CURSOR = types.Position(line=4, character=8)
TESTS = {
    # agrees with the natural completion ("if n > 0: count += 1")
    "stats": "from stats import count_positive\n\n\ndef test_count():\n    assert count_positive([1, -2, 3]) == 2\n",
    # the same code is wrong here: this module is specified to count the non-negative numbers
    "strict": "from strict import count_positive\n\n\ndef test_count():\n    assert count_positive([0, -2, 3]) == 2\n",
}


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient) -> Any:
    # a project (codeassist.project): a file in no project is alone, and its completions are checked for syntax only
    (WORKSPACE / "pyproject.toml").write_text("[project]\nname = 'stats'\n")
    for name, test in TESTS.items():
        (WORKSPACE / f"{name}.py").write_text(BODY)
        (WORKSPACE / f"test_{name}.py").write_text(test)
    # the longest time cap there is: on a loaded machine a 48-token completion can take a minute
    settings = {**FAST_SETTINGS, "max_tokens": 48, "verify": "sandbox", "timeout_ms": 120000}
    await initialize(lsp_client, WORKSPACE, settings)
    await wait_status(lsp_client, "ready")
    await wait_for(lambda: any(s.get("verification") == "on" for s in statuses(lsp_client)), timeout=120)
    yield
    await lsp_client.shutdown_session()


async def inline(client: LanguageClient, name: str) -> tuple[list[types.InlineCompletionItem], dict[str, Any]]:
    uri = (WORKSPACE / f"{name}.py").as_uri()
    open_doc(client, uri, BODY)
    before = len(statuses(client))
    result = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=CURSOR,
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        )
    )
    items = list(result.items if isinstance(result, types.InlineCompletionList) else result or [])
    await wait_for(lambda: any(s.get("lastCheck") for s in statuses(client)[before:]), timeout=30)
    check = [s["lastCheck"] for s in statuses(client)[before:] if s.get("lastCheck")][-1]
    return items, check


async def test_completion_that_passes_its_tests_is_shown_as_verified(client: LanguageClient) -> None:
    items, check = await inline(client, "stats")
    assert len(items) == 1, check
    text = items[0].insert_text if isinstance(items[0].insert_text, str) else items[0].insert_text.value
    assert "\n" in text.strip() and "count += 1" in text, text  # multi-line: the case verify = sandbox checks
    # the shown text's confidence features ride along (the stay-silent gate is calibrated from them)
    confidence = check.pop("confidence")
    assert confidence["tokens"] >= 1 and confidence["min_logprob"] <= confidence["mean_logprob"] <= 0, confidence
    assert check == {"label": "verified: tests pass", "reason": "", "shown": True}


async def test_completion_that_fails_its_tests_is_hidden(client: LanguageClient) -> None:
    items, check = await inline(client, "strict")
    assert items == [], items
    assert check["label"] == "failed" and check["shown"] is False and check["reason"] == "tests fail", check


async def test_a_newer_request_cancels_the_sandbox_check_of_the_older_one(client: LanguageClient) -> None:
    """The completion's check runs on the worker, keyed by the document: a newer request for the same document
    cancels it mid-test-run (the sandbox job is killed), and the older request answers at once with nothing."""
    name = "slowcheck"
    (WORKSPACE / f"{name}.py").write_text(BODY)
    # a slow test of the edited function (the test finder selects the tests that reach it)
    sleeper = f"import time\nfrom {name} import count_positive\n\n\ndef test_count():\n"
    sleeper += "    time.sleep(90)\n    count_positive([1])\n"
    (WORKSPACE / f"test_{name}.py").write_text(sleeper)
    uri = (WORKSPACE / f"{name}.py").as_uri()
    open_doc(client, uri, BODY)
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=CURSOR,
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
    )
    # the earlier tests' jobs (a check still finishing, its baseline run) must not count as this request's runs
    await wait_for_stats(client, lambda s: not s["workerBusy"] and s["queueDepth"] == 0, timeout=300)
    before = (await command(client, "codeassist.debugStats"))["sandbox"]
    first = asyncio.ensure_future(client.text_document_inline_completion_async(params))
    # compile, then the tests tier: the second sandbox run is the sleeping test
    await wait_for_stats(client, lambda s: s["sandbox"]["runs"] >= before["runs"] + 2, timeout=180)
    await asyncio.sleep(1.0)
    second = asyncio.ensure_future(client.text_document_inline_completion_async(params))
    t0 = time.monotonic()
    answer = await asyncio.wait_for(first, timeout=30)
    assert time.monotonic() - t0 < 20, "the older check was not stopped"
    assert list(answer.items if isinstance(answer, types.InlineCompletionList) else answer or []) == []
    stats = await command(client, "codeassist.debugStats")
    assert stats["sandbox"]["cancelledRuns"] >= before["cancelledRuns"] + 1, stats["sandbox"]
    assert stats["worker"]["cancelled_running"] >= 1
    # closing the document cancels the newer one too, wherever it is
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=uri)))
    await asyncio.wait_for(second, timeout=30)


async def wait_for_stats(client: LanguageClient, predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate(await command(client, "codeassist.debugStats")):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"condition not met in {timeout}s: {await command(client, 'codeassist.debugStats')}")
