"""How much to suggest: one line or several.

Why a policy rather than "let the model run": on real repositories the first line is what users accept; extra lines
after a complete statement are usually wrong (the 0.5B model invents the next statement or the next function) and
each costs a decode step. So:

* code right of the cursor, inside a comment, or inside a one-line string: the rest of the line only
  (:func:`decide_multiline`);
* code left of the cursor (mid-line): the rest of the line, and more lines only when that line opens a block
  (``if x:``, ``{``) or a bracket that the suggestion then closes (:func:`first_line_opens`) — the suggestion ends
  with the block or at the line that closes the bracket — but the rest of the line only when the next line below is
  indented deeper (the block or bracket already has its body there: the user is editing its header);
* an empty (or whitespace-only) line, or the end of a line that already opens a block: several lines, kept inside
  the current block by the post-processing scope rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from codeassist.brackets import CLOSERS, OPENERS, Lexer
from codeassist.context.languages import LanguageSpec
from codeassist.context.parsing import Document

_CLOSING_TAIL = re.compile(r"""^[\s)\]}"'`;,:]*$""")

_STRING_KINDS = (
    "string", "string_literal", "interpreted_string_literal", "template_string", "raw_string_literal", "char_literal",
)  # fmt: skip


def multiline_from_text(prefix: str, suffix: str) -> bool:
    """Single line when real code sits right of the cursor (only closers/quotes there still allow multi-line)."""
    nl = suffix.find("\n")
    line_suffix = suffix if nl < 0 else suffix[:nl]
    return bool(_CLOSING_TAIL.match(line_suffix))


def cursor_in(doc: Document, offset: int) -> str | None:
    """What the cursor is inside, from the tree-sitter node there: ``comment``, ``string`` (one line),
    ``long_string`` (triple-quoted or template literal), or None (code, or no grammar)."""
    if doc.tree is None or doc.spec is None:
        return None
    b = doc.byte_offset(offset)
    node = doc.node_at(offset)
    while node is not None:
        kind = node.type
        if "comment" in kind and node.start_byte < b <= node.end_byte:
            return "comment"
        if kind in _STRING_KINDS and node.start_byte < b < node.end_byte:
            head = doc.data[node.start_byte : node.start_byte + 4].lstrip(b"rbfuRBFU")
            return "long_string" if head.startswith((b'"""', b"'''", b"`")) else "string"
        node = node.parent
    return None


def decide_multiline(doc: Document, offset: int) -> bool:
    """Single vs multi-line from the text right of the cursor and the tree-sitter node at the cursor.

    Single line when code follows the cursor on its line, inside a comment, or inside a one-line string literal;
    multi-line otherwise (the scope rules then keep the completion inside the current block, and
    :func:`first_line_opens` decides mid-line).
    """
    line_end = doc.text.find("\n", offset)
    line_suffix = doc.text[offset : line_end if line_end >= 0 else len(doc.text)]
    if not _CLOSING_TAIL.match(line_suffix):
        return False
    return cursor_in(doc, offset) in (None, "long_string")


@dataclass(frozen=True)
class FirstLine:
    """What the suggestion's first line does to the cursor's line."""

    kind: str  # line: the suggestion ends with it | block: it opens a block | bracket: brackets or a string left open
    depth: int = 0  # brackets left open (kind "bracket") that the following lines must close
    quote: str | None = None  # a multi-line string (docstring, template literal) left open


def first_line_opens(line_prefix: str, first: str, line_suffix: str, spec: LanguageSpec | None) -> FirstLine:
    """Classify the cursor's line once the suggestion's first line is typed (``line_prefix + first``). Brackets the
    line suffix closes (editor auto-pairs) do not count: the suggestion need not close them."""
    lexer = Lexer(spec)
    code = line_prefix + first
    stack: list[str] = []
    for _, ch in lexer.brackets(code):
        if ch in OPENERS:
            stack.append(ch)
        elif stack and stack[-1] == CLOSERS[ch]:
            stack.pop()
    if lexer.comment_starts:
        code = code[: lexer.comment_starts[0]]
    claimed = 0
    depth = 0
    for _, ch in Lexer(spec).brackets(line_suffix):
        if ch in OPENERS:
            depth += 1
        elif depth:
            depth -= 1
        else:
            claimed += 1
    still_open = len(stack) - min(claimed, len(stack))
    quote = lexer.quote if lexer.quote is not None and (len(lexer.quote) == 3 or lexer.quote == "`") else None
    if still_open > 0 or quote is not None:
        return FirstLine("bracket", still_open, quote)
    stripped = code.rstrip()
    if stripped.endswith("{") or (spec is not None and spec.indent_blocks and stripped.endswith(":")):
        return FirstLine("block")
    return FirstLine("line")


def bracket_close_line(lines: list[str], opened: FirstLine, spec: LanguageSpec | None) -> int | None:
    """Index of the first of ``lines`` (the suggestion's lines after the first) at whose end the brackets and the
    string the first line left open are all closed; None when they are not closed yet."""
    lexer = Lexer(spec)
    lexer.quote = opened.quote
    depth = opened.depth
    for idx, line in enumerate(lines):
        for _, ch in lexer.brackets(line + "\n"):
            depth += 1 if ch in OPENERS else -1
        if depth <= 0 and lexer.quote is None:
            return idx
    return None


# How much of the line suffix a suggestion must re-type before it counts as re-typing it (not a coincidence).
_RETYPE_MIN = 6


def retyped_suffix_at(first: str, line_suffix: str) -> int | None:
    """Where the suggestion's first line starts re-typing the text right of the cursor with changes (``[x.stri█ for
    x in xs]`` → ``p() for x in xs if x]``): the first position, after at least one character and at a word
    boundary, where it spells the line suffix's first :data:`_RETYPE_MIN` characters (all of them when shorter,
    leading spaces included); None when it does not. The rest of the first line would duplicate what is there."""
    core = line_suffix.strip()
    if len(core) < 3 or sum(c.isalnum() for c in core) < 2:
        return None
    probe = line_suffix[: len(line_suffix) - len(line_suffix.lstrip()) + min(len(core), _RETYPE_MIN)]
    at = first.find(probe, 1)
    while at > 0:
        before, start = first[at - 1], probe.lstrip()[:1]
        if not (before.isalnum() or before == "_") or not (start.isalnum() or start == "_"):
            return at
        at = first.find(probe, at + 1)
    return None
