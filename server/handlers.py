"""LSP handlers: each validates, delegates to one concern module over the engine's services, and translates errors
(bad input → ``InvalidParams``, a failure we can explain → ``RequestFailed``). A handler is a few lines; the logic
lives in ``lifecycle.py``, ``completion.py``, ``code_actions.py``, ``status.py`` and the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from codeassist.api import stats_summary
from codeassist.errors import CodeassistError, InputError

from . import code_actions, completion, items, save_checks
from .acceptance import ACCEPT_NOTIFICATION, DISMISS_NOTIFICATION, SHOW_NOTIFICATION
from .app import CodeassistServer, RequestFailed, ServeOptions
from .config import section_of
from .documents import path_of
from .lifecycle import pull_settings

log = logging.getLogger("codeassist.server")

WARM_NOTIFICATION = "codeassist/warm"
CMD_EXPLAIN = "codeassist.explain"
CMD_DEBUG_STATS = "codeassist.debugStats"
CMD_DEBUG_DOCUMENT = "codeassist.debugDocument"
CMD_STATS = "codeassist.stats"
CMD_DELETE_STATS = "codeassist.deleteStats"
CODE_ACTION_OPTIONS = types.CodeActionOptions(
    code_action_kinds=[types.CodeActionKind.QuickFix, items.EXPLAIN_KIND], resolve_provider=True
)


@contextlib.contextmanager
def lsp_errors() -> Iterator[None]:
    try:
        yield
    except InputError as exc:
        raise JsonRpcInvalidParams(exc.message) from None
    except CodeassistError as exc:
        raise RequestFailed(exc.message) from None


def _range_arg(value: Any) -> types.Range:
    try:
        s, e = value["start"], value["end"]
        return types.Range(
            types.Position(int(s["line"]), int(s["character"])), types.Position(int(e["line"]), int(e["character"]))
        )
    except (KeyError, TypeError, ValueError):
        raise JsonRpcInvalidParams(f"expected an LSP Range, got {value!r}") from None


# -- lifecycle ------------------------------------------------------------------------------------------------------


def initialize(ls: CodeassistServer, params: types.InitializeParams) -> None:
    ls.loop = asyncio.get_running_loop()
    root = params.root_uri or (params.workspace_folders[0].uri if params.workspace_folders else None)
    ls.root = path_of(root) if root else None
    folders = [path_of(f.uri) for f in params.workspace_folders or ()] or [ls.root]
    ls.workspace_folders = tuple(f for f in folders if f)
    if params.initialization_options is not None:
        ls.settings_layers.set("init", section_of(params.initialization_options))
    ls.settings, ls.startup_errors = ls.settings_layers.compute(ls.root)


def initialized(ls: CodeassistServer, params: types.InitializedParams) -> None:
    ls.docs.encoding = ls.encoding
    for message in ls.startup_errors:
        ls.show(f"codeassist: {message}")
    log.info("codeassist %s serving (root %s, position encoding %s)", ls.version, ls.root, ls.encoding)
    ls.host.start()


def shutdown(ls: CodeassistServer, params: None) -> None:
    ls.host.shutdown()


async def did_change_configuration(ls: CodeassistServer, params: types.DidChangeConfigurationParams) -> None:
    raw = section_of(params.settings)
    if raw is None or raw == {}:  # the client wants us to pull our section
        raw = await pull_settings(ls)
    if raw is not None:
        ls.host.client_settings(raw)


# -- documents ------------------------------------------------------------------------------------------------------


def did_open(ls: CodeassistServer, params: types.DidOpenTextDocumentParams) -> None:
    doc = ls.docs.open(params.text_document)
    ls.doc_events.add("document_opened", doc.path or doc.uri, doc.text, doc.language)
    if doc.path and ls.host.verifier is not None:
        ls.host.verifier.file_touched(doc.path, saved=False)  # a file created since the last scan: rescan


def did_change(ls: CodeassistServer, params: types.DidChangeTextDocumentParams) -> None:
    doc = ls.docs.change(params)
    if doc is None:
        log.warning("didChange ignored (the document is not open, or out of sync): %s", params.text_document.uri)
        return
    ls.doc_events.add("document_changed", doc.path or doc.uri, doc.body)  # made a string on the worker


def did_save(ls: CodeassistServer, params: types.DidSaveTextDocumentParams) -> None:
    path = path_of(params.text_document.uri)
    if path and ls.host.verifier is not None:
        ls.host.verifier.file_touched(path, saved=True)  # checks read the other files from disk: rescan them
    save_checks.on_save(ls, params.text_document.uri)


def did_close(ls: CodeassistServer, params: types.DidCloseTextDocumentParams) -> None:
    doc = ls.docs.close(params.text_document.uri)
    if doc is not None:
        completion.cancel_document(ls, doc.uri)  # its completions, wherever they are (debounce, model, sandbox)
        ls.doc_events.add("document_closed", doc.path or doc.uri)


# -- completion -----------------------------------------------------------------------------------------------------


async def inline_completion(ls: CodeassistServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
    with lsp_errors():
        prep = completion.prepare(ls, params.text_document.uri, params.position)
        invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        n = ls.settings.candidates if invoked else 1  # typing gets one: its latency stays that of one completion
        done = await completion.complete(ls, prep, n) if prep is not None else None
    if prep is None or done is None:
        return types.InlineCompletionList(items=[])
    at = min(done.insert_at, prep.cursor)
    shown = [(text, ls.acceptance.issue(prep.doc.uri, text, at)) for text in (done.text, *done.alternatives) if text]
    return items.inline_candidates(prep.text, done.insert_at, prep.cursor, shown, ls.encoding)


async def completion_fallback(ls: CodeassistServer, params: types.CompletionParams) -> types.CompletionList:
    with lsp_errors():
        prep = completion.prepare(ls, params.text_document.uri, params.position, completion.ITEM)
        done = await completion.complete(ls, prep) if prep is not None else None
    if prep is None or done is None:
        return types.CompletionList(is_incomplete=True, items=[])
    return items.completion_list(prep.text, prep.cursor, done.text, ls.encoding, partial=done.partial)


def did_warm(ls: CodeassistServer, params: Any) -> None:
    """``codeassist/warm {textDocument: {uri}, position}``: prepare the prompt where the cursor rests
    (:func:`completion.warm_at`). A notification has no reply: a bad one is logged and changes nothing."""
    document, position = _field(params, "textDocument"), _field(params, "position")
    try:
        uri = _field(document, "uri")
        line, character = int(_field(position, "line")), int(_field(position, "character"))
        if not isinstance(uri, str) or line < 0 or character < 0:
            raise ValueError(f"uri {uri!r}, line {line}, character {character}")
        prep = completion.prepare(ls, uri, types.Position(line, character))
    except (TypeError, ValueError, CodeassistError) as exc:
        log.warning("%s ignored (%s): %r", WARM_NOTIFICATION, exc, params)
        return
    if prep is not None:
        completion.warm_at(ls, prep)


# -- acceptance (local stats) ----------------------------------------------------------------------------------------


def _field(params: Any, name: str) -> Any:
    """A field of a custom notification's params (pygls hands them over as objects with attributes)."""
    if isinstance(params, dict):
        return params.get(name)
    return getattr(params, name, None)


