"""Step 4 of post-processing, line by line (:class:`LineRules`): brackets the suffix already closes, leaving the
block by indentation, one top-level item at a time, and re-typing the line below the cursor. Split from
``postprocess.py`` so each module stays one readable job."""

from __future__ import annotations

from typing import TYPE_CHECKING

from codeassist.brackets import OPENERS, Lexer

if TYPE_CHECKING:
    from codeassist.postprocess import Situation, _Prepared


def indent_width(line: str, tab: int) -> int:
    """Columns of leading whitespace, a tab counting ``tab``."""
    n = 0
    for ch in line:
        if ch == " ":
            n += 1
        elif ch == "\t":
            n += tab
        else:
            break
    return n


def is_closer_line(line: str) -> bool:
    """A line of closing brackets and separators only (``})``, ``],``)."""
    s = line.strip()
    return bool(s) and all(c in ")]};,>" for c in s)


def significant(line: str) -> bool:
    """Enough letters or digits that two equal lines are not a coincidence."""
    return sum(c.isalnum() for c in line) >= 2


class LineRules:
    """Step 4 of :func:`postprocess`, line by line: brackets the suffix already closes, leaving the block by
    indentation, one top-level item at a time, and re-typing the line below the cursor. ``reason`` is set when a
    rule cut the text."""

    def __init__(self, situation: Situation, p: _Prepared, opener: bool) -> None:
        self.situation, self.p = situation, p
        self.opener = opener  # the mid-line policy's verdict: lines back at the cursor line's indentation end it
        self.tab = situation.indentation.width
        self.spec = p.spec
        self.closable = list(p.closable)
        self.local_depth = 0
        self.lexer = Lexer(p.spec)
        self.kept: list[str] = []
        self.completed_block = False
        self.seen_top = p.ref_indent == 0 and not p.blank_line
        self.saw_blank = False
        self.next_line = p.next_suffix_line.strip() if p.next_suffix_line else None
        self.next_indent = indent_width(p.next_suffix_line, self.tab) if p.next_suffix_line else None
        self.indent_blocks = p.spec is not None and p.spec.indent_blocks
        self.ref = p.ref_indent
        self.reason: str | None = None

    def run(self, lines: list[str]) -> list[str]:
        """The lines kept."""
        for idx, line in enumerate(lines):
            if idx >= self.situation.max_lines:
                self.reason = "max_lines"
                break
            if not self._take(idx, line):
                break
        return self.kept

    def _take(self, idx: int, line: str) -> bool:
        """Apply the rules to one line; False once a rule cut (the line may have been kept in part)."""
        p, is_first = self.p, idx == 0
        indent = indent_width((p.line_prefix if is_first else "") + line, self.tab)
        content = line.strip()
        if is_first and p.blank_line and content and indent > self.ref:
            # On an empty line the completion's own first line sets the block level (HumanEval-style holes, or a new
            # statement in a body): whatever then dedents below it has left the block.
            self.ref = indent
        closer = is_closer_line(line)
        stop_after = False
        if not is_first and content:
            left = self._leaves(content, indent, closer)
            if left == "scope_after":
                stop_after = True
            elif left is not None:
                self.reason = left
                return False
        if is_first and p.blank_line and content and self.next_line is not None and content == self.next_line \
                and significant(content):  # fmt: skip
            self.reason = "suffix_overlap"
            return False
        if self._bracket_cut(line, is_first):
            return False
        self.kept.append(line)
        if content:
            if indent == 0 and self.ref == 0:
                self.seen_top = True
            elif indent > 0 and self.seen_top and self.ref == 0:
                self.completed_block = True
            self.saw_blank = False
        elif not is_first:
            self.saw_blank = True
        if stop_after:
            self.reason = "scope"
            return False
        return True

    def _leaves(self, content: str, indent: int, closer: bool) -> str | None:
        """Why a later, non-blank line ends the completion (``scope_after``: keep it, then stop), or None."""
        ref, spec = self.ref, self.spec
        # Scope exit by indentation (blank lines never decide). A closing line may end the scope: it is kept (if
        # the bracket rule allows it) and generation stops after it.
        after = None
        if indent < ref or (self.opener and indent <= ref):
            if self.indent_blocks or not closer:
                return "scope"
            after = "scope_after"
        # The model re-types the line below the cursor: everything from here is a duplicate.
        if self.next_line is not None and content == self.next_line and (
                significant(content) or (indent == self.next_indent and closer)):  # fmt: skip
            return "suffix_overlap"
        # One top-level item at a time.
        top_level = self.saw_blank or (spec is not None and content.startswith(spec.top_level_keywords))
        if ref == 0 and indent == 0 and self.completed_block and top_level:
            return "top_level"
        return after

    def _bracket_cut(self, line: str, is_first: bool) -> bool:
        """Closing a bracket the suffix already closes (auto-pairs, an existing block end) cuts there."""
        trimmed_at: int | None = None
        for pos, ch in self.lexer.brackets(line + "\n"):
            if ch in OPENERS:
                self.local_depth += 1
                continue
            if self.local_depth > 0:
                self.local_depth -= 1
                continue
            if self.closable and self.closable[-1][1]:
                self.closable.pop()
                continue
            trimmed_at = pos
            break
        if trimmed_at is None:
            return False
        head = line[:trimmed_at]
        if head.strip() or is_first:
            self.kept.append(head.rstrip() if head.strip() else head)
        self.reason = "bracket"
        return True
