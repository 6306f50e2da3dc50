"""Tiny GGUF models of each seed family, written with the ``gguf`` package: random weights, real architecture, and a
small vocabulary holding the family's real special tokens with their token types.

Why: no CodeLlama/StarCoder2/DeepSeek/CodeGemma weights can be fetched here, but what breaks FIM for a family lives
in its *vocabulary* (marker texts, token types, SentencePiece's space prefix, BOS, which markers llama.cpp detects)
and in llama.cpp's loading of it — not in the weights. Random weights generate random tokens, which is exactly what
exercises "every control token stops generation" and "nothing special reaches the text".

Sizes: 2 layers, 64-wide, a few hundred tokens: each file is under 1 MB and loads in milliseconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import gguf
import numpy as np

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, BYTE = 1, 2, 3, 4, 6
N_EMBD, N_HEAD, N_HEAD_KV, N_FF, N_LAYER, N_CTX = 64, 4, 2, 128, 2, 1024

# Code-ish words so tokenization produces multi-character pieces, as a real vocabulary would.
WORDS = (
    "def", "return", "import", "from", "class", "self", "if", "else", "for", "in", "while", "print", "add", "total",
    "value", "result", "lambda", "None", "True", "False", "int", "str", "list", "len", "range", "main", "name",
    "numbers", "sum", "total_sum", "x", "y", "a", "b", "n", "i",
)  # fmt: skip


@dataclass(frozen=True)
class TinyFamily:
    """How to write one family's tiny model."""

    family: str
    arch: str  # llama | starcoder2 | gemma | qwen2
    tokenizer: str  # llama (SentencePiece) | gpt2 (byte-level BPE)
    pre: str | None  # BPE pre-tokenizer name
    specials: tuple[tuple[str, int], ...]  # (text, token type), in vocabulary order, before the normal tokens
    bos: str | None = None
    eos: str | None = None
    eot: str | None = None
    add_bos: bool = False
    add_space_prefix: bool | None = None  # SentencePiece only
    fim_ids: dict[str, str] = field(default_factory=dict)  # gguf key suffix -> token text, when declared


