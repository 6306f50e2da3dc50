"""Fill-in-the-middle token formats, detected from the model's own vocabulary.

Why not user-written templates: every anchor tool makes users hand-write FIM strings and gets them subtly wrong
(leading spaces in CodeLlama, DeepSeek's begin/hole/end order). llama.cpp already records the FIM token ids in the
GGUF (``tokenizer.ggml.fim_*_token_id`` or by text detection at load time); we read those first, and only fall back to
a table of known token texts when the vocabulary does not declare them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from codeassist.errors import ModelError


@dataclass(frozen=True)
class FimFormat:
    """Token ids for FIM prompting. ``None`` means the model has no such token."""

    family: str
    prefix: int
    suffix: int
    middle: int
    pad: int | None = None
    repo: int | None = None
    file_sep: int | None = None
    stop_ids: frozenset[int] = field(default_factory=frozenset)  # EOT/EOS/pad and every FIM control token
    stop_texts: tuple[str, ...] = ()  # textual stops for families whose end marker is not an EOG token
    source: str = "vocab"  # "vocab" (ids declared by the GGUF) or "table" (found by known token text)

    @property
    def has_repo_tokens(self) -> bool:
        return self.repo is not None and self.file_sep is not None

    @property
    def control_ids(self) -> frozenset[int]:
        ids = {self.prefix, self.suffix, self.middle, self.pad, self.repo, self.file_sep}
        return frozenset(i for i in ids if i is not None) | self.stop_ids


@dataclass(frozen=True)
class _KnownFamily:
    family: str
    prefix: str
    suffix: str
    middle: str
    pad: str | None = None
    repo: str | None = None
    file_sep: str | None = None
    stops: tuple[str, ...] = ()


# Fallback table, used only when the vocabulary does not declare FIM ids. Order matters: first match wins.
KNOWN_FAMILIES: tuple[_KnownFamily, ...] = (
    _KnownFamily("qwen2.5-coder", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_pad|>",
                 "<|repo_name|>", "<|file_sep|>", ("<|endoftext|>", "<|im_end|>")),
    _KnownFamily("codegemma", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", None, None, None,
                 ("<|file_separator|>", "<eos>")),
    _KnownFamily("starcoder", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<fim_pad>", "<repo_name>",
                 "<file_sep>", ("<|endoftext|>",)),
    _KnownFamily("deepseek-coder", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", None, None, None,
                 ("<|EOT|>", "<｜end▁of▁sentence｜>")),
    _KnownFamily("codellama", "▁<PRE>", "▁<SUF>", "▁<MID>", None, None, None, ("▁<EOT>",)),
)  # fmt: skip


@dataclass(frozen=True)
class VocabIds:
    """FIM-related ids as declared by the loaded vocabulary (-1 / None when absent)."""

    prefix: int | None
    suffix: int | None
    middle: int | None
    pad: int | None
    repo: int | None
    file_sep: int | None
    eot: int | None
    eos: int | None


def _clean(i: int | None) -> int | None:
    return i if i is not None and i >= 0 else None


def detect_fim(
    vocab: VocabIds,
    token_texts: Callable[[str], int | None],
    *,
    model_name: str = "",
) -> FimFormat:
    """Pick the FIM format: declared vocab ids first, then the known-family table, else refuse.

    ``token_texts`` maps a token's exact text to its id (or None); it lets the table work on any vocabulary.
    """
    base_stops = {i for i in (_clean(vocab.eot), _clean(vocab.eos), _clean(vocab.pad)) if i is not None}
    pre, suf, mid = _clean(vocab.prefix), _clean(vocab.suffix), _clean(vocab.middle)
    if pre is not None and suf is not None and mid is not None:
        family = "generic"
        stop_texts: tuple[str, ...] = ()
        for known in KNOWN_FAMILIES:
            if token_texts(known.prefix) == pre and token_texts(known.middle) == mid:
                family = known.family
                stop_texts = known.stops
                break
        stops = set(base_stops)
        for text in stop_texts:
            tid = token_texts(text)
            if tid is not None:
                stops.add(tid)
        return FimFormat(
            family=family, prefix=pre, suffix=suf, middle=mid, pad=_clean(vocab.pad), repo=_clean(vocab.repo),
            file_sep=_clean(vocab.file_sep), stop_ids=frozenset(stops), source="vocab",
        )  # fmt: skip
    for known in KNOWN_FAMILIES:
        ids = [token_texts(known.prefix), token_texts(known.suffix), token_texts(known.middle)]
        if any(i is None for i in ids):
            continue
        stops = set(base_stops)
        for text in known.stops:
            tid = token_texts(text)
            if tid is not None:
                stops.add(tid)
        pad = token_texts(known.pad) if known.pad else None
        return FimFormat(
            family=known.family, prefix=ids[0] or 0, suffix=ids[1] or 0, middle=ids[2] or 0, pad=pad,
            repo=token_texts(known.repo) if known.repo else None,
            file_sep=token_texts(known.file_sep) if known.file_sep else None,
            stop_ids=frozenset(stops | ({pad} if pad is not None else set())), stop_texts=known.stops,
            source="table",
        )  # fmt: skip
    raise ModelError(
        f"model {model_name or '(unnamed)'} has no fill-in-the-middle support "
        "(its vocabulary declares no FIM prefix/suffix/middle tokens and matches no known code-model family)",
        hint="use a FIM-trained code model: Qwen2.5-Coder, CodeLlama, StarCoder/StarCoder2, DeepSeek-Coder, CodeGemma",
    )
