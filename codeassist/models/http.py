"""A small HTTP(S) client for inference servers: JSON calls with retries, and server-sent-event streams that a
cancel check or a deadline can cut at any moment.

Why our own (stdlib ``http.client``) instead of a client library: the engine must be able to abandon a request the
instant a newer keystroke arrives or the post-processor has seen enough, and it must never wait past the configured
timeout — blocking reads cannot offer that, so a stream is read on a helper thread and the caller waits on a queue,
checking ``cancel`` and the deadlines every few milliseconds; abandoning closes the socket (which is also how
llama-server learns to stop generating). Connections are kept alive and reused: on loopback a new TCP connection
costs little, a TLS handshake does not.

Secrets: the API key is read from the named environment variable at each request, sent only as a header, and never
stored in an attribute, a log line or an error message.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from codeassist.errors import ModelError

# Error kinds, for status lines and the circuit breaker.
UNREACHABLE, TIMEOUT, AUTH, HTTP, BAD_RESPONSE, MODEL, CANCELLED, CONFIG = (
    "unreachable", "timeout", "auth", "http", "bad_response", "model", "cancelled", "config",
)  # fmt: skip
_POLL_S = 0.02  # how often a waiting stream checks cancel and the deadlines (each wake-up costs CPU: measured
# ~100 ms of client CPU per 18 s request at 5 ms; a newer keystroke still wins within 20 ms)
_KEEP_IDLE_S = 2.0  # reuse a kept-alive connection only this long (servers drop idle ones after ~5 s)


class RemoteError(ModelError):
    """A remote inference call failed; ``kind`` says how (see the constants above)."""

    def __init__(self, kind: str, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.kind = kind
        self.status = status


@dataclass(frozen=True)
class Endpoint:
    """Where a server is and how to talk to it. Holds the *name* of the key's environment variable, never the key."""

    url: str
    api_key_env: str | None = None
    timeout_s: float = 5.0
    ca_file: str | None = None  # PEM bundle to trust (self-signed team servers); None = the system's

    def api_key(self) -> str | None:
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise RemoteError(
                AUTH, f"the API key variable {self.api_key_env} is not set in this environment",
                hint=f"export {self.api_key_env}=... in the environment the editor or CLI starts from",
            )  # fmt: skip
        return key


def parse_url(url: str) -> urllib.parse.SplitResult:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteError(CONFIG, f"server url must be http://host:port or https://host:port, got {url!r}")
    return parts


