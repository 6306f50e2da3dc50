"""Text positions and file reading shared by the CLI, the server and the engine.

Why here: every entry point must reject positions past the end and non-UTF-8 files the same way, with the same words.
The engine speaks 0-based lines and Unicode code-point columns; the LSP layer converts UTF-16 columns before calling.
"""

from __future__ import annotations

import os

from codeassist.errors import InputError


def read_text_file(path: str, *, max_bytes: int = 4 << 20) -> str:
    """Read a user's source file as UTF-8, refusing clearly what we cannot handle (and never modifying it)."""
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory")
    size = os.path.getsize(path)
    if size > max_bytes:
        raise InputError(f"{path}: file is too large ({size:,} bytes; limit {max_bytes:,})")
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not valid UTF-8 (byte {exc.start}: {data[exc.start : exc.start + 1]!r})",
            hint="convert the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
        ) from None
    return text.removeprefix("\ufeff")


def line_starts(text: str) -> list[int]:
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    return starts


def offset_at(text: str, line: int, column: int, *, where: str = "document") -> int:
    """Code-point offset of a 0-based (line, column); raise InputError when the position is outside the text.

    A column past the end of its line is an error too (editors never send one; a script that does is confused)."""
    if line < 0 or column < 0:
        raise InputError(f"position {line + 1}:{column + 1} is invalid in {where} (negative)")
    starts = line_starts(text)
    if line >= len(starts):
        raise InputError(f"line {line + 1} is past the end of {where} ({len(starts)} lines)")
    start = starts[line]
    end = starts[line + 1] - 1 if line + 1 < len(starts) else len(text)
    if end > start and text[end - 1] == "\r":
        end -= 1
    if start + column > end:
        raise InputError(f"column {column + 1} is past the end of line {line + 1} in {where} ({end - start} columns)")
    return start + column


def clamped_offset(text: str, line: int, column: int) -> int:
    """Code-point offset of (line, column), both 0-based; clamped to the end of the line / document. For positions
    the engine produced itself (no validation needed); user input goes through :func:`offset_at`."""
    if line < 0:
        return 0
    pos = 0
    for _ in range(line):
        nl = text.find("\n", pos)
        if nl < 0:
            return len(text)
        pos = nl + 1
    end = text.find("\n", pos)
    if end < 0:
        end = len(text)
    return min(pos + max(column, 0), end)


def position_at(text: str, offset: int) -> tuple[int, int]:
    """0-based (line, column) of a code-point offset."""
    line = text.count("\n", 0, offset)
    col = offset - (text.rfind("\n", 0, offset) + 1)
    return line, col
