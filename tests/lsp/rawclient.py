"""A raw JSON-RPC client for ``codeassist serve`` over real stdio, for the robustness and stress suites.

Why not pytest-lsp's client: these suites send bytes no typed client would (broken frames, bad envelopes) and need
to see exactly what comes back. The reader is strict on purpose: every byte the server writes on stdout must be a
well-formed frame, so a stray print or a lost write on the protocol channel fails the suite.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

SERVER = [sys.executable, "-m", "codeassist.server"]


def frame(body: bytes | str) -> bytes:
    data = body.encode() if isinstance(body, str) else body
    return b"Content-Length: %d\r\n\r\n" % len(data) + data


def message(obj: Any) -> bytes:
    return frame(json.dumps(obj))


@dataclass
class Received:
    """Everything the server wrote, split by kind."""

    replies: dict[Any, list[dict[str, Any]]] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    null_id_errors: list[dict[str, Any]] = field(default_factory=list)
    protocol_errors: list[str] = field(default_factory=list)  # bytes on stdout that are not a proper frame


class RawServer:
    """One ``codeassist serve`` process. ``settings`` answers ``workspace/configuration`` pulls."""

    def __init__(self, root: str, args: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.stderr_file = tempfile.NamedTemporaryFile(  # noqa: SIM115  # closed in close()
            prefix="codeassist-stderr-", suffix=".log", delete=False
        )
        self.proc = subprocess.Popen(
            [*SERVER, *(args or [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr_file,
            env={**os.environ, **(env or {})},
        )
        self.got = Received()
        self.settings: Any = None
        self._cond = threading.Condition()
        self._next_id = 0
        self._write_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="rawclient-reader", daemon=True)
        self._reader.start()

    # -- sending ----------------------------------------------------------------------------------------------------

    def send_bytes(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        with self._write_lock:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def send(self, obj: Any) -> None:
        self.send_bytes(message(obj))

    def new_id(self) -> int:
        with self._cond:
            self._next_id += 1
            return self._next_id

    def request(self, method: str, params: Any = None) -> int:
        msg_id = self.new_id()
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return msg_id

    def notify(self, method: str, params: Any = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    def call(self, method: str, params: Any = None, timeout: float = 60.0) -> dict[str, Any]:
        return self.wait_reply(self.request(method, params), timeout)

    def initialize(self, options: dict[str, Any] | None = None, caps: dict[str, Any] | None = None) -> dict[str, Any]:
        params = {
            "processId": os.getpid(),
            "rootUri": f"file://{self.root}",
            "capabilities": caps if caps is not None else {"window": {"workDoneProgress": True}},
            "initializationOptions": options or {},
        }
        reply = self.call("initialize", params)
        self.notify("initialized", {})
        return reply

    # -- receiving --------------------------------------------------------------------------------------------------

    def wait_reply(self, msg_id: Any, timeout: float = 60.0) -> dict[str, Any]:
        key = json.dumps(msg_id)
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self.got.replies.get(key):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise TimeoutError(f"no reply to id {msg_id!r} within {timeout}s; {self.describe()}")
                self._cond.wait(min(left, 0.2))
            return self.got.replies[key][0]

    def wait_new_reply(self, msg_id: Any, seen: int, timeout: float = 60.0) -> dict[str, Any]:
        """The reply to ``msg_id`` after the first ``seen`` ones (suites that reuse ids on purpose)."""
        key = json.dumps(msg_id)
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.got.replies.get(key, [])) <= seen:
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise TimeoutError(f"no new reply to id {msg_id!r} within {timeout}s; {self.describe()}")
                self._cond.wait(min(left, 0.2))
            return self.got.replies[key][seen]

    def replies_to(self, msg_id: Any) -> list[dict[str, Any]]:
        with self._cond:
            return list(self.got.replies.get(json.dumps(msg_id), []))

    def wait_status(self, state: str, timeout: float = 180.0, after: int = 0) -> dict[str, Any]:
        """The first ``codeassist/status`` with ``state`` among the notifications from index ``after`` on."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for note in self.got.notifications[after:]:
                    if note.get("method") == "codeassist/status" and note["params"].get("state") == state:
                        return dict(note["params"])
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {state!r} status within {timeout}s; {self.describe()}")
                self._cond.wait(min(left, 0.2))

    def notification_count(self) -> int:
        with self._cond:
            return len(self.got.notifications)

    def stderr(self) -> str:
        with open(self.stderr_file.name, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def describe(self) -> str:
        errors = self.got.protocol_errors[:3]
        return f"rc={self.proc.poll()}, protocol errors={errors}, stderr tail={self.stderr()[-800:]!r}"

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = self._read_header(out)
            if length is None:
                break
            body = out.read(length)
            if len(body) < length:
                self._fail(f"truncated body ({len(body)} of {length} bytes)")
                break
            try:
                msg = json.loads(body)
            except ValueError as exc:
                self._fail(f"body is not JSON ({exc}): {body[:80]!r}")
                continue
            self._dispatch(msg)
        with self._cond:
            self._cond.notify_all()

    def _read_header(self, out: Any) -> int | None:
        length: int | None = None
        while True:
            line = out.readline()
            if not line:
                return None
            if line == b"\r\n":
                if length is None:
                    self._fail("header block without Content-Length")
                return length
            name, sep, value = line.decode("ascii", errors="replace").partition(":")
            if not sep or not line.endswith(b"\r\n"):
                self._fail(f"not a header line: {line[:80]!r}")
                continue
            if name.strip().lower() == "content-length":
                length = int(value.strip())

    def _fail(self, what: str) -> None:
        with self._cond:
            self.got.protocol_errors.append(what)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        if "method" in msg and "id" in msg:  # a server -> client request: answer it like an editor would
            result: Any = None
            if msg["method"] == "workspace/configuration":
                result = [self.settings for _ in msg.get("params", {}).get("items", [])]
            self.send({"jsonrpc": "2.0", "id": msg["id"], "result": result})
            return
        with self._cond:
            if "method" in msg:
                self.got.notifications.append(msg)
            elif msg.get("id") is None:
                self.got.null_id_errors.append(msg)
            else:
                self.got.replies.setdefault(json.dumps(msg["id"]), []).append(msg)
            self._cond.notify_all()

    # -- ending -----------------------------------------------------------------------------------------------------

    def shutdown_and_exit(self, timeout: float = 60.0) -> int:
        reply = self.call("shutdown", timeout=timeout)
        assert "error" not in reply, reply
        self.notify("exit")
        return self.wait_exit(timeout)

    def wait_exit(self, timeout: float = 60.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._reader.join(timeout=5)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self.stderr_file.close()
        os.unlink(self.stderr_file.name)
