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
    explain_notes,
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


def fix_actions(
    doc: Document, rng: types.Range, diagnostics: list[types.Diagnostic], verify: VerifyMode = "syntax"
) -> list[types.CodeAction]:
    """One unresolved quick fix per problem: the edit is computed by ``codeAction/resolve``; the title says what
    will check it (``verify``: :func:`fix_verify_mode`)."""
    actions = []
    for problem, diag in problems(doc, rng, diagnostics):
        data = {
            "uri": doc.uri, "version": doc.version, "startLine": problem.start_line, "endLine": problem.end_line,
            "message": problem.message, "source": problem.source,
        }  # fmt: skip
        title = items.fix_title(problem, offer_label(verify))
        diags = [diag] if diag is not None else None
        actions.append(types.CodeAction(title=title, kind=types.CodeActionKind.QuickFix, diagnostics=diags, data=data))
    return actions


def fix_verify_mode(ls: CodeassistServer, doc: Document) -> VerifyMode:
    """How the quick fix is checked: with ``verify_actions = "sandbox"`` (the default) a buffer backed by a file in a
    project runs its tests against the buffer's text (saved or not: the snapshot overlays it on the workspace); an
    untitled buffer has no project to run tests in, so syntax at most."""
    setting = ls.settings.verify_actions
    return "off" if setting == "off" else "sandbox" if setting == "sandbox" and doc.path else "syntax"


def offer_label(verify: VerifyMode) -> str:
    """The title's parenthesis before the fix runs: what will check it (VS Code shows only this title)."""
    return "checked in the sandbox before applying" if verify == "sandbox" else "unverified"


async def resolve_fix(ls: CodeassistServer, action: types.CodeAction) -> types.CodeAction:
    """Run the fix service on the action's problem (one worker job: generation and verification, cancellable, under
    ``fix_budget_ms``), with ``$/progress`` while it runs. The outcome is never a JSON-RPC error: a fix comes back
    with its edit and its verdict in the title; no fix (rejected and why / timed out / no change) comes back without
    an edit, titled "(no fix)", and the reason is a ``window/showMessage``."""
    data = action.data
    if not isinstance(data, dict) or not {"uri", "startLine", "endLine", "message"} <= data.keys():
        raise JsonRpcInvalidParams("codeAction/resolve: not a codeassist fix action (missing data)")
    doc = ls.docs.get(str(data["uri"]))
    if data.get("version") is not None and data["version"] != doc.version:
        raise ContentModified("the document changed since the fix was offered; ask for code actions again")
    start_line, end_line = fix_span(data, len(doc.lines), MAX_PROBLEM_LINES)  # before any model time
    problem = Problem(start_line, end_line, str(data["message"]), str(data.get("source", "")))
    if not ls.host.ready:
        return _no_fix(ls, action, problem, f"the model is not ready ({ls.status.state}: {ls.status.message})")
    text = doc.text
    root = str(find_root(doc.path)) if doc.path else ""
    rel = os.path.relpath(doc.path, root) if doc.path else os.path.basename(doc.uri) or "buffer"
    target = target_for_problem(root, rel, text.replace("\r\n", "\n"), problem)
    verify = fix_verify_mode(ls, doc)
    where = f"{os.path.basename(rel)}:{problem.start_line + 1}"
    async with progress(ls, f"codeassist: fixing {where}", "fix") as p:

        def on_candidate(rf: RankedFix) -> None:  # on the worker thread
            ls.call_soon(lambda: p.report(f"candidate {rf.index + 1}: {rf.verdict.display}"))

        try:
            outcome = await ls.run_job(
                lambda cancel: ls.host.fixer(verify, ls.host.fix_engine()).candidates_for(
                    target, cancel=cancel, on_candidate=on_candidate
                ),
                kind="fix",
                timeout_s=ls.host.fix_cap_s(),
            )
        except JobCancelled:
            p.outcome = "cancelled"
            return _no_fix(ls, action, problem, "the fix was cancelled (a newer request, or the server stopping)")
        best, why = _judge(ls, outcome)
        p.outcome = best.verdict.display if best is not None else why
    if best is None:
        return _no_fix(ls, action, problem, why)
    log.info("fix for lines %d-%d: %s", target.start_line + 1, target.end_line + 1, best.verdict.display,
             extra={"code": best.replacement})  # fmt: skip
    # success is told by the resolved title's verdict (the VS Code extension turns it into a notification)
    action.title = items.fix_title(problem, best.verdict.display)
    action.edit = items.fix_edit(doc.uri, text, best.new_text, ls.encoding)
    return action


