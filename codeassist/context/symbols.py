"""Workspace symbol index: definitions from every source file, found with tree-sitter tags queries.

Why: a small model guesses the signatures of functions defined in other files; showing it the definition (the
anchors do this via LSP go-to-definition, which we cannot count on from inside a language server) fixes whole classes of
wrong arguments. The index maps a name to its definitions; it is built once over the workspace walker's files
(:mod:`codeassist.walk`; files over a size limit and anything ignored by ``.gitignore`` are skipped) and updated per
file when the editor reports a change.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tree_sitter import QueryCursor

from codeassist.context.languages import LanguageSpec, parser_for, query_for, spec_for_path
from codeassist.documents import read_regular_file
from codeassist.errors import InputError
from codeassist.walk import GitIgnore, WalkStats, skipped_dir, walk


@dataclass(frozen=True)
class Symbol:
    name: str
    kind: str  # function | method | class | interface | type | constant | module | macro
    path: str  # relative to the workspace root
    line: int  # 0-based
    signature: str  # header line(s): enough to call it correctly
    snippet: str  # the first lines of the definition (whole definition when short)


@dataclass
class _FileEntry:
    mtime: float
    size: int
    symbols: list[Symbol] = field(default_factory=list)


def _signature(data: bytes, node_start: int, node_end: int, body_start: int | None) -> str:
    if body_start is not None and body_start > node_start:
        end = body_start
    else:
        nl = data.find(b"\n", node_start, node_end)
        end = nl if nl >= 0 else node_end
    text = data[node_start : min(end, node_start + 300)].decode("utf-8", "replace").rstrip()
    return text.rstrip("{").rstrip()


def extract_symbols(spec: LanguageSpec, rel: str, data: bytes, *, snippet_lines: int = 12) -> list[Symbol]:
    """All definitions in one file (its tags query's ``@name`` + ``@definition.*`` captures)."""
    query = query_for(spec, "tags")
    if query is None:
        return []
    tree = parser_for(spec).parse(data)
    out: list[Symbol] = []
    seen: set[tuple[str, int]] = set()
    for _, caps in QueryCursor(query).matches(tree.root_node):
        names = caps.get("name")
        if not names:
            continue
        def_nodes = [(k, v[0]) for k, v in caps.items() if k.startswith("definition.") and v]
        if not def_nodes:
            continue
        kind, node = def_nodes[0]
        name = data[names[0].start_byte : names[0].end_byte].decode("utf-8", "replace")
        key = (name, node.start_byte)
        if key in seen:
            continue
        seen.add(key)
        body = node.child_by_field_name("body")
        # Decorators belong to the header: without ``@property`` a getter reads as a method to call.
        outer = node.parent if node.parent is not None and node.parent.type == "decorated_definition" else node
        line_start = data.rfind(b"\n", 0, outer.start_byte) + 1
        start = line_start if not data[line_start : outer.start_byte].strip() else outer.start_byte
        text = data[start : node.end_byte].decode("utf-8", "replace")
        lines = text.split("\n")
        snippet = "\n".join(lines[:snippet_lines]) + ("\n    ..." if len(lines) > snippet_lines else "")
        out.append(Symbol(
            name=name, kind=kind.split(".", 1)[1], path=rel, line=node.start_point.row,
            signature=_signature(data, start, node.end_byte, body.start_byte if body is not None else None),
            snippet=snippet,
        ))  # fmt: skip
    return out


@dataclass
class IndexStats:
    files: int = 0
    symbols: int = 0
    skipped_ignored: int = 0
    skipped_large: int = 0
    build_ms: float = 0.0
    updates: int = 0


class WorkspaceIndex:
    """Name → definitions across the workspace. Thread-safe; updates replace one file's symbols at a time."""

    def __init__(self, root: str, *, max_file_bytes: int = 512_000, max_files: int = 20_000) -> None:
        self.root = os.path.abspath(root)
        self.max_file_bytes = max_file_bytes
        self.max_files = max_files
        self.stats = IndexStats()
        self._files: dict[str, _FileEntry] = {}
        self._by_name: dict[str, list[Symbol]] = {}
        self._lock = threading.Lock()
        self._ignore = GitIgnore()
        self._buffered: set[str] = set()  # files indexed from editor buffers: newer than the disk, a build skips them
        self.built = threading.Event()  # set when a build() finished (queries work before, on what is indexed so far)

    # -- building -----------------------------------------------------------------------------------------------------

    def rel(self, path: str) -> str | None:
        """Workspace-relative path with '/' separators, or None when outside the workspace."""
        ap = os.path.abspath(path)
        if ap != self.root and not ap.startswith(self.root + os.sep):
            return None
        return os.path.relpath(ap, self.root).replace(os.sep, "/")

    def build(self, pause: Callable[[], bool] | None = None) -> IndexStats:
        """Walk the workspace (:func:`codeassist.walk.walk`, honouring the .gitignore files found on the way) and
        index every parseable file. Before each file, wait while ``pause()`` is true (a background build yields to
        the model)."""
        t0 = time.perf_counter()
        self._ignore = GitIgnore()
        walked = WalkStats()
        count = 0
        for entry in walk(self.root, gitignore=self._ignore, stats=walked):
            if count >= self.max_files:
                break
            if spec_for_path(entry.rel) is None:
                continue
            while pause is not None and pause():
                time.sleep(0.01)
            if entry.rel in self._buffered:  # the editor's copy was indexed already and is newer than the disk
                count += 1
                continue
            if self._index_file(entry.path, entry.rel):
                count += 1
        self.stats.skipped_ignored += walked.ignored
        self.stats.build_ms = (time.perf_counter() - t0) * 1000
        self.built.set()
        return self.stats

    def _index_file(self, path: str, rel: str, text: str | None = None) -> bool:
        spec = spec_for_path(rel)
        if spec is None:
            return False
        try:
            st = os.stat(path) if text is None else None
            if st is not None and not stat.S_ISREG(st.st_mode):
                return False  # a FIFO named *.py would block the walk (and every completion waiting on it) forever
            size = st.st_size if st is not None else len(text.encode("utf-8")) if text is not None else 0
            if size > self.max_file_bytes:
                self.stats.skipped_large += 1
                self._drop(rel)
                return False
            data = read_regular_file(path, max_bytes=self.max_file_bytes) if text is None else text.encode("utf-8")
        except (OSError, InputError):
            return False
        symbols = extract_symbols(spec, rel, data)
        with self._lock:
            self._drop_locked(rel)
            self._files[rel] = _FileEntry(st.st_mtime if st is not None else time.time(), size, symbols)
            for sym in symbols:
                self._by_name.setdefault(sym.name, []).append(sym)
            self.stats.files = len(self._files)
            self.stats.symbols += len(symbols)
        return True

    def _drop(self, rel: str) -> None:
        with self._lock:
            self._drop_locked(rel)

    def _drop_locked(self, rel: str) -> None:
        old = self._files.pop(rel, None)
        if old is None:
            return
        self.stats.symbols -= len(old.symbols)
        for sym in old.symbols:
            lst = self._by_name.get(sym.name)
            if lst is None:
                continue
            lst[:] = [s for s in lst if s.path != rel]
            if not lst:
                del self._by_name[sym.name]
        self.stats.files = len(self._files)

    # -- incremental updates ------------------------------------------------------------------------------------------

    def update_file(self, path: str, text: str | None = None) -> bool:
        """Re-index one file (from ``text`` when the editor has unsaved content). False if skipped/outside."""
        rel = self.rel(path)
        if rel is None or self._ignore.ignored(rel, False) or any(skipped_dir(part) for part in rel.split("/")[:-1]):
            return False
        self.stats.updates += 1
        if text is not None:
            self._buffered.add(rel)
        return self._index_file(os.path.join(self.root, rel), rel, text)

    def remove_file(self, path: str) -> None:
        rel = self.rel(path)
        if rel is not None:
            self._drop(rel)

    # -- queries ------------------------------------------------------------------------------------------------------

    def lookup(self, name: str) -> list[Symbol]:
        with self._lock:
            return list(self._by_name.get(name, ()))

    def has(self, name: str) -> bool:
        return name in self._by_name

    def files(self) -> list[str]:
        with self._lock:
            return sorted(self._files)
