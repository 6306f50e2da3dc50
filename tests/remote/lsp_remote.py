"""Shared steps of the LSP-over-remote suites: one real ``codeassist serve`` per module, configured with nothing but
settings (backend, url, model), driving completion, explain and fix; the status says which model answered."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lsp"))

from lsphelp import command, inline_params, open_doc, statuses, wait_for
from lsprotocol import types
from pytest_lsp import LanguageClient

SOURCE = "def mean(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return totl / len(xs)\n"
COMPLETE = "def add(a, b):\n    return \n"


def settings(**remote: Any) -> dict[str, Any]:
    return {"max_tokens": 8, "debounce_ms": 40, "timeout_ms": 60000, "verify": "off", "verify_actions": "syntax",
            **remote}  # fmt: skip


def rng(a: int, b: int, c: int, d: int) -> types.Range:
    return types.Range(types.Position(a, b), types.Position(c, d))


def backend_status(client: LanguageClient) -> dict[str, Any]:
    backend = statuses(client)[-1].get("backend")
    assert isinstance(backend, dict), statuses(client)[-1]
    return backend


async def inline_completion(client: LanguageClient, root: Path) -> str:
    uri = (root / "add.py").as_uri()
    open_doc(client, uri, COMPLETE)
    result = await client.text_document_inline_completion_async(inline_params(uri, (1, 11)))
    # an invoked request: the greedy suggestion, then up to `candidates` - 1 distinct samples (sampled remotely too)
    assert result is not None and 1 <= len(result.items) <= 3, result
    texts = [str(item.insert_text) for item in result.items]
    assert len(set(texts)) == len(texts), texts
    text = texts[0]
    assert text.strip()
    count = len(statuses(client))
    await wait_for(lambda: len(statuses(client)) >= count and statuses(client)[-1].get("lastLatencyMs") is not None)
    return text


async def explain(client: LanguageClient, root: Path) -> str:
    uri = (root / "mean.py").as_uri()
    open_doc(client, uri, SOURCE)
    markdown = await command(client, "codeassist.explain", uri,
                             {"start": {"line": 0, "character": 0}, "end": {"line": 4, "character": 0}},
                             {"showDocument": False})  # fmt: skip
    assert isinstance(markdown, str) and markdown.startswith("### codeassist: mean.py")
    assert len(markdown.split("\n\n", 1)[1].strip()) > 10
    return markdown


async def fix(client: LanguageClient, root: Path) -> str:
    uri = (root / "mean.py").as_uri()
    diag = types.Diagnostic(range=rng(4, 11, 4, 15), message="undefined name 'totl'", source="pyflakes")
    found = await client.text_document_code_action_async(
        types.CodeActionParams(text_document=types.TextDocumentIdentifier(uri=uri), range=rng(4, 11, 4, 15),
                               context=types.CodeActionContext(diagnostics=[diag]))
    )  # fmt: skip
    fixes = [a for a in found or [] if isinstance(a, types.CodeAction) and a.kind == types.CodeActionKind.QuickFix]
    assert fixes
    resolved = await client.code_action_resolve_async(fixes[0])
    assert resolved.edit is not None and resolved.edit.changes is not None
    (edit,) = resolved.edit.changes[uri]
    assert edit.new_text.strip() and edit.new_text != "    return totl / len(xs)"
    return edit.new_text