def _no_fix(ls: CodeassistServer, action: types.CodeAction, problem: Problem, why: str) -> types.CodeAction:
    """The action without an edit, and the reason as a message the user sees."""
    ls.show(f"codeassist: no fix for line {problem.start_line + 1}: {why}", types.MessageType.Warning)
    action.title = items.fix_title(problem, "no fix")
    action.edit = None
    return action


def _judge(ls: CodeassistServer, outcome: FixOutcome) -> tuple[RankedFix | None, str]:
    """The fix to offer, or None and why not (rejected by a check and how, timed out, no change)."""
    best = outcome.best
    if best is not None:
        return best, ""
    rejected = [c for c in outcome.candidates if c.verdict.rejected]
    if outcome.stopped in ("cancelled", "deadline"):
        tried = f"; {len(rejected)} candidate(s) rejected" if rejected else ""
        return None, (
            f"timed out: no fix was verified within fix_budget_ms = {ls.settings.fix_budget_ms} ms{tried} "
            "(a busy machine? try again, or raise fix_budget_ms)"
        )
    if rejected:
        first = rejected[0].verdict
        evidence = next((t.evidence for t in reversed(first.tiers) if t.status == "failed"), "")
        detail = next((ln for ln in evidence.split("\n")[1:] if ln.strip()), "")
        return None, f"rejected: the proposed fix failed verification ({first.reason}{': ' + detail if detail else ''})"
    return None, "the model proposed no change for this problem"


# -- explain ----------------------------------------------------------------------------------------------------------


async def explain(ls: CodeassistServer, uri: str, rng: types.Range, show_document: bool) -> str:
    """Explain the selected lines with their context, the same service as ``codeassist explain``. The text streams
    as ``$/progress`` reports on a ``codeassist/explain/N`` token (at most every 250 ms); the whole Markdown is the
    command's result."""
    doc, text, a, b = selection(ls, uri, rng)
    if not text[a:b].strip():
        raise InputError("select some code to explain")
    require_ready(ls)
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
                ls.host.fix_engine(), plain, first, last, path=doc.path or name, language=doc.language,
                on_delta=on_delta, max_tokens=max_tokens, cancel=cancel,
            )  # fmt: skip

        p.outcome = "failed"
        try:
            result = await ls.run_job(run, kind="explain", timeout_s=ls.host.fix_cap_s())
        except JobCancelled:
            p.outcome = "cancelled"
            raise RequestFailed("explain was cancelled") from None
        p.outcome = "done"
    lines = f"line {first + 1}" if first == last else f"lines {first + 1}–{last + 1}"
    symbol = f" — `{result.symbol}`" if result.symbol else ""
    cut = ""
    if result.stop_reason in ("cancelled", "time_budget"):
        cut = f"\n\n_(cut short by the time budget: fix_budget_ms = {ls.settings.fix_budget_ms} ms)_"
    elif result.stop_reason == "max_tokens":
        cut = "\n\n_(cut short at the token limit)_"
    cut += "".join(f"\n\n_({note})_" for note in explain_notes(result))
    by = f"\n\n_{result.model}_" if result.model else ""
    markdown = f"### codeassist: {name}, {lines}{symbol}\n\n{result.text}{cut}{by}\n"
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
