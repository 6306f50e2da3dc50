"""Brackets outside strings and comments: just enough lexing for the post-processing rules.

Why not tree-sitter: the rules run on every streamed token over a few lines of text that are usually not a complete
parse (half a call, an unclosed string), and they need only which brackets are open, which the suffix already closes
(auto-paired brackets), and where a line comment starts.
"""

from __future__ import annotations

from codeassist.context.languages import LanguageSpec

OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {")": "(", "]": "[", "}": "{"}


class Lexer:
    """Just enough lexing to find brackets outside strings and comments (per-language comment markers)."""

    def __init__(self, spec: LanguageSpec | None) -> None:
        self.line_comment = spec.line_comment if spec else "#"
        self.block_comments = spec is not None and spec.line_comment == "//"
        self.quote: str | None = None
        self.in_line_comment = False
        self.in_block_comment = False
        self.comment_starts: list[int] = []  # where line comments start in the last text given to brackets()

    def brackets(self, text: str) -> list[tuple[int, str]]:
        """(index, char) of every bracket in code, carrying string/comment state across calls."""
        out: list[tuple[int, str]] = []
        self.comment_starts = []
        i, n = 0, len(text)
        lc = self.line_comment
        while i < n:
            ch = text[i]
            if self.in_line_comment:
                if ch == "\n":
                    self.in_line_comment = False
                i += 1
                continue
            if self.in_block_comment:
                if ch == "*" and text.startswith("*/", i):
                    self.in_block_comment = False
                    i += 2
                    continue
                i += 1
                continue
            if self.quote is not None:
                if ch == "\\":
                    i += 2
                    continue
                if text.startswith(self.quote, i):
                    i += len(self.quote)
                    self.quote = None
                    continue
                if ch == "\n" and len(self.quote) == 1 and self.quote != "`":
                    self.quote = None  # unterminated single-line string: recover at the line end
                i += 1
                continue
            if text.startswith(lc, i):
                self.comment_starts.append(i)
                self.in_line_comment = True
                i += len(lc)
                continue
            if self.block_comments and text.startswith("/*", i):
                self.in_block_comment = True
                i += 2
                continue
            if ch in "\"'`":
                if lc == "#" and text.startswith(ch * 3, i):
                    self.quote = ch * 3
                    i += 3
                    continue
                if ch == "'" and lc == "//" and self._is_rust_lifetime(text, i):
                    i += 1
                    continue
                self.quote = ch
                i += 1
                continue
            if ch in OPENERS or ch in CLOSERS:
                out.append((i, ch))
            i += 1
        return out

    @staticmethod
    def _is_rust_lifetime(text: str, i: int) -> bool:
        # 'a in `&'a str` is not a char literal: a quote followed by an identifier with no closing quote at +2.
        return i + 2 < len(text) and text[i + 1].isalpha() and text[i + 2] != "'"


WINDOW = 12_000  # chars of prefix lexed when no top-level line is found nearer
REACH = 120_000  # how far back a top-level line is looked for (lexing 120K chars costs ~20 ms)


def scan_start(prefix: str, spec: LanguageSpec | None) -> int:
    """Where lexing ``prefix`` may start: the last line that begins, at column 0, with one of the language's
    top-level keywords (``def``, ``class``, ``import``… — code, not the middle of a string), within ``REACH``
    characters; else the last ``WINDOW`` characters.

    Why: a fixed window can start inside a docstring, which swaps code and string for the lexer up to the cursor —
    the brackets open at the cursor then read as none, and the bracket rule cuts a suggestion at the closer it
    needs (``next(islice(ite█`` shown as ``rator, advance``, a syntax error)."""
    lines = "\n" + prefix  # the line starting at index i of ``prefix`` follows the "\n" at index i of ``lines``
    floor = max(0, len(prefix) - REACH)
    keywords = spec.top_level_keywords if spec is not None else ()
    best = max((lines.rfind("\n" + keyword, floor) for keyword in keywords), default=-1)
    return best if best >= 0 else max(0, len(prefix) - WINDOW)


def open_stack(prefix: str, spec: LanguageSpec | None) -> list[str]:
    stack: list[str] = []
    for _, ch in Lexer(spec).brackets(prefix):
        if ch in OPENERS:
            stack.append(ch)
        elif stack:
            # Mismatched closers in broken code: pop to the matching opener if there is one.
            want = CLOSERS[ch]
            for k in range(len(stack) - 1, -1, -1):
                if stack[k] == want:
                    del stack[k:]
                    break
    return stack


def closable_brackets(prefix: str, suffix: str, spec: LanguageSpec | None) -> list[tuple[str, bool]]:
    """Openers left unclosed by the prefix, innermost last, each flagged True if the *completion* may close it.

    An opener is closed by the suffix (so the completion must not close it again) when a closer in the suffix, at
    the suffix's own depth 0, matches it — this is how brackets auto-closed by the editor are recognised.
    """
    stack = open_stack(prefix, spec)
    claimed = [False] * len(stack)
    depth = 0
    top = len(stack) - 1  # innermost not-yet-claimed entry
    for _, ch in Lexer(spec).brackets(suffix[:4000]):
        if ch in OPENERS:
            depth += 1
            continue
        if depth > 0:
            depth -= 1
            continue
        want = CLOSERS[ch]
        k = top
        while k >= 0 and stack[k] != want:
            k -= 1
        if k < 0:
            continue
        claimed[k] = True
        top = k - 1
        if top < 0:
            break
    return [(stack[i], not claimed[i]) for i in range(len(stack))]
