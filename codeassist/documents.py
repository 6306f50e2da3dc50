"""Text positions and file reading shared by the CLI, the server and the engine.

Why here: every entry point must reject positions past the end and non-UTF-8 files the same way, with the same words.
The engine speaks 0-based lines and Unicode code-point columns; the LSP layer converts UTF-16 columns before calling.
"""

from __future__ import annotations

import os
import stat

from codeassist.errors import InputError

MAX_SOURCE_BYTES = 4 << 20  # a source file larger than this is refused: no code model prompt needs more


def read_regular_file(path: str, *, max_bytes: int = MAX_SOURCE_BYTES, what: str = "file") -> bytes:
    """Read at most ``max_bytes`` of a *regular* file, refusing everything else with a one-line :class:`InputError`.

    Why so careful: a path from the command line or a workspace walk can name a FIFO (``open`` would block forever),
    a device (``/dev/zero`` never ends), a ``/proc`` file (size 0 yet full of bytes) or a file we may not read. So the
    file is opened non-blocking, checked with ``fstat`` on the open descriptor (no check-then-open race), and read
    with a bound that does not trust ``st_size``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied (cannot read the {what})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot open the {what}: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"{path}: is a directory, not a {what}")
        if not stat.S_ISREG(mode):
            raise InputError(f"{path}: not a regular file ({file_kind(mode)}); expected a {what}")
        chunks: list[bytes] = []
        total = 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if total > max_bytes:
        raise InputError(f"{path}: {what} is too large (more than {max_bytes:,} bytes)")
    return b"".join(chunks)


def file_kind(mode: int) -> str:
    """What a non-regular file is, for error messages."""
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):  # fmt: skip
        if test(mode):
            return name
    return "not a plain file"


def read_text_file(path: str, *, max_bytes: int = MAX_SOURCE_BYTES) -> str:
    """Read a user's source file as UTF-8, refusing clearly what we cannot handle (and never modifying it)."""
    data = read_regular_file(path, max_bytes=max_bytes, what="source file")
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
