"""Render prompt token ids back to the vocabulary's own pieces, independently of our prompt builder: SentencePiece
pieces keep their ``▁`` (so spacing is visible), byte-level BPE pieces are decoded to text, special tokens appear as
their text. A prompt rendered this way can be compared with a family's documented layout character for character."""

from __future__ import annotations

from collections.abc import Sequence

from tiny_gguf import BYTE, NORMAL, byte_to_unicode

_U2B = {u: b for b, u in byte_to_unicode().items()}


def render(ids: Sequence[int], tokens: Sequence[str], types: Sequence[int], bpe: bool) -> str:
    out: list[str] = []
    pending = bytearray()

    def flush() -> None:
        if pending:
            out.append(pending.decode("utf-8", errors="replace"))
            pending.clear()

    for i in ids:
        text, kind = tokens[i], types[i]
        if kind == BYTE:  # SentencePiece byte fallback: <0x0A>
            pending.append(int(text[3:5], 16))
        elif bpe and kind == NORMAL:
            pending.extend(_U2B[c] for c in text)
        else:
            flush()
            out.append(text)
    flush()
    return "".join(out)


def esc(text: str) -> str:
    """SentencePiece's view of spaces."""
    return text.replace(" ", "▁")
