"""The codeassist language server's state and plumbing; the handlers (``handlers.py``) are thin adapters over the
engine's services, one module per concern:

- ``lifecycle.py``: settings layers, the model and the verifier (:class:`~codeassist.server.lifecycle.Host`);
- ``status.py``: ``codeassist/status`` and ``codeassist.debugStats``;
- ``progress.py``: work-done progress on pygls' ``create_async``;
- ``doc_sync.py``: document events for the engine, in order, on the worker;
- ``completion.py``: inline and fallback completions through the completion service;
- ``acceptance.py``: what happened to each suggestion (shown, accepted, dismissed, retained), for the local stats;
- ``code_actions.py``: Explain and Fix (the fix service) and the explain command.

Threads: the asyncio event loop (pygls) handles every message and never runs the model or the sandbox; one
:class:`~codeassist.server.worker.Worker` thread runs every such job. Handlers validate input on the loop (bad input
→ an LSP error at once), submit work and await it, so ``shutdown``, code-action lists and configuration changes are
answered while a generation or a test run is in flight.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer

from codeassist import __version__

from .acceptance import Acceptance
from .config import Settings
from .convert import UTF16
from .debounce import AdaptiveDebounce
from .doc_sync import DocEvents
from .documents import DocumentStore
from .lifecycle import Host, SettingsLayers
from .protocol import CodeassistProtocol
from .status import Status
from .worker import PRIORITY_ACTION, CancelCheck, Job, Worker

log = logging.getLogger("codeassist.server")
T = TypeVar("T")


class RequestFailed(JsonRpcException):
    """LSP ``RequestFailed``: the request was valid but the server could not produce a result."""

    CODE = -32803
    MESSAGE = "Request failed"


class ContentModified(JsonRpcException):
    CODE = -32801
    MESSAGE = "Content modified"


@dataclass
class ServeOptions:
    log_file: str | None = None
    log_code: bool = False
    verbose: bool = False


class CodeassistServer(LanguageServer):
    """State shared by the handlers, and the plumbing between the event loop and the worker."""

    def __init__(self, options: ServeOptions | None = None) -> None:
        super().__init__(
            "codeassist",
            __version__,
            protocol_cls=CodeassistProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.options = options or ServeOptions()
        self.docs = DocumentStore()
        self.worker = Worker()
        self.debounce = AdaptiveDebounce()  # completions' debounce, from the keystroke rhythm
        self.settings = Settings()
        self.settings_layers = SettingsLayers()
        self.startup_errors: list[str] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.root: str | None = None  # the client's workspace folder: where settings files are read
        # every workspace folder the client opened: the project of a file in no project inside one (editor_project)
        self.workspace_folders: tuple[str, ...] = ()
        self.status = Status(self)
        self.host = Host(self)
        self.doc_events = DocEvents(self)
        self.acceptance = Acceptance(self)
        self._tasks: set[asyncio.Future[Any]] = set()

    # -- the event loop -----------------------------------------------------------------------------------------------

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the event loop (from any thread): pygls' writer is not thread-safe."""
        if self.loop is None or self.loop.is_closed():
            return
        if threading.current_thread() is threading.main_thread() and self.on_loop():
            fn()
        else:
            self.loop.call_soon_threadsafe(fn)

    def on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a coroutine on the loop in the background (kept referenced until it finishes)."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def send_log(self, params: types.LogMessageParams) -> None:
        if self.protocol.writer is not None:
            self.call_soon(lambda: self.window_log_message(params))

    def show(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        """``window/showMessage`` (also logged, once, at the matching level)."""
        log.log(logging.ERROR if kind == types.MessageType.Error else logging.WARNING, "%s", message)
        self.call_soon(lambda: self.window_show_message(types.ShowMessageParams(type=kind, message=message)))

    # -- the client ---------------------------------------------------------------------------------------------------

    @property
    def encoding(self) -> str:
        enc = getattr(self.protocol.server_capabilities, "position_encoding", None) if self._initialized() else None
        if enc is None:
            return UTF16
        return str(getattr(enc, "value", enc))

    def _initialized(self) -> bool:
        return getattr(self.protocol, "server_capabilities", None) is not None

    def client_supports(self, dotted: str) -> bool:
        obj: Any = self.protocol.client_capabilities if self._initialized() else None
        for part in dotted.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                return False
        return bool(obj)

    # -- the worker ---------------------------------------------------------------------------------------------------

    async def run_job(
        self,
        fn: Callable[[CancelCheck], T],
        *,
        kind: str,
        timeout_s: float | None,
        key: str | None = None,
        priority: int = PRIORITY_ACTION,
        debounce_s: float = 0.0,
        tag: Any = None,
        spare: Callable[[Job], bool] | None = None,
        outlive_caller: bool = False,
    ) -> T:
        """Submit ``fn`` to the worker and await it; a cancelled request (``$/cancelRequest``) cancels the job too,
        unless it is running and ``outlive_caller`` (:meth:`Worker.submit`, ``tag`` and ``spare`` too). ``fn`` gets the
        job's cancel check (newest-wins, ``$/cancelRequest``, the ``timeout_s`` cap, shutdown)."""
        job = self.worker.submit(fn, kind=kind, key=key, priority=priority, debounce_s=debounce_s, timeout_s=timeout_s,
                                 tag=tag, spare=spare, outlive_caller=outlive_caller)  # fmt: skip
        try:
            result: T = await asyncio.wrap_future(job.future)
            return result
        except asyncio.CancelledError:
            self.worker.abandon(job)
            raise

    def submit(
        self,
        fn: Callable[[CancelCheck], T],
        done: Callable[[T], None],
        *,
        kind: str,
        timeout_s: float | None,
        failed: T,
        priority: int = PRIORITY_ACTION,
        key: str | None = None,
    ) -> None:
        """Fire-and-forget a worker job; ``done`` runs on the loop with its result (``failed`` if it raised or was
        cancelled). With a ``key``, an earlier job of the same kind and key is cancelled (newest wins)."""
        job = self.worker.submit(fn, kind=kind, key=key, priority=priority, timeout_s=timeout_s)

        def finished(fut: concurrent.futures.Future[T]) -> None:
            ok = not fut.cancelled() and fut.exception() is None
            result = fut.result() if ok else failed
            self.call_soon(lambda: done(result))

        job.future.add_done_callback(finished)
