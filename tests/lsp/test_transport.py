"""``codeassist serve --tcp HOST:PORT``: a raw JSON-RPC exchange over a socket (initialize → shutdown → exit).
No ``initialized`` is sent, so no model loads: this checks the transport and the CLI wiring only."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from typing import Any

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _send(sock: socket.socket, msg: dict[str, Any]) -> None:
    body = json.dumps(msg).encode()
    sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)


def _recv(sock: socket.socket, buf: bytearray) -> dict[str, Any]:
    while True:
        head, sep, rest = bytes(buf).partition(b"\r\n\r\n")
        if sep:
            length = next(
                int(ln.split(b":")[1]) for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")
            )
            if len(rest) >= length:
                del buf[: len(head) + 4 + length]
                result: dict[str, Any] = json.loads(rest[:length])
                return result
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk


def test_tcp_initialize_and_shutdown() -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "codeassist.server", "--tcp", f"127.0.0.1:{port}"])
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        with sock:
            buf = bytearray()
            _send(sock, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}})
            reply = _recv(sock, buf)
            caps = reply["result"]["capabilities"]
            assert caps["inlineCompletionProvider"] is not None and caps["textDocumentSync"]["change"] == 2
            assert "codeassist.explain" in caps["executeCommandProvider"]["commands"]
            assert reply["result"]["serverInfo"]["name"] == "codeassist"
            _send(sock, {"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
            assert _recv(sock, buf)["id"] == 2
            _send(sock, {"jsonrpc": "2.0", "method": "exit"})
    finally:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("server did not exit after shutdown/exit")


def test_bad_tcp_address_is_a_clean_cli_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "codeassist.server", "--tcp", "nonsense"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "HOST:PORT" in result.stderr


def test_stdio_client_vanishing_exits_quietly() -> None:
    """A client that closes its end mid-session (an editor quitting) ends the server without tracebacks."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "codeassist.cli", "serve"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None

    def send(msg: dict[str, Any]) -> None:
        body = json.dumps(msg).encode()
        assert proc.stdin is not None
        proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        proc.stdin.flush()

    send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": None, "capabilities": {}}})
    time.sleep(1.0)
    proc.stdout.close()  # the client stops reading: every write the server makes now hits a closed pipe
    send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    time.sleep(2.0)
    proc.stdin.close()
    assert proc.wait(timeout=60) == 0
    err = proc.stderr.read().decode()
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