class HttpClient:
    """JSON and SSE calls to one server, with a small pool of kept-alive connections (thread-safe)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        parts = parse_url(endpoint.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 80)
        self._base = parts.path.rstrip("/")
        self._ssl: ssl.SSLContext | None = None
        if self._https:
            self._ssl = ssl.create_default_context(cafile=endpoint.ca_file)
        self._idle: list[tuple[float, http.client.HTTPConnection]] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HttpClient({self.endpoint.url!r})"

    # -- connections ---------------------------------------------------------------------------------------------------

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout, context=self._ssl)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _take(self, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        """A kept-alive connection that has not idled too long, else a new one. Returns (connection, reused)."""
        now = time.monotonic()
        with self._lock:
            stale = [c for t, c in self._idle if now - t >= _KEEP_IDLE_S]
            self._idle = [(t, c) for t, c in self._idle if now - t < _KEEP_IDLE_S]
            conn = self._idle.pop()[1] if self._idle else None
        for old in stale:
            old.close()
        if conn is None:
            return self._connect(timeout), False
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn, True

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < 4:
                self._idle.append((time.monotonic(), conn))
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for _, conn in idle:
            conn.close()

    def _headers(self, body: bytes | None) -> dict[str, str]:
        headers = {"Accept": "application/json, text/event-stream", "User-Agent": "codeassist"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        key = self.endpoint.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _send(
        self, method: str, path: str, body: bytes | None, timeout: float, box: list[Any] | None = None
    ) -> tuple[Any, Any]:
        """Send a request and return (connection, response), reconnecting once when a reused connection turns out
        to have been closed by the server while idle (nothing reached the server: safe to resend). ``box`` receives
        the connection before any blocking call, so another thread can abort it."""
        for attempt in (0, 1):
            conn, reused = self._take(timeout)
            if box is not None:
                box[:] = [conn]
            try:
                conn.request(method, self._base + path, body=body, headers=self._headers(body))
                return conn, conn.getresponse()
            except (http.client.RemoteDisconnected, http.client.ImproperConnectionState, BrokenPipeError,
                    ConnectionResetError) as exc:  # fmt: skip
                conn.close()
                if reused and attempt == 0:
                    continue
                raise _wrap(exc, self.endpoint.url, timeout) from exc
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise _wrap(exc, self.endpoint.url, timeout) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # -- JSON ----------------------------------------------------------------------------------------------------------

    def json(self, method: str, path: str, body: Any = None, *, timeout: float | None = None, retries: int = 0) -> Any:
        """One JSON call. ``retries`` (for idempotent calls) retries unreachable / timeout / 502-504 answers with
        exponential backoff (50 ms, 100 ms, …) within the timeout."""
        total = timeout if timeout is not None else self.endpoint.timeout_s
        deadline = time.monotonic() + total
        delay = 0.05
        for attempt in range(retries + 1):
            try:
                return self._json_once(method, path, body, max(0.05, deadline - time.monotonic()))
            except RemoteError as exc:
                retryable = exc.kind in (UNREACHABLE, TIMEOUT) or exc.status in (502, 503, 504)
                if not retryable or attempt == retries or time.monotonic() + delay >= deadline:
                    raise
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _json_once(self, method: str, path: str, body: Any, timeout: float) -> Any:
        data = None if body is None else json.dumps(body).encode()
        conn, resp = self._send(method, path, data, timeout)
        try:
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise _wrap(exc, self.endpoint.url, timeout) from exc
        if resp.status >= 400:
            conn.close()
            raise http_error(resp.status, raw, self.endpoint)
        self._give_back(conn)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise RemoteError(BAD_RESPONSE, f"{self.endpoint.url}{path} answered with something that is not JSON: "
                              f"{_snippet(raw)}") from exc  # fmt: skip

    # -- server-sent events --------------------------------------------------------------------------------------------

    def stream(
        self,
        path: str,
        body: Any,
        on_event: Callable[[dict[str, Any]], bool],
        *,
        cancel: Callable[[], bool] | None = None,
        timeout: float | None = None,
        idle_timeout: float | None = None,
    ) -> str:
        """POST ``body`` and feed each SSE ``data:`` object to ``on_event`` until the stream ends ("done" after
        ``[DONE]``, "eof" when it just ends: the caller judges whether its last event was final), ``on_event``
        returns False ("stopped"), or ``cancel()`` is true ("cancelled"). The whole exchange must end within
        ``timeout``, and no gap between events may exceed ``idle_timeout``, or it is abandoned with a TIMEOUT error;
        a broken stream is UNREACHABLE."""
        total = timeout if timeout is not None else self.endpoint.timeout_s
        idle = idle_timeout if idle_timeout is not None else total
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        conn_box: list[http.client.HTTPConnection] = []
        reader = threading.Thread(
            target=self._read_stream, args=(path, body, total, events, conn_box), name="codeassist-http-stream",
            daemon=True,
        )  # fmt: skip
        deadline = time.monotonic() + total
        quiet_until = time.monotonic() + idle
        reader.start()
        outcome = "done"
        try:
            while True:
                if cancel is not None and cancel():
                    outcome = "cancelled"
                    break
                now = time.monotonic()
                if now >= deadline:
                    raise RemoteError(TIMEOUT, f"{self.endpoint.url} did not finish answering within {total:.1f} s")
                if now >= quiet_until:
                    raise RemoteError(TIMEOUT, f"{self.endpoint.url} sent nothing for {idle:.1f} s")
                try:
                    kind, item = events.get(timeout=min(_POLL_S, deadline - now, quiet_until - now))
                except queue.Empty:
                    continue
                quiet_until = time.monotonic() + idle
                if kind == "error":
                    raise item
                if kind == "end":
                    conn, saw_done = item
                    self._give_back(conn)
                    return "done" if saw_done else "eof"
                if not on_event(item):
                    outcome = "stopped"
                    break
        except BaseException:
            _abort(conn_box)
            raise
        _abort(conn_box)  # stopping early: closing the connection tells the server to stop generating
        return outcome

    def _read_stream(
        self, path: str, body: Any, total: float, events: queue.Queue[tuple[str, Any]], box: list[Any]
    ) -> None:
        """The reader thread: every outcome, even one nobody waits for any more, ends as one item in ``events``."""
        try:
            conn, resp = self._send("POST", path, json.dumps(body).encode(), total, box)
            if resp.status >= 400:
                events.put(("error", http_error(resp.status, resp.read(), self.endpoint)))
                return
            saw_done = False
            for event in _sse_events(resp):
                if event is _DONE:
                    saw_done = True
                    continue
                events.put(("event", event))
            resp.read()  # after [DONE] the stream's end is still unread: drain it, or the connection cannot be reused
            events.put(("end", (conn, saw_done)))
        except RemoteError as exc:
            events.put(("error", exc))
        except Exception as exc:  # OSError, HTTPException, or the connection closed under us by the caller
            events.put(("error", _wrap(exc, self.endpoint.url, total, mid_stream=True)))


def _abort(conn_box: list[http.client.HTTPConnection]) -> None:
    for conn in conn_box:
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        conn.close()


_DONE: dict[str, Any] = {}  # yielded (compared by identity) for OpenAI's "data: [DONE]"


def _sse_events(resp: Any) -> Iterator[dict[str, Any]]:
    """``data:`` objects of a text/event-stream (llama-server and OpenAI style); ``[DONE]`` ends it. A JSON body in
    place of a stream (a server that ignored ``stream``) is yielded as one event."""
    ctype = str(resp.getheader("Content-Type", ""))
    if "event-stream" not in ctype:
        raw = resp.read()
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise RemoteError(BAD_RESPONSE, f"expected an event stream, got {ctype or 'no content type'}: "
                              f"{_snippet(raw)}") from exc  # fmt: skip
        if not isinstance(data, dict):
            raise RemoteError(BAD_RESPONSE, f"expected a JSON object, got {_snippet(raw)}")
        yield data
        return
    while True:
        line = resp.readline()
        if not line:
            return
        text = line.decode("utf-8", errors="replace").strip()
        if not text or text.startswith(":"):
            continue
        field, _, value = text.partition(":")
        value = value.strip()
        if field == "error":  # llama-server reports a failure inside the stream this way
            raise RemoteError(HTTP, f"server error in stream: {value[:300]}")
        if field != "data":
            continue
        if value == "[DONE]":
            yield _DONE
            return
        try:
            event = json.loads(value)
        except ValueError as exc:
            raise RemoteError(BAD_RESPONSE, f"malformed event in stream: {value[:200]!r}") from exc
        if not isinstance(event, dict):
            raise RemoteError(BAD_RESPONSE, f"malformed event in stream: {value[:200]!r}")
        if "error" in event:
            raise RemoteError(HTTP, f"server error in stream: {_error_text(event)}")
        yield event


def _error_text(data: Any) -> str:
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return str(err.get("message") or err)[:300]
    return str(err if err is not None else data)[:300]


def _snippet(raw: bytes) -> str:
    text = raw[:160].decode("utf-8", errors="replace").replace("\n", " ")
    return repr(text + ("…" if len(raw) > 160 else ""))


def http_error(status: int, raw: bytes, endpoint: Endpoint) -> RemoteError:
    try:
        detail = _error_text(json.loads(raw))
    except ValueError:
        detail = _snippet(raw)
    if status in (401, 403):
        var = endpoint.api_key_env
        hint = f"check the key in ${var}" if var else "set api_key_env to the variable that holds the server's key"
        return RemoteError(AUTH, f"{endpoint.url} refused the request ({status}: {detail})", hint=hint, status=status)
    return RemoteError(HTTP, f"{endpoint.url} answered {status}: {detail}", status=status)


def _wrap(exc: BaseException, url: str, timeout: float, *, mid_stream: bool = False) -> RemoteError:
    if isinstance(exc, TimeoutError | socket.timeout):
        return RemoteError(TIMEOUT, f"{url} did not answer within {timeout:.1f} s")
    if isinstance(exc, ssl.SSLError):
        return RemoteError(UNREACHABLE, f"TLS with {url} failed: {exc.reason or exc}",
                           hint="set tls_ca to the server's CA certificate (PEM) if it is self-signed")  # fmt: skip
    if isinstance(exc, ValueError) and not mid_stream:
        return RemoteError(BAD_RESPONSE, f"{url} sent a malformed response: {exc}")
    if mid_stream:
        return RemoteError(UNREACHABLE, f"the connection to {url} broke mid-answer ({type(exc).__name__})")
    return RemoteError(UNREACHABLE, f"cannot reach {url}: {exc}")
