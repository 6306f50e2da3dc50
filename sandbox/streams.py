"""A hijacked Docker stream (an attach or an exec's stdio) as a real socket, whatever the engine's transport.

Why: the runner channel and exec jobs wait on their stream with ``select()`` and non-blocking ``recv``/``send``. Over
unix:// and tcp:// docker-py hands back a socket; over ``ssh://`` it hands back an ``SSHSocket`` — a
``socket.socket`` subclass that is never connected, whose reads and writes go to the pipes of an ``ssh … docker
system dial-stdio`` process. ``select()`` on it never fires, so every pooled container over ssh looked dead and
every job waited for its deadline. :func:`as_socket` bridges such a stream to one end of a ``socketpair`` with two
pump threads, so the rest of the sandbox sees the same kind of socket on every engine.

Closing semantics match a socket's: the caller's ``shutdown(SHUT_WR)`` or ``close()`` ends the ssh process's stdin
(the container's or the exec's stdin sees EOF, as with a direct connection); the stream's end (the container or exec
finished, ssh died) is EOF on the caller's socket; a caller gone for good makes the pump terminate ssh.
"""

from __future__ import annotations

import contextlib
import io
import socket
import subprocess
import threading
from typing import Any

_CHUNK = 65536


def as_socket(raw: Any) -> socket.socket:
    """The stream ``attach_socket``/``exec_start(socket=True)`` returned, as a socket ``select()`` works on."""
    sock = getattr(raw, "_sock", raw)
    proc = getattr(sock, "proc", None)
    if isinstance(proc, subprocess.Popen):  # docker-py's ssh:// transport: a subprocess's pipes
        return _bridge(proc)
    assert isinstance(sock, socket.socket)
    return sock


def _bridge(proc: subprocess.Popen[bytes]) -> socket.socket:
    ours, theirs = socket.socketpair()
    assert proc.stdin is not None and isinstance(proc.stdout, io.BufferedReader)  # Popen's default buffering
    stdin, stdout = proc.stdin, proc.stdout

    def down() -> None:  # the engine → the caller
        try:
            while chunk := stdout.read1(_CHUNK):  # read1: bytes the HTTP parser left buffered come first
                theirs.sendall(chunk)
        except OSError:  # the caller closed its end: nobody reads any more
            with contextlib.suppress(OSError):
                proc.terminate()
        finally:
            with contextlib.suppress(OSError):
                theirs.shutdown(socket.SHUT_WR)

    def up() -> None:  # the caller → the engine
        try:
            while chunk := theirs.recv(_CHUNK):
                stdin.write(chunk)
                stdin.flush()
        except (OSError, ValueError):  # ssh is gone (broken pipe) or its stdin was closed
            pass
        finally:
            with contextlib.suppress(OSError, ValueError):
                stdin.close()

    for target, name in ((down, "ssh-stream-down"), (up, "ssh-stream-up")):
        threading.Thread(target=target, name=name, daemon=True).start()
    return ours
