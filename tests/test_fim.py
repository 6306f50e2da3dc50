"""FIM format detection: vocabulary first, the known-family table only as a fallback, refusal otherwise."""

from __future__ import annotations

import pytest

from codeassist.engine import Engine
from codeassist.errors import ModelError
from codeassist.models.fim import VocabIds, detect_fim
from codeassist.models.llama_backend import LlamaBackend

NONE = VocabIds(prefix=-1, suffix=-1, middle=-1, pad=-1, repo=-1, file_sep=-1, eot=-1, eos=-1)


@pytest.mark.model
def test_table_fallback_on_a_real_vocabulary(engine: Engine) -> None:
    """With the declared ids hidden, the table still finds Qwen's tokens by their text in the real vocabulary."""
    backend = engine.backend
    assert isinstance(backend, LlamaBackend)
    declared = backend.info.fim
    assert declared is not None
    fim = detect_fim(NONE, backend.token_id_for_text, model_name="qwen")
    assert fim.source == "table" and fim.family == "qwen2.5-coder"
    assert (fim.prefix, fim.suffix, fim.middle) == (declared.prefix, declared.suffix, declared.middle)
    assert fim.repo == declared.repo and fim.file_sep == declared.file_sep
    assert backend.token_id_for_text("<|endoftext|>") in fim.stop_ids


def test_table_families_by_token_text() -> None:
    vocab = {"<fim_prefix>": 1, "<fim_suffix>": 2, "<fim_middle>": 3, "<fim_pad>": 4, "<repo_name>": 5,
             "<file_sep>": 6, "<|endoftext|>": 0}  # fmt: skip
    fim = detect_fim(NONE, vocab.get, model_name="starcoder2")
    assert fim.family == "starcoder2" and (fim.prefix, fim.suffix, fim.middle) == (1, 2, 3)
    assert fim.has_repo_tokens and 0 in fim.stop_ids and 4 in fim.stop_ids and fim.repo_layout == "starcoder2"
    # StarCoder (1) has the same FIM markers but no repository tokens: its own format, no repo layout.
    starcoder1 = {"<fim_prefix>": 1, "<fim_suffix>": 2, "<fim_middle>": 3, "<filename>": 4, "<|endoftext|>": 0}
    fim = detect_fim(NONE, starcoder1.get)
    assert fim.family == "starcoder" and not fim.has_repo_tokens

    deepseek = {"<｜fim▁begin｜>": 10, "<｜fim▁hole｜>": 11, "<｜fim▁end｜>": 12, "<|EOT|>": 13}
    fim = detect_fim(NONE, deepseek.get)
    # DeepSeek's "begin/hole/end" are prefix/suffix/middle, in that order.
    assert fim.family == "deepseek-coder" and (fim.prefix, fim.suffix, fim.middle) == (10, 11, 12)
    assert 13 in fim.stop_ids and not fim.has_repo_tokens

    codellama = {"▁<PRE>": 32007, "▁<SUF>": 32008, "▁<MID>": 32009, "▁<EOT>": 32010}
    fim = detect_fim(NONE, codellama.get)
    assert fim.family == "codellama" and 32010 in fim.stop_ids and fim.spm_layout == "codellama"


def test_shared_markers_are_told_apart_by_the_rest_of_the_vocabulary() -> None:
    """Qwen2.5-Coder and CodeGemma both spell FIM as <|fim_prefix|>…: the other tokens decide."""
    gemma = {"<|fim_prefix|>": 67, "<|fim_suffix|>": 69, "<|fim_middle|>": 68, "<|file_separator|>": 70, "<eos>": 1}
    fim = detect_fim(NONE, gemma.get)
    assert fim.family == "codegemma" and {70, 1} <= fim.stop_ids and not fim.has_repo_tokens
    qwen = {"<|fim_prefix|>": 5, "<|fim_suffix|>": 6, "<|fim_middle|>": 7, "<|fim_pad|>": 8, "<|repo_name|>": 9,
            "<|file_sep|>": 10, "<|endoftext|>": 0}  # fmt: skip
    assert detect_fim(NONE, qwen.get).family == "qwen2.5-coder"


def test_declared_ids_get_the_family_tokens_llama_cpp_does_not_detect() -> None:
    """llama.cpp's text detection knows <|file_sep|> but not StarCoder2's <file_sep>: the family fills it in, and
    BOS / SentencePiece spacing come from the vocabulary."""
    declared = VocabIds(prefix=1, suffix=2, middle=3, pad=4, repo=-1, file_sep=-1, eot=-1, eos=0, bos=0, add_bos=False)
    texts = {"<fim_prefix>": 1, "<fim_suffix>": 2, "<fim_middle>": 3, "<fim_pad>": 4, "<repo_name>": 5,
             "<file_sep>": 6, "<|endoftext|>": 0}  # fmt: skip
    fim = detect_fim(declared, texts.get)
    assert fim.source == "vocab" and fim.family == "starcoder2" and (fim.repo, fim.file_sep) == (5, 6)
    assert {5, 6} <= fim.control_ids and fim.bos is None
    spm = VocabIds(prefix=7, suffix=8, middle=9, pad=-1, repo=-1, file_sep=-1, eot=10, eos=2, bos=1, add_bos=True,
                   space_prefix=True)  # fmt: skip
    fim = detect_fim(spm, {"▁<PRE>": 7, "▁<SUF>": 8, "▁<MID>": 9, "▁<EOT>": 10}.get)
    assert fim.family == "codellama" and fim.bos == 1 and fim.space_prefix and 10 in fim.stop_ids


def test_declared_ids_win_over_the_table() -> None:
    declared = VocabIds(prefix=7, suffix=8, middle=9, pad=-1, repo=-1, file_sep=-1, eot=2, eos=2)
    fim = detect_fim(declared, {"<fim_prefix>": 1, "<fim_suffix>": 2, "<fim_middle>": 3}.get)
    assert fim.source == "vocab" and (fim.prefix, fim.suffix, fim.middle) == (7, 8, 9)
    assert fim.family == "generic" and fim.stop_ids == frozenset({2})


def test_model_without_fim_is_refused() -> None:
    with pytest.raises(ModelError, match="no fill-in-the-middle support") as excinfo:
        detect_fim(NONE, lambda text: None, model_name="chat-only-7b")
    assert "chat-only-7b" in excinfo.value.message and excinfo.value.hint
