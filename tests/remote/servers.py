"""Servers for the remote-backend tests, all on 127.0.0.1: a real llama-server (built from the llama.cpp vendored in
the llama-cpp-python sdist: ``make llama-server``), and a deliberately misbehaving proxy in front of it for fault
injection (slow, stalled, garbage, cut streams, errors) — the model itself is never faked."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LLAMA_SERVER = os.path.join(ROOT, "build", "llama.cpp", "bin", "llama-server")
COMPLETION_PATHS = ("/infill", "/completion", "/v1/completions", "/v1/chat/completions")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def llama_server_binary() -> str:
    if not os.access(LLAMA_SERVER, os.X_OK):
        pytest.fail(f"llama-server is not built at {LLAMA_SERVER}: run `make llama-server` (bench/build_llama_cpp.sh)")
    return LLAMA_SERVER


@dataclass
class LlamaServer:
    """A llama-server process we started (and only that one is ever stopped)."""

    url: str
    proc: subprocess.Popen[bytes]
    log: str

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def kill(self) -> None:
        """SIGKILL: the server dies mid-whatever, as in a crash or an OOM kill."""
        self.proc.kill()
        self.proc.wait(10)


def start_llama_server(
    model: str, *extra: str, log_dir: str, threads: int = 1, timeout: float = 180, tls_ca: str | None = None
) -> LlamaServer:
    """Start llama-server on a free loopback port and wait for /health (over TLS, trusting ``tls_ca``, when the
    extra arguments give it a certificate)."""
    port = free_port()
    log = os.path.join(log_dir, f"llama-server-{port}.log")
    cmd = [llama_server_binary(), "-m", model, "--host", "127.0.0.1", "--port", str(port), "-t", str(threads),
           "-tb", str(threads), "-c", "4096", "-np", "2", "-b", "512", "-ub", "512", "--no-webui", *extra]  # fmt: skip
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}  # no spinning threads on a shared CPU
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    server = LlamaServer(f"{'https' if tls_ca else 'http'}://127.0.0.1:{port}", proc, log)
    ctx = ssl.create_default_context(cafile=tls_ca) if tls_ca else None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(log, encoding="utf-8", errors="replace") as fh:
                tail = fh.read()[-2000:]
            pytest.fail(f"llama-server exited with {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(server.url + "/health", timeout=2, context=ctx) as r:
                if r.status == 200:
                    return server
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    server.stop()
    pytest.fail(f"llama-server did not become healthy in {timeout:.0f} s (log: {log})")


@dataclass
class FaultProxy:
    """Forwards to ``upstream``, except that completion requests meet ``mode``:
    ok | slow | stall | garbage | garbage_sse | cut | error500. ``hits`` counts requests per path."""

    upstream: str
    mode: str = "ok"
    hits: dict[str, int] = field(default_factory=dict)
    server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        scheme = "https" if isinstance(self.server.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://127.0.0.1:{self.server.server_address[1]}"

    def start(self, tls: ssl.SSLContext | None = None) -> FaultProxy:
        """Serve on a free loopback port (over TLS with ``tls``, a server-side context)."""
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._handle(None)

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                self._handle(self.rfile.read(n))

            def _handle(self, body: bytes | None) -> None:
                proxy.hits[self.path] = proxy.hits.get(self.path, 0) + 1
                if self.path in COMPLETION_PATHS and proxy.mode != "ok":
                    _misbehave(self, proxy.mode)
                    return
                _forward(self, proxy.upstream, body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _forward(h: http.server.BaseHTTPRequestHandler, upstream: str, body: bytes | None) -> None:
    """Pass the request through; the answer is relayed as it arrives (event streams too), then the connection
    closes (the body is delimited by the close, so chunking never has to be re-encoded)."""
    headers = {k: v for k, v in h.headers.items() if k.lower() in ("content-type", "authorization", "accept")}
    conn = http.client.HTTPConnection(urllib.parse.urlsplit(upstream).netloc, timeout=120)
    try:
        conn.request(h.command, h.path, body=body, headers=headers)
        resp = conn.getresponse()
        h.send_response(resp.status)
        h.send_header("Content-Type", resp.getheader("Content-Type", "application/json"))
        h.send_header("Connection", "close")
        h.end_headers()
        while True:
            line = resp.readline()
            if not line:
                break
            h.wfile.write(line)
            h.wfile.flush()
    except OSError:
        pass
    finally:
        conn.close()
        h.close_connection = True


def _sse(h: http.server.BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.send_header("Connection", "close")
    h.end_headers()


def _misbehave(h: http.server.BaseHTTPRequestHandler, mode: str) -> None:
    choice = {"text": "x = ", "delta": {"content": "x = "}}
    event = {"content": "x = ", "tokens": [], "stop": False, "choices": [choice]}
    if mode == "slow":  # answers long after any sane timeout
        time.sleep(30)
        return
    if mode == "stall":  # starts answering, then goes quiet
        _sse(h)
        h.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        h.wfile.flush()
        time.sleep(30)
        return
    if mode == "garbage":
        data = b"<html><body>502 Bad Gateway (but sent as 200)</body></html>"
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
        return
    if mode == "garbage_sse":
        _sse(h)
        h.wfile.write(b'data: {"content": "x", "tok\n\n')
        h.wfile.flush()
        return
    if mode == "cut":  # two events, then the connection drops without the end of the stream
        _sse(h)
        for _ in range(2):
            h.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            h.wfile.flush()
        h.connection.shutdown(socket.SHUT_RDWR)
        return
    if mode == "error500":
        data = json.dumps({"error": {"message": "CUDA out of memory", "code": 500}}).encode()
        h.send_response(500)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
        return
    raise AssertionError(mode)
