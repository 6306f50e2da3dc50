"""pygls protocol subclass: proper errors for malformed requests, and our own document sync.

Why: pygls 2.1 drops a request whose params fail to deserialize (it logs and never answers, so the client waits
forever); the spec wants an ``InvalidParams`` response. And pygls' text documents split lines with
``str.splitlines`` (wrong for LSP), so the sync notifications skip pygls' workspace and go straight to our handlers,
which keep the text with :mod:`codeassist.server.convert`.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from cattrs import transform_error
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

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

    def _send_data(self, data: Any) -> None:
        if self.client_gone:
            return
        try:
            super()._send_data(data)
        except (BrokenPipeError, ConnectionResetError):
            self.client_gone = True
            log.info("the client closed the connection; shutting down")
            stop = getattr(self._server, "_stop_event", None)
            if stop is not None:
                stop.set()  # ends the stdio read loop, so `serve` exits cleanly

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