FAMILY_SPECS: dict[str, TinyFamily] = {
    # Meta's CodeLlama: SentencePiece with a space prefix; the FIM markers are ordinary pieces of the SentencePiece
    # model (llama.cpp finds PRE/SUF/MID by text and makes them control tokens, but not ▁<EOT>).
    "codellama": TinyFamily(
        "codellama", "llama", "llama", None,
        (("<unk>", UNKNOWN), ("<s>", CONTROL), ("</s>", CONTROL), ("▁<PRE>", NORMAL), ("▁<SUF>", NORMAL),
         ("▁<MID>", NORMAL), ("▁<EOT>", NORMAL)),
        bos="<s>", eos="</s>", add_bos=True, add_space_prefix=True,
        fim_ids={"fim_pre": "▁<PRE>", "fim_suf": "▁<SUF>", "fim_mid": "▁<MID>", "eot": "▁<EOT>"},
    ),
    # BigCode's StarCoder2: byte-level BPE; all 38 added tokens are special (control).
    "starcoder2": TinyFamily(
        "starcoder2", "starcoder2", "gpt2", "starcoder",
        tuple((t, CONTROL) for t in (
            "<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<repo_name>", "<file_sep>",
            "<issue_start>", "<issue_comment>", "<issue_closed>", "<jupyter_start>", "<jupyter_text>",
            "<jupyter_code>", "<jupyter_output>", "<jupyter_script>", "<empty_output>", "<code_to_intermediate>",
            "<intermediate_to_code>", "<pr>", "<pr_status>", "<pr_is_merged>", "<pr_base>", "<pr_file>",
            "<pr_base_code>", "<pr_diff>", "<pr_diff_hunk>", "<pr_comment>", "<pr_event_id>", "<pr_review>",
            "<pr_review_state>", "<pr_review_comment>", "<pr_in_reply_to_review_id>", "<pr_in_reply_to_comment_id>",
            "<pr_diff_hunk_comment_line>", "<NAME>", "<EMAIL>", "<KEY>", "<PASSWORD>")),
        bos="<|endoftext|>", eos="<|endoftext|>",
        fim_ids={"fim_pre": "<fim_prefix>", "fim_suf": "<fim_suffix>", "fim_mid": "<fim_middle>",
                 "fim_pad": "<fim_pad>"},
    ),
    # DeepSeek-Coder (v1): byte-level BPE with BOS; its FIM markers are added but not "special" (user-defined).
    "deepseek-coder": TinyFamily(
        "deepseek-coder", "llama", "gpt2", "deepseek-coder",
        (("<｜begin▁of▁sentence｜>", CONTROL), ("<｜end▁of▁sentence｜>", CONTROL), ("<｜fim▁hole｜>", USER_DEFINED),
         ("<｜fim▁begin｜>", USER_DEFINED), ("<｜fim▁end｜>", USER_DEFINED), ("<pad>", USER_DEFINED),
         ("<|User|>", USER_DEFINED), ("<|Assistant|>", USER_DEFINED), ("<|EOT|>", USER_DEFINED)),
        bos="<｜begin▁of▁sentence｜>", eos="<｜end▁of▁sentence｜>", add_bos=True,
        fim_ids={"fim_pre": "<｜fim▁begin｜>", "fim_suf": "<｜fim▁hole｜>", "fim_mid": "<｜fim▁end｜>",
                 "eot": "<|EOT|>"},
    ),
    # Google's CodeGemma: SentencePiece without a space prefix, BOS, Gemma architecture (tied embeddings).
    "codegemma": TinyFamily(
        "codegemma", "gemma", "llama", None,
        (("<pad>", CONTROL), ("<eos>", CONTROL), ("<bos>", CONTROL), ("<unk>", UNKNOWN), ("<mask>", USER_DEFINED),
         ("<start_of_turn>", CONTROL), ("<end_of_turn>", CONTROL), ("<|fim_prefix|>", USER_DEFINED),
         ("<|fim_middle|>", USER_DEFINED), ("<|fim_suffix|>", USER_DEFINED), ("<|file_separator|>", USER_DEFINED)),
        bos="<bos>", eos="<eos>", add_bos=True, add_space_prefix=False,
        fim_ids={"fim_pre": "<|fim_prefix|>", "fim_suf": "<|fim_suffix|>", "fim_mid": "<|fim_middle|>",
                 "eot": "<end_of_turn>"},
    ),
    # Qwen2.5-Coder: byte-level BPE, no BOS, repository tokens.
    "qwen2.5-coder": TinyFamily(
        "qwen2.5-coder", "qwen2", "gpt2", "qwen2",
        tuple((t, CONTROL) for t in (
            "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
            "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>")),
        bos="<|endoftext|>", eos="<|endoftext|>",
        fim_ids={"fim_pre": "<|fim_prefix|>", "fim_suf": "<|fim_suffix|>", "fim_mid": "<|fim_middle|>",
                 "fim_pad": "<|fim_pad|>", "fim_rep": "<|repo_name|>", "fim_sep": "<|file_sep|>", "eot": "<|im_end|>"},
    ),
}  # fmt: skip


def byte_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character map used by byte-level BPE vocabularies."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def spm_vocab(spec: TinyFamily) -> tuple[list[str], list[float], list[int]]:
    tokens = [t for t, _ in spec.specials]
    types = [k for _, k in spec.specials]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [BYTE] * 256
    chars = ["▁", *sorted({c for c in "".join(WORDS) + "()[]{}:,.=+-*/<>'\"#_0123456789"})]
    words = [*(f"▁{w}" for w in WORDS), *WORDS, "▁▁", "▁▁▁▁", "▁=", "▁+", "):"]
    # SentencePiece only merges a pair into a piece that exists: every prefix of a word must be a piece too.
    pieces = [*chars, *(w[:i] for w in words for i in range(2, len(w) + 1))]
    for p in dict.fromkeys(pieces):
        if p not in tokens:
            tokens.append(p)
            types.append(NORMAL)
    # SentencePiece merges the highest-scoring pair first: longer pieces score higher, as in a trained model.
    scores = [0.0 if k != NORMAL else float(len(t)) - 100.0 for t, k in zip(tokens, types, strict=True)]
    return tokens, scores, types


