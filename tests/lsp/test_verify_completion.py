"""verify = "sandbox" for inline completions, end to end: real server, real model, real Docker sandbox.

Two modules hold the same half-written function; the workspace tests of one agree with the obvious body, the tests
of the other demand something else. The model's multi-line completion is the same for both, so the only difference
is what the tests say: the first completion is shown and reported "verified: tests pass" in ``codeassist/status``;
the second is hidden (empty result) and reported "failed" with ``shown: false``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsphelp import CONFIG, FAST_SETTINGS, initialize, open_doc, statuses, wait_for, wait_status
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
    for name, test in TESTS.items():
        (WORKSPACE / f"{name}.py").write_text(BODY)
        (WORKSPACE / f"test_{name}.py").write_text(test)
    await initialize(lsp_client, WORKSPACE, {**FAST_SETTINGS, "max_tokens": 48, "verify": "sandbox"})
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
    assert check == {"label": "verified: tests pass", "reason": "", "shown": True}


async def test_completion_that_fails_its_tests_is_hidden(client: LanguageClient) -> None:
    items, check = await inline(client, "strict")
    assert items == [], items
    assert check["label"] == "failed" and check["shown"] is False and check["reason"] == "tests fail", check
