"""Diagnostics on save: the tests that exercise a saved Python file's functions run in the sandbox in the background
(a worker job: newest-wins per document, cancellable, capped), and each function whose tests fail gets an LSP
diagnostic (source ``codeassist``) on its ``def`` line with the failing tests' messages. The quick fix is offered on
it like on any diagnostic, and checked by the same tests.

Newest wins: a save while an earlier save's check of the same document is still queued or running cancels that
check (the sandbox run is killed), and a result that arrives after a newer save was made is dropped, so the
diagnostics shown never come from an older snapshot than the last save's.
"""

from __future__ import annotations

import itertools
import logging
import os
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from lsprotocol import types

from codeassist.api import FunctionFailure, editor_project, failing_functions

from .worker import PRIORITY_ACTION

if TYPE_CHECKING:
    from .app import CodeassistServer

log = logging.getLogger("codeassist.server")
SOURCE = "codeassist"
_SAVES = itertools.count(1)
# the latest save check started per server and document; a weak key, so a stopped server's table goes with it
_LATEST: weakref.WeakKeyDictionary[CodeassistServer, dict[str, int]] = weakref.WeakKeyDictionary()


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
    latest = _LATEST.setdefault(ls, {})
    latest[uri] = seq = next(_SAVES)

    def job(cancel: Callable[[], bool]) -> list[FunctionFailure] | None:
        return failing_functions(verifier, root, rel, text, cancel)

    def done(found: list[FunctionFailure] | None) -> None:
        if latest.get(uri) != seq:
            return  # a newer save's check supersedes this one (it was cancelled, or finished just before)
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
    ls.submit(job, done, kind="save-tests", key=uri, timeout_s=cap, failed=None, priority=PRIORITY_ACTION)
