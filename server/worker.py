"""The single inference worker: one thread owns the model; newest request per document wins.

Why one thread: llama.cpp runs one sequence at a time here and the engine serialises model calls anyway, so more
threads would only queue on a lock while holding stale requests alive. Why newest-wins: while the user types, every
keystroke makes the previous completion request worthless (copilot-language-server's "cancel-previous"; Tabby's
debounce). A job waits out its debounce first, so a burst of keystrokes produces one generation, not hundreds; a job
already running is told to stop through its ``cancel`` check, which the engine polls between prompt batches and
between tokens. The same check enforces the hard wall-clock cap (``timeout_s``) on prompt evaluation + generation.

Nothing here knows about LSP: handlers submit plain callables and await the returned future.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger("codeassist.server.worker")

CancelCheck = Callable[[], bool]

# Lower runs first when several jobs are ready: the model load, then user-invoked actions, then completions.
PRIORITY_LOAD = 0
PRIORITY_ACTION = 1
PRIORITY_COMPLETION = 2
# Background work (warming the KV cache after a capped request, prefetching the accepted state): runs only when
# nothing else is queued (below the background checks, server/background_check.py, at PRIORITY_COMPLETION + 1), and
# any real request's submission (load, action, completion) cancels it at once (it stops at its next cancel check,
# within a prompt chunk: codeassist/models/prompt_eval.py).
PRIORITY_BACKGROUND = 4


class JobCancelled(Exception):
    """The job was superseded by a newer one, cancelled by the client, or the worker stopped."""


@dataclass
class WorkerStats:
    """Counters for ``codeassist.debugStats`` and the storm test."""

    submitted: int = 0
    started: int = 0  # jobs whose callable ran (for completions: generations run)
    completed: int = 0  # ran to the end without being cancelled
    cancelled_pending: int = 0  # dropped before running (superseded during debounce, or $/cancelRequest)
    cancelled_running: int = 0  # told to stop mid-run
    # background work (PRIORITY_BACKGROUND) dropped or stopped, counted apart from the two above: a real request
    # cancelling it is the rule, not a superseded request
    cancelled_background: int = 0
    timed_out: int = 0  # hit the hard wall-clock cap
    failed: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)  # started, per kind

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(eq=False)
class Job:
    """One unit of model work. ``fn`` receives the cancel check it must poll."""

    fn: Callable[[CancelCheck], Any]
    kind: str
    key: str | None
    priority: int
    ready_at: float
    timeout_s: float | None
    seq: int
    future: concurrent.futures.Future[Any] = field(default_factory=concurrent.futures.Future)
    cancelled: threading.Event = field(default_factory=threading.Event)
    deadline: float | None = None
    running: bool = False
    # what the job computes for (for completions: the document text and cursor); ``submit``'s ``spare`` reads it
    tag: Any = None
    # a running job whose caller gave up finishes anyway (its result lands in a cache: a completion the user may be
    # typing into); it still stops when a newer job of its key does not spare it, or at its cap
    outlive_caller: bool = False

    def should_stop(self) -> bool:
        if self.cancelled.is_set():
            return True
        return self.deadline is not None and time.monotonic() > self.deadline


class Worker:
    """One background thread running submitted jobs, newest-wins per key."""

    def __init__(self, name: str = "codeassist-inference") -> None:
        self.stats = WorkerStats()
        self._cond = threading.Condition()
        self._pending: list[Job] = []
        self._running: Job | None = None
        self._housekeeping: deque[Callable[[], None]] = deque()
        self._seq = itertools.count()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # -- submitting -------------------------------------------------------------------------------------------------

    def submit(
        self,
        fn: Callable[[CancelCheck], Any],
        *,
        kind: str,
        key: str | None = None,
        priority: int = PRIORITY_COMPLETION,
        debounce_s: float = 0.0,
        timeout_s: float | None = None,
        tag: Any = None,
        spare: Callable[[Job], bool] | None = None,
        outlive_caller: bool = False,
    ) -> Job:
        """Queue ``fn``. With a ``key``, every earlier job of the same kind and key is cancelled (newest wins); a real
        request (priority up to ``PRIORITY_COMPLETION``) cancels all background work, and every running job whose
        caller gave up (``outlive_caller``). A running job ``spare`` accepts is never cancelled here: its result will
        serve this job (a completion the user is typing into)."""
        job = Job(
            fn=fn,
            kind=kind,
            key=key,
            priority=priority,
            ready_at=time.monotonic() + max(0.0, debounce_s),
            timeout_s=timeout_s,
            seq=next(self._seq),
            tag=tag,
            outlive_caller=outlive_caller,
        )
        with self._cond:
            if self._stopping:
                _resolve(job.future, exc=JobCancelled("server is shutting down"))
                return job
            self.stats.submitted += 1
            for old in [*self._pending, *([self._running] if self._running else [])]:
                if old.running and spare is not None and spare(old):
                    continue  # its result will serve this job
                same_key = key is not None and old.key == key and old.kind == kind
                real = priority <= PRIORITY_COMPLETION
                # a job finishing for a caller that gave up (outlive_caller) yields to any real work it does not serve
                orphan = old.running and old.outlive_caller and old.future.cancelled()
                if same_key or (real and (orphan or old.priority >= PRIORITY_BACKGROUND)):
                    self._cancel_locked(old)
            self._pending.append(job)
            self._cond.notify_all()
        job.future.add_done_callback(lambda _f: self._on_future_done(job))
        return job

    def post(self, fn: Callable[[], None]) -> None:
        """Run a short callable on the worker thread before the next job (for engine document hooks, which must not
        race with a generation and must keep their order)."""
        with self._cond:
            self._housekeeping.append(fn)
            self._cond.notify_all()

    def cancel(self, job: Job) -> None:
        with self._cond:
            self._cancel_locked(job)

    def abandon(self, job: Job) -> None:
        """The caller no longer wants ``job``'s result: cancel it, unless it is running and outlives its caller."""
        with self._cond:
            if not (job.running and job.outlive_caller):
                self._cancel_locked(job)

    def cancel_key(self, key: str) -> None:
        """Cancel every job for ``key`` (a closed document)."""
        with self._cond:
            for job in [*self._pending, *([self._running] if self._running else [])]:
                if job.key == key:
                    self._cancel_locked(job)

    def cancel_all(self, kind: str | None = None) -> None:
        with self._cond:
            for job in [*self._pending, *([self._running] if self._running else [])]:
                if kind is None or job.kind == kind:
                    self._cancel_locked(job)

    def _cancel_locked(self, job: Job) -> None:
        if job.cancelled.is_set():
            return
        job.cancelled.set()
        if not job.running and job in self._pending:
            self._pending.remove(job)
            self._count_cancel(job, pending=True)
            _resolve(job.future, exc=JobCancelled("superseded"))
        self._cond.notify_all()

    def _count_cancel(self, job: Job, *, pending: bool) -> None:
        if job.priority >= PRIORITY_BACKGROUND:
            self.stats.cancelled_background += 1
        elif pending:
            self.stats.cancelled_pending += 1
        else:
            self.stats.cancelled_running += 1

    def _on_future_done(self, job: Job) -> None:
        """The caller gave up on the future (asyncio's ``wrap_future`` cancels it when the awaiting request is
        cancelled): stop the job too, unless it outlives its caller (:meth:`abandon`)."""
        if job.future.cancelled():
            self.abandon(job)

    # -- introspection ----------------------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def busy(self) -> bool:
        return self._running is not None

    @property
    def running(self) -> Job | None:
        """The job running now (None when idle); a snapshot: it may finish at any moment."""
        return self._running

    def queue_depth(self) -> int:
        """Jobs waiting, background work (which yields to anything) left out: :meth:`background_queued`."""
        with self._cond:
            return sum(1 for j in self._pending if j.priority < PRIORITY_BACKGROUND)

    def background_queued(self) -> int:
        with self._cond:
            return sum(1 for j in self._pending if j.priority >= PRIORITY_BACKGROUND)

    # -- lifecycle --------------------------------------------------------------------------------------------------

    def stop(self, timeout_s: float = 5.0) -> None:
        """Cancel everything and end the thread (the running job stops at its next cancel check)."""
        with self._cond:
            self._stopping = True
            for job in list(self._pending):
                self._cancel_locked(job)
            if self._running is not None:
                self._running.cancelled.set()
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)

    # -- the loop ---------------------------------------------------------------------------------------------------

    def _next(self) -> Job | Callable[[], None] | None:
        """Block until there is housekeeping or a ready job; None when stopping."""
        with self._cond:
            while True:
                if self._stopping:
                    return None
                if self._housekeeping:
                    return self._housekeeping.popleft()
                now = time.monotonic()
                ready = [j for j in self._pending if j.ready_at <= now]
                if ready:
                    job = min(ready, key=lambda j: (j.priority, j.seq))
                    self._pending.remove(job)
                    job.running = True
                    self._running = job
                    return job
                wait = min((j.ready_at for j in self._pending), default=now + 3600) - now
                self._cond.wait(timeout=max(0.001, wait))

    def _loop(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            if not isinstance(item, Job):
                try:
                    item()
                except Exception:
                    log.exception("housekeeping task failed")
                continue
            try:
                self._run(item)
            except Exception:  # the worker must outlive any job
                log.exception("worker: job %s failed unexpectedly", item.kind)
                with self._cond:
                    self._running = None

    def _run(self, job: Job) -> None:
        self.stats.started += 1
        self.stats.by_kind[job.kind] = self.stats.by_kind.get(job.kind, 0) + 1
        if job.timeout_s is not None:
            job.deadline = time.monotonic() + job.timeout_s
        try:
            result = job.fn(job.should_stop)
        except BaseException as exc:
            with self._cond:
                self._running = None
                if job.cancelled.is_set():
                    self._count_cancel(job, pending=False)
                    _resolve(job.future, exc=JobCancelled("cancelled"))
                else:
                    self.stats.failed += 1
                    _resolve(job.future, exc=exc)
            if not isinstance(exc, Exception):
                raise
            return
        with self._cond:
            self._running = None
            if job.cancelled.is_set():
                self._count_cancel(job, pending=False)
                _resolve(job.future, exc=JobCancelled("cancelled"))
                return
            if job.deadline is not None and time.monotonic() > job.deadline:
                self.stats.timed_out += 1
            self.stats.completed += 1
            _resolve(job.future, result=result)


def _resolve(future: concurrent.futures.Future[Any], *, result: Any = None, exc: BaseException | None = None) -> None:
    """Settle ``future`` unless its owner already cancelled it (a cancelled Future refuses results)."""
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)
    except concurrent.futures.InvalidStateError:
        pass
