"""LSP handlers: each validates, delegates to a :class:`~codeassist.server.app.CodeassistServer` method, and
translates errors (bad input → ``InvalidParams``, a failure we can explain → ``RequestFailed``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from codeassist.errors import CodeassistError, InputError

from . import items
from .app import CMD_DEBUG_DOCUMENT, CMD_DEBUG_STATS, CMD_EXPLAIN, CodeassistServer, RequestFailed, ServeOptions
from .config import section_of
from .documents import path_of

log = logging.getLogger("codeassist.server")


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


def create_server(options: ServeOptions | None = None) -> CodeassistServer:
    ls = CodeassistServer(options)

    # -- lifecycle ----------------------------------------------------------------------------------------------------

    @ls.feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams) -> None:
        ls.loop = asyncio.get_running_loop()
        root = params.root_uri or (params.workspace_folders[0].uri if params.workspace_folders else None)
        ls.root = path_of(root) if root else None
        if params.initialization_options is not None:
            ls._layers["init"] = section_of(params.initialization_options)
        ls.settings, ls._startup_errors = ls.compute_settings()

    @ls.feature(types.INITIALIZED)
    def initialized(params: types.InitializedParams) -> None:
        ls.docs.encoding = ls.encoding
        for message in ls._startup_errors:
            ls.show(f"codeassist: {message}")
        log.info("codeassist %s serving (root %s, position encoding %s)", ls.version, ls.root, ls.encoding)
        ls.check_sandbox()
        ls.start_load()

    @ls.feature(types.SHUTDOWN)
    def shutdown(params: None) -> None:
        ls.shutdown_worker()

    # -- documents ----------------------------------------------------------------------------------------------------

    @ls.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        doc = ls.docs.open(params.text_document)
        ls.doc_event("document_opened", doc.path or doc.uri, doc.text, doc.language)

    @ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        doc = ls.docs.change(params)
        if doc is None:
            log.warning("didChange ignored (the document is not open, or out of sync): %s", params.text_document.uri)
            return
        ls.doc_event("document_changed", doc.path or doc.uri, doc.body)  # made a string on the worker

    @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        doc = ls.docs.close(params.text_document.uri)
        if doc is not None:
            ls.worker.cancel_key(doc.uri)
            ls.doc_event("document_closed", doc.path or doc.uri)

    # -- completion ---------------------------------------------------------------------------------------------------

    @ls.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(params: types.InlineCompletionParams) -> types.InlineCompletionList:
        with lsp_errors():
            prep = ls.prepare(params.text_document.uri, params.position)
            if not ls.wants_completion(prep):
                return types.InlineCompletionList(items=[])
            done = await ls.complete(prep)
        if done is None:
            return types.InlineCompletionList(items=[])
        result, insert_at = done
        return items.inline_items(prep.text, insert_at, prep.cursor, result.text, ls.encoding)

    @ls.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(resolve_provider=False))
    async def completion(params: types.CompletionParams) -> types.CompletionList:
        with lsp_errors():
            prep = ls.prepare(params.text_document.uri, params.position)
            if not ls.wants_completion(prep):
                return types.CompletionList(is_incomplete=True, items=[])
            done = await ls.complete(prep)
        if done is None:
            return types.CompletionList(is_incomplete=True, items=[])
        result, _insert_at = done
        return items.completion_list(prep.text, prep.cursor, result.text, ls.encoding)

    # -- code actions -------------------------------------------------------------------------------------------------

    @ls.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix, items.EXPLAIN_KIND], resolve_provider=True
        ),
    )
    async def code_action(params: types.CodeActionParams) -> list[types.CodeAction]:
        with lsp_errors():
            doc, _text, a, b = ls.selection(params.text_document.uri, params.range)
            if not ls.ready or not ls.settings.language_enabled(doc.language):
                return []
            only = params.context.only

            def wanted(kind: str) -> bool:
                return not only or any(kind == str(o) or kind.startswith(f"{o}.") for o in only)

            actions: list[types.CodeAction] = []
            resolvable = ls.client_supports("text_document.code_action.resolve_support")
            if a < b and wanted(items.EXPLAIN_KIND):
                actions.append(items.explain_action(doc.uri, params.range, resolvable))
            if wanted(types.CodeActionKind.QuickFix):
                fixes = ls.fix_actions(doc, params.range, list(params.context.diagnostics))
                if fixes and not resolvable:
                    fixes = [await ls.resolve_fix(f) for f in fixes[:1]]  # no resolve: generate eagerly (slow)
                actions += fixes
            return actions

    @ls.feature(types.CODE_ACTION_RESOLVE)
    async def code_action_resolve(action: types.CodeAction) -> types.CodeAction:
        with lsp_errors():
            if isinstance(action.data, dict) and isinstance(action.data.get("explain"), dict):
                target = action.data["explain"]
                action.command = items.explain_command(str(target.get("uri")), _range_arg(target.get("range")))
                return action
            return await ls.resolve_fix(action)

    # -- commands -----------------------------------------------------------------------------------------------------

    @ls.command(CMD_EXPLAIN)
    async def explain(*args: Any) -> str:
        if len(args) < 2 or not isinstance(args[0], str):
            raise JsonRpcInvalidParams(f"{CMD_EXPLAIN} expects [uri, range, options?], got {list(args)!r}")
        options = args[2] if len(args) > 2 and isinstance(args[2], dict) else {}
        with lsp_errors():
            return await ls.explain(args[0], _range_arg(args[1]), bool(options.get("showDocument", True)))

    @ls.command(CMD_DEBUG_STATS)
    def debug_stats(*args: Any) -> dict[str, Any]:
        return ls.debug_stats()

    @ls.command(CMD_DEBUG_DOCUMENT)
    def debug_document(*args: Any) -> dict[str, Any]:
        """The server's copy of a document (to check sync against the client's)."""
        if not args or not isinstance(args[0], str):
            raise JsonRpcInvalidParams(f"{CMD_DEBUG_DOCUMENT} expects [uri]")
        with lsp_errors():
            doc = ls.docs.get(args[0])
        return {"uri": doc.uri, "version": doc.version, "text": doc.text, "language": doc.language}

    # -- configuration ------------------------------------------------------------------------------------------------

    @ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(params: types.DidChangeConfigurationParams) -> None:
        raw = section_of(params.settings)
        if raw is None or raw == {}:
            if not ls.client_supports("workspace.configuration"):
                return
            try:
                got = await ls.workspace_configuration_async(
                    types.ConfigurationParams(items=[types.ConfigurationItem(section="codeassist")])
                )
            except Exception as exc:
                log.warning("workspace/configuration failed: %s", exc)
                return
            raw = got[0] if got else None
            if raw is None:
                return
        ls._layers["client"] = raw
        settings, errors = ls.compute_settings()
        for message in errors:
            if message.startswith("workspace/didChangeConfiguration"):
                ls.show(f"codeassist: {message}")
        ls.apply_settings(settings)

    return ls
