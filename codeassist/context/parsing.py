"""A document with its tree-sitter tree, re-parsed incrementally on every edit.

Why incremental: the LSP server sends a change per keystroke, and both context collection and the syntax gate want
a fresh tree. Re-parsing a 2,000-line file from scratch takes milliseconds; handing tree-sitter the old tree and the
edited range makes it proportional to the edit. Edits are derived by diffing old and new text (common prefix and
suffix), so callers can pass whole-document text as LSP full sync does.

Positions: the engine speaks (line, column) in code points; tree-sitter speaks UTF-8 bytes. Conversions live here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from tree_sitter import Node, Point, Tree

from codeassist.context.languages import LanguageSpec, parser_for, resolve_spec


@dataclass
class ParseStats:
    """Parses actually run, whole-file or incremental, by documents and by :mod:`codeassist.syntax` (whose cache
    hits are free): what "parse once per candidate" is measured by (``tests/verify/test_parse_count.py``)."""

    tree_sitter: int = 0
    python: int = 0

    @property
    def total(self) -> int:
        return self.tree_sitter + self.python


PARSES = ParseStats()
_count_lock = threading.Lock()


def count_parse(kind: str) -> None:
    with _count_lock:
        setattr(PARSES, kind, getattr(PARSES, kind) + 1)


def _point_at(data: bytes, byte_offset: int) -> Point:
    row = data.count(b"\n", 0, byte_offset)
    last_nl = data.rfind(b"\n", 0, byte_offset)
    return Point(row, byte_offset - (last_nl + 1))


def _common_prefix_len(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # binary search on the first differing byte: bytes comparison is C-speed
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class Document:
    """Text + language + (when the language is known) a tree kept up to date incrementally."""

    def __init__(self, text: str, *, path: str | None = None, language: str | None = None) -> None:
        self.path = path
        self.spec: LanguageSpec | None = resolve_spec(path, language)
        self.text = text
        self.data = text.encode("utf-8")
        self.version = 0
        self.tree: Tree | None = None
        self.reparse_count = 0
        if self.spec is not None:
            self.tree = parser_for(self.spec).parse(self.data)
            count_parse("tree_sitter")

    @property
    def language(self) -> str | None:
        return self.spec.name if self.spec else None

    def update(self, text: str) -> None:
        """Replace the text; re-parse incrementally from the changed byte range."""
        if text == self.text:
            return
        new = text.encode("utf-8")
        old = self.data
        self.text, self.data = text, new
        self.version += 1
        if self.spec is None or self.tree is None:
            return
        start = _common_prefix_len(old, new)
        # Longest common suffix that does not overlap the common prefix in either buffer.
        max_suffix = min(len(old), len(new)) - start
        suffix = _common_prefix_len(old[::-1][:max_suffix], new[::-1][:max_suffix]) if max_suffix > 0 else 0
        old_end, new_end = len(old) - suffix, len(new) - suffix
        self.tree.edit(
            start_byte=start, old_end_byte=old_end, new_end_byte=new_end,
            start_point=_point_at(old, start), old_end_point=_point_at(old, old_end),
            new_end_point=_point_at(new, new_end),
        )  # fmt: skip
        self.tree = parser_for(self.spec).parse(new, self.tree)
        self.reparse_count += 1
        count_parse("tree_sitter")

    def byte_offset(self, char_offset: int) -> int:
        return len(self.text[:char_offset].encode("utf-8"))

    def node_at(self, char_offset: int) -> Node | None:
        """The smallest named node touching the position just before the cursor (what the user is typing in)."""
        if self.tree is None:
            return None
        b = self.byte_offset(char_offset)
        lo = max(b - 1, 0)
        return self.tree.root_node.named_descendant_for_byte_range(lo, lo)

    def text_of(self, node: Node) -> str:
        return self.data[node.start_byte : node.end_byte].decode("utf-8", errors="replace")


@dataclass(frozen=True)
class ErrorCount:
    errors: int
    missing: int

    @property
    def total(self) -> int:
        return self.errors + self.missing


def error_nodes(tree: Tree) -> list[Node]:
    """Every ERROR and MISSING node in the tree, nested ones too; walks only subtrees that contain errors (fast when
    clean). What the syntax checks count (:func:`count_errors`) and locate (``syntax.error_starts``)."""
    root = tree.root_node
    if not root.has_error:
        return []
    found: list[Node] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_missing or node.is_error:
            found.append(node)
        if node.has_error:
            stack.extend(node.children)
    return found


def count_errors(tree: Tree) -> ErrorCount:
    """ERROR and MISSING nodes in the tree (:func:`error_nodes`)."""
    nodes = error_nodes(tree)
    missing = sum(1 for node in nodes if node.is_missing)
    return ErrorCount(len(nodes) - missing, missing)