def _suggestion_id(params: Any) -> str | None:
    sid = _field(params, "id")
    if not isinstance(sid, str):
        log.warning("acceptance notification without a suggestion id: %r", params)
        return None
    return sid


def did_show(ls: CodeassistServer, params: Any) -> None:
    if (sid := _suggestion_id(params)) is not None:
        ls.acceptance.shown(sid)


def did_accept(ls: CodeassistServer, params: Any) -> None:
    if (sid := _suggestion_id(params)) is None:
        return
    length = _field(params, "acceptedLength")
    ok = isinstance(length, int) and not isinstance(length, bool)
    ls.acceptance.accepted(sid, length if ok else None)


def did_dismiss(ls: CodeassistServer, params: Any) -> None:
    if (sid := _suggestion_id(params)) is not None:
        ls.acceptance.dismissed(sid)


def accept_command(ls: CodeassistServer, *args: Any) -> None:
    """``codeassist.didAccept`` as an inline item's command: ``[{"id", "acceptedLength"?}]``."""
    if not args or _suggestion_id(args[0]) is None:
        raise JsonRpcInvalidParams(f"{items.ACCEPT_COMMAND} expects [{{id, acceptedLength?}}], got {list(args)!r}")
    did_accept(ls, args[0])


def stats_command(ls: CodeassistServer, *args: Any) -> dict[str, Any]:
    """``codeassist.stats``: this workspace's counts, today's and all days'."""
    return stats_summary(ls.acceptance.store.path)


def delete_stats_command(ls: CodeassistServer, *args: Any) -> dict[str, Any]:
    """``codeassist.deleteStats``: remove this workspace's stats file (``codeassist stats --delete`` for all)."""
    return {"deleted": ls.acceptance.delete()}


# -- code actions ---------------------------------------------------------------------------------------------------


