"""What happened to each inline suggestion, told by the client, counted in the local stats file
(:mod:`codeassist.acceptance`).

Every inline item the server returns carries an id, in its ``command`` (``codeassist.didAccept`` with
``[{"id": …}]``), which an editor runs when the user accepts the whole item: generic clients (Neovim 0.12's
``vim.lsp.inline_completion``, VS Code's inline completions) count full acceptance with no plugin code. Plugins also
send
``codeassist/didShow {id}``, ``codeassist/didAccept {id, acceptedLength}`` (partial acceptance: how much of the item's
``insertText``, in position-encoding units, so far) and ``codeassist/didDismiss {id}``. A shown suggestion that was
neither accepted nor dismissed when the next one is shown in the same document counts as dismissed.

Retention: ``retention_checks_s`` after the first acceptance (30 s and 2 min by default) the accepted text is looked
for in the document text the server holds (the saved file once the editor closed it), and the characters still
present are counted. The suggestion's text is
kept in memory only, for those checks; the stats file holds counts.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from codeassist.api import (
    NO_WORKSPACE,
    AcceptanceStore,
    Delta,
    delete_workspace_stats,
    empty_day,
    retained_chars,
    retention_label,
    saved_text,
)
from codeassist.errors import InputError

from .convert import units
from .documents import path_of

if TYPE_CHECKING:
    from .app import CodeassistServer

log = logging.getLogger("codeassist.server")
SHOW_NOTIFICATION = "codeassist/didShow"
ACCEPT_NOTIFICATION = "codeassist/didAccept"
DISMISS_NOTIFICATION = "codeassist/didDismiss"
KEEP = 500  # suggestions remembered for late notifications (their text is in memory only)


@dataclass
class Suggestion:
    id: str
    uri: str
    text: str  # the item's insertText
    offset: int  # code-point offset where it goes in (the item's range start)
    shown: bool = False
    accepted: int = 0  # code points of text accepted so far
    dismissed: bool = False
    accepted_at: float | None = None


def code_points(text: str, length: int, encoding: str) -> int:
    """How many code points of ``text`` make ``length`` units of the position encoding (clamped to the text)."""
    total = 0
    for i, ch in enumerate(text):
        if total >= length:
            return i
        total += units(ch, encoding)
    return len(text)


class Acceptance:
    """The suggestions of this session and their outcomes; each outcome goes to the stats file at once."""

    def __init__(self, ls: CodeassistServer) -> None:
        self.ls = ls
        self._items: OrderedDict[str, Suggestion] = OrderedDict()
        self._last_shown: dict[str, Suggestion] = {}
        self._seq = 0
        self._store: AcceptanceStore | None = None
        self._today: dict[str, Any] | None = None

    @property
    def enabled(self) -> bool:
        return self.ls.settings.stats

    @property
    def store(self) -> AcceptanceStore:
        if self._store is None or self._store.workspace != (self.ls.root or NO_WORKSPACE):
            self._store = AcceptanceStore(self.ls.root)
            self._today = None
        return self._store

    # -- events -------------------------------------------------------------------------------------------------------

    def issue(self, uri: str, text: str, offset: int) -> str:
        """A new suggestion about to be returned: its id."""
        self._seq += 1
        sid = f"s{self._seq}-{int(time.time() * 1000) % 100_000_000}"
        self._items[sid] = Suggestion(sid, uri, text, offset)
        while len(self._items) > KEEP:
            self._items.popitem(last=False)
        return sid

    def shown(self, sid: str) -> None:
        s = self._items.get(sid)
        if s is None or s.shown or not self.enabled:
            return
        s.shown = True
        delta = Delta().add("shown").add("chars_shown", len(s.text))
        previous = self._last_shown.get(s.uri)
        if previous is not None and previous is not s and not previous.accepted and not previous.dismissed:
            previous.dismissed = True
            delta.add("dismissed")
        self._last_shown[s.uri] = s
        self._record(delta)

    def accepted(self, sid: str, length: int | None) -> None:
        """Accepted: the whole item (``length`` None) or its first ``length`` position-encoding units, cumulative."""
        s = self._items.get(sid)
        if s is None or not self.enabled:
            return
        if not s.shown:
            self.shown(sid)
        n = len(s.text) if length is None else code_points(s.text, max(0, length), self.ls.encoding)
        if n <= s.accepted:
            return
        delta = Delta().add("chars_accepted", n - s.accepted)
        full, was_full = n >= len(s.text), s.accepted >= len(s.text)
        if s.accepted == 0:
            delta.add("accepted").add("accepted_full" if full else "accepted_partial")
        elif full and not was_full:
            delta.add("accepted_partial", -1).add("accepted_full")
        if s.dismissed:  # counted dismissed by a newer suggestion before this (late) acceptance arrived
            s.dismissed = False
            delta.add("dismissed", -1)
        s.accepted = n
        log.debug("suggestion %s accepted: %d of %d characters", sid, n, len(s.text))
        self._record(delta)
        if s.accepted_at is None:
            s.accepted_at = time.monotonic()
            self._schedule_checks(s)

    def dismissed(self, sid: str) -> None:
        s = self._items.get(sid)
        if s is None or not self.enabled or s.accepted or s.dismissed:
            return
        if not s.shown:
            self.shown(sid)
        s.dismissed = True
        self._record(Delta().add("dismissed"))

    # -- retention ----------------------------------------------------------------------------------------------------

    def _schedule_checks(self, s: Suggestion) -> None:
        loop = self.ls.loop
        if loop is None:
            return
        for delay in self.ls.settings.retention_checks_s:
            loop.call_later(delay, self._check, s, retention_label(delay))

    def _check(self, s: Suggestion, label: str) -> None:
        text = self._text_of(s.uri)
        if text is None:  # closed and not a readable file: nothing to check against (the check is not counted)
            log.debug("retention check %s of %s skipped: no text for %s", label, s.id, s.uri)
            return
        accepted = s.text[: s.accepted]
        present = retained_chars(accepted, text, s.offset)
        log.debug("retention %s of %s: %d of %d characters present", label, s.id, present, len(accepted))
        delta = Delta()
        delta.retained[label] = (1, len(accepted), present)
        self._record(delta)

    def _text_of(self, uri: str) -> str | None:
        """The document as the server holds it; once the editor closed it, the file as saved."""
        try:
            return self.ls.docs.get(uri).text
        except InputError:
            path = path_of(uri)
            return saved_text(path) if path else None

    # -- the file -----------------------------------------------------------------------------------------------------

    def _record(self, delta: Delta) -> None:
        try:
            self._today = self.store.record(delta)
        except OSError as exc:
            log.warning("acceptance stats not saved (%s): %s", self.store.path, exc)
            return
        self.ls.status.send()

    def delete(self) -> list[str]:
        """Remove this workspace's stats file; the counts start again from zero."""
        removed = delete_workspace_stats(self.ls.root)
        self._today = None
        self.ls.status.send()
        return removed

    def today(self) -> dict[str, Any]:
        """Today's counts for this workspace (for ``codeassist/status``)."""
        if self._today is None:
            try:
                self._today = self.store.day()
            except OSError:
                self._today = empty_day()
        return self._today
