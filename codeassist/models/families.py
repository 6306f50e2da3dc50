"""Code-model families: their FIM control-token texts, stop texts and documented prompt layouts.

Why a table at all when llama.cpp reads FIM ids from the vocabulary: the ids say *which* tokens mark prefix, suffix
and middle, not how a family lays out the rest. Each family was trained on one layout and drifts off it silently:

* CodeLlama (Meta's ``infilling_prompt_tokens``): ``<s>▁<PRE>`` + encode(prefix) + ``▁<SUF>`` + encode_infilling(suffix)
  + ``▁<MID>`` — the prefix carries SentencePiece's leading space ("<PRE> {prefix}"), the suffix and the middle do not;
  SPM is ``<s>▁<PRE>▁<SUF>`` + suffix + ``▁<MID>`` + encode(prefix).
* StarCoder2 (paper, section 5): ``<repo_name>name<file_sep>path\\ncode<file_sep><fim_prefix>path\\nprefix<fim_suffix>
  suffix<fim_middle>`` — no newline after the repository name, the FIM file's path after ``<fim_prefix>``.
* Qwen2.5-Coder (model card): ``<|repo_name|>name\\n<|file_sep|>path\\ncode\\n…<|file_sep|>path\\n<|fim_prefix|>…``.
* DeepSeek-Coder and CodeGemma: ``<bos>`` then PSM with their own markers; no repository tokens.

llama.cpp's automatic detection also misses some of these tokens (StarCoder2's ``<repo_name>``/``<file_sep>``,
CodeLlama's ``▁<EOT>``, DeepSeek's ``<|EOT|>``), so stops are looked up here by exact token text as well.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

TokenLookup = Callable[[str], "int | None"]


@dataclass(frozen=True)
class FamilySpec:
    """One family's FIM markers (exact vocabulary texts) and layout rules."""

    name: str
    prefix: str
    suffix: str
    middle: str
    pad: str | None = None
    repo: str | None = None
    file_sep: str | None = None
    stops: tuple[str, ...] = ()  # end-of-middle / end-of-text markers: generation stops on them
    markers: tuple[str, ...] = ()  # other tokens only this family has: they break ties between families
    repo_layout: str = "qwen"  # qwen | starcoder2 (see the module docstring)
    spm_layout: str = "suffix-first"  # suffix-first (SUF s PRE p MID) | codellama (PRE SUF s MID p)
    name_hints: tuple[str, ...] = ()  # substrings of served model names (OpenAI-compatible servers)

    @property
    def all_texts(self) -> tuple[str, ...]:
        """Every marker text of the family (what a text-prompt server must never echo back)."""
        extra = (self.pad, self.repo, self.file_sep)
        return (self.prefix, self.suffix, self.middle, *(t for t in extra if t), *self.stops)


# Order matters only for ties: the better-scoring family wins (see ``detect_family``).
FAMILIES: tuple[FamilySpec, ...] = (
    FamilySpec("qwen2.5-coder", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_pad|>",
               "<|repo_name|>", "<|file_sep|>", ("<|endoftext|>", "<|im_end|>"), ("<|im_start|>",),
               name_hints=("qwen",)),
    FamilySpec("codegemma", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", None, None, None,
               ("<|file_separator|>", "<eos>", "<end_of_turn>"), ("<start_of_turn>",), name_hints=("codegemma",)),
    FamilySpec("starcoder2", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<fim_pad>", "<repo_name>",
               "<file_sep>", ("<|endoftext|>",), ("<jupyter_script>", "<pr_diff>"), repo_layout="starcoder2",
               name_hints=("starcoder2",)),
    FamilySpec("starcoder", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<fim_pad>", None, None,
               ("<|endoftext|>",), ("<filename>", "<gh_stars>", "<reponame>"), name_hints=("starcoder", "santacoder")),
    FamilySpec("deepseek-coder", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", None, None, None,
               ("<|EOT|>", "<｜end▁of▁sentence｜>"), ("<｜begin▁of▁sentence｜>",), name_hints=("deepseek",)),
    FamilySpec("codellama", "▁<PRE>", "▁<SUF>", "▁<MID>", None, None, None, ("▁<EOT>",), spm_layout="codellama",
               name_hints=("codellama", "code-llama", "code_llama")),
)  # fmt: skip

BY_NAME = {f.name: f for f in FAMILIES}


