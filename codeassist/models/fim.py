"""Fill-in-the-middle token formats, detected from the model's own vocabulary.

Why not user-written templates: every anchor tool makes users hand-write FIM strings and gets them subtly wrong
(leading spaces in CodeLlama, DeepSeek's begin/hole/end order). llama.cpp already records the FIM token ids in the
GGUF (``tokenizer.ggml.fim_*_token_id`` or by text detection at load time); we read those first, and only fall back to
the family table (``families.py``) when the vocabulary does not declare them. The family also decides the layout
details the ids cannot tell: BOS, CodeLlama's spacing, StarCoder2's repository layout, and extra stop tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from codeassist.errors import ModelError
from codeassist.models.families import FAMILIES, FamilySpec, TokenLookup, detect_family, family_for_ids


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
    bos: int | None = None  # prepended when the vocabulary adds BOS (CodeLlama, DeepSeek-Coder, CodeGemma)
    # SentencePiece vocabularies with add_space_prefix put a space before every tokenized text; the family layout
    # says where that space belongs (CodeLlama: before the prefix only), so the builder strips it elsewhere.
    space_prefix: bool = False
    repo_layout: str = "qwen"  # qwen | starcoder2
    spm_layout: str = "suffix-first"  # suffix-first | codellama

    @property
    def has_repo_tokens(self) -> bool:
        return self.repo is not None and self.file_sep is not None

    @property
    def control_ids(self) -> frozenset[int]:
        ids = {self.prefix, self.suffix, self.middle, self.pad, self.repo, self.file_sep, self.bos}
        return frozenset(i for i in ids if i is not None) | self.stop_ids


# Kept for callers that iterate the known families (tests, doctor).
KNOWN_FAMILIES: tuple[FamilySpec, ...] = FAMILIES


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
    bos: int | None = None
    add_bos: bool = False
    space_prefix: bool = False


def _clean(i: int | None) -> int | None:
    return i if i is not None and i >= 0 else None


def _format(
    vocab: VocabIds, lookup: TokenLookup, spec: FamilySpec | None, ids: tuple[int, int, int], source: str
) -> FimFormat:
    pad, repo, sep = _clean(vocab.pad), _clean(vocab.repo), _clean(vocab.file_sep)
    stops = {i for i in (_clean(vocab.eot), _clean(vocab.eos), pad) if i is not None}
    stop_texts: tuple[str, ...] = ()
    if spec is not None:
        # llama.cpp's auto-detection misses some family tokens (StarCoder2's <repo_name>/<file_sep>): fill them in.
        pad = pad if pad is not None else (lookup(spec.pad) if spec.pad else None)
        repo = repo if repo is not None else (lookup(spec.repo) if spec.repo else None)
        sep = sep if sep is not None else (lookup(spec.file_sep) if spec.file_sep else None)
        stops |= {i for i in (lookup(t) for t in spec.stops) if i is not None}
        stop_texts = spec.stops
    if pad is not None:
        stops.add(pad)
    return FimFormat(
        family=spec.name if spec else "generic", prefix=ids[0], suffix=ids[1], middle=ids[2], pad=pad, repo=repo,
        file_sep=sep, stop_ids=frozenset(stops), stop_texts=stop_texts, source=source,
        bos=_clean(vocab.bos) if vocab.add_bos else None, space_prefix=vocab.space_prefix,
        repo_layout=spec.repo_layout if spec else "qwen", spm_layout=spec.spm_layout if spec else "suffix-first",
    )  # fmt: skip


def detect_fim(vocab: VocabIds, token_texts: TokenLookup, *, model_name: str = "") -> FimFormat:
    """Pick the FIM format: declared vocab ids first, then the known-family table, else refuse.

    ``token_texts`` maps a token's exact text to its id (or None); it lets the table work on any vocabulary.
    """
    pre, suf, mid = _clean(vocab.prefix), _clean(vocab.suffix), _clean(vocab.middle)
    if pre is not None and suf is not None and mid is not None:
        return _format(vocab, token_texts, family_for_ids(token_texts, pre, mid), (pre, suf, mid), "vocab")
    spec = detect_family(token_texts)
    if spec is not None:
        ids = (token_texts(spec.prefix), token_texts(spec.suffix), token_texts(spec.middle))
        assert ids[0] is not None and ids[1] is not None and ids[2] is not None  # detect_family checked them
        return _format(vocab, token_texts, spec, (ids[0], ids[1], ids[2]), "table")
    raise ModelError(
        f"model {model_name or '(unnamed)'} has no fill-in-the-middle support "
        "(its vocabulary declares no FIM prefix/suffix/middle tokens and matches no known code-model family)",
        hint="use a FIM-trained code model: Qwen2.5-Coder, CodeLlama, StarCoder/StarCoder2, DeepSeek-Coder, CodeGemma",
    )
