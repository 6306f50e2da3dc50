"""Token healing: let the model finish the token the user is in the middle of typing.

Why: a prompt that ends inside a token is tokenized in a way the model never saw in training. ``x is N`` ends in the
token `` N``, so the model must continue with ``one`` — a token boundary it has rarely seen after `` N`` — and the
0.5B model answered ``:`` instead; ``return `` ends in a lone space token, after which the model would rather stop.
The fix (Microsoft guidance's "token healing"): back the prompt up to the start of the partial chunk (`` N``), and
constrain the first generated tokens to ones consistent with the removed text (`` None`` starts with `` N``; `` ``
followed by ``N...`` is a prefix path). The model then picks the tokenization it was trained on. The removed text is
not shown again: the backend reports only what comes after it.

Which text to remove: BPE merges never cross the pre-tokenizer's chunk boundaries, so the trailing *chunk* is the
most that can merge with what follows. We approximate the usual code-model pre-tokenizers (Qwen2, StarCoder2, GPT-2
style): a run of letters with at most one leading non-letter (space, ``.``, ``(``, ``_``), a run of spaces/tabs, or a
run of punctuation with an optional leading space. Removing a little more than needed is harmless (the constraint
makes the model regenerate it exactly); it costs one decode step per removed token.

:class:`VocabIndex` is the vocabulary's decoded token bytes, sorted, so "tokens starting with these bytes" is one
binary search; it is built once per loaded model (~0.5 s for Qwen's 151,936 tokens) and cached by the backend.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# At most this many characters are healed: longer chunks (a 40-letter word) are left alone, since regenerating them
# costs a decode step per token and they are almost never a partial token.
MAX_HEAL_CHARS = 24

_WORD = re.compile(r"(?:[^\w\r\n]|_)?[^\W\d_]+\Z")  # letters, optionally led by one space / punctuation / underscore
_SPACE = re.compile(r"[^\S\r\n]+\Z")  # spaces and tabs (never the line break)
_PUNCT = re.compile(r" ?(?:[^\w\s]|_)+\Z")  # operators and brackets, optionally led by a space


def _chunk(text: str, max_chars: int) -> int | None:
    """Where the trailing chunk of ``text`` starts (None: no chunk, or one longer than ``max_chars``)."""
    for pattern in (_WORD, _SPACE, _PUNCT):
        m = pattern.search(text, max(0, len(text) - 4 * max_chars))
        if m is not None and m.group():
            return m.start() if len(m.group()) <= max_chars else None
    return None


def heal_split(text: str, max_chars: int = MAX_HEAL_CHARS) -> tuple[str, str]:
    """Split ``text`` (the prompt text before the cursor) into (kept, healed): ``healed`` is the trailing chunk the
    model will regenerate under the constraint, ``""`` when there is none or it is too long.

    Spaces after code take the chunk before them along (``import numpy as ␠`` heals `` as ␠``): healed alone, the
    space let the 0.5B model restart from the word it follows (``as np``, measured), because a prompt ending in
    `` as`` looks like a cut *before* the word as often as after it. Indentation at the start of a line is healed
    alone."""
    start = _chunk(text, max_chars)
    if start is None:
        return text, ""
    if start > 0 and text[start - 1] not in "\r\n" and not text[start:].strip():
        before = _chunk(text[:start], max_chars)
        if before is not None and len(text) - before <= max_chars:
            start = before
    return text[:start], text[start:]


def _prefix_end(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string that starts with ``prefix`` (None: no bound)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


@dataclass(frozen=True)
class VocabIndex:
    """Decoded token bytes of a vocabulary, sorted, for prefix queries. Control and empty tokens are left out."""

    sorted_bytes: list[bytes]
    sorted_ids: npt.NDArray[np.int64]
    by_bytes: dict[bytes, list[int]]

    @classmethod
    def build(cls, n_vocab: int, token_bytes: Callable[[int], bytes], skip: Callable[[int], bool]) -> VocabIndex:
        pairs: list[tuple[bytes, int]] = []
        for token in range(n_vocab):
            if skip(token):
                continue
            data = token_bytes(token)
            if data:
                pairs.append((data, token))
        pairs.sort()
        by_bytes: dict[bytes, list[int]] = {}
        for data, token in pairs:
            by_bytes.setdefault(data, []).append(token)
        return cls(
            sorted_bytes=[d for d, _ in pairs],
            sorted_ids=np.fromiter((t for _, t in pairs), dtype=np.int64, count=len(pairs)),
            by_bytes=by_bytes,
        )

    def consistent(self, rest: bytes) -> npt.NDArray[np.int64]:
        """Ids of the tokens a generation may take next when its text must start with ``rest``: tokens whose bytes
        start with ``rest`` (they finish the healing) and tokens that are a proper prefix of ``rest``."""
        lo = bisect.bisect_left(self.sorted_bytes, rest)
        end = _prefix_end(rest)
        hi = len(self.sorted_bytes) if end is None else bisect.bisect_left(self.sorted_bytes, end, lo)
        shorter = [t for n in range(1, len(rest)) for t in self.by_bytes.get(rest[:n], ())]
        longer = self.sorted_ids[lo:hi]
        if not shorter:
            return longer
        return np.concatenate([longer, np.asarray(shorter, dtype=np.int64)])


class Healer:
    """The healing state of one generation: the bytes the model still has to produce."""

    def __init__(self, index: VocabIndex, healed: str) -> None:
        self.index = index
        self.healed = healed
        self.rest = healed.encode("utf-8")
        self.tokens = 0  # tokens generated while healing

    @property
    def active(self) -> bool:
        return bool(self.rest)

    def candidates(self) -> npt.NDArray[np.int64]:
        return self.index.consistent(self.rest)

    def advance(self, token_bytes: bytes) -> None:
        """Record a generated token (one of :meth:`candidates`)."""
        self.tokens += 1
        self.rest = self.rest[len(token_bytes) :] if len(token_bytes) < len(self.rest) else b""


def prepare(backend: object) -> None:
    """Build the backend's vocabulary index now (model load time) rather than on the first completion. Backends
    without one (a remote server) are left alone."""
    build = getattr(backend, "vocab_index", None)
    if callable(build):
        build()
