"""Honesty checks on an explanation: its length in words, and the names it mentions that the code does not contain.

Why: a small model explaining code pads (a paragraph where two sentences do) and invents names — a helper that does
not exist, a parameter renamed, a method of the wrong type. A reader who trusts the explanation then searches for
``validate_input`` in vain. Both checks are cheap and exact: words are whitespace-separated pieces of the text, and
a name is *known* when it occurs as an identifier in the code the model was shown (the selection and its context),
is a Python builtin or keyword, or is a part of the file's path. Only inline ```code``` spans are checked (that is
where an explanation names things); prose words are not identifiers, and a fenced block is an example, not a claim.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Iterable

DEFAULT_MAX_WORDS = 120
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FENCE = re.compile(r"```.*?(?:```|\Z)", re.S)
_INLINE = re.compile(r"`([^`\n]+)`")
_STRING = re.compile(r"""("[^"]*"|'[^']*')""")
_NUMBER = re.compile(r"\b\d[\w.]*")  # 0x1F, 1e3, 10_000: not names
_ALWAYS = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | {"self", "cls"}


def word_count(text: str) -> int:
    return len(text.split())


def known_names(code: Iterable[str], path: str = "") -> frozenset[str]:
    """Every identifier in ``code`` (strings and comments included: a name the code spells out is not invented),
    the pieces of ``path``, builtins and keywords."""
    names: set[str] = set(_ALWAYS)
    for text in code:
        names.update(_IDENT.findall(text))
    names.update(_IDENT.findall(path))
    return frozenset(names)


def mentioned_names(text: str) -> list[str]:
    """Identifiers inside the inline code spans of ``text``, in order, once each (string and number literals in a
    span are not names; fenced blocks are skipped)."""
    found: dict[str, None] = {}
    for span in _INLINE.findall(_FENCE.sub(" ", text)):
        span = _NUMBER.sub(" ", _STRING.sub(" ", span))
        for name in _IDENT.findall(span):
            found.setdefault(name, None)
    return list(found)


def unknown_names(text: str, known: frozenset[str]) -> list[str]:
    """The names ``text`` mentions in code spans that are not in ``known``: invented, or from code it never saw."""
    return [n for n in mentioned_names(text) if n not in known]


def trim_to_words(text: str, max_words: int) -> tuple[str, bool]:
    """``text`` cut to at most ``max_words`` words, at the last sentence or line end within the limit when there is
    one (else at the word limit, with an ellipsis); ``(text, cut)``. Why at a sentence: half a sentence reads as a
    claim the model never finished."""
    if max_words <= 0 or word_count(text) <= max_words:
        return text, False
    ends = [m.end() for m in re.finditer(r"\S+", text)]
    limit = ends[max_words - 1]
    head = text[:limit]
    stop = max(head.rfind("\n"), *(head.rfind(p) + 1 for p in (". ", "! ", "? ")))
    if head.endswith((".", "!", "?")):
        stop = len(head)
    if stop > len(head) // 2:
        kept = head[:stop].rstrip().split("\n")
        while len(kept) > 1 and (kept[-1].lstrip().startswith("#") or kept[-1].rstrip().endswith(":")):
            kept.pop()  # a heading or a lead-in whose content was cut
        return "\n".join(kept).rstrip(), True
    return head.rstrip() + "…", True
