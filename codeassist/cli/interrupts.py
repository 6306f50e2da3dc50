"""Ctrl-C and SIGTERM: stop promptly and clean up what this process started.

Why: SIGTERM's default action ends the process on the spot, so ``finally`` blocks and ``atexit`` never run and the
sandbox containers a command started stay up until some later run sweeps them. Here both signals raise
:class:`Interrupted` (a ``KeyboardInterrupt``) in the main thread, so every command unwinds through its ``finally``
blocks — which close their sandbox pools — and the CLI exits with 128 + the signal number (130 for Ctrl-C, 143 for
SIGTERM). A second signal while that cleanup runs is reported and ignored: aborting the cleanup is what would leave
containers behind (SIGKILL still ends the process; the next run removes containers whose owner is gone).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _State:
    signum: int | None = None


def _handler(signum: int, frame: FrameType | None) -> None:
    if _State.signum is not None:
        sys.stderr.write("codeassist: still cleaning up (closing sandbox containers); this takes a few seconds\n")
        return
    _State.signum = signum
    raise Interrupted(signum)


def install() -> None:
    """Route SIGINT and SIGTERM to :class:`Interrupted` (main thread only; elsewhere signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return
    _State.signum = None
    for sig in HANDLED:
        signal.signal(sig, _handler)


def exit_code(exc: KeyboardInterrupt) -> int:
    return exc.exit_code if isinstance(exc, Interrupted) else 130


def exiting() -> None:
    """The command has finished and the process exits next (the console script). A SIGINT or SIGTERM from here on
    ends it at once with 128 + the signal, its output flushed: not by the default action (killed by the signal, exit
    -15, as a Ctrl-C during interpreter shutdown was) nor by an exception raised into shutdown (a traceback from an
    atexit callback). What the command started is closed already; the containers die with their owner regardless."""
    if threading.current_thread() is not threading.main_thread():
        return
    _flush()
    for sig in HANDLED:
        signal.signal(sig, _exit_now)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe, or a write this signal interrupted (reentrant call)
            stream.flush()


def _exit_now(signum: int, frame: FrameType | None) -> None:
    _flush()
    os._exit(128 + signum)
