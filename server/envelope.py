"""JSON-RPC 2.0 envelope checks and the LSP lifecycle gate: what to answer before a message reaches pygls.

Why: pygls assumes a well-formed envelope. A request without a method, with ``"method": null`` or a number, or a
notification-shaped object it cannot classify got no answer at all; an object or array ``id`` was answered -32603 with
a Python traceback in ``data``; a request after ``shutdown`` was dropped, and a ``shutdown`` before ``initialize``
made the server drop everything after it, ``initialize`` included. The rules here are the specs':

- JSON-RPC: a message is an object with ``"jsonrpc": "2.0"``; an ``id`` is an integer or a string; a request has a
  string ``method``; ``params`` is an object or an array. Otherwise -32600 Invalid Request, with ``id: null`` when the
  id itself is unusable. A batch (array) is -32600 too: LSP has no batches.
- LSP: before ``initialize`` every request is answered -32002 ServerNotInitialized and notifications are dropped
  (``exit`` excepted); a second ``initialize`` is -32600 and a second ``initialized`` is dropped (it would reload the
  model); after ``shutdown`` requests are -32600 and only ``exit`` is processed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
PARSE_ERROR = -32700
SERVER_NOT_INITIALIZED = -32002

MsgId = int | str


@dataclass(frozen=True)
class Reject:
    """Do not dispatch. ``answer``: send an error with ``msg_id`` (None → ``id: null``); else only log ``message``."""

    code: int
    message: str
    msg_id: MsgId | None = None
    answer: bool = True


def valid_id(value: Any) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool)


def check(value: Any) -> Reject | None:
    """None when ``value`` is a well-formed JSON-RPC 2.0 message (request, notification or response)."""
    if isinstance(value, list):
        return Reject(INVALID_REQUEST, "batch messages are not supported (LSP does not use JSON-RPC batches)")
    if not isinstance(value, dict):
        return Reject(INVALID_REQUEST, f"a message must be a JSON object, got {type(value).__name__}")
    has_id = "id" in value
    msg_id = value.get("id")
    good_id = valid_id(msg_id)
    answer_id = msg_id if good_id else None
    if "method" not in value:
        if has_id and ("result" in value or "error" in value):
            if good_id or msg_id is None:
                return None  # a response to one of our requests
            return Reject(INVALID_REQUEST, "a response with an unusable id", answer=False)
        return Reject(INVALID_REQUEST, "a request needs a string method", answer_id)
    if not isinstance(value["method"], str):
        return Reject(INVALID_REQUEST, f"method must be a string, got {_kind(value['method'])}", answer_id)
    if has_id and not good_id:
        return Reject(INVALID_REQUEST, f"id must be an integer or a string, got {_kind(msg_id)}")
    if value.get("jsonrpc") != "2.0":
        return Reject(INVALID_REQUEST, 'jsonrpc must be "2.0"', answer_id, answer=has_id)
    params = value.get("params")
    if "params" in value and params is not None and not isinstance(params, dict | list):
        return Reject(INVALID_PARAMS, f"params must be an object or an array, got {_kind(params)}", answer_id, has_id)
    return None


_KINDS = {bool: "boolean", dict: "object", list: "array", type(None): "null"}


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)


class Lifecycle:
    """initialize → running → shutdown, as LSP orders them. :meth:`admit` is asked for every checked message."""

    def __init__(self) -> None:
        self.phase = "new"  # new | running | shutdown
        self.initialized = False  # the `initialized` notification came (it starts the model load: once only)

    def admit(self, value: dict[str, Any]) -> Reject | None:
        method = value.get("method")
        if method is None:
            return None  # responses are always welcome
        is_request = "id" in value
        msg_id = value["id"] if is_request else None
        if method == "exit":
            return None
        if self.phase == "new":
            if method == "initialize" and is_request:
                return None
            if is_request:
                return Reject(SERVER_NOT_INITIALIZED, f"{method}: the server is not initialized yet", msg_id)
            return Reject(SERVER_NOT_INITIALIZED, f"dropped {method}: the server is not initialized", answer=False)
        if self.phase == "shutdown":
            return Reject(INVALID_REQUEST, f"{method}: the server is shutting down", msg_id, answer=is_request)
        if method == "initialize":
            return Reject(INVALID_REQUEST, "initialize was already received", msg_id, answer=is_request)
        if method == "initialized" and self.initialized:
            return Reject(INVALID_REQUEST, "dropped a second initialized notification", answer=False)
        return None

    def dispatched(self, method: str) -> None:
        """A message passed the checks and its params were valid: move on where it says so."""
        if method == "initialize" and self.phase == "new":
            self.phase = "running"
        elif method == "shutdown" and self.phase == "running":
            self.phase = "shutdown"
        elif method == "initialized" and self.phase == "running":
            self.initialized = True
