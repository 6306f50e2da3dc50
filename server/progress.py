"""Server-initiated work-done progress on pygls' ``create_async``/``begin``/``report``/``end``.

Why a coroutine and not a state machine: ``begin`` must not go out before the client answered
``window/workDoneProgress/create``, and ``end`` must not go out before ``begin``. Awaiting the answer gives that
order for free; the work itself does not wait for it (it runs meanwhile, and reports made before the token exists
are dropped, as the spec allows).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from .app import CodeassistServer

log = logging.getLogger("codeassist.server")
CREATE_TIMEOUT_S = 10.0  # a client that never answers ``create`` gets no progress, not a stuck request
_seq = itertools.count(1)


class Progress:
    """One progress token. ``outcome`` is the ``end`` message (set by the work before it finishes). All methods run
    on the event loop."""

    def __init__(self, ls: CodeassistServer, title: str, kind: str) -> None:
        self.ls = ls
        self.title = title
        self.token: str | None = None  # set once the client created it and ``begin`` went out
        self.name = f"codeassist/{kind}/{next(_seq)}"
        self.outcome = "done"
        self._ended = False

    async def begin(self) -> None:
        if not self.ls.client_supports("window.work_done_progress"):
            return
        try:
            await asyncio.wait_for(self.ls.work_done_progress.create_async(self.name), CREATE_TIMEOUT_S)
        except Exception as exc:  # the client refused or never answered: work without progress
            log.debug("work-done progress %s not created: %s", self.name, exc)
            return
        if self._ended:
            return
        self.token = self.name
        self.ls.work_done_progress.begin(self.token, types.WorkDoneProgressBegin(title=self.title, cancellable=False))

    def report(self, message: str) -> None:
        """A ``report`` (dropped before ``begin`` or after ``end``)."""
        if self.token is not None and not self._ended:
            self.ls.work_done_progress.report(self.token, types.WorkDoneProgressReport(message=message))

    def end(self) -> None:
        if self._ended:
            return
        self._ended = True
        if self.token is not None:
            self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=self.outcome))


@contextlib.asynccontextmanager
async def progress(ls: CodeassistServer, title: str, kind: str) -> AsyncIterator[Progress]:
    """``async with progress(ls, title, kind) as p:`` run the work, set ``p.outcome``; ``end`` follows ``begin``
    (at once, or as soon as the client answered ``create``)."""
    p = Progress(ls, title, kind)
    began = asyncio.ensure_future(p.begin())
    try:
        yield p
    finally:
        if began.done():
            p.end()
        else:
            began.add_done_callback(lambda _f: p.end())
