"""LSP positions ⇄ Python string offsets.

Why not pygls' own document: it splits lines with ``str.splitlines``, which also breaks on form feed, U+2028, U+0085
and friends, while LSP counts only ``\\n``, ``\\r\\n`` and ``\\r`` as line ends; a Python file with a form feed would
shift every position after it. Here lines follow the LSP rule exactly, and columns are counted in the negotiated
position encoding (UTF-16 unless the client offered something else), so an emoji is 2 columns, a CJK character 1.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from codeassist.errors import InputError

UTF8 = "utf-8"
UTF16 = "utf-16"
UTF32 = "utf-32"


def units(ch: str, encoding: str) -> int:
    """Width of one code point in the given LSP position encoding."""
    cp = ord(ch)
    if encoding == UTF16:
        return 2 if cp > 0xFFFF else 1
    if encoding == UTF8:
        return 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4
    return 1


def width(text: str, encoding: str) -> int:
    """Length of ``text`` in position-encoding units."""
    if encoding == UTF32:
        return len(text)
    if encoding == UTF16:
        return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)
    return len(text.encode("utf-8", errors="surrogatepass"))


def lsp_line_starts(text: str) -> list[int]:
    """Offsets where each LSP line begins (after ``\\n``, ``\\r\\n`` or a lone ``\\r``)."""
    starts = [0]
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            starts.append(i + 1)
        elif ch == "\r":
            if i + 1 < n and text[i + 1] == "\n":
                i += 1
            starts.append(i + 1)
        i += 1
    return starts


def _line_content_end(text: str, starts: list[int], line: int) -> int:
    """Offset of the end of ``line``'s content (before its line terminator)."""
    if line + 1 < len(starts):
        end = starts[line + 1] - 1
        if text[end] == "\n" and end > starts[line] and text[end - 1] == "\r":
            end -= 1
        return end
    return len(text)


@dataclass(frozen=True)
class Pos:
    """An LSP position: 0-based line and a column in position-encoding units."""

    line: int
    character: int


def offset_of(
    text: str, pos: Pos, encoding: str = UTF16, *, strict: bool = True, starts: list[int] | None = None
) -> int:
    """Code-point offset of an LSP position.

    ``strict`` (requests): a line or column past the end, or a column that splits a surrogate pair, is an
    InputError with a message fit for the client. Not strict (edits from ``didChange``): clamp like the spec asks
    ("if the character value is greater than the line length it defaults back to the line length")."""
    starts = starts if starts is not None else lsp_line_starts(text)
    if pos.line < 0 or pos.character < 0:
        raise InputError(f"position {pos.line}:{pos.character} is negative")
    if pos.line >= len(starts):
        if strict:
            raise InputError(f"line {pos.line} is past the end of the document ({len(starts)} lines)")
        return len(text)
    start = starts[pos.line]
    end = _line_content_end(text, starts, pos.line)
    remaining = pos.character
    i = start
    while remaining > 0 and i < end:
        w = units(text[i], encoding)
        if w > remaining:
            if strict:
                raise InputError(f"column {pos.character} of line {pos.line} splits a character")
            break
        remaining -= w
        i += 1
    if remaining > 0 and strict:
        line_width = width(text[start:end], encoding)
        raise InputError(f"column {pos.character} is past the end of line {pos.line} ({line_width} columns)")
    return i


def position_of(text: str, offset: int, encoding: str = UTF16, *, starts: list[int] | None = None) -> Pos:
    """LSP position of a code-point offset."""
    starts = starts if starts is not None else lsp_line_starts(text)
    line = bisect.bisect_right(starts, offset) - 1
    return Pos(line, width(text[starts[line] : offset], encoding))


def apply_change(text: str, start: Pos, end: Pos, new_text: str, encoding: str = UTF16) -> str:
    """Apply one incremental ``didChange`` edit. Out-of-range ends are clamped, as the spec requires."""
    starts = lsp_line_starts(text)
    a = offset_of(text, start, encoding, strict=False, starts=starts)
    b = offset_of(text, end, encoding, strict=False, starts=starts)
    if b < a:
        a, b = b, a
    return text[:a] + new_text + text[b:]
