"""A line the user is still typing, read as they will finish it: its open brackets closed at the line's end.

Why: the syntax checks (the gate in :mod:`codeassist.syntax_gate`, the syntax tier in :mod:`codeassist.change`) ask
whether a suggestion *adds* syntax errors to the document. Mid-typing, inside a bracket the user has not closed yet,
the document without the suggestion is often valid only by accident: Python's implicit line continuation joins the
dangling ``plural[0].upper() +`` to the code on the next lines, and finishing the expression — the right suggestion —
then "adds" an error. Closing the user's brackets at the end of the line in both documents compares what the user
will have once they type the closer, which the editor's own auto-pairing would otherwise have put there already.
"""

from __future__ import annotations

from dataclasses import dataclass

from codeassist.brackets import OPENERS, Lexer, open_stack
from codeassist.context.languages import LanguageSpec


@dataclass(frozen=True)
class ClosedReading:
    """The document before and after the suggestion, each with the user's open brackets closed at the line's end."""

    before: str
    after: str


def _closers(stack: list[str]) -> str:
    return "".join(OPENERS[b] for b in reversed(stack))


def _close_at_line_end(text: str, line_start: int, line_end: int, stack: list[str], spec: LanguageSpec | None) -> str:
    """``text`` with ``stack`` closed at ``line_end``, or before the line's trailing comment (a closer inside the
    comment would close nothing)."""
    lexer = Lexer(spec)
    lexer.brackets(text[line_start:line_end])
    at = line_start + lexer.comment_starts[-1] if lexer.comment_starts else line_end
    return text[:at].rstrip(" \t") + _closers(stack) + text[at:]


def closed_reading(text: str, offset: int, candidate: str, spec: LanguageSpec | None) -> ClosedReading | None:
    """Both documents read as finished lines, when the cursor's line leaves brackets open at its end (the text after
    the cursor on that line included, so brackets the editor auto-closed count as closed) and the candidate opens no
    bracket it leaves open itself (an unfinished call it generated is its own fault, not the user's typing). None
    otherwise: the documents are compared as they are."""
    line_start = text.rfind("\n", 0, offset) + 1
    newline = text.find("\n", offset)
    line_end = len(text) if newline < 0 else newline
    before = open_stack(text[line_start:line_end], spec)
    if not before:
        return None
    spliced = text[:offset] + candidate + text[offset:]
    end = line_end + len(candidate)  # the same line's end, after the candidate (its last line, for several)
    after = open_stack(spliced[line_start:end], spec)
    if after != before[: len(after)]:
        return None
    return ClosedReading(
        _close_at_line_end(text, line_start, line_end, before, spec),
        _close_at_line_end(spliced, spliced.rfind("\n", 0, end) + 1, end, after, spec) if after else spliced,
    )