async def code_action(ls: CodeassistServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    with lsp_errors():
        doc, _text, a, b = code_actions.selection(ls, params.text_document.uri, params.range)
        if not ls.host.ready or not ls.settings.language_enabled(doc.language):
            return []
        only = [str(o) for o in params.context.only or []]
        resolvable = ls.client_supports("text_document.code_action.resolve_support")
        actions = []
        if a < b and _wanted(items.EXPLAIN_KIND, only):
            actions.append(items.explain_action(doc.uri, params.range, resolvable))
        if _wanted(types.CodeActionKind.QuickFix, only):
            verify = code_actions.fix_verify_mode(ls, doc)
            fixes = code_actions.fix_actions(doc, params.range, list(params.context.diagnostics), verify)
            if fixes and not resolvable:  # no resolve: generate eagerly (slow); an action with no fix is dropped
                fixes = [f for f in [await code_actions.resolve_fix(ls, fixes[0])] if f.edit is not None]
            actions += fixes
        return actions


def _wanted(kind: str, only: list[str]) -> bool:
    return not only or any(kind == o or kind.startswith(f"{o}.") for o in only)


async def code_action_resolve(ls: CodeassistServer, action: types.CodeAction) -> types.CodeAction:
    with lsp_errors():
        if isinstance(action.data, dict) and isinstance(action.data.get("explain"), dict):
            target = action.data["explain"]
            action.command = items.explain_command(str(target.get("uri")), _range_arg(target.get("range")))
            return action
        return await code_actions.resolve_fix(ls, action)


# -- commands -------------------------------------------------------------------------------------------------------


async def explain(ls: CodeassistServer, *args: Any) -> str:
    if len(args) < 2 or not isinstance(args[0], str):
        raise JsonRpcInvalidParams(f"{CMD_EXPLAIN} expects [uri, range, options?], got {list(args)!r}")
    options = args[2] if len(args) > 2 and isinstance(args[2], dict) else {}
    with lsp_errors():
        return await code_actions.explain(ls, args[0], _range_arg(args[1]), bool(options.get("showDocument", True)))


def debug_stats(ls: CodeassistServer, *args: Any) -> dict[str, Any]:
    return ls.status.debug_stats()


def debug_document(ls: CodeassistServer, *args: Any) -> dict[str, Any]:
    """The server's copy of a document (to check sync against the client's)."""
    if not args or not isinstance(args[0], str):
        raise JsonRpcInvalidParams(f"{CMD_DEBUG_DOCUMENT} expects [uri]")
    with lsp_errors():
        doc = ls.docs.get(args[0])
    return {"uri": doc.uri, "version": doc.version, "text": doc.text, "language": doc.language}


FEATURES: tuple[tuple[str, Callable[..., Any], Any], ...] = (
    (types.INITIALIZE, initialize, None),
    (types.INITIALIZED, initialized, None),
    (types.SHUTDOWN, shutdown, None),
    (types.WORKSPACE_DID_CHANGE_CONFIGURATION, did_change_configuration, None),
    (types.TEXT_DOCUMENT_DID_OPEN, did_open, None),
    (types.TEXT_DOCUMENT_DID_CHANGE, did_change, None),
    (types.TEXT_DOCUMENT_DID_CLOSE, did_close, None),
    (types.TEXT_DOCUMENT_DID_SAVE, did_save, None),
    (types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_completion, types.InlineCompletionOptions()),
    (types.TEXT_DOCUMENT_COMPLETION, completion_fallback, types.CompletionOptions(resolve_provider=False)),
    (types.TEXT_DOCUMENT_CODE_ACTION, code_action, CODE_ACTION_OPTIONS),
    (types.CODE_ACTION_RESOLVE, code_action_resolve, None),
    (SHOW_NOTIFICATION, did_show, None),
    (ACCEPT_NOTIFICATION, did_accept, None),
    (DISMISS_NOTIFICATION, did_dismiss, None),
    (WARM_NOTIFICATION, did_warm, None),
)
COMMANDS: tuple[tuple[str, Callable[..., Any]], ...] = (
    (CMD_EXPLAIN, explain),
    (CMD_DEBUG_STATS, debug_stats),
    (CMD_DEBUG_DOCUMENT, debug_document),
    (items.ACCEPT_COMMAND, accept_command),
    (CMD_STATS, stats_command),
    (CMD_DELETE_STATS, delete_stats_command),
)


def create_server(options: ServeOptions | None = None) -> CodeassistServer:
    """A server with every handler registered (pygls passes the server as the first argument: ``ls``)."""
    ls = CodeassistServer(options)
    for method, handler, feature_options in FEATURES:
        ls.feature(method, feature_options)(handler)
    for name, command in COMMANDS:
        ls.command(name)(command)
    return ls
