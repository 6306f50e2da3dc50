"""Recently opened/edited files, cut into chunks and ranked by lexical similarity to the text around the cursor.

Why lexical (Jaccard over identifier sets, as Continue ranks, llama.vim's ring uses a Dice variant): it costs
microseconds per chunk, needs no embedding model on a 2-core CPU, and finds the code the user is juggling between
files — the same helper names, the same fields. Chunks are recomputed lazily, only when their file changed since
the last query.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
STOPWORDS = frozenset({
    "def", "class", "return", "import", "from", "self", "None", "True", "False", "and", "not", "for", "while", "with",
    "function", "const", "let", "var", "this", "new", "null", "undefined", "true", "false", "public", "private",
    "static", "void", "int", "func", "struct", "impl", "pub", "use", "mut", "else", "elif", "try", "except",
    "package", "type", "interface", "export", "async", "await", "string", "char", "include", "define", "fn",
})  # fmt: skip


def identifiers(text: str) -> set[str]:
    return {m.group(0) for m in _IDENT.finditer(text)} - STOPWORDS


def jaccard(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


@dataclass(frozen=True)
class Snippet:
    path: str
    start_line: int
    text: str
    score: float


@dataclass
class _RecentFile:
    text: str
    dirty: bool = True
    chunks: list[tuple[int, str, set[str]]] = field(default_factory=list)


class RecentFiles:
    """A small LRU ring of the files the user opened or edited most recently."""

    def __init__(self, *, max_files: int = 12, chunk_lines: int = 24, stride: int = 12,
                 max_file_chars: int = 400_000) -> None:  # fmt: skip
        self.max_files = max_files
        self.chunk_lines = chunk_lines
        self.stride = stride
        self.max_file_chars = max_file_chars
        self._files: OrderedDict[str, _RecentFile] = OrderedDict()
        self._lock = threading.Lock()

    def note(self, path: str, text: str) -> None:
        """Record that ``path`` was opened or edited (moves it to the front of the ring)."""
        if len(text) > self.max_file_chars:
            return
        with self._lock:
            entry = self._files.pop(path, None)
            if entry is None or entry.text != text:
                entry = _RecentFile(text)
            self._files[path] = entry
            while len(self._files) > self.max_files:
                self._files.popitem(last=False)

    def forget(self, path: str) -> None:
        with self._lock:
            self._files.pop(path, None)

    def paths(self) -> list[str]:
        with self._lock:
            return list(reversed(self._files))

    def _chunks(self, entry: _RecentFile) -> list[tuple[int, str, set[str]]]:
        if entry.dirty:
            lines = entry.text.split("\n")
            chunks = []
            for start in range(0, max(len(lines) - self.chunk_lines, 0) + 1, self.stride):
                body = "\n".join(lines[start : start + self.chunk_lines])
                if body.strip():
                    chunks.append((start, body, identifiers(body)))
            entry.chunks, entry.dirty = chunks, False
        return entry.chunks

    def query(self, window: str, *, exclude: str | None = None, k: int = 3, min_score: float = 0.08) -> list[Snippet]:
        """Best chunks (at most one per file, best first) similar to ``window``; skips ``exclude`` and chunks whose
        text is already visible in the window."""
        want = identifiers(window)
        if not want:
            return []
        with self._lock:
            files = [(p, e) for p, e in self._files.items() if p != exclude]
        best: list[Snippet] = []
        for path, entry in files:
            top: Snippet | None = None
            for start, body, ids in self._chunks(entry):
                score = jaccard(want, ids)
                if score >= min_score and (top is None or score > top.score) and body.strip() not in window:
                    top = Snippet(path, start, body, score)
            if top is not None:
                best.append(top)
        best.sort(key=lambda s: (-s.score, s.path))
        return best[:k]
