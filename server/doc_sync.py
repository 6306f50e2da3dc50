"""Document events for the engine (opened, changed, closed), delivered in order on the worker thread.

Why on the worker: the engine's workspace (parsed documents, symbol index, recent files) must not change under a
running generation, and the events must keep their order. Why coalesced: a typing burst sends a change per
keystroke; consecutive changes to one file become one hook call with the latest text. Why delayed: the hooks re-parse
and re-index the whole file holding the GIL (0.5 s at 5 MB), which would stall the event loop on every key, so
changes wait for :data:`DOC_QUIET_S` without a keystroke (completions bring their own document up to date anyway),
and a change carries the document's chunked text, made a string only on the worker.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING, Any

from .documents import materialized

if TYPE_CHECKING:
    from .app import CodeassistServer

log = logging.getLogger("codeassist.server")
HOOKS = ("document_opened", "document_changed", "document_closed")
DOC_QUIET_S = 0.3  # changes reach the engine once typing pauses this long


class DocEvents:
    """A queue of engine document hooks, drained by the worker before its next job."""

    def __init__(self, ls: CodeassistServer) -> None:
        self.ls = ls
        self._events: list[tuple[str, str, tuple[Any, ...]]] = []
        self._lock = threading.Lock()
        self._posted = False
        self._timer: asyncio.TimerHandle | None = None

    def add(self, hook: str, *args: Any) -> None:
        """Queue ``engine.<hook>(*args)`` (``args[0]`` is the document's path or URI)."""
        assert hook in HOOKS, hook
        with self._lock:
            path = str(args[0])
            if hook == "document_changed" and self._events and self._events[-1][:2] == (hook, path):
                self._events[-1] = (hook, path, args)
            else:
                self._events.append((hook, path, args))
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        loop = self.ls.loop
        if hook == "document_changed" and loop is not None and self.ls.on_loop():
            self._timer = loop.call_later(DOC_QUIET_S, self._post)
        else:
            self._post()

    def _post(self) -> None:
        self._timer = None
        with self._lock:
            if self._posted:
                return
            self._posted = True
        self.ls.worker.post(self._drain)

    def _drain(self) -> None:
        with self._lock:
            events, self._events = self._events, []
            self._posted = False
        engine = self.ls.host.engine
        if engine is None:
            return
        for hook, _path, args in events:
            try:
                getattr(engine, hook)(*materialized(args))  # chunked texts become strings here, off the loop
            except Exception:
                log.exception("engine hook %s failed", hook)
