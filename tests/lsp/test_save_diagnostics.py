"""Diagnostics on save (issue 13, item 2) through the real server, model and sandbox: saving the examples-like module
runs the tests of its functions in the background and publishes, on each function whose tests fail, a diagnostic
(source ``codeassist``) with the assertion; the quick fix is offered on it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsphelp import CONFIG, open_doc, start_verified, wait_for
from lsprotocol import types
from pytest_lsp import LanguageClient
from seeded import BUGGY_MEDIAN

pytestmark = [pytest.mark.model, pytest.mark.docker, pytest.mark.asyncio(loop_scope="module")]

STATS = '''def mean(values):
    """Return the arithmetic mean of values."""
    return sum(values) / len(values)


'''
STATS += BUGGY_MEDIAN
TESTS = """from stats import mean, median


def test_mean():
    assert mean([1.0, 2.0, 3.0, 6.0]) == 3.0


def test_median():
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
"""
ROOT = Path(tempfile.mkdtemp(prefix="codeassist-lsp-save-"))
URI = (ROOT / "stats.py").as_uri()


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient) -> Any:
    await start_verified(
        lsp_client, ROOT, {"stats.py": STATS, "test_stats.py": TESTS}, {"timeout_ms": 60000, "max_tokens": 8}
    )
    open_doc(lsp_client, URI, STATS)
    yield
    await lsp_client.shutdown_session()


async def test_saving_publishes_the_failing_function_with_its_assertion(client: LanguageClient) -> None:
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(URI)))
    await wait_for(lambda: bool(client.diagnostics.get(URI)), timeout=240)
    (diag,) = client.diagnostics[URI]
    assert diag.source == "codeassist" and diag.range.start.line == 5  # def median, not mean (its test passes)
    assert "test_median" in diag.message and "assert" in diag.message, diag.message
    found = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            range=diag.range,
            context=types.CodeActionContext(diagnostics=[diag]),
        )
    )
    fixes = [a for a in found or [] if isinstance(a, types.CodeAction) and a.kind == types.CodeActionKind.QuickFix]
    assert fixes and fixes[0].title.endswith("(checked in the sandbox before applying)"), fixes
