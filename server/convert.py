"""LSP positions ⇄ Python string offsets, with an incremental line index.

Why not pygls' own document: it splits lines with ``str.splitlines``, which also breaks on form feed, U+2028, U+0085
and friends, while LSP counts only ``\\n``, ``\\r\\n`` and ``\\r`` as line ends; a Python file with a form feed would
shift every position after it. Here lines follow the LSP rule exactly, and columns are counted in the negotiated
position encoding (UTF-16 unless the client offered something else), so an emoji is 2 columns, a CJK character 1.

Why an index kept per edit: rescanning the whole text for line starts on every keystroke made typing in a 5 MB file
cost 0.3 s per key on the event loop. :class:`~codeassist.server.lineindex.LineIndex` is updated per edit from the
edit alone, and a column converts within its line only. The document store registers each (text, index) pair it
makes, so :func:`lsp_line_starts` on a live snapshot (a request's text) costs nothing.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from codeassist.errors import InputError

from .chunked import ChunkedText
from .lineindex import LineIndex

UTF8 = "utf-8"
UTF16 = "utf-16"
UTF32 = "utf-32"

Text = str | ChunkedText  # what positions convert against: a flat string or a document's chunked text


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
    if encoding == UTF32 or text.isascii():
        return len(text)
    if encoding == UTF16:
        return len(text.encode("utf-16-le", errors="surrogatepass")) // 2
    return len(text.encode("utf-8", errors="surrogatepass"))


# -- snapshots ---------------------------------------------------------------------------------------------------------

_KNOWN: OrderedDict[int, tuple[str, LineIndex]] = OrderedDict()
_KNOWN_LOCK = threading.Lock()
_KNOWN_MAX = 8


def remember(text: str, index: LineIndex) -> None:
    """Register a live snapshot's index (the document store does, per edit) so callers holding that very string get
    it for free. Keyed by identity, checked by identity: strings are immutable, so a hit is always right."""
    with _KNOWN_LOCK:
        _KNOWN[id(text)] = (text, index)
        _KNOWN.move_to_end(id(text))
        while len(_KNOWN) > _KNOWN_MAX:
            _KNOWN.popitem(last=False)


def lsp_line_starts(text: str) -> LineIndex:
    """Offsets where each LSP line begins (after ``\\n``, ``\\r\\n`` or a lone ``\\r``)."""
    with _KNOWN_LOCK:
        hit = _KNOWN.get(id(text))
    if hit is not None and hit[0] is text:
        return hit[1]
    return LineIndex.of(text)


# -- positions -----------------------------------------------------------------------------------------------------


def _line_content_end(text: Text, starts: Sequence[int], line: int) -> int:
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


def _advance(text: Text, start: int, end: int, columns: int, encoding: str) -> tuple[int, int, bool]:
    """Walk ``columns`` units from ``start`` (not past ``end``): (offset, units left, split a character)."""
    # every code point is at least one unit wide, so the answer lies within the next `columns` code points
    seg = text[start : min(end, start + columns)]
    if encoding == UTF32 or seg.isascii():
        return start + len(seg), columns - len(seg), False
    remaining, i = columns, start
    for ch in seg:
        if remaining == 0:
            break
        w = units(ch, encoding)
        if w > remaining:
            return i, remaining, True
        remaining -= w
        i += 1
    return i, remaining, False


def offset_of(
    text: Text, pos: Pos, encoding: str = UTF16, *, strict: bool = True, starts: Sequence[int] | None = None
) -> int:
    """Code-point offset of an LSP position.

    ``strict`` (requests): a line or column past the end, or a column that splits a surrogate pair, is an
    InputError with a message fit for the client. Not strict (edits from ``didChange``): clamp like the spec asks
    ("if the character value is greater than the line length it defaults back to the line length")."""
    starts = starts if starts is not None else lsp_line_starts(str(text))
    if pos.line < 0 or pos.character < 0:
        raise InputError(f"position {pos.line}:{pos.character} is negative")
    if pos.line >= len(starts):
        if strict:
            raise InputError(f"line {pos.line} is past the end of the document ({len(starts)} lines)")
        return len(text)
    start = starts[pos.line]
    end = _line_content_end(text, starts, pos.line)
    i, remaining, split = _advance(text, start, end, pos.character, encoding)
    if split and strict:
        raise InputError(f"column {pos.character} of line {pos.line} splits a character")
    if remaining > 0 and strict and not split:
        line_width = width(text[start:end], encoding)
        raise InputError(f"column {pos.character} is past the end of line {pos.line} ({line_width} columns)")
    return i


def position_of(text: Text, offset: int, encoding: str = UTF16, *, starts: Sequence[int] | None = None) -> Pos:
    """LSP position of a code-point offset."""
    starts = starts if starts is not None else lsp_line_starts(str(text))
    line = starts.line_of(offset) if isinstance(starts, LineIndex) else bisect.bisect_right(starts, offset) - 1
    return Pos(line, width(text[starts[line] : offset], encoding))


def apply_edit(
    text: ChunkedText, lines: LineIndex, start: Pos, end: Pos, new_text: str, encoding: str = UTF16
) -> tuple[ChunkedText, LineIndex]:
    """Apply one incremental ``didChange`` edit to a text and its index. Out-of-range ends are clamped, as the spec
    requires. Costs the edit's lines and chunks, never a rescan or a copy of the whole text."""
    a = offset_of(text, start, encoding, strict=False, starts=lines)
    b = offset_of(text, end, encoding, strict=False, starts=lines)
    if b < a:
        a, b = b, a
    result = text.replace(a, b, new_text)
    return result, lines.edited(result, a, b, len(new_text))


def apply_change(text: str, start: Pos, end: Pos, new_text: str, encoding: str = UTF16) -> str:
    """:func:`apply_edit` for a bare string (indexes it first)."""
    return str(apply_edit(ChunkedText.of(text), lsp_line_starts(text), start, end, new_text, encoding)[0])
