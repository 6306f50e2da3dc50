"""Checks on client-supplied data that the schema cannot express, done before any model time is spent.

Why: ``codeAction/resolve`` hands back the ``data`` we put on a fix action, but a client (or a hostile one) may send
anything there; garbage line numbers used to reach the model (a fix prompt for lines that do not exist) or blow up
as an internal error with a traceback."""

from __future__ import annotations

from typing import Any

from codeassist.errors import InputError


def _line(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(f"codeAction/resolve: data.{key} must be a line number, got {value!r:.40}")
    return value


def fix_span(data: dict[str, Any], line_count: int, max_lines: int) -> tuple[int, int]:
    """The (start, end) lines of a fix action's ``data``: integers, in the document, in order, at most ``max_lines``
    apart (the server never offers a wider fix). Anything else is an InputError (InvalidParams)."""
    start, end = _line(data, "startLine"), _line(data, "endLine")
    if not 0 <= start < line_count or not 0 <= end < line_count:
        raise InputError(f"codeAction/resolve: lines {start}-{end} are not in the document ({line_count} lines)")
    if end < start:
        raise InputError(f"codeAction/resolve: endLine {end} is before startLine {start}")
    if end - start >= max_lines:
        raise InputError(f"codeAction/resolve: a fix spans at most {max_lines} lines, got {end - start + 1}")
    if not isinstance(data.get("message"), str):
        raise InputError("codeAction/resolve: data.message must be a string")
    return start, end
