"""pygls protocol subclass: every message checked before pygls sees it, proper errors for malformed requests, and
our own document sync.

Why: pygls 2.1 drops a request whose params fail to deserialize (it logs and never answers, so the client waits
forever); the spec wants an ``InvalidParams`` response. Messages arrive here from our framing layer
(:meth:`CodeassistProtocol.receive`, fed by :mod:`codeassist.server.transport`), which answers what pygls would not:
-32700 for a body that is not JSON, the envelope and lifecycle errors of :mod:`codeassist.server.envelope`, and a
body that is not UTF-8 (see :meth:`CodeassistProtocol._undecodable`). And pygls' text documents split lines with
``str.splitlines`` (wrong for LSP), so the sync notifications skip pygls' workspace and go straight to our handlers,
which keep the text with :mod:`codeassist.server.convert`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from cattrs import transform_error
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from . import envelope, framing
from .documents import DocumentStore

log = logging.getLogger("codeassist.server")
# pygls logs a full traceback before re-raising a write to a closed pipe; we handle that case (see _send_data).
logging.getLogger("pygls.protocol.json_rpc").addFilter(lambda record: "BrokenPipeError" not in record.getMessage())


@dataclass
class InvalidRequest:
    """Stands in for a request whose params did not match the method's schema."""

    id: int | str
    method: str
    reason: str
    jsonrpc: str = "2.0"


def _reason(exc: BaseException) -> str:
    cause = exc.__cause__
    if cause is None:
        return str(exc)
    try:
        details = transform_error(cause, path="params")
        return "; ".join(details[:5]) or str(cause)
    except Exception:
        return str(cause)


