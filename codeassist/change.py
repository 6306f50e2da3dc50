"""A proposed edit of a workspace (:class:`Change`) and the verifier's first tier, run on the host: syntax.

Split from :mod:`codeassist.verify` (which re-exports both; it had reached the 400-line limit): the syntax tier needs no
sandbox, and the completion service runs it on its own before deciding whether a sandbox check is worth it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from codeassist import syntax
from codeassist.context.languages import language_for_path
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


def syntax_tier(change: Change) -> TierVerdict:
    """Tier 1, on the host: tree-sitter ERROR/MISSING nodes in any edited file (only new ones, when the original is
    known), then Python's own parser for .py files. Needs no sandbox."""
    start = time.monotonic()
    problems: list[str] = []
    for rel, text in change.files.items():
        language = language_for_path(rel)
        found = syntax.problems(text, language)
        before = len(syntax.problems(change.original[rel], language)) if rel in change.original else 0
        if len(found) > before:  # only errors the edit added count (a buffer being typed may have others)
            problems += [f"{rel}:{p.start_line + 1}: {p.message}" for p in found]
        elif (
            rel.endswith(".py")
            and (err := syntax.python_error(text))
            and (rel not in change.original or syntax.python_error(change.original[rel]) is None)
        ):
            # tree-sitter is lenient with indentation (an ``if`` with no body, a stray indent); Python's own
            # parser is not, and parsing never executes anything, so this needs no sandbox
            problems.append(f"{rel}:{err}")
    wall = round(time.monotonic() - start, 4)
    if problems:
        return TierVerdict("syntax", "failed", "\n".join(problems[:10]), wall_s=wall)
    return TierVerdict("syntax", "passed", f"{len(change.files)} file(s) parse cleanly", wall_s=wall)
