"""Open documents, kept exactly as the client sees them (incremental sync, LSP line rules)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

from lsprotocol import types

from codeassist.api import language_of
from codeassist.errors import InputError

from .convert import UTF16, Pos, apply_change


def path_of(uri: str) -> str | None:
    """Filesystem path of a ``file:`` URI, else None."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return unquote(parsed.path)


@dataclass
class Document:
    uri: str
    text: str
    version: int
    language_id: str

    @property
    def path(self) -> str | None:
        return path_of(self.uri)

    @property
    def language(self) -> str | None:
        return language_of(self.path or self.uri, self.language_id)


class DocumentStore:
    """uri -> Document. Mutated on the event loop; read by the worker through snapshots (str is immutable)."""

    def __init__(self) -> None:
        self._docs: dict[str, Document] = {}
        self._lock = threading.Lock()
        self.encoding = UTF16

    def open(self, item: types.TextDocumentItem) -> Document:
        doc = Document(item.uri, item.text, item.version, item.language_id)
        with self._lock:
            self._docs[item.uri] = doc
        return doc

    def change(self, params: types.DidChangeTextDocumentParams) -> Document | None:
        with self._lock:
            doc = self._docs.get(params.text_document.uri)
            if doc is None:
                return None
            text = doc.text
            for change in params.content_changes:
                if isinstance(change, types.TextDocumentContentChangePartial):
                    r = change.range
                    text = apply_change(
                        text,
                        Pos(r.start.line, r.start.character),
                        Pos(r.end.line, r.end.character),
                        change.text,
                        self.encoding,
                    )
                else:
                    text = change.text
            doc.text = text
            doc.version = params.text_document.version
            return doc

    def close(self, uri: str) -> Document | None:
        with self._lock:
            return self._docs.pop(uri, None)

    def get(self, uri: str) -> Document:
        """The open document, or an InputError the handler turns into InvalidParams."""
        doc = self._docs.get(uri)
        if doc is None:
            raise InputError(f"document is not open: {uri} (send textDocument/didOpen first)")
        return doc

    def documents(self) -> list[Document]:
        """The open documents (a copy: safe to iterate from another thread)."""
        with self._lock:
            return list(self._docs.values())

    def __len__(self) -> int:
        return len(self._docs)
