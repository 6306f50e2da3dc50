"""verify = "sandbox" for inline completions, end to end: real server, real model, real Docker sandbox.

Two modules hold the same half-written function; the workspace tests of one agree with the obvious body, the tests
of the other demand something else. The model's completion is the same for both, so the only difference is what the
tests say. Either way the suggestion is answered at once, labelled "checking…" in ``codeassist/status``, and the tests
settle it in the background (server/background_check.py): the first is then reported "verified: tests pass" and
asking again answers it from the cache; the second is reported "failed" with ``shown: false``, withdrawn with a
``codeassist/withdrawSuggestion`` notification, and never offered again for that document (a verified replacement
may take its place: tests/lsp/test_verify_alternatives.py). A third module's test
sleeps: its background check is cancelled when the document changes and a new completion is asked for.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsphelp import (
    CONFIG,
    FAST_SETTINGS,
    checks_since,
    debug_stats,
    edit,
    inline_checked,
    inline_params,
    item_text,
    items_of,
    open_doc,
    start_verified,
    statuses,
    suggestions_ready,
    wait_for,
    wait_stats,
    withdrawals,
)
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
    files = {f"{name}.py": BODY for name in TESTS} | {f"test_{name}.py": test for name, test in TESTS.items()}
    # the longest time cap there is: on a loaded machine a 48-token completion can take a minute
    settings = {**FAST_SETTINGS, "max_tokens": 48, "verify": "sandbox", "timeout_ms": 120000}
    await start_verified(lsp_client, WORKSPACE, files, settings)
    yield
    await lsp_client.shutdown_session()


async def ask(client: LanguageClient, uri: str) -> tuple[list[types.InlineCompletionItem], float]:
    t0 = time.monotonic()
    result = await client.text_document_inline_completion_async(inline_params(uri, CURSOR))
    return items_of(result), time.monotonic() - t0


async def inline(
    client: LanguageClient, name: str
) -> tuple[list[types.InlineCompletionItem], dict[str, Any], dict[str, Any]]:
    """The items answered, the first check reported for them, and the check that settled it."""
    uri = (WORKSPACE / f"{name}.py").as_uri()
    open_doc(client, uri, BODY)
    return await inline_checked(client, uri, CURSOR)


async def test_completion_that_passes_its_tests_is_shown_at_once_then_verified(client: LanguageClient) -> None:
    items, first, check = await inline(client, "stats")
    assert len(items) == 1, check
    assert "count += 1" in item_text(items[0]), item_text(items[0])
    # answered before the tests ran: labelled as being checked, not as verified
    assert first["label"] == "checking…" and first["shown"] is True, first
    # the shown text's confidence features ride along (the stay-silent gate is calibrated from them)
    confidence = check.pop("confidence")
    assert confidence["tokens"] >= 1 and confidence["min_logprob"] <= confidence["mean_logprob"] <= 0, confidence
    assert check == {"label": "verified: tests pass", "reason": "", "shown": True}
    # asking again at the same place: the verified suggestion, from the cache, with no new check
    uri = (WORKSPACE / "stats.py").as_uri()
    again, _ = await ask(client, uri)
    assert [item_text(i) for i in again] == [item_text(items[0])]


async def test_completion_that_fails_its_tests_is_withdrawn(client: LanguageClient) -> None:
    before, ready_before = len(withdrawals(client)), len(suggestions_ready(client))
    statuses_before = len(statuses(client))
    items, first, check = await inline(client, "strict")
    assert len(items) == 1 and first["label"] == "checking…", (items, first)
    await wait_for(lambda: len(withdrawals(client)) > before, timeout=10)
    withdrawn = withdrawals(client)[-1]
    assert withdrawn["textDocument"]["uri"].endswith("strict.py") and withdrawn["text"] == item_text(items[0])
    assert withdrawn["position"] == {"line": CURSOR.line, "character": CURSOR.character}
    assert (withdrawn["label"], withdrawn["reason"], withdrawn["searching"]) == ("failed", "tests fail", True)
    # the verdict first ("failed", withdrawn, a verified replacement searched for: verify_alternatives = 3) ...
    failed = next(c for c in checks_since(client, statuses_before) if c["label"] == "failed")
    assert failed["shown"] is False and failed["reason"] == "tests fail" and failed["alternatives"] == "searching"
    # ... then how the search ended, whatever the model's samples were
    search = check["alternatives"]
    assert search in ("found", "none") and 0 <= check["alternativesSearch"]["tried"] <= 3, check
    again, _ = await ask(client, (WORKSPACE / "strict.py").as_uri())
    if search == "none":
        assert check["label"] == "failed" and check["shown"] is False, check
        assert again == [], again  # the model's same answer is hidden without flashing it first
    else:  # a sample passed the tests: announced, labelled verified, and answered from the cache when asked again
        (ready,) = suggestions_ready(client)[ready_before:]
        assert ready["text"] != withdrawn["text"] and ready["replaces"] == withdrawn["text"], ready
        assert check["label"] == ready["label"] == "verified: tests pass" and check["shown"] is True, check
        assert [item_text(i) for i in again] == [ready["text"]]
    # never offered again for this document
    assert all(item_text(i) != withdrawn["text"] for i in again), again


async def test_a_new_completion_cancels_the_background_check_of_the_old_one(client: LanguageClient) -> None:
    """The background check runs on the worker, keyed by the document. The suggestion is answered at once, while
    its slow test is still running; when the document changes so that a new completion calls the model, the old
    suggestion is gone from the screen and its check is cancelled mid-test-run (the sandbox job is killed)."""
    name = "slowcheck"
    (WORKSPACE / f"{name}.py").write_text(BODY)
    # a slow test of the edited function (the test finder selects the tests that reach it)
    sleeper = f"import time\nfrom {name} import count_positive\n\n\ndef test_count():\n"
    sleeper += "    time.sleep(90)\n    count_positive([1])\n"
    (WORKSPACE / f"test_{name}.py").write_text(sleeper)
    uri = (WORKSPACE / f"{name}.py").as_uri()
    open_doc(client, uri, BODY)
    # the earlier tests' jobs (a check still finishing, its baseline run) must not count as this request's runs
    await wait_stats(client, lambda s: not s["workerBusy"] and s["queueDepth"] == 0, timeout=300, interval=0.2)
    before = (await debug_stats(client))["sandbox"]
    items, _ = await ask(client, uri)
    assert len(items) == 1, "answered before its tests ran"
    # compile, then the tests tier: the second sandbox run is the sleeping test
    await wait_stats(client, lambda s: s["sandbox"]["runs"] >= before["runs"] + 2, timeout=180, interval=0.2)
    await asyncio.sleep(1.0)
    # the user typed something else (a line at the end): the typed-ahead cache has nothing here, the model is asked
    edit(client, uri, 2, (6, 0), (6, 0), "# edited\n")
    second = asyncio.ensure_future(ask(client, uri))
    await wait_stats(
        client, lambda s: s["sandbox"]["cancelledRuns"] >= before["cancelledRuns"] + 1, timeout=20, interval=0.2
    )
    stats = await debug_stats(client)
    assert stats["worker"]["cancelled_running"] >= 1
    # closing the document cancels the newer one too, wherever it is
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=uri)))
    await asyncio.wait_for(second, timeout=60)
