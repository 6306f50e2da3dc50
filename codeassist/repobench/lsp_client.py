"""A small JSON-RPC client for a language server over stdio (the benchmark talks to ``codeassist serve`` exactly as
an editor does). Single-threaded: reads with ``select`` and keeps notifications for the caller."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from codeassist.errors import CodeassistError

Message = dict[str, Any]


class LspError(CodeassistError):
    """The language server answered with an error, went away, or did not answer in time."""


class LspClient:
    def __init__(
        self,
        cmd: Sequence[str],
        *,
        cwd: str | None = None,
        stderr: IO[bytes] | None = None,
        env: Mapping[str, str] | None = None,
        inherit_env: bool = True,
    ) -> None:
        """``env`` is added to this process's environment, or with ``inherit_env=False`` is the whole environment
        (so a benchmark can run the server without a variable it has)."""
        self.proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr or subprocess.DEVNULL,
            cwd=cwd,
            env=({**os.environ, **env} if inherit_env else dict(env)) if env else None,
        )
        self._next_id = 0
        self._buf = b""
        self.notifications: list[Message] = []

    def _send(self, msg: Message) -> None:
        assert self.proc.stdin is not None
        body = json.dumps({"jsonrpc": "2.0", **msg}).encode()
        try:
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise LspError(f"the language server went away ({self.proc.poll()})") from exc

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: Any, timeout: float = 120.0) -> Any:
        self._next_id += 1
        rid = self._next_id
        self._send({"id": rid, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(deadline)
            if msg.get("id") == rid and "method" not in msg:
                if "error" in msg:
                    raise LspError(f"{method}: {msg['error'].get('message', msg['error'])}")
                return msg.get("result")
            self._handle(msg)

    def wait_for(self, pred: Callable[[Message], bool], timeout: float, *, since: int = 0) -> Message | None:
        """The first notification (at index ``since`` or later) matching ``pred``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            for msg in self.notifications[since:]:
                if pred(msg):
                    return msg
            since = len(self.notifications)
            try:
                msg = self._read(deadline)
            except TimeoutError:
                return None
            self._handle(msg)

    def _handle(self, msg: Message) -> None:
        if "method" in msg and "id" in msg:  # a server->client request: answer it like a plain editor would
            result: Any = None
            if msg["method"] == "workspace/configuration":
                result = [None for _ in msg.get("params", {}).get("items", [])]
            self._send({"id": msg["id"], "result": result})
        elif "method" in msg:
            self.notifications.append(msg)

    def _read(self, deadline: float) -> Message:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while True:
            head, sep, rest = self._buf.partition(b"\r\n\r\n")
            if sep:
                length = next(
                    int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")
                )
                if len(rest) >= length:
                    self._buf = rest[length:]
                    msg: Message = json.loads(rest[:length])
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from the language server")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise LspError(f"the language server exited ({self.proc.wait(5)})")
                self._buf += chunk

    def close(self) -> None:
        """shutdown + exit, then make sure the process we started is gone."""
        with contextlib.suppress(Exception):
            self.request("shutdown", None, timeout=15)
            self.notify("exit", None)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
