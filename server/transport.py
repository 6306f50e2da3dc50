"""How ``codeassist serve`` talks: a private protocol channel, our framing layer, and the exit code LSP asks for.

Why a private channel: llama-cpp-python's ``Llama(verbose=False)`` points fd 1 at /dev/null while a model loads
(a ``dup2``); with the protocol on fd 1, every reply written in that window vanished (522 of 4,500 across 15 cold
starts) and the editor waited forever. Any C library or stray ``print`` could do the same or worse (corrupt a frame).
So ``serve_stdio`` first moves the protocol to private descriptors: fd 1 is pointed at stderr (stray output lands in
the editor's log) and fd 0 at /dev/null (a child process cannot eat our input); replies go to a dup of the original
stdout that nothing else knows about.

Why our own read loop: pygls' reader wedges on one bad frame (see :mod:`codeassist.server.framing`). Here a thread
reads and frames the input (big bodies are decoded off the event loop), and the event loop dispatches each message
through :meth:`CodeassistProtocol.receive`. ``exit`` without ``shutdown`` ends with code 1, after it 0 (the spec);
pygls swallowed that code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer

from .framing import Event, FrameParser
from .protocol import CodeassistProtocol

log = logging.getLogger("codeassist.server")
STALL_S = 0.3  # a body with no new bytes for this long is checked for a wrong (too long) Content-Length
READ_SIZE = 1 << 20
MAX_PENDING = 256  # framed batches waiting for the event loop before the reader stops reading (backpressure)


def isolate_stdio() -> tuple[int, int]:
    """Move the protocol off fds 0 and 1: returns private (input, output) descriptors; fd 1 becomes stderr (or
    /dev/null when there is none) and fd 0 /dev/null. Private fds are not inherited by child processes."""
    proto_in, proto_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    try:
        os.dup2(null, 0)
        try:
            os.fstat(2)
            os.dup2(2, 1)
        except OSError:
            os.dup2(null, 1)
    finally:
        os.close(null)
    return proto_in, proto_out


class _Session:
    """Delivers framing events to the protocol on the event loop; ends with an exit code."""

    def __init__(self, protocol: CodeassistProtocol, loop: asyncio.AbstractEventLoop) -> None:
        self.protocol = protocol
        self.loop = loop
        self.done: asyncio.Future[int] = loop.create_future()

    def finish(self, code: int) -> None:
        if not self.done.done():
            self.done.set_result(code)

    def deliver(self, events: list[Event]) -> None:
        for event in events:
            if self.done.done():
                return
            try:
                self.protocol.receive(event)
            except SystemExit:
                self.finish(self.protocol.exit_code if self.protocol.exit_code is not None else 0)
            except Exception:  # one message must never take the server down
                log.exception("failed to handle a message")


def _read_loop(fd: int, session: _Session, stop: threading.Event) -> None:
    """The reader thread: read, frame, post events to the loop (waiting when it is MAX_PENDING batches behind)."""
    parser = FrameParser()
    slots = threading.BoundedSemaphore(MAX_PENDING)

    def post(events: list[Event], end: bool = False) -> None:
        if not events and not end:
            return
        slots.acquire()

        def run() -> None:
            try:
                session.deliver(events)
                if end:
                    session.finish(0)
            finally:
                slots.release()

        try:
            session.loop.call_soon_threadsafe(run)
        except RuntimeError:  # the loop is closed: the session is over
            stop.set()

    while not stop.is_set():
        ready, _, _ = select.select([fd], [], [], STALL_S if parser.pending_body else 1.0)
        if not ready:
            post(parser.stalled())
            continue
        try:
            data = os.read(fd, READ_SIZE)
        except OSError as exc:
            log.info("stdin read failed (%s); ending the session", exc)
            data = b""
        if not data:
            post(parser.eof(), end=True)
            return
        post(parser.feed(data))


async def _serve_fds(server: LanguageServer, fd_in: int, out: BinaryIO) -> int:
    protocol = server.protocol
    assert isinstance(protocol, CodeassistProtocol)
    session = _Session(protocol, asyncio.get_running_loop())
    stop = threading.Event()
    server._stop_event = stop  # the protocol sets it when the client goes away
    protocol.set_writer(StdoutWriter(out))
    reader = threading.Thread(target=_read_loop, args=(fd_in, session, stop), name="codeassist-stdin", daemon=True)
    reader.start()
    watcher = asyncio.ensure_future(asyncio.to_thread(stop.wait))
    watcher.add_done_callback(lambda _f: session.finish(0))
    try:
        return await session.done
    finally:
        stop.set()


def serve_stdio(server: LanguageServer) -> int:
    """Serve LSP on stdin/stdout until ``exit`` or the end of input; returns the process exit code."""
    fd_in, fd_out = isolate_stdio()
    out = os.fdopen(fd_out, "wb")
    try:
        return asyncio.run(_serve_fds(server, fd_in, out))
    finally:
        server.shutdown()  # type: ignore[no-untyped-call]
        with contextlib.suppress(OSError):
            out.close()
        with contextlib.suppress(OSError):
            os.close(fd_in)


def serve_tcp(server: LanguageServer, host: str, port: int, on_listening: Callable[[], Any] | None = None) -> int:
    """Serve one client on HOST:PORT (like pygls' ``start_tcp``), with our framing; returns the exit code."""
    return asyncio.run(_serve_tcp(server, host, port, on_listening))


async def _serve_tcp(server: LanguageServer, host: str, port: int, on_listening: Callable[[], Any] | None) -> int:
    protocol = server.protocol
    assert isinstance(protocol, CodeassistProtocol)
    session = _Session(protocol, asyncio.get_running_loop())
    stop = threading.Event()
    server._stop_event = stop
    busy = False

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal busy
        if busy:  # one client per server process, as with stdio
            writer.close()
            return
        busy = True
        protocol.set_writer(writer)  # StreamWriter has write/close like pygls' writers
        parser = FrameParser()
        try:
            while not session.done.done() and not stop.is_set():
                try:
                    data = await asyncio.wait_for(reader.read(READ_SIZE), STALL_S if parser.pending_body else None)
                except asyncio.TimeoutError:
                    session.deliver(parser.stalled())
                    continue
                except ConnectionError:
                    data = b""
                if not data:
                    session.deliver(parser.eof())
                    break
                session.deliver(parser.feed(data))
        finally:
            session.finish(protocol.exit_code if protocol.exit_code is not None else 0)

    listener = await asyncio.start_server(connection, host, port)
    log.info("serving on %s", ", ".join(str(s.getsockname()) for s in listener.sockets))
    if on_listening is not None:
        on_listening()
    try:
        async with listener:
            return await session.done
    finally:
        stop.set()
        server.shutdown()  # type: ignore[no-untyped-call]
