"""Ctrl-C and SIGTERM: stop promptly and clean up what this process started.

Why: SIGTERM's default action ends the process on the spot, so ``finally`` blocks and ``atexit`` never run and the
sandbox containers a command started stay up until some later run sweeps them. Here both signals raise
:class:`Interrupted` (a ``KeyboardInterrupt``) in the main thread, so every command unwinds through its ``finally``
blocks — which close their sandbox pools — and the CLI exits with 128 + the signal number (130 for Ctrl-C, 143 for
SIGTERM). A second signal while that cleanup runs is reported and ignored: aborting the cleanup is what would leave
containers behind (SIGKILL still ends the process; the next run removes containers whose owner is gone).
"""

from __future__ import annotations

import atexit
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
    exiting = False


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
    must not kill it by the default action (exit -15, no flush) nor raise into shutdown (a traceback from an atexit
    callback): while atexit callbacks run it exits at once with 128 + the signal, output flushed; once they are done
    (:func:`_ignore_late`) it is ignored. What the command started is closed already; containers die with their
    owner regardless."""
    if threading.current_thread() is not threading.main_thread():
        return
    _State.exiting = True
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


def _ignore_late() -> None:
    """Registered when the CLI is imported, before any command's module registers its own, so it runs last. After
    the atexit callbacks the interpreter resets every signal with a Python handler to its default action and tears
    its modules down (that takes a while): a SIGTERM then killed a finished run (-15). An ignored signal it leaves
    ignored, so the run ends with its own exit code."""
    if _State.exiting and threading.current_thread() is threading.main_thread():
        for sig in HANDLED:
            signal.signal(sig, signal.SIG_IGN)


atexit.register(_ignore_late)