def vocab_lookup(tokens: Sequence[str]) -> TokenLookup:
    """Exact token text -> id over a vocabulary list (the GGUF's ``tokenizer.ggml.tokens``). Exact text, not
    tokenization: a marker stored as a normal piece (CodeLlama's ``▁<EOT>``) is found all the same."""
    index = dict(zip(tokens, range(len(tokens)), strict=True))  # a repeated text maps to its last id, as in llama.cpp
    return index.get


def _score(spec: FamilySpec, lookup: TokenLookup) -> int:
    if any(lookup(t) is None for t in (spec.prefix, spec.suffix, spec.middle)):
        return -1
    optional = [t for t in (spec.pad, spec.repo, spec.file_sep) if t] + [*spec.stops, *spec.markers]
    return sum(lookup(t) is not None for t in optional)


def detect_family(lookup: TokenLookup) -> FamilySpec | None:
    """The family whose prefix/suffix/middle texts are all in the vocabulary and that matches most of its other
    tokens (Qwen and CodeGemma share ``<|fim_prefix|>``; StarCoder and StarCoder2 share ``<fim_prefix>``)."""
    best: tuple[int, FamilySpec] | None = None
    for spec in FAMILIES:
        score = _score(spec, lookup)
        if score >= 0 and (best is None or score > best[0]):
            best = (score, spec)
    return best[1] if best else None


def family_for_ids(lookup: TokenLookup, prefix: int, middle: int) -> FamilySpec | None:
    """The family whose markers are exactly the declared prefix/middle ids (ids the GGUF declares win over texts)."""
    candidates = [f for f in FAMILIES if lookup(f.prefix) == prefix and lookup(f.middle) == middle]
    if not candidates:
        return None
    return max(candidates, key=lambda f: _score(f, lookup))


def family_from_model_name(name: str) -> FamilySpec | None:
    """Guess from a served model's name ("Qwen2.5-Coder-7B", "bigcode/starcoder2-15b"): for servers that tokenize
    themselves and expose no vocabulary. Longest hint wins, so "starcoder2" is not taken for "starcoder"."""
    low = name.lower()
    hits = [(len(h), f) for f in FAMILIES for h in f.name_hints if h in low]
    return max(hits, key=lambda x: x[0])[1] if hits else None


_MARKER_TOKEN = re.compile(r"^▁?<[^\s<>]{1,48}>$")
USER_DEFINED_TYPE = 4


def marker_token_ids(tokens: Sequence[str], types: object) -> frozenset[int]:
    """User-defined tokens that look like markers (``<|User|>``, ``<mask>``, ``<tool_call>``). llama.cpp renders
    user-defined tokens as their text, so a model that emits one would put the marker into the suggestion; control
    tokens need no list (their type says it). ``types`` is the GGUF's ``tokenizer.ggml.token_type`` array."""
    if not isinstance(types, list) or len(types) != len(tokens):
        return frozenset()
    # a C-speed scan (compress/map): the vocabulary has ~150k entries and this runs at every model load
    candidates = itertools.compress(range(len(types)), map(USER_DEFINED_TYPE.__eq__, types))
    return frozenset(i for i in candidates if _MARKER_TOKEN.match(tokens[i]))


_SPECIAL_LOOKING = re.compile(r"<\|[^|<>]{1,40}\|>|<｜[^｜]{1,40}｜>|▁?<(?:PRE|SUF|MID|EOT)>|<fim_[a-z]+>|<file_sep>")


def special_texts_in(text: str, spec: FamilySpec | None = None) -> list[str]:
    """Marker texts found in generated text: a server that detokenizes special tokens into its answer leaks them."""
    found = set(_SPECIAL_LOOKING.findall(text))
    if spec is not None:
        found.update(t for t in spec.all_texts if t in text)
    return sorted(found)


def describe_vocabulary(tokens: Sequence[str]) -> str:
    """One line for ``doctor``: the family a GGUF's vocabulary belongs to, read from the header alone (so it works
    for any GGUF, even one this llama.cpp cannot load)."""
    if not tokens:
        return "vocabulary: none in the header"
    spec = detect_family(vocab_lookup(tokens))
    if spec is None:
        return f"vocabulary: {len(tokens)} tokens, no known FIM family"
    return f"vocabulary: {spec.name} FIM markers ({len(tokens)} tokens)"
