"""The baseline for a suggestion that finishes an expression the user is still typing: the document with a neutral
operand at the cursor.

Why: the syntax checks (the gate in :mod:`codeassist.syntax_gate`, the syntax tier in :mod:`codeassist.change`) ask
whether a suggestion *adds* syntax errors to the document as it is. Mid-typing, right after a binary operator, a
comma, a dot or an opening bracket, that document is sometimes valid only by accident: inside a bracket opened on an
earlier line, Python's implicit line continuation joins the dangling ``plural[0].upper() +`` to the code on the next
line, so *any* finished operand — the right suggestion among them — "adds" an error down there (the open-loop replay's
inflection span: the real rest of the line, `` plural[1:]``, was dropped after the partial ``plural[0].upper() +``).
Errors that the document has with some operand at the cursor belong to the unfinished structure, not to the
suggestion, so a suggestion is also acceptable when it adds none to that document — provided no error starts inside
the suggestion's own text (tree-sitter's counts are coarse: `` plural[1:] def`` has as many errors as the neutral
document, but one of them starts at ``plural``; the right answer's starts on the next line, as the neutral one's
does).

Only where an operand is what the grammar wants next: elsewhere a placeholder would excuse real breaks (after
``def``, an operand is itself an error). The earlier attempt at this (closing the cursor line's open brackets, 52c4304)
let more wrong text through on lines with open brackets and did not reach a bracket opened on an earlier line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from codeassist import syntax
from codeassist.brackets import CLOSERS, OPENERS, Lexer, scan_start
from codeassist.context.languages import LanguageSpec, get_spec

OPERAND = "a"  # an identifier in every registered language; a keyword nowhere

# the text before the cursor on its line ends where an operand must follow: an operator (``+``, ``==``, ``=``,
# ``->``, ``**``…), a comma, a dot, an opening bracket, or a keyword that takes an expression
_WANTS_OPERAND = re.compile(
    r"(?:[-+*/%@&|^<>=~,.(\[{]|(?<![\w.])(?:and|or|not|in|is|return|yield|await|assert))[ \t]*$"
)
_IDENTIFIER_CHAR = re.compile(r"\w")


def neutral_document(text: str, offset: int) -> str | None:
    """``text`` with :data:`OPERAND` inserted at code-point ``offset`` when the cursor is where an operand must
    follow and nothing of one is there yet — after an operator on its line, or at the start of a line after a line
    that ends with one; None elsewhere (the document as it is is then the only baseline)."""
    line_start = text.rfind("\n", 0, offset) + 1
    before = text[line_start:offset]
    if not before.strip():  # at a line's start: the code before it says (``f(a,`` then a new line of arguments)
        code = text[:line_start].rstrip()
        before = code[code.rfind("\n") + 1 :]
    if not _WANTS_OPERAND.search(before):
        return None
    if before.rstrip().endswith(".") and re.search(r"\d\.[ \t]*$", before):
        return None  # ``1.`` is a number, not an attribute access
    if offset < len(text) and _IDENTIFIER_CHAR.match(text[offset]):
        return None  # an operand is already there (the cursor sits before its first character)
    return text[:offset] + " " + OPERAND + text[offset:]


@dataclass(frozen=True)
class MidTyping:
    """A cursor on a line that continues a bracket whose rest is not written yet (:func:`at`): every candidate there
    is also judged against ``neutral``, the document with a neutral operand at the cursor."""

    text: str
    offset: int
    language: str | None
    spec: LanguageSpec | None
    neutral: str
    line_before: str  # the cursor's line up to the cursor
    line_after: str  # the rest of the cursor's line

    def accepts(self, candidate: str) -> bool:
        """Whether ``candidate`` neither leaves a bracket of its line open nor closes one of an earlier line (what
        the lines below should do, and a wrong answer often does), adds no error to the neutral document and has
        none starting inside its own text."""
        if _unbalanced(self.line_before + candidate + self.line_after, self.spec):
            return False
        text, offset = self.text, self.offset
        spliced = text[:offset] + candidate + text[offset:]
        if syntax.error_count(spliced, self.language) > syntax.error_count(self.neutral, self.language):
            return False
        start = len(text[:offset].encode("utf-8"))
        end = start + len(candidate.encode("utf-8"))
        return not any(start <= pos < end for pos in syntax.error_starts(spliced, self.language))


def at(text: str, offset: int, language: str | None) -> MidTyping | None:
    """The mid-typing baseline at ``offset``, or None where the document as it is stays the only one. It applies when
    an operand is wanted at the cursor (:func:`neutral_document`), the cursor is in code (not a string or comment)
    inside a bracket opened on an earlier line, and the next line of code is indented no deeper than the line that
    opened the bracket and does not close it: the rest of the bracket's contents is not written yet (a new statement
    follows), so nothing below can say whether the expression ends here.

    Measured with bench/gate_truth.py (lines that continue a bracket, cut after an operator or at their start): each
    condition here and in :meth:`MidTyping.accepts` removed wrong text that the neutral baseline alone let through,
    such as a call closed early (``args, kwargs)``), a string's ``"%`` read as an operator, or an argument without
    its comma above more arguments."""
    neutral = neutral_document(text, offset)
    if neutral is None:
        return None
    spec = get_spec(language)
    line_start = text.rfind("\n", 0, offset) + 1
    lexer = Lexer(spec)
    scan = scan_start(text[:line_start], spec)
    opener = _innermost_opener(lexer.brackets(text[scan:line_start]))
    if opener is None:
        return None  # no bracket open before the line: nothing joins it to the next line by accident
    lexer.brackets(text[line_start:offset])
    if lexer.quote is not None or lexer.in_line_comment or lexer.in_block_comment:
        return None
    line_end = text.find("\n", offset)
    indent, first = _next_code(text, line_end, spec)
    if indent > _indent_at(text, scan + opener) or first in CLOSERS:
        return None  # the bracket's contents go on, or it is closed, below: the lines there judge, as before
    line_after = text[offset:] if line_end < 0 else text[offset:line_end]
    return MidTyping(text, offset, language, spec, neutral, text[line_start:offset], line_after)


def _innermost_opener(marks: list[tuple[int, str]]) -> int | None:
    """Where the innermost bracket that ``marks`` leave open is (its index in the lexed text), or None."""
    stack: list[int] = []
    for pos, ch in marks:
        if ch in OPENERS:
            stack.append(pos)
        elif stack:
            stack.pop()
    return stack[-1] if stack else None


def _indent_at(text: str, at: int) -> int:
    """The indentation of the line holding ``text[at]``."""
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", start)
    line = text[start : end if end >= 0 else len(text)]
    return len(line) - len(line.lstrip(" \t"))


def _next_code(text: str, line_end: int, spec: LanguageSpec | None) -> tuple[int, str]:
    """The indentation and first character of the first line after ``line_end`` that holds code (not blank, not only
    a comment); (-1, "") at the end of the text. The open-loop replay's situation: lines of the span not typed yet
    are blank, and the next statement, dedented, follows."""
    comment = spec.line_comment if spec is not None else "#"
    at = line_end
    while 0 <= at < len(text):
        nxt = text.find("\n", at + 1)
        line = text[at + 1 : nxt if nxt >= 0 else len(text)]
        stripped = line.strip()
        if stripped and not stripped.startswith(comment):
            return len(line) - len(line.lstrip(" \t")), stripped[0]
        at = nxt
    return -1, ""


def _unbalanced(line: str, spec: LanguageSpec | None) -> bool:
    """Whether ``line`` (lexed alone) leaves a bracket or a string open, or closes a bracket it did not open."""
    depth = 0
    lexer = Lexer(spec)
    for _, ch in lexer.brackets(line):
        if ch in OPENERS:
            depth += 1
        elif depth == 0:
            return True
        else:
            depth -= 1
    return depth > 0 or lexer.quote is not None
