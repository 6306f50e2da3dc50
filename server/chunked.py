"""An immutable text in chunks: an edit copies one or two chunks, not the whole text.

Why: a Python ``str`` edit copies the whole string, so even with an incremental line index a keystroke in a 5 MB
file cost a few milliseconds on the event loop (tens under load), growing with the file. Here an edit rebuilds the
chunks it touches and shares the rest; the flat string is built only when someone asks for it (a completion
request, the engine's document hooks on the worker thread) and then cached, so a burst of keystrokes costs the
event loop nothing proportional to the file.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

CHUNK = 16384  # target chunk size (code points); an edited chunk is re-split beyond twice this

Ints = npt.NDArray[np.int64]


class ChunkedText:
    """Reads like a ``str`` (``len``, ``t[i]``, ``t[a:b]``, ``str(t)``); :meth:`replace` returns a new text."""

    __slots__ = ("_chunks", "_flat", "_starts")

    def __init__(self, chunks: list[str], starts: Ints, flat: str | None = None) -> None:
        self._chunks = chunks
        self._starts = starts  # offset of each chunk, plus the total length at the end
        self._flat = flat

    @classmethod
    def of(cls, text: str) -> ChunkedText:
        chunks = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)] or [""]
        return cls(chunks, np.cumsum([0, *(len(c) for c in chunks)], dtype=np.int64), text)

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __str__(self) -> str:
        if self._flat is None:
            self._flat = "".join(self._chunks)
        return self._flat

    @property
    def materialized(self) -> bool:
        return self._flat is not None

    def _chunk_of(self, offset: int) -> int:
        return max(0, min(int(np.searchsorted(self._starts, offset, side="right")) - 1, len(self._chunks) - 1))

    def __getitem__(self, key: int | slice) -> str:
        if self._flat is not None:
            return self._flat[key]
        n = len(self)
        if isinstance(key, int):
            if key < 0:
                key += n
            if not 0 <= key < n:
                raise IndexError(key)
            k = self._chunk_of(key)
            return self._chunks[k][key - int(self._starts[k])]
        a, b, step = key.indices(n)
        if step != 1:
            return str(self)[key]
        if a >= b:
            return ""
        k1, k2 = self._chunk_of(a), self._chunk_of(b - 1)
        base = int(self._starts[k1])
        return "".join(self._chunks[k1 : k2 + 1])[a - base : b - base]

    def replace(self, a: int, b: int, new: str) -> ChunkedText:
        """This text with code points ``[a, b)`` replaced by ``new`` (0 ≤ a ≤ b ≤ len)."""
        k1 = self._chunk_of(a)
        k2 = self._chunk_of(b) if b < len(self) else len(self._chunks) - 1
        base = int(self._starts[k1])
        local = "".join(self._chunks[k1 : k2 + 1])
        local = local[: a - base] + new + local[b - base :]
        pieces = [local] if len(local) <= 2 * CHUNK else [local[i : i + CHUNK] for i in range(0, len(local), CHUNK)]
        if not pieces[0] and len(self._chunks) > 1:
            pieces = []  # an emptied chunk goes, unless it is the only one
        chunks = [*self._chunks[:k1], *pieces, *self._chunks[k2 + 1 :]]
        if not chunks:
            return ChunkedText([""], np.zeros(2, dtype=np.int64), "")
        piece_starts = base + np.cumsum([0, *(len(p) for p in pieces[:-1])], dtype=np.int64) if pieces else _NONE
        after = self._starts[k2 + 1 :] + (len(new) - (b - a))  # later chunks' starts and the end
        return ChunkedText(chunks, np.concatenate((self._starts[:k1], piece_starts, after)))


_NONE: Ints = np.zeros(0, dtype=np.int64)