class CodeassistProtocol(LanguageServerProtocol):
    """LanguageServerProtocol with InvalidParams answers, LSP-exact text sync, and a quiet exit when the client
    goes away (pygls logs a traceback for every write to a closed pipe)."""

    client_gone = False
    exit_code: int | None = None  # set when ``exit`` ends the session
    _lifecycle: envelope.Lifecycle | None = None

    @property
    def lifecycle(self) -> envelope.Lifecycle:
        if self._lifecycle is None:
            self._lifecycle = envelope.Lifecycle()
        return self._lifecycle

    def _send_data(self, data: Any) -> None:
        if self.client_gone or self.exit_code is not None:  # after `exit` the writer is closed
            return
        try:
            super()._send_data(data)
        except (BrokenPipeError, ConnectionResetError):
            self.client_gone = True
            log.info("the client closed the connection; shutting down")
            stop = getattr(self._server, "_stop_event", None)
            if stop is not None:
                stop.set()  # ends the read loop, so `serve` exits cleanly

    def send_error(self, msg_id: envelope.MsgId | None, code: int, message: str) -> None:
        """A JSON-RPC error response (``id: null`` when the request's id could not be known)."""
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}})

    # -- from the framing layer ---------------------------------------------------------------------------------------

    def receive(self, event: framing.Event) -> None:
        """One framing event (on the event loop). Raises SystemExit only for ``exit``, as pygls does."""
        if isinstance(event, framing.Message):
            if event.note:
                log.warning("framing: %s", event.note)
            self.receive_value(event.value)
        elif isinstance(event, framing.Malformed):
            log.warning("parse error: %s", event.reason)
            self.send_error(None, envelope.PARSE_ERROR, f"Parse error: {event.reason}")
        elif isinstance(event, framing.Undecodable):
            self._undecodable(event)
        elif isinstance(event, framing.Oversized):
            message = f"message of {event.length} bytes exceeds the limit of {framing.MAX_BODY} bytes; discarded"
            log.warning("framing: %s", message)
            if event.msg_id is not None:
                self.send_error(event.msg_id, envelope.INVALID_REQUEST, message)
        else:
            log.warning("framing: skipped %d bytes: %s", event.size, event.reason)

    def receive_value(self, value: Any) -> None:
        """A decoded JSON value: checked (envelope, lifecycle, params) before pygls dispatches it."""
        reject = envelope.check(value) or self.lifecycle.admit(value)
        if reject is not None:
            log.warning("rejected a message: %s", reject.message)
            if reject.answer:
                self.send_error(reject.msg_id, reject.code, reject.message)
            return
        if "method" in value:
            value.setdefault("params", None)  # JSON-RPC lets a request omit params; pygls' types want the key
        try:
            message = self.structure_message(value)
        except JsonRpcException as exc:  # pygls could not build a message object from a well-formed envelope
            log.warning("could not read a %s message: %s", value.get("method", "response"), _reason(exc))
            if "method" in value and "id" in value:
                self.send_error(value["id"], envelope.INVALID_REQUEST, f"invalid message: {_reason(exc)}")
            return
        if isinstance(value.get("method"), str) and not isinstance(message, InvalidRequest):
            self.lifecycle.dispatched(value["method"])
        try:
            self.handle_message(message)
        except SystemExit as exc:
            self.exit_code = exc.code if isinstance(exc.code, int) else 1
            raise

    def _undecodable(self, event: framing.Undecodable) -> None:
        """A body that is not UTF-8. A request is answered -32700 (with its id when a lenient read finds it). A
        ``didOpen``/``didChange`` would silently desynchronise the document if dropped, so the document is marked
        out of sync instead: its requests answer ContentModified until the client sends the full text, and the user
        is told once with ``window/showMessage``."""
        try:
            value = json.loads(event.body.decode("utf-8", errors="replace"))
        except (ValueError, RecursionError):
            value = None
        if not isinstance(value, dict):
            self.send_error(None, envelope.PARSE_ERROR, f"Parse error: {event.reason}")
            return
        method, msg_id = value.get("method"), value.get("id")
        log.warning("%s: the message body is not UTF-8 (%s)", method or "a response", event.reason)
        if "id" in value and method is not None:
            answer_id = msg_id if envelope.valid_id(msg_id) else None
            self.send_error(answer_id, envelope.PARSE_ERROR, f"Parse error: {event.reason}")
            return
        params = value.get("params")
        document = params.get("textDocument") if isinstance(params, dict) else None
        if method in (types.TEXT_DOCUMENT_DID_OPEN, types.TEXT_DOCUMENT_DID_CHANGE) and isinstance(document, dict):
            self._desync(document, f"{method} carried bytes that are not UTF-8 ({event.reason})")

    def _desync(self, document: dict[str, Any], reason: str) -> None:
        uri, version = document.get("uri"), document.get("version")
        docs = getattr(self._server, "docs", None)
        if not isinstance(uri, str) or not isinstance(docs, DocumentStore) or self.lifecycle.phase != "running":
            return
        language = str(document.get("languageId", ""))
        if not docs.mark_stale(uri, version if isinstance(version, int) else None, reason, language):
            log.warning("%s is still out of sync: %s", uri, reason)
            return
        message = f"codeassist: {uri} is out of sync: {reason}. Requests on it fail until the editor resends it."
        log.error("%s", message)
        self._server.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=message))

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcInvalidParams as exc:
            if isinstance(data, dict) and "id" in data and isinstance(data.get("method"), str):
                return InvalidRequest(data["id"], data["method"], _reason(exc))
            raise

    def handle_message(self, message: Any) -> None:
        if isinstance(message, InvalidRequest):
            log.warning("invalid params for %s: %s", message.method, message.reason)
            error = JsonRpcInvalidParams(f"invalid params for {message.method}: {message.reason}")
            self._send_response(message.id, None, error.to_response_error())
            return
        super().handle_message(message)

    # Sync notifications: straight to our handlers (see module docstring).

    def _user(self, method: str, params: Any) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Generator[Any, Any, None]:
        yield from self._user(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Generator[Any, Any, None]:
        yield from self._user(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> Generator[Any, Any, None]:
        yield from self._user(types.TEXT_DOCUMENT_DID_CLOSE, params)
