"""Where a suggestion checked in the background was shown, and the worker key its checks run under (shared by
server/background_check.py and server/alternatives.py)."""

from __future__ import annotations

from dataclasses import dataclass

from .worker import PRIORITY_COMPLETION

PRIORITY_CHECK = PRIORITY_COMPLETION + 1  # after every waiting completion


def check_key(uri: str) -> str:
    """The worker's newest-wins key of a document's background check (and of the search for its replacement)."""
    return f"check:{uri}"


@dataclass(frozen=True)
class Shown:
    """A suggestion on screen: the document, its version when the request was answered, and the LSP position."""

    uri: str
    version: int
    position: dict[str, int]
