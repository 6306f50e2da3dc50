"""Diagnostics on save: the tests that exercise a saved Python file's functions run in the sandbox in the background
(a worker job: newest-wins per document, cancellable, capped), and each function whose tests fail gets an LSP
diagnostic (source ``codeassist``) on its ``def`` line with the failing tests' messages. The quick fix is offered on
it like on any diagnostic, and checked by the same tests."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from lsprotocol import types

from codeassist.api import FunctionFailure, editor_project, failing_functions

from .worker import PRIORITY_ACTION

if TYPE_CHECKING:
    from .app import CodeassistServer

log = logging.getLogger("codeassist.server")
SOURCE = "codeassist"


def on_save(ls: CodeassistServer, uri: str) -> None:
    """Start the background check of a saved document (Python, in a project, with the sandbox setting on)."""
    verifier = ls.host.verifier
    if ls.settings.verify_actions != "sandbox" or verifier is None or not ls.host.ready:
        return
    doc = next((d for d in ls.docs.documents() if d.uri == uri), None)
    if doc is None or not doc.path or doc.language != "python":
        return
    project = editor_project(doc.path, ls.workspace_folders)
    if project is None:
        return  # a file in no project (nor in a folder the editor opened) is alone: nothing walked, nothing shipped
    root = str(project)
    rel = os.path.relpath(doc.path, root)
    text, version = doc.text.replace("\r\n", "\n"), doc.version

    def job(cancel: Callable[[], bool]) -> list[FunctionFailure] | None:
        return failing_functions(verifier, root, rel, text, cancel)

    def done(found: list[FunctionFailure] | None) -> None:
        if found is None:
            return  # nothing was checked: leave what was published
        diagnostics = [
            types.Diagnostic(
                range=types.Range(types.Position(f.start_line, 0), types.Position(f.start_line, 10**4)),
                message=f"tests of {f.symbol} fail: {f.message}",
                severity=types.DiagnosticSeverity.Error,
                source=SOURCE,
            )
            for f in found
        ]
        log.info("save check of %s: %d function(s) with failing tests", rel, len(diagnostics))
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version)
        )

    cap = verifier.budget.compile_s + verifier.budget.tests_s * 2  # the tests, and their baseline at most
    ls.submit(job, done, kind="save-tests", timeout_s=cap, failed=None, priority=PRIORITY_ACTION)
