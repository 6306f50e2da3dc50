"""llama.cpp's output, kept off the process's descriptors.

Why: llama-cpp-python's quiet mode (``Llama(verbose=False)``) ``dup2``s fds 1 and 2 to /dev/null for a whole model
load, process-wide; for ``codeassist serve`` fd 1 was the LSP channel and replies written meanwhile vanished. So we
load with ``verbose=True`` and take its output ourselves: llama.cpp's log lines go to Python logging
(``codeassist.llama``, DEBUG) for the life of the process, and the loading thread's Python prints (the model's whole
metadata, the system info) go there too; other threads' writes to stderr are untouched.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

_LLAMA_LOG = logging.getLogger("codeassist.llama")
_collectors: list[list[str]] = []  # llama.cpp log lines of the loads in progress (for their error messages)
_collectors_lock = threading.Lock()
_callback: Any = None  # the installed ctypes callback: must stay referenced for the life of the process


def _route_llama_log() -> None:
    """Once per process: llama.cpp's log goes to Python logging (``codeassist.llama``, DEBUG), never to a descriptor
    (stdout is the LSP channel for `codeassist serve`, JSON for the CLI)."""
    global _callback
    if _callback is not None:
        return
    # llama_cpp loads its native library on import: only once a model is loaded
    import llama_cpp

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def _cb(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        line = text.decode("utf-8", errors="replace")
        with _collectors_lock:
            for sink in _collectors:
                sink.append(line)
        if line.strip():
            _LLAMA_LOG.debug("%s", line.rstrip("\n"))

    llama_cpp.llama_log_set(_cb, ctypes.c_void_p(0))
    _callback = _cb


class _ThreadStderr:
    """``sys.stderr`` while one thread loads a model: that thread's writes (llama-cpp-python's verbose prints: the
    model's whole metadata, the system info) go to the log; every other thread's go to the real stderr."""

    def __init__(self, real: Any, sink: list[str]) -> None:
        self._real, self._sink, self._thread = real, sink, threading.get_ident()

    def write(self, text: str) -> int:
        if threading.get_ident() == self._thread:
            self._sink.append(text)
            return len(text)
        return int(self._real.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@contextlib.contextmanager
def load_output() -> Iterator[list[str]]:
    """Collect llama.cpp's log lines and the loading thread's Python prints during a load."""
    _route_llama_log()
    lines: list[str] = []
    with _collectors_lock:
        _collectors.append(lines)
    real = sys.stderr
    proxy = _ThreadStderr(real, lines)
    sys.stderr = proxy
    try:
        yield lines
    finally:
        if sys.stderr is proxy:
            sys.stderr = real
        with _collectors_lock:
            _collectors.remove(lines)
