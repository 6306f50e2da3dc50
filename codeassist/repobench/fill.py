"""Fill holes the way a user's editor gets completions: through ``codeassist serve`` over stdio.

Per file: ``didOpen`` with the file as it is on disk; per hole: an incremental ``didChange`` deleting the hole's text,
``textDocument/inlineCompletion`` at the cursor (the latency measured is this request's, the server's debounce
included), then a ``didChange`` putting the text back; ``didClose`` at the end. The server is started on a snapshot
copy of the repository, so it reads the user's ``pyproject.toml``/``.codeassist.toml`` settings and indexes the
workspace as it would in the editor; ``settings`` are sent as ``initializationOptions`` on top.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from codeassist.errors import CodeassistError
from codeassist.repobench.holes import Hole
from codeassist.repobench.lsp_client import LspClient, LspError, Message

STATUS = "codeassist/status"
READY_TIMEOUT_S = 600.0
CHECKING = "checking…"  # verify = sandbox: shown at once, the tests' verdict follows (server/background_check.py)
TYPED_AHEAD = "typed ahead"  # answered from the typed-ahead cache: no check of its own
SETTLE_TIMEOUT_S = 300.0
SEARCH_TIMEOUT_S = 1200.0  # verify_alternatives: up to n samples, each generated and tested (the server bounds it too)


@dataclass
class Fill:
    """One answer. ``text`` replaces the holed document's ``[start, end)`` (``start <= cursor``; the server may
    rewrite text before the cursor); empty ``text`` means nothing was shown."""

    text: str
    start: int
    end: int
    latency_ms: float
    label: str | None = None
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def utf16_position(text: str, offset: int) -> dict[str, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    prefix = text[line_start:offset]
    return {"line": text.count("\n", 0, offset), "character": len(prefix.encode("utf-16-le")) // 2}


def offset_of(text: str, pos: Mapping[str, Any]) -> int:
    """The code-point offset of an LSP (UTF-16) position in ``text`` (clamped to its line)."""
    line, units = int(pos["line"]), int(pos["character"])
    start = 0
    for _ in range(line):
        nxt = text.find("\n", start)
        if nxt < 0:
            return len(text)
        start = nxt + 1
    end = text.find("\n", start)
    end = len(text) if end < 0 else end
    i, seen = start, 0
    while i < end and seen < units:
        seen += 2 if ord(text[i]) > 0xFFFF else 1
        i += 1
    return i


class LspFiller:
    """One ``codeassist serve`` process with the given settings, driven like an editor."""

    def __init__(
        self,
        root: str,
        settings: Mapping[str, Any],
        *,
        log_path: str | None = None,
        env: Mapping[str, str] | None = None,
        python: str | None = None,
    ) -> None:
        self.root = os.path.abspath(root)
        self.settings = dict(settings)
        self.request_timeout_s = int(self.settings.get("timeout_ms", 5000)) / 1000 + 120
        self._log: IO[bytes] | None = open(log_path, "ab") if log_path else None  # noqa: SIM115
        cmd = [python or sys.executable, "-m", "codeassist.cli", "serve"]
        self.client = LspClient(cmd, cwd=self.root, stderr=self._log, env=env)
        self.model = ""
        self._answered_max: int | None = None  # the highest ``answered`` among statuses[: self._answered_scanned]
        self._answered_scanned = 0
        self._version = 0

    def start(self) -> None:
        self.client.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": Path(self.root).as_uri(),
                "initializationOptions": self.settings,
                "capabilities": {
                    "general": {"positionEncodings": ["utf-16"]},
                    "textDocument": {"inlineCompletion": {"dynamicRegistration": False}},
                },
            },
            timeout=60,
        )
        self.client.notify("initialized", {})
        msg = self.client.wait_for(
            lambda m: m.get("method") == STATUS and m["params"].get("state") in ("ready", "error"), READY_TIMEOUT_S
        )
        if msg is None:
            raise CodeassistError(f"codeassist serve did not get ready in {READY_TIMEOUT_S:.0f} s")
        if msg["params"]["state"] == "error":
            raise CodeassistError(f"codeassist serve could not start: {msg['params'].get('message')}")
        self.model = str(msg["params"].get("model") or "")
        rejected = [m for m in self.client.notifications if m.get("method") == "window/showMessage"]
        if rejected:
            raise CodeassistError(f"codeassist serve rejected a setting: {rejected[0]['params'].get('message')}")

    def close(self) -> None:
        self.client.close()
        if self._log is not None:
            self._log.close()

    def _change(self, uri: str, text: str, start: int, end: int, new: str) -> None:
        self._version += 1
        change = {"range": {"start": utf16_position(text, start), "end": utf16_position(text, end)}, "text": new}
        self.client.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": self._version}, "contentChanges": [change]},
        )

    def fill_file(self, path: str, original: str, holes: Sequence[Hole]) -> Iterator[tuple[Hole, Fill]]:
        """Open ``path`` (relative to the root), answer each hole in turn, close it."""
        uri = Path(self.root, path).as_uri()
        self._version += 1
        doc = {"uri": uri, "languageId": "python", "version": self._version, "text": original}
        self.client.notify("textDocument/didOpen", {"textDocument": doc})
        try:
            for hole in holes:
                yield hole, self._fill_one(uri, original, hole)
        finally:
            self.client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    def _fill_one(self, uri: str, original: str, hole: Hole) -> Fill:
        holed = hole.holed(original)
        self._change(uri, original, hole.start, hole.end, "")
        since = len(self.client.notifications)
        params = {
            "textDocument": {"uri": uri},
            "position": utf16_position(holed, hole.start),
            "context": {"triggerKind": 2},
        }
        t0 = time.perf_counter()
        try:
            result = self.client.request("textDocument/inlineCompletion", params, timeout=self.request_timeout_s)
            error = None
        except (LspError, TimeoutError) as exc:
            if self.client.proc.poll() is not None:
                raise CodeassistError(f"codeassist serve exited ({self.client.proc.returncode}): {exc}") from exc
            result, error = None, str(exc)
        ms = (time.perf_counter() - t0) * 1000
        fill = _fill_from_result(result, holed, hole.start, ms)
        fill.error = error
        # every answer's status is read (an empty one's too), so the next hole never takes this one's for its own
        check = self._answer_check(since) if error is None else {}
        if fill.text or check.get("label") == "unsure":  # "unsure": the gate hid it (features kept, for analysis)
            fill.label = check.get("label")
            if isinstance(check.get("confidence"), dict):
                fill.info["confidence"] = check["confidence"]
            if fill.label == CHECKING:
                self._settle(fill, since, t0, params, holed)
        self._change(uri, holed, hole.start, hole.start, hole.removed)
        return fill

    def _answer_check(self, since: int) -> dict[str, Any]:
        """The check of the answer just received, from the status it sent. Statuses carry the last check whatever
        prompted them (prefetch, load changes), so the one that counts is the first after ``since`` with a higher
        ``answered`` count. An answer without a check of its own (a typed-ahead hit) is labelled ``TYPED_AHEAD``, not
        with the older answer's label and confidence. Servers without the counters: the first status with a check."""
        before = self._answered_before(since)

        def answered(m: Message) -> bool:
            params = m.get("params") or {}
            if m.get("method") != STATUS or not params.get("lastCheck"):
                return False
            return before is None or "answered" not in params or int(params["answered"]) > before

        status = self.client.wait_for(answered, 2.0, since=since)
        params = (status or {}).get("params") or {}
        check = dict(params.get("lastCheck") or {})
        if "lastCheckAnswer" in params and params["lastCheckAnswer"] != params.get("answered"):
            # no check of its own (a typed-ahead hit): the status still shows an earlier answer's check, whose label
            # (a withdrawn suggestion's "failed") and features are not this answer's
            check = {"label": TYPED_AHEAD}
        return check

    def _answered_before(self, since: int) -> int | None:
        """The highest ``answered`` count among the statuses received before ``since``: a running maximum, so a
        long run does not rescan every notification for each hole (``since`` only grows; if not, start over)."""
        if since < self._answered_scanned:
            self._answered_max, self._answered_scanned = None, 0
        for message in self.client.notifications[self._answered_scanned : since]:
            params = message.get("params")
            if message.get("method") == STATUS and isinstance(params, dict) and "answered" in params:
                self._answered_max = max(int(params["answered"]), self._answered_max or 0)
        self._answered_scanned = max(self._answered_scanned, since)
        return self._answered_max

    def _settle(self, fill: Fill, since: int, t0: float, params: Mapping[str, Any], holed: str) -> None:
        """verify = sandbox: the answer came labelled "checking…"; wait for the background check's verdict — and,
        when it failed and a verified replacement is searched for (``verify_alternatives``), for the search's end.
        A withdrawn suggestion with no replacement stays as shown (it was on screen until its verdict: counted,
        conservatively, as shown) with the verdict as its label. A replacement is what the user ends up with: the
        position is asked again, as an editor does on ``codeassist/suggestionReady``, and that answer is the text
        judged. ``info`` keeps the first label and text, when the first answer came (``latency_ms``) and when the
        final verdict did (``settled_ms``)."""
        # this answer's statuses only (a prefetch's or the load's statuses repeat an earlier answer's check)
        first = self.client.wait_for(lambda m: _check_of(m, None).get("label") == CHECKING, 2.0, since=since)
        answer = ((first or {}).get("params") or {}).get("lastCheckAnswer")
        status = self.client.wait_for(lambda m: _settled(m, answer, False), SETTLE_TIMEOUT_S, since=since)
        if status is not None and _check_of(status, answer).get("alternatives") == "searching":
            fill.info["first_verdict_ms"] = (time.perf_counter() - t0) * 1000
            status = self.client.wait_for(lambda m: _settled(m, answer, True), SEARCH_TIMEOUT_S, since=since)
        check = _check_of(status, answer) if status else {}
        fill.info["first_label"] = CHECKING
        fill.info["settled_ms"] = (time.perf_counter() - t0) * 1000 if status else None
        fill.info["withdrawn"] = check.get("shown") is False
        fill.label = check.get("label") if status else f"{CHECKING} (no final verdict in time)"
        if check.get("alternatives") == "found":
            fill.info["first_text"], fill.info["first_verdict"] = fill.text, "failed"
            fill.info["alternatives"] = check.get("alternativesSearch")
            again = self.client.request("textDocument/inlineCompletion", params, timeout=self.request_timeout_s)
            replaced = _fill_from_result(again, holed, params_cursor(holed, params), fill.latency_ms)
            fill.info["replaced"] = bool(replaced.text)
            if replaced.text:
                fill.text, fill.start, fill.end = replaced.text, replaced.start, replaced.end
            else:  # the server announced a replacement it did not answer: a bug, recorded as such
                fill.label = "failed (replacement not answered)"
        elif check.get("alternatives") == "none":
            fill.info["alternatives"] = check.get("alternativesSearch")


