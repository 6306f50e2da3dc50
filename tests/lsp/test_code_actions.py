"""Code actions with the real model: Explain (command → Markdown, plus window/showDocument of a read-only file) and
Fix (for another linter's diagnostic and for our own tree-sitter syntax error), whose titles say how they will be
checked."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
import pytest_lsp
from lsphelp import CONFIG, command, open_doc, start
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

WORKSPACE = Path(tempfile.mkdtemp(prefix="codeassist-lsp-actions-"))
SOURCE = "def mean(xs):\n    total = 0\n    for x in xs\n        total += x\n    return totl / len(xs)\n"


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient) -> Any:
    await start(lsp_client, WORKSPACE)
    open_doc(lsp_client, URI, SOURCE)
    yield
    await lsp_client.shutdown_session()


URI = (WORKSPACE / "mean.py").as_uri()


def rng(a: int, b: int, c: int, d: int) -> types.Range:
    return types.Range(types.Position(a, b), types.Position(c, d))


async def actions(client: LanguageClient, r: types.Range, diagnostics: list[types.Diagnostic]) -> list[Any]:
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            range=r,
            context=types.CodeActionContext(diagnostics=diagnostics),
        )
    )
    return list(result or [])


async def test_explain_returns_markdown_and_shows_a_read_only_document(client: LanguageClient) -> None:
    found = await actions(client, rng(0, 0, 4, 0), [])
    explain = [a for a in found if a.title == "codeassist: Explain"]
    assert len(explain) == 1 and explain[0].kind == "refactor.explain"
    resolved = await client.code_action_resolve_async(explain[0])
    assert resolved.command is not None and resolved.command.command == "codeassist.explain"
    before = set(client.progress_reports)
    markdown = await command(client, resolved.command.command, *(resolved.command.arguments or []))
    # the range ends at column 0 of line 5: lines 1-4 are explained (a linewise selection)
    assert isinstance(markdown, str) and markdown.startswith("### codeassist: mean.py, lines 1–4")
    body = markdown.split("\n\n", 1)[1].strip()
    assert len(body) > 20
    # streamed: work-done progress on an explain token, begin ... reports of the text so far ... end
    (token,) = [t for t in set(client.progress_reports) - before if str(t).startswith("codeassist/explain/")]
    reports = client.progress_reports[token]
    assert isinstance(reports[0], types.WorkDoneProgressBegin) and isinstance(reports[-1], types.WorkDoneProgressEnd)
    partial = [r.message for r in reports if isinstance(r, types.WorkDoneProgressReport) and r.message]
    assert all(body.startswith(m.strip()[:40]) for m in partial), partial
    assert client.shown_documents, "window/showDocument was not sent"
    shown = Path(unquote(urlparse(client.shown_documents[-1].uri).path))
    assert shown.read_text(encoding="utf-8") == markdown
    assert not os.stat(shown).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


async def test_explain_without_show_document_and_bad_arguments(client: LanguageClient) -> None:
    before = len(client.shown_documents)
    markdown = await command(
        client, "codeassist.explain", URI, {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 13}},
        {"showDocument": False},
    )  # fmt: skip
    assert "total" in markdown or "###" in markdown
    assert len(client.shown_documents) == before
    from pygls.exceptions import JsonRpcException

    with pytest.raises(JsonRpcException) as err:
        await command(client, "codeassist.explain", URI, {"start": 1})
    assert err.value.code == -32602
    # A column past the end of its line means "to the end of the line" (Neovim sends these for linewise selections)
    # and the actions list is offered; a line past the end of the document is an error.
    found = await actions(client, rng(1, 0, 1, 99), [])
    assert [a.title for a in found if a.title == "codeassist: Explain"]
    with pytest.raises(JsonRpcException) as err:
        await actions(client, rng(1, 0, 40, 0), [])
    assert err.value.code == -32602 and "past the end" in err.value.message


async def test_fix_for_a_linter_diagnostic_is_an_unverified_edit(client: LanguageClient) -> None:
    diag = types.Diagnostic(range=rng(4, 11, 4, 15), message="undefined name 'totl'", source="pyflakes")
    found = await actions(client, rng(4, 11, 4, 15), [diag])
    fixes = [a for a in found if a.kind == types.CodeActionKind.QuickFix]
    # verify_actions defaults to "sandbox": the offered title says the fix will be checked before it is applied
    assert fixes and fixes[0].title.endswith("(checked in the sandbox before applying)")
    assert "undefined name" in fixes[0].title
    assert list(fixes[0].diagnostics or []) == [diag]
    assert fixes[0].edit is None  # filled in by codeAction/resolve
    resolved = await client.code_action_resolve_async(fixes[0])
    assert resolved.edit is not None and resolved.edit.changes is not None
    (edit,) = resolved.edit.changes[URI]
    assert edit.range.start == types.Position(4, 0)
    assert edit.new_text.strip() and edit.new_text != "    return totl / len(xs)"
    # the resolved title carries the label codeassist.verify produced (no tests here, and the file has another
    # syntax error: never "tests pass")
    assert resolved.title.startswith("codeassist: Fix “undefined name")
    assert "verified: tests pass" not in resolved.title


async def test_fix_offered_for_our_own_syntax_error(client: LanguageClient) -> None:
    found = await actions(client, rng(2, 0, 2, 5), [])
    fixes = [a for a in found if a.kind == types.CodeActionKind.QuickFix]
    assert fixes and fixes[0].title.startswith("codeassist: Fix “syntax error")
    assert fixes[0].title.endswith("(checked in the sandbox before applying)")
    assert fixes[0].data["source"] == "codeassist"
