"""Open documents, kept exactly as the client sees them (incremental sync, LSP line rules), each with a line index
updated per edit (so a keystroke in a big file costs the edit, not the file)."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from codeassist.api import language_of
from codeassist.errors import InputError

from .chunked import ChunkedText
from .convert import UTF16, Pos, apply_edit, remember
from .lineindex import LineIndex

log = logging.getLogger("codeassist.server")


def materialized(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Hook arguments with chunked texts turned into strings (for the engine, on the worker thread)."""
    return tuple(str(a) if isinstance(a, ChunkedText) else a for a in args)


def path_of(uri: str) -> str | None:
    """Filesystem path of a ``file:`` URI, else None."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return unquote(parsed.path)


class DocumentOutOfSync(JsonRpcException):
    """LSP ``ContentModified``: the server's copy can no longer be trusted (the client sent an edit we could not
    apply), so answering would mean answering about a different text. Clients treat it as "ask again later"."""

    CODE = -32801
    MESSAGE = "Content modified"


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean(text: str) -> str:
    """Lone surrogates (JSON escapes like ``\\ud800`` decode to them) become U+FFFD. Same width in every position
    encoding, so positions stay in step with the client, and the engine can encode the text as UTF-8 again."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


@dataclass
class Document:
    """The server's copy of one open document: chunked text (edits copy a chunk, not the file) and its line index."""

    uri: str
    version: int
    language_id: str
    body: ChunkedText = field(default_factory=lambda: ChunkedText.of(""))
    lines: LineIndex = field(default_factory=lambda: LineIndex.of(""))
    # why the server's copy cannot be trusted (an edit it could not apply); None while in sync
    stale: str | None = None

    @property
    def path(self) -> str | None:
        return path_of(self.uri)

    @property
    def language(self) -> str | None:
        return language_of(self.path or self.uri, self.language_id)

    @property
    def text(self) -> str:
        """The whole text as one string: built on first use after an edit (O(size), so not per keystroke on the
        event loop unless a request needs it), then registered with its index for :func:`lsp_line_starts`."""
        body, lines = self.body, self.lines
        fresh = not body.materialized
        text = str(body)
        if fresh:
            remember(text, lines)
        return text

    def set_body(self, body: ChunkedText, lines: LineIndex) -> None:
        self.body, self.lines = body, lines
        if body.materialized:
            remember(str(body), lines)


class DocumentStore:
    """uri -> Document. Mutated on the event loop; read by the worker through snapshots (str is immutable, and so is
    a LineIndex)."""

    def __init__(self) -> None:
        self._docs: dict[str, Document] = {}
        self._lock = threading.Lock()
        self.encoding = UTF16

    def open(self, item: types.TextDocumentItem) -> Document:
        text = clean(item.text)
        doc = Document(item.uri, item.version, item.language_id)
        doc.set_body(ChunkedText.of(text), LineIndex.of(text))
        with self._lock:
            self._docs[item.uri] = doc
        return doc

    def change(self, params: types.DidChangeTextDocumentParams) -> Document | None:
        """Apply the edits; None when the document is not open or out of sync (incremental edits to a text we do
        not have cannot be applied; a full-text change brings it back)."""
        with self._lock:
            doc = self._docs.get(params.text_document.uri)
            if doc is None:
                return None
            body, lines = doc.body, doc.lines
            for change in params.content_changes:
                if isinstance(change, types.TextDocumentContentChangePartial):
                    if doc.stale is not None:
                        continue
                    r = change.range
                    start, end = Pos(r.start.line, r.start.character), Pos(r.end.line, r.end.character)
                    body, lines = apply_edit(body, lines, start, end, clean(change.text), self.encoding)
                else:
                    text = clean(change.text)
                    body, lines, doc.stale = ChunkedText.of(text), LineIndex.of(text), None
            doc.version = params.text_document.version
            if doc.stale is not None:
                log.warning("ignored an incremental change to %s: %s", doc.uri, doc.stale)
                return None
            doc.set_body(body, lines)
            return doc

    def mark_stale(self, uri: str, version: int | None, reason: str, language_id: str = "") -> bool:
        """The client changed (or opened) ``uri`` with an edit we could not read: refuse requests on it until a
        full-text change or a new didOpen. Opens a placeholder when it was not open. True when it just fell out of
        sync (so the user is told once)."""
        with self._lock:
            doc = self._docs.get(uri)
            if doc is None:
                doc = self._docs[uri] = Document(uri, version or 0, language_id)
            newly = doc.stale is None
            doc.stale = reason
            if version is not None:
                doc.version = version
            return newly

    def close(self, uri: str) -> Document | None:
        with self._lock:
            return self._docs.pop(uri, None)

    def get(self, uri: str) -> Document:
        """The open document, or an InputError the handler turns into InvalidParams (not open) / ContentModified
        (out of sync)."""
        doc = self._docs.get(uri)
        if doc is None:
            raise InputError(f"document is not open: {uri} (send textDocument/didOpen first)")
        if doc.stale is not None:
            raise DocumentOutOfSync(
                f"the server's copy of {uri} is out of sync ({doc.stale}); send the full text "
                "(didChange without a range) or reopen it"
            )
        return doc

    def documents(self) -> list[Document]:
        """The open documents (a copy: safe to iterate from another thread)."""
        with self._lock:
            return list(self._docs.values())

    def __len__(self) -> int:
        return len(self._docs)