def params_cursor(text: str, params: Mapping[str, Any]) -> int:
    """The code-point offset of a request's position in ``text``."""
    return offset_of(text, params["position"])


def _check_of(m: Message | None, answer: Any) -> dict[str, Any]:
    """A status's ``lastCheck`` when it belongs to ``answer`` (its ``lastCheckAnswer``; None: any), else empty."""
    params = (m or {}).get("params") or {}
    if (m or {}).get("method") != STATUS or (answer is not None and params.get("lastCheckAnswer") != answer):
        return {}
    return dict(params.get("lastCheck") or {})


def _settled(m: Message, answer: Any, searched: bool) -> bool:
    """A status with ``answer``'s verdict: not "checking…"; ``searched``: also not a failure whose replacement is
    still being searched for."""
    check = _check_of(m, answer)
    return check.get("label") not in (None, CHECKING) and not (searched and check.get("alternatives") == "searching")


def first_item(result: Any) -> tuple[str, Mapping[str, Any] | None] | None:
    """The first item of an ``inlineCompletion`` result (a list, or ``{"items": [...]}``): its text (a plain string
    or a snippet's value) and its range, if any; None when there is no item."""
    items: list[Message] = []
    if isinstance(result, dict):
        items = list(result.get("items") or [])
    elif isinstance(result, list):
        items = list(result)
    if not items:
        return None
    insert = items[0].get("insertText", "")
    return (insert if isinstance(insert, str) else str(insert.get("value", ""))), items[0].get("range")


def _fill_from_result(result: Any, holed: str, cursor: int, ms: float) -> Fill:
    item = first_item(result)
    if item is None:
        return Fill("", cursor, cursor, ms)
    text, rng = item
    start = offset_of(holed, rng["start"]) if rng else cursor
    end = offset_of(holed, rng["end"]) if rng else cursor
    return Fill(text, start, end, ms)
