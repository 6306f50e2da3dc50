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
    assert fim.family == "starcoder" and (fim.prefix, fim.suffix, fim.middle) == (1, 2, 3)
    assert fim.has_repo_tokens and 0 in fim.stop_ids and 4 in fim.stop_ids

    deepseek = {"<｜fim▁begin｜>": 10, "<｜fim▁hole｜>": 11, "<｜fim▁end｜>": 12, "<|EOT|>": 13}
    fim = detect_fim(NONE, deepseek.get)
    # DeepSeek's "begin/hole/end" are prefix/suffix/middle, in that order.
    assert fim.family == "deepseek-coder" and (fim.prefix, fim.suffix, fim.middle) == (10, 11, 12)
    assert 13 in fim.stop_ids and not fim.has_repo_tokens

    codellama = {"▁<PRE>": 32007, "▁<SUF>": 32008, "▁<MID>": 32009, "▁<EOT>": 32010}
    fim = detect_fim(NONE, codellama.get)
    assert fim.family == "codellama" and 32010 in fim.stop_ids


def test_declared_ids_win_over_the_table() -> None:
    declared = VocabIds(prefix=7, suffix=8, middle=9, pad=-1, repo=-1, file_sep=-1, eot=2, eos=2)
    fim = detect_fim(declared, {"<fim_prefix>": 1, "<fim_suffix>": 2, "<fim_middle>": 3}.get)
    assert fim.source == "vocab" and (fim.prefix, fim.suffix, fim.middle) == (7, 8, 9)
    assert fim.family == "generic" and fim.stop_ids == frozenset({2})


def test_model_without_fim_is_refused() -> None:
    with pytest.raises(ModelError, match="no fill-in-the-middle support") as excinfo:
        detect_fim(NONE, lambda text: None, model_name="chat-only-7b")
    assert "chat-only-7b" in excinfo.value.message and excinfo.value.hint
