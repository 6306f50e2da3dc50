"""Code actions over the engine's services: Fix (the fix service, :class:`codeassist.fixer.Fixer`, in the editor's
configuration) and Explain (:func:`codeassist.explainer.stream_explain`), plus the ``codeassist.explain`` command.

The fix an editor user gets is the one ``codeassist fix`` and the bug-fix benchmark measure: the same target rule
(:func:`codeassist.fix_target.target_for_problem`), prompt, extractor, verification and ranking; the editor only asks
for fewer candidates and stops at the first one no check rejects.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from typing import Any

import platformdirs
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import from_fs_path

from codeassist.api import (
    MAX_PROBLEM_LINES,
    FixOutcome,
    Problem,
    RankedFix,
    VerifyMode,
    find_root,
    stream_explain,
    syntax_problems,
    target_for_problem,
)
from codeassist.errors import InputError

from . import items
from .app import CodeassistServer, ContentModified, RequestFailed
from .convert import Pos, lsp_line_starts, offset_of
from .documents import Document
from .progress import progress
from .validate import fix_span
from .worker import JobCancelled

log = logging.getLogger("codeassist.server")
MAX_FIXES = 3
REPORT_EVERY_S = 0.25


def selection(ls: CodeassistServer, uri: str, rng: types.Range) -> tuple[Document, str, int, int]:
    doc = ls.docs.get(uri)
    text = doc.text
    starts = lsp_line_starts(text)
    # Lines past the end are the client's mistake; a column past the end of its line is how editors (Neovim's
    # linewise selections) say "to the end of the line", and the spec says it means the line length.
    for pos in (rng.start, rng.end):
        if pos.line >= len(starts) and not (pos.line == len(starts) and pos.character == 0):
            raise InputError(f"line {pos.line} is past the end of the document ({len(starts)} lines)")
    a = offset_of(text, Pos(rng.start.line, rng.start.character), ls.encoding, strict=False, starts=starts)
    b = offset_of(text, Pos(rng.end.line, rng.end.character), ls.encoding, strict=False, starts=starts)
    if b < a:
        raise InputError("range end is before its start")
    return doc, text, a, b


def require_ready(ls: CodeassistServer) -> None:
    if not ls.host.ready:
        raise RequestFailed(f"the model is not ready ({ls.status.state}: {ls.status.message})")


# -- fix --------------------------------------------------------------------------------------------------------------


def problems(
    doc: Document, rng: types.Range, diagnostics: list[types.Diagnostic]
) -> list[tuple[Problem, types.Diagnostic | None]]:
    """Diagnostics from the request context (any source) plus our own tree-sitter syntax errors in range."""
    found: list[tuple[Problem, types.Diagnostic | None]] = [
        (Problem(d.range.start.line, d.range.end.line, d.message, d.source or ""), d) for d in diagnostics
    ]
    for p in syntax_problems(doc.text.replace("\r\n", "\n"), doc.language):
        if p.end_line < rng.start.line or p.start_line > rng.end.line:
            continue
        if not any(q.start_line <= p.start_line <= q.end_line for q, _ in found):
            found.append((p, None))
    for p, _d in found:
        if p.end_line - p.start_line >= MAX_PROBLEM_LINES:
            p.end_line = p.start_line  # an ERROR node can span the whole file: the fix targets where it starts
    return found[:MAX_FIXES]


def fix_actions(doc: Document, rng: types.Range, diagnostics: list[types.Diagnostic]) -> list[types.CodeAction]:
    """One unresolved quick fix per problem: the edit is computed by ``codeAction/resolve``."""
    actions = []
    for problem, diag in problems(doc, rng, diagnostics):
        data = {
            "uri": doc.uri, "version": doc.version, "startLine": problem.start_line, "endLine": problem.end_line,
            "message": problem.message, "source": problem.source,
        }  # fmt: skip
        title = items.fix_title(problem, "unverified")
        diags = [diag] if diag is not None else None
        actions.append(types.CodeAction(title=title, kind=types.CodeActionKind.QuickFix, diagnostics=diags, data=data))
    return actions


async def resolve_fix(ls: CodeassistServer, action: types.CodeAction) -> types.CodeAction:
    """Run the fix service on the action's problem (one worker job: generation and verification, cancellable and
    capped) and fill in the edit and the verdict in the title; a fix that failed every check is not offered."""
    data = action.data
    if not isinstance(data, dict) or not {"uri", "startLine", "endLine", "message"} <= data.keys():
        raise JsonRpcInvalidParams("codeAction/resolve: not a codeassist fix action (missing data)")
    doc = ls.docs.get(str(data["uri"]))
    if data.get("version") is not None and data["version"] != doc.version:
        raise ContentModified("the document changed since the fix was offered; ask for code actions again")
    start_line, end_line = fix_span(data, len(doc.lines), MAX_PROBLEM_LINES)  # before any model time
    require_ready(ls)
    text = doc.text
    problem = Problem(start_line, end_line, str(data["message"]), str(data.get("source", "")))
    root = str(find_root(doc.path)) if doc.path else ""
    rel = os.path.relpath(doc.path, root) if doc.path else os.path.basename(doc.uri) or "buffer"
    target = target_for_problem(root, rel, text.replace("\r\n", "\n"), problem)
    setting = ls.settings.verify_actions  # an unsaved buffer has no project to run tests in: syntax at most
    verify: VerifyMode = "off" if setting == "off" else "sandbox" if setting == "sandbox" and doc.path else "syntax"
    fixer = ls.host.fixer(verify)
    try:
        outcome = await ls.run_job(
            lambda cancel: fixer.candidates_for(target, cancel=cancel),
            kind="fix",
            timeout_s=ls.host.job_cap_s(verify, model_calls=2),
        )
    except JobCancelled:
        raise RequestFailed("the fix was cancelled") from None
    best = _best_or_fail(ls, outcome)
    log.info("fix for lines %d-%d: %s", target.start_line + 1, target.end_line + 1, best.verdict.display,
             extra={"code": best.replacement})  # fmt: skip
    action.title = items.fix_title(problem, best.verdict.display)
    action.edit = items.fix_edit(doc.uri, text, best.new_text, ls.encoding)
    return action


def _best_or_fail(ls: CodeassistServer, outcome: FixOutcome) -> RankedFix:
    best = outcome.best
    if best is not None:
        return best
    rejected = [c for c in outcome.candidates if c.verdict.rejected]
    if rejected:
        raise RequestFailed(f"the proposed fix failed verification ({rejected[0].verdict.reason})")
    if outcome.stopped == "cancelled":  # the job's time cap: not the model's "no change"
        raise RequestFailed(
            f"the fix was not finished within its time cap (timeout_ms = {ls.settings.timeout_ms} ms per model "
            "call; a busy machine?); try again, or raise timeout_ms"
        )
    raise RequestFailed("the model proposed no change for this problem")


# -- explain ----------------------------------------------------------------------------------------------------------


async def explain(ls: CodeassistServer, uri: str, rng: types.Range, show_document: bool) -> str:
    """Explain the selected lines with their context, the same service as ``codeassist explain``. The text streams
    as ``$/progress`` reports on a ``codeassist/explain/N`` token (at most every 250 ms); the whole Markdown is the
    command's result."""
    doc, text, a, b = selection(ls, uri, rng)
    if not text[a:b].strip():
        raise InputError("select some code to explain")
    require_ready(ls)
    engine = ls.host.engine
    assert engine is not None
    plain = text.replace("\r\n", "\n").replace("\r", "\n")  # LSP line numbers, one break character
    first = rng.start.line
    last = rng.end.line - 1 if rng.end.character == 0 and rng.end.line > first else rng.end.line
    last = min(last, plain.count("\n"))
    name = os.path.basename(doc.path or doc.uri)
    max_tokens = max(32, ls.settings.max_tokens * 4)
    async with progress(ls, f"codeassist: explaining {name}", "explain") as p:
        so_far: list[str] = []
        sent = [0.0]

        def on_delta(delta: str) -> None:  # on the worker thread
            so_far.append(delta)
            if time.monotonic() - sent[0] >= REPORT_EVERY_S:
                sent[0] = time.monotonic()
                current = "".join(so_far)
                ls.call_soon(lambda: p.report(current))

        def run(cancel: Any) -> Any:
            return stream_explain(
                engine, plain, first, last, path=doc.path or name, language=doc.language, on_delta=on_delta,
                max_tokens=max_tokens, cancel=cancel,
            )  # fmt: skip

        p.outcome = "failed"
        try:
            result = await ls.run_job(run, kind="explain", timeout_s=ls.settings.timeout_ms / 1000)
        except JobCancelled:
            p.outcome = "cancelled"
            raise RequestFailed("explain was cancelled") from None
        p.outcome = "done"
    lines = f"line {first + 1}" if first == last else f"lines {first + 1}–{last + 1}"
    markdown = f"### codeassist: {name}, {lines}\n\n{result.text}\n"
    if show_document and ls.client_supports("window.show_document.support"):
        show_markdown(ls, markdown, doc.uri, rng)
    return markdown


def show_markdown(ls: CodeassistServer, markdown: str, uri: str, rng: types.Range) -> None:
    """Write ``markdown`` to a read-only file in the user cache and ask the client to open it."""
    folder = os.path.join(platformdirs.user_cache_dir("codeassist"), "explain")
    os.makedirs(folder, exist_ok=True)
    digest = hashlib.sha1(f"{uri}:{rng.start.line}:{rng.end.line}:{markdown}".encode()).hexdigest()[:12]
    path = os.path.join(folder, f"explain-{digest}.md")
    if os.path.exists(path):
        os.chmod(path, 0o644)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(markdown)
    os.chmod(path, 0o444)
    target = from_fs_path(path) or f"file://{path}"
    ls.window_show_document(types.ShowDocumentParams(uri=target, take_focus=True))
