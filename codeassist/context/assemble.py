"""The one function that assembles a completion's context from every source, within budgets and time caps.

Why one function with per-source budgets: each source (current-file windows, scope/imports, cross-file definitions,
recent-file snippets) competes for the same few hundred prompt tokens, and each must give up rather than stall a
keystroke (Continue races every source against 100 ms; on our CPU the model is the bottleneck, so we cap each source
at a few milliseconds). The result lists every piece with its token estimate, for ``--json`` and the benchmarks.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from codeassist.context.current_file import (
    TokenCounter,
    cursor_windows,
    enclosing_scopes,
    estimate_tokens,
    file_imports,
)
from codeassist.context.parsing import Document
from codeassist.context.relevance import (
    defined_in,
    fits,
    imported_words,
    own_signatures,
    referable,
)
from codeassist.context.snippets import STOPWORDS, RecentFiles
from codeassist.context.symbols import Symbol, WorkspaceIndex

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class ContextBudget:
    """Token budgets and time caps per source. Defaults suit a 2-core CPU; GPU users can multiply them."""

    prefix_tokens: int = 640
    suffix_tokens: int = 192
    scope_tokens: int = 96
    imports_tokens: int = 96
    own_tokens: int = 96  # signatures of this file's functions and methods used near the cursor, defined off-window
    max_own: int = 4
    definitions_tokens: int = 320
    snippets_tokens: int = 256
    max_definitions: int = 6
    max_snippets: int = 2
    near_lines_before: int = 24
    near_lines_after: int = 4
    source_time_ms: float = 8.0  # each cross-file source stops looking after this long
    snap_lines: int = 16


@dataclass(frozen=True)
class Piece:
    """One piece of extra context (not the cursor windows themselves)."""

    kind: str  # imports | scope | definition | snippet
    path: str  # file it comes from (workspace-relative where possible)
    text: str
    tokens: int
    line: int = 0
    name: str = ""


@dataclass
class AssembledContext:
    path: str | None
    language: str | None
    prefix: str  # current-file window before the cursor
    suffix: str  # current-file window after the cursor
    prefix_start_line: int
    header: list[Piece] = field(default_factory=list)  # current file, shown above the window (imports, scopes)
    files: list[Piece] = field(default_factory=list)  # other files (definitions, snippets), stable order
    timings_ms: dict[str, float] = field(default_factory=dict)

    def all_pieces(self) -> list[Piece]:
        return [*self.files, *self.header]


def _in_prose(doc: Document | None, byte: int) -> bool:
    """Whether a byte offset falls in a comment or string (words there are prose, not references to code)."""
    if doc is None or doc.tree is None:
        return False
    node = doc.tree.root_node.descendant_for_byte_range(byte, byte + 1)
    while node is not None:
        kind = node.type
        if "comment" in kind or "string" in kind:
            return True
        if node.is_named and kind.endswith("identifier"):
            return False
        node = node.parent
    return False


def near_identifiers(
    text: str, offset: int, *, before_lines: int, after_lines: int, doc: Document | None = None
) -> list[str]:
    """Identifiers on the lines around the cursor, nearest first.

    The cursor's own line is left out on purpose: it changes on every keystroke (and its last word is incomplete),
    and a context that changes per keystroke would invalidate the prompt cache; it settles once the line is done.
    With ``doc`` (parsed), words inside comments and strings are skipped: a docstring saying "make" is no reason to
    show the definition of a function ``make`` from another file.
    """
    start = offset
    for _ in range(before_lines):
        nl = text.rfind("\n", 0, start - 1 if start > 0 else 0)
        if nl < 0:
            start = 0
            break
        start = nl
    end = offset
    for _ in range(after_lines):
        nl = text.find("\n", end + 1)
        if nl < 0:
            end = len(text)
            break
        end = nl
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    line_end = len(text) if line_end < 0 else line_end
    seen: dict[str, int] = {}
    use_tree = doc is not None and doc.tree is not None and doc.text is text
    char_at, byte_at = start, doc.byte_offset(start) if use_tree and doc is not None else 0
    for m in _IDENT.finditer(text, start, end):
        if line_start <= m.start() <= line_end:
            continue
        name = m.group(0)
        if len(name) < 3 or name in STOPWORDS:
            continue
        if use_tree:
            byte_at += len(text[char_at : m.start()].encode("utf-8"))
            char_at = m.start()
            if _in_prose(doc, byte_at):
                continue
        dist = abs(offset - m.start())
        if name not in seen or dist < seen[name]:
            seen[name] = dist
    return sorted(seen, key=lambda n: seen[n])


def _clip(text: str, budget: int, count: TokenCounter) -> str:
    if count(text) <= budget:
        return text
    lines = text.split("\n")
    while len(lines) > 1 and count("\n".join(lines)) > budget:
        lines.pop()
    return "\n".join(lines)


def definitions_for(
    names: list[str],
    index: WorkspaceIndex,
    *,
    current: str | None,
    window: str,
    language: str | None,
    imported: set[str],
    budget: int,
    max_items: int,
    deadline: float,
    count: TokenCounter,
) -> list[Piece]:
    """Definitions from other files for the nearest identifiers; skips ones already visible in the window."""
    pieces: list[Piece] = []
    used = 0
    for i, name in enumerate(names):
        # The three nearest names are always looked up (dict lookups: microseconds); the cap guards the long tail
        # on a busy machine without making the result depend on scheduler noise.
        if len(pieces) >= max_items or (i >= 3 and time.perf_counter() > deadline):
            break
        if not referable(name, language=language, imported=imported, near=window):
            continue
        syms = [s for s in index.lookup(name) if fits(s, current=current, language=language, imported=imported)]
        if not syms or defined_in(name, window):
            continue  # a name the current file defines itself shadows same-named definitions elsewhere
        sym: Symbol = min(syms, key=lambda s: (s.kind not in ("function", "class", "method", "interface"), s.path))
        if sym.signature and sym.signature in window:
            continue
        text = sym.snippet if count(sym.snippet) <= budget // 2 else sym.signature
        cost = count(text)
        if used + cost > budget:
            text = sym.signature
            cost = count(text)
            if used + cost > budget:
                continue
        used += cost
        pieces.append(Piece("definition", sym.path, text, cost, sym.line, sym.name))
    return pieces


def _header(
    doc: Document,
    offset: int,
    start_line: int,
    imports: list[tuple[int, str]],
    names: list[str],
    index: WorkspaceIndex | None,
    rel: str | None,
    visible: str,
    b: ContextBudget,
    count: TokenCounter,
) -> list[Piece]:
    """The current file's pieces shown above the window: its imports and the headers of the scopes around the
    cursor that scrolled out of it, and between them the signatures of its own definitions used near the cursor."""
    header: list[Piece] = []
    above = [text for line, text in imports if line < start_line] if start_line > 0 else []
    if above:
        text = _clip("\n".join(above), b.imports_tokens, count)
        header.append(Piece("imports", rel or "", text, count(text)))
    if index is not None and b.max_own > 0:
        own = own_signatures(names, index, current=rel, window=visible, budget=b.own_tokens, max_items=b.max_own,
                             count=count)  # fmt: skip
        if own:
            text = "\n".join(own)
            header.append(Piece("own", rel or "", text, count(text)))
    scopes = [h for line, h in enclosing_scopes(doc, offset) if line < start_line] if start_line > 0 else []
    if scopes:
        text = _clip("\n".join(scopes), b.scope_tokens, count)
        header.append(Piece("scope", rel or "", text, count(text)))
    return header


def assemble_context(
    doc: Document,
    offset: int,
    *,
    index: WorkspaceIndex | None = None,
    recent: RecentFiles | None = None,
    budget: ContextBudget | None = None,
    count: TokenCounter = estimate_tokens,
    pinned: AssembledContext | None = None,
) -> AssembledContext:
    """Collect every context source for a completion at ``offset`` of ``doc``. With ``pinned`` (the same for every
    request of a series), its header and other files' pieces, and the prefix window from its first line where the
    cursor is below it: only the text from the first line that differs is new to the prompt cache."""
    b = budget or ContextBudget()
    timings: dict[str, float] = {}
    t = time.perf_counter()
    win = cursor_windows(doc.text, offset, prefix_tokens=b.prefix_tokens, suffix_tokens=b.suffix_tokens, count=count,
                         snap=b.snap_lines, start_line=pinned.prefix_start_line if pinned else None)  # fmt: skip
    timings["windows"] = (time.perf_counter() - t) * 1000
    rel = doc.path
    if doc.path and index is not None:
        rel = index.rel(doc.path) or doc.path
    ctx = AssembledContext(rel, doc.language, win.prefix, win.suffix, win.prefix_start_line, timings_ms=timings)
    if pinned is not None:
        ctx.header, ctx.files = list(pinned.header), list(pinned.files)
        return ctx
    visible = win.prefix + win.suffix

    t = time.perf_counter()
    names: list[str] = []
    if index is not None:
        names = near_identifiers(
            doc.text, offset, before_lines=b.near_lines_before, after_lines=b.near_lines_after, doc=doc
        )
    timings["names"] = (time.perf_counter() - t) * 1000

    # Current file: imports, signatures of its own definitions used here, enclosing scope headers, out of the window.
    t = time.perf_counter()
    all_imports = file_imports(doc) if index is not None or win.prefix_start_line > 0 else []
    ctx.header = _header(doc, offset, win.prefix_start_line, all_imports, names, index, rel, visible, b, count)
    timings["current_file"] = (time.perf_counter() - t) * 1000

    # Cross-file definitions of identifiers near the cursor.
    t = time.perf_counter()
    defs: list[Piece] = []
    if index is not None:
        deadline = t + b.source_time_ms / 1000
        defs = definitions_for(names, index, current=rel, window=visible, budget=b.definitions_tokens,
                               max_items=b.max_definitions, deadline=deadline, count=count, language=doc.language,
                               imported=imported_words([text for _, text in all_imports]))  # fmt: skip
    timings["definitions"] = (time.perf_counter() - t) * 1000

    # Recently used files: the most similar chunks.
    t = time.perf_counter()
    snippets: list[Piece] = []
    if recent is not None and b.max_snippets > 0:
        # The cursor line is left out of the query for the same cache-stability reason as above.
        after_line = win.suffix[win.suffix.find("\n") + 1 :][:400]
        near = "\n".join(win.prefix.split("\n")[-b.near_lines_before : -1]) + after_line
        exclude = doc.path
        used = 0
        for snip in recent.query(near, exclude=exclude, k=b.max_snippets):
            path = (index.rel(snip.path) if index is not None else None) or snip.path
            if path == rel:
                continue
            text = _clip(snip.text, b.snippets_tokens - used, count)
            if not text.strip() or text.strip() in visible:
                continue
            cost = count(text)
            used += cost
            snippets.append(Piece("snippet", path, text, cost, snip.start_line))
            if used >= b.snippets_tokens or (time.perf_counter() - t) * 1000 > b.source_time_ms:
                break
    timings["snippets"] = (time.perf_counter() - t) * 1000

    # Stable order (by path, then line) so that small ranking changes between keystrokes do not reorder the prompt.
    ctx.files = sorted(defs + snippets, key=lambda p: (p.path, p.line, p.kind))
    timings["total"] = sum(v for k, v in timings.items() if k != "total")
    return ctx


class Workspace:
    """What the engine knows about the user's files: open documents (parsed incrementally), the symbol index, and
    the recent-files ring. Fed by the LSP server's document hooks."""

    def __init__(
        self,
        root: str | None = None,
        *,
        build_index: bool = True,
        background: bool = False,
        pause: Callable[[], bool] | None = None,
    ) -> None:
        self.root = os.path.abspath(root) if root else None
        self._pause = pause
        self.index: WorkspaceIndex | None = WorkspaceIndex(self.root) if self.root else None
        self.recent = RecentFiles()
        self._docs: dict[str, Document] = {}
        self._lock = threading.Lock()
        self._built = False
        if build_index and self.index is not None:
            self.ensure_index(background=background)

    def ensure_index(self, *, background: bool = False) -> None:
        """Build the symbol index once. ``background``: on a daemon thread, so the caller (the LSP server's worker,
        which also runs completions) is not held up by a big workspace; completions meanwhile use what is indexed
        so far, and open documents are indexed from their buffers at once. The thread waits while ``pause()`` is
        true (the engine passes "the model is running"): on a 2-core laptop, parsing files next to llama.cpp's
        spinning threads slows the completions asked for while the index is built (typing replay, one run each:
        the second keystroke took 4.9 s unpaused, 0.09 s paused)."""
        if self.index is None or self._built:
            return
        self._built = True
        if background:
            index = self.index
            threading.Thread(
                target=index.build, kwargs={"pause": self._pause}, name="codeassist-index", daemon=True
            ).start()
        else:
            self.index.build()

    def opened(self, path: str, text: str, language: str | None = None) -> Document:
        with self._lock:
            doc = Document(text, path=path, language=language)
            self._docs[path] = doc
        self.recent.note(path, text)
        if self.index is not None:
            self.index.update_file(path, text)
        return doc

    def changed(self, path: str, text: str) -> Document:
        with self._lock:
            doc = self._docs.get(path)
            if doc is None:
                doc = Document(text, path=path)
                self._docs[path] = doc
            else:
                doc.update(text)
        self.recent.note(path, text)
        if self.index is not None:
            self.index.update_file(path, text)
        return doc

    def closed(self, path: str) -> None:
        with self._lock:
            self._docs.pop(path, None)

    def document(self, path: str | None, text: str, language: str | None = None) -> Document:
        """The tracked document for ``path`` brought up to ``text`` (incremental), or a fresh one."""
        if path is None:
            return Document(text, language=language)
        with self._lock:
            doc = self._docs.get(path)
            if doc is None or (language and doc.language != language and doc.spec is None):
                doc = Document(text, path=path, language=language)
                self._docs[path] = doc
                return doc
            doc.update(text)
            return doc