def bpe_vocab(spec: TinyFamily) -> tuple[list[str], list[str], list[int]]:
    b2u = byte_to_unicode()
    tokens = [t for t, _ in spec.specials]
    types = [k for _, k in spec.specials]
    for b in range(256):
        tokens.append(b2u[b])
        types.append(NORMAL)
    merges: list[str] = []
    space = b2u[ord(" ")]
    for word in [*(space + w for w in WORDS), *WORDS, space * 2, space * 4, "):"]:
        for i in range(2, len(word) + 1):
            left, right, merged = word[: i - 1], word[i - 1], word[:i]
            if merged in tokens:
                continue
            merges.append(f"{left} {right}")
            tokens.append(merged)
            types.append(NORMAL)
    return tokens, merges, types


def _tensors(w: gguf.GGUFWriter, spec: TinyFamily, n_vocab: int, rng: np.random.Generator) -> None:
    def t(name: str, *shape: int, scale: float = 0.2) -> None:
        w.add_tensor(name, (rng.standard_normal(shape) * scale).astype(np.float32))

    def ones(name: str, n: int) -> None:
        w.add_tensor(name, np.ones(n, dtype=np.float32))

    head = N_EMBD // N_HEAD
    t("token_embd.weight", n_vocab, N_EMBD, scale=1.0)
    ones("output_norm.weight", N_EMBD)
    if spec.arch == "starcoder2":
        t("output_norm.bias", N_EMBD)
    if spec.arch != "gemma":
        t("output.weight", n_vocab, N_EMBD, scale=1.0)
    for i in range(N_LAYER):
        p = f"blk.{i}."
        ones(p + "attn_norm.weight", N_EMBD)
        t(p + "attn_q.weight", N_HEAD * head, N_EMBD)
        t(p + "attn_k.weight", N_HEAD_KV * head, N_EMBD)
        t(p + "attn_v.weight", N_HEAD_KV * head, N_EMBD)
        t(p + "attn_output.weight", N_EMBD, N_HEAD * head)
        ones(p + "ffn_norm.weight", N_EMBD)
        t(p + "ffn_up.weight", N_FF, N_EMBD)
        t(p + "ffn_down.weight", N_EMBD, N_FF)
        if spec.arch != "starcoder2":
            t(p + "ffn_gate.weight", N_FF, N_EMBD)
        if spec.arch in ("starcoder2", "qwen2"):
            t(p + "attn_q.bias", N_HEAD * head)
            t(p + "attn_k.bias", N_HEAD_KV * head)
            t(p + "attn_v.bias", N_HEAD_KV * head)
        if spec.arch == "starcoder2":
            for name, n in (("attn_norm", N_EMBD), ("ffn_norm", N_EMBD), ("attn_output", N_EMBD),
                            ("ffn_up", N_FF), ("ffn_down", N_EMBD)):  # fmt: skip
                t(p + f"{name}.bias", n)


def write_tiny_model(family: str, path: str, *, declare_fim: bool = True, seed: int = 0) -> str:
    """Write ``family``'s tiny model to ``path``. ``declare_fim``: record the FIM ids in the GGUF metadata (recent
    conversions) or leave them for llama.cpp to find by token text (older conversions)."""
    spec = FAMILY_SPECS[family]
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(path, spec.arch)
    w.add_name(f"tiny-{family}")
    w.add_context_length(N_CTX)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_rope_dimension_count(N_EMBD // N_HEAD)
    if spec.arch == "starcoder2":
        w.add_layer_norm_eps(1e-5)
    else:
        w.add_layer_norm_rms_eps(1e-6)
    if spec.arch == "gemma":
        w.add_key_length(N_EMBD // N_HEAD)
        w.add_value_length(N_EMBD // N_HEAD)
    w.add_tokenizer_model(spec.tokenizer)
    if spec.tokenizer == "llama":
        tokens, scores, types = spm_vocab(spec)
        w.add_token_scores(scores)
        if spec.add_space_prefix is not None:
            w.add_add_space_prefix(spec.add_space_prefix)
    else:
        tokens, merges, types = bpe_vocab(spec)
        w.add_tokenizer_pre(spec.pre or "default")
        w.add_token_merges(merges)
    w.add_token_list(tokens)
    w.add_token_types(types)
    ids = {text: i for i, text in enumerate(tokens)}
    if spec.bos:
        w.add_bos_token_id(ids[spec.bos])
    if spec.eos:
        w.add_eos_token_id(ids[spec.eos])
    w.add_add_bos_token(spec.add_bos)
    if declare_fim:
        for key, text in spec.fim_ids.items():
            w.add_uint32(f"tokenizer.ggml.{key}_token_id", ids[text])
    _tensors(w, spec, len(tokens), rng)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
