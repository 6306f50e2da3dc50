"""Typed-ahead cache: when the user types what we already suggested, answer without calling the model.

Why: a model call costs hundreds of milliseconds on CPU even with a warm cache, while the user typing the first
characters of a visible suggestion is the most common next event. Entries are keyed by the text around the cursor
(the tail of the prefix and the head of the suffix), so the cache survives edits elsewhere in the file; a lookup
also looks back up to ``max_lookback`` characters (llama.vim uses 128) for an entry whose suggestion starts with
what was typed since.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class CacheHit:
    text: str  # the rest of the suggestion, to insert at the cursor
    typed: str  # characters typed since the cached request ("" for an exact hit)


def _key(path: str | None, prefix: str, suffix: str, prefix_chars: int, suffix_chars: int) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update((path or "").encode("utf-8", "replace"))
    h.update(b"\x00")
    h.update(prefix[-prefix_chars:].encode("utf-8", "replace"))
    h.update(b"\x00")
    h.update(suffix[:suffix_chars].encode("utf-8", "replace"))
    return h.hexdigest()


class TypedAheadCache:
    """LRU of recent suggestions keyed by the text around the cursor. Thread-safe."""

    def __init__(self, *, capacity: int = 256, prefix_chars: int = 600, suffix_chars: int = 200,
                 max_lookback: int = 128) -> None:  # fmt: skip
        self.capacity = capacity
        self.prefix_chars = prefix_chars
        self.suffix_chars = suffix_chars
        self.max_lookback = max_lookback
        self.hits = 0
        self.misses = 0
        self._lru: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, path: str | None, prefix: str, suffix: str, suggestion: str) -> None:
        if not suggestion:
            return
        key = _key(path, prefix, suffix, self.prefix_chars, self.suffix_chars)
        with self._lock:
            self._lru[key] = suggestion
            self._lru.move_to_end(key)
            while len(self._lru) > self.capacity:
                self._lru.popitem(last=False)

    def window(self, text: str, cursor: int) -> tuple[str, str]:
        """The parts of ``text`` around ``cursor`` that a lookup reads: ``get(path, *window(text, cursor))`` finds
        what ``get(path, text[:cursor], text[cursor:])`` finds, in time independent of the document's size (the
        server answers hits on its event loop, where nothing may be O(document) per keystroke)."""
        start = max(0, cursor - self.prefix_chars - self.max_lookback)
        return text[start:cursor], text[cursor : cursor + self.suffix_chars]

    def get(self, path: str | None, prefix: str, suffix: str) -> CacheHit | None:
        """The remaining suggestion for this cursor, if an earlier one covers what has been typed since."""
        with self._lock:
            found = self._find(path, prefix, suffix)
            if found is None:
                self.misses += 1
                return None
            key, hit = found
            self._lru.move_to_end(key)
            self.hits += 1
            return hit

    def forget(self, path: str | None, prefix: str, suffix: str) -> None:
        """Drop the entry a lookup here would use (its suggestion failed a later check: never offer it again)."""
        with self._lock:
            found = self._find(path, prefix, suffix)
            if found is not None:
                del self._lru[found[0]]

    def _find(self, path: str | None, prefix: str, suffix: str) -> tuple[str, CacheHit] | None:
        for back in range(0, min(self.max_lookback, len(prefix)) + 1):
            typed = prefix[len(prefix) - back :] if back else ""
            key = _key(path, prefix[: len(prefix) - back], suffix, self.prefix_chars, self.suffix_chars)
            cached = self._lru.get(key)
            if cached is not None and cached.startswith(typed) and len(cached) > len(typed):
                return key, CacheHit(cached[len(typed) :], typed)
        return None

    def clear(self) -> None:
        with self._lock:
            self._lru.clear()
