"""Diagnostics on save, newest wins (issue 13, item 2), through the real server and sandbox: a second save while the
first save's test run is in flight supersedes it, and no diagnostic ever comes from the older snapshot.

The tests sleep, so the first save's run is still going when the second save arrives. Snapshot 1 breaks ``median``,
snapshot 2 fixes it and breaks ``mean``: a diagnostic on ``median``'s line could only come from the stale run."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsphelp import SERVER_COMMAND, initialize, make_client, open_doc, statuses, wait_for, wait_status
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

pytestmark = [pytest.mark.model, pytest.mark.docker, pytest.mark.asyncio(loop_scope="module")]

GOOD_MEAN = "    return sum(values) / len(values)\n"
BAD_MEAN = "    return sum(values) / (len(values) + 1)\n"
STATS = '''def mean(values):
    """Return the arithmetic mean of values."""
{mean}

def median(values):
    """Return the median of values."""
    ordered = sorted(values)
    middle = len(ordered) // {div}
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
'''
FIRST = STATS.format(mean=GOOD_MEAN, div=3)  # median broken
SECOND = STATS.format(mean=BAD_MEAN, div=2)  # median fixed, mean broken
MEAN_LINE, MEDIAN_LINE = 0, 5
TESTS = """import time

from stats import mean, median


def test_mean():
    time.sleep(2)
    assert mean([1.0, 2.0, 3.0, 6.0]) == 3.0


def test_median():
    time.sleep(2)
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
"""
ROOT = Path(tempfile.mkdtemp(prefix="codeassist-lsp-newest-"))
URI = (ROOT / "stats.py").as_uri()


class Recorded(dict[str, Sequence[types.Diagnostic]]):
    """The client's diagnostics table, remembering every publication (pytest-lsp keeps only the last)."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, list[int]]] = []

    def __setitem__(self, uri: str, diagnostics: Sequence[types.Diagnostic]) -> None:
        self.log.append((uri, [d.range.start.line for d in diagnostics]))
        super().__setitem__(uri, diagnostics)


def recording_client() -> LanguageClient:
    client = make_client()
    client.diagnostics = Recorded()
    return client


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=SERVER_COMMAND, client_factory=recording_client), scope="module"
)
async def client(lsp_client: LanguageClient) -> Any:
    (ROOT / "pyproject.toml").write_text("[project]\nname = 'stats'\n")
    (ROOT / "stats.py").write_text(FIRST)
    (ROOT / "test_stats.py").write_text(TESTS)
    await initialize(lsp_client, ROOT, {"timeout_ms": 60000, "max_tokens": 8})
    await wait_status(lsp_client, "ready")
    await wait_for(lambda: any(s.get("verification") == "on" for s in statuses(lsp_client)), timeout=120)
    open_doc(lsp_client, URI, FIRST)
    yield
    await lsp_client.shutdown_session()


def save(client: LanguageClient) -> None:
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(URI)))


async def test_a_second_save_supersedes_the_first_saves_check(client: LanguageClient) -> None:
    save(client)  # snapshot 1: its run sleeps in the sandbox
    await asyncio.sleep(0.5)
    (ROOT / "stats.py").write_text(SECOND)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=SECOND)],
        )
    )
    save(client)  # snapshot 2, while snapshot 1's tests still run
    log: list[tuple[str, list[int]]] = client.diagnostics.log  # type: ignore[attr-defined]
    await wait_for(lambda: any(u == URI and lines for u, lines in log), timeout=240)
    await asyncio.sleep(6)  # long enough for the stale run to have finished had it not been cancelled
    published = [lines for u, lines in log if u == URI]
    assert not any(MEDIAN_LINE in lines for lines in published), published  # never from the stale snapshot
    assert published and all(lines == [MEAN_LINE] for lines in published), published
    (diag,) = client.diagnostics[URI]
    assert "test_mean" in diag.message and diag.source == "codeassist", diag.message
