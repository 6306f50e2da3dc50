"""A proposed edit of a workspace (:class:`Change`) and the verifier's first tier, run on the host: syntax.

Split from :mod:`codeassist.verify` (which re-exports both; it had reached the 400-line limit): the syntax tier needs no
sandbox, and the completion service runs it on its own before deciding whether a sandbox check is worth it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from codeassist import syntax
from codeassist.context.languages import language_for_path, resolve_spec
from codeassist.midtyping import closed_reading
from codeassist.verdicts import TierVerdict


@dataclass
class Change:
    """A proposed edit of a workspace: the new full contents of the edited files (paths relative to ``root``).

    ``symbols`` are the edited functions/classes (found from the diff when empty); ``test_command`` is the user's
    configured test command (argv run in the workspace root inside the sandbox), which replaces test discovery.
    """

    root: str
    files: dict[str, str]
    original: dict[str, str] = field(default_factory=dict)
    symbols: tuple[str, ...] = ()
    test_command: tuple[str, ...] | None = None
    # (file, offset, length) of a completion inserted in a document the user is typing: a line still open there is
    # also read as the user will finish it (:mod:`codeassist.midtyping`)
    splice: tuple[str, int, int] | None = None


def syntax_tier(change: Change) -> TierVerdict:
    """Tier 1, on the host: tree-sitter ERROR/MISSING nodes in any edited file (only new ones, when the original is
    known), then Python's own parser for .py files. Needs no sandbox. A completion (``change.splice``) on a line the
    user is still typing passes when it adds no problem to the line read as finished, either."""
    start = time.monotonic()
    problems: list[str] = []
    for rel, text in change.files.items():
        found = _problems(rel, text, change.original.get(rel))
        if found and change.splice is not None and change.splice[0] == rel and rel in change.original:
            _, offset, length = change.splice
            original = change.original[rel]
            reading = closed_reading(original, offset, text[offset : offset + length], resolve_spec(rel, None))
            if reading is not None and not _problems(rel, reading.after, reading.before):
                found = []
        problems += found
    wall = round(time.monotonic() - start, 4)
    if problems:
        return TierVerdict("syntax", "failed", "\n".join(problems[:10]), wall_s=wall)
    return TierVerdict("syntax", "passed", f"{len(change.files)} file(s) parse cleanly", wall_s=wall)


def _problems(rel: str, text: str, original: str | None) -> list[str]:
    """The syntax problems ``text`` has that ``original`` (None: a new file) did not."""
    language = language_for_path(rel)
    found = syntax.problems(text, language)
    before = len(syntax.problems(original, language)) if original is not None else 0
    if len(found) > before:  # only errors the edit added count (a buffer being typed may have others)
        return [f"{rel}:{p.start_line + 1}: {p.message}" for p in found]
    if (
        rel.endswith(".py")
        and (err := syntax.python_error(text))
        and (original is None or syntax.python_error(original) is None)
    ):
        # tree-sitter is lenient with indentation (an ``if`` with no body, a stray indent); Python's own
        # parser is not, and parsing never executes anything, so this needs no sandbox
        return [f"{rel}:{err}"]
    return []
