"""User-facing errors.

Every failure a user can cause or fix (missing model parts, a bad GGUF, a position past the end of a file…) is raised
as a :class:`CodeassistError` carrying a one-line message and, where there is one, the command that fixes it. The CLI
prints these without a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class CodeassistError(Exception):
    """An error with a message meant for the user, plus an optional remedy."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ModelError(CodeassistError):
    """The model is missing, corrupt, unsupported, or cannot be loaded."""


class InputError(CodeassistError):
    """A file, position or argument given by the user is unusable."""
