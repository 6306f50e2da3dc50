"""Context from the current file: prefix/suffix windows, the enclosing scope's headers, the file's imports.

Why windows snap to line blocks: every prompt token re-evaluated per keystroke costs ~8 ms on CPU, and the model
reuses only the longest common token prefix. If the window started "N tokens before the cursor", every keystroke would
shift its first line and invalidate the whole cache. Starting at a line that only moves in blocks of ``snap`` lines
keeps the prompt's head byte-identical while the user types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tree_sitter import Node

from codeassist.context.parsing import Document

TokenCounter = Callable[[str], int]


def estimate_tokens(text: str) -> int:
    """A cheap upper-ish estimate (code averages ~3.5 characters per token in BPE vocabularies)."""
    return (len(text) + 2) // 3


@dataclass(frozen=True)
class Window:
    prefix: str
    suffix: str
    prefix_start_line: int  # first line included in the prefix
    cursor_line: int
    suffix_end_line: int  # last line (exclusive) included in the suffix


def _prefix_start(lines_before: list[str], cursor_line: int, budget: int, count: TokenCounter, snap: int) -> int:
    """Walk back whole lines until the budget is met, then round the start *down the file* to a block edge. The
    cursor line itself is not counted, so typing on it never moves the window's start."""
    used = 0
    start = cursor_line
    while start > 0:
        cost = count(lines_before[start - 1]) + 1
        if used + cost > budget:
            break
        used += cost
        start -= 1
    if start > 0:
        start = min(cursor_line, ((start + snap - 1) // snap) * snap)
    return start


def cursor_windows(
    text: str,
    offset: int,
    *,
    prefix_tokens: int,
    suffix_tokens: int,
    count: TokenCounter = estimate_tokens,
    snap: int = 16,
    start_line: int | None = None,
) -> Window:
    """Prefix and suffix around ``offset``, cut at line boundaries that move only in steps of ``snap`` lines; the
    prefix from ``start_line`` instead where given, at or above the cursor (a pinned context, assemble.py)."""
    before, after = text[:offset], text[offset:]
    lines_before = before.split("\n")  # last element = current line up to the cursor
    cursor_line = len(lines_before) - 1
    if start_line is not None and 0 <= start_line <= cursor_line:
        start = start_line
    else:
        start = _prefix_start(lines_before, cursor_line, prefix_tokens, count, snap)
    prefix = "\n".join(lines_before[start:])
    # Suffix: rest of the current line, then whole lines forward; the end rounds *up the file* to a block edge.
    lines_after = after.split("\n")
    used = 0
    end = 1
    while end < len(lines_after):
        cost = count(lines_after[end]) + 1
        if used + cost > suffix_tokens:
            break
        used += cost
        end += 1
    if end < len(lines_after):
        abs_end = cursor_line + end
        snapped = (abs_end // snap) * snap
        end = max(1, snapped - cursor_line)
    suffix = "\n".join(lines_after[:end])
    if end < len(lines_after):
        suffix += "\n"
    return Window(prefix, suffix, start, cursor_line, cursor_line + end)


def _header(doc: Document, node: Node, *, max_lines: int = 6) -> str:
    """A scope's header: its first lines up to the one that opens the body (``def f(x) -> int:``, ``impl A {``).

    Text-based on purpose: while the user types, the tree often lacks the ``body`` field (the function is broken),
    and a header that changes with the parse state would change the prompt between keystrokes.
    """
    line_start = doc.text.rfind("\n", 0, _char_offset(doc, node.start_byte)) + 1
    lines = doc.text[line_start : line_start + 2000].split("\n")[:max_lines]
    out = []
    for line in lines:
        out.append(line.rstrip())
        if line.rstrip().endswith((":", "{", "=>")):
            break
    return "\n".join(out)


def _char_offset(doc: Document, byte_offset: int) -> int:
    return len(doc.data[:byte_offset].decode("utf-8", errors="replace"))


def enclosing_scopes(doc: Document, offset: int, *, max_scopes: int = 4) -> list[tuple[int, str]]:
    """(line, header) for each enclosing function/class/impl scope, outermost first."""
    if doc.tree is None or doc.spec is None:
        return []
    # In trailing whitespace (a fresh line in a body) the tree places the cursor outside the block: probe at the
    # last code character instead, and for indentation-scoped languages keep only scopes indented less than the
    # cursor line.
    probe = len(doc.text[:offset].rstrip())
    line_start = doc.text.rfind("\n", 0, offset) + 1
    line_prefix = doc.text[line_start:offset]
    indent = len(line_prefix) - len(line_prefix.lstrip()) if line_prefix.strip() else len(line_prefix)
    node = doc.node_at(probe)
    out: list[tuple[int, str]] = []
    types = doc.spec.scope_types
    while node is not None:
        top = node.parent is None or node.parent.type != "decorated_definition"
        if node.type in types and top and (not doc.spec.indent_blocks or node.start_point.column < indent):
            out.append((node.start_point.row, _header(doc, node)))
        node = node.parent
    out.reverse()
    return out[-max_scopes:]


def file_imports(doc: Document, *, max_items: int = 40) -> list[tuple[int, str]]:
    """(line, text) of the top-level import/include/use statements."""
    if doc.tree is None or doc.spec is None:
        return []
    out: list[tuple[int, str]] = []
    # While the user types, an unclosed bracket can wrap the rest of the file in an ERROR node; looking inside
    # top-level ERROR nodes keeps the imports (and hence the prompt) stable between keystrokes.
    stack = list(reversed(doc.tree.root_node.children))
    while stack and len(out) < max_items:
        child = stack.pop()
        if child.type in doc.spec.import_types:
            out.append((child.start_point.row, doc.text_of(child)))
        elif child.type == "ERROR":
            stack.extend(reversed(child.children))
    return out
