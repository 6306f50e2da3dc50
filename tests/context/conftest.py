"""Fixtures for context/prompt tests: the real tokenizer of the embedded model (vocabulary only, loads in well under
a second) and small real workspaces on disk."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from codeassist.models.fim import FimFormat, VocabIds, detect_fim


class VocabTokenizer:
    """The embedded model's real tokenizer, without weights."""

    def __init__(self, path: str) -> None:
        from llama_cpp import Llama

        self.llm: Any = Llama(model_path=path, vocab_only=True, verbose=False)

    def tokenize(self, text: str) -> list[int]:
        if not text:
            return []
        return [int(t) for t in self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)]

    def special_id(self, text: str) -> int | None:
        ids = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return int(ids[0]) if len(ids) == 1 else None

    def detokenize(self, ids: list[int]) -> str:
        return bytes(self.llm.detokenize(ids)).decode("utf-8", errors="replace")


@pytest.fixture(scope="session")
def vocab() -> VocabTokenizer:
    pytest.importorskip("llama_cpp")
    from codeassist.models import registry

    try:
        path = registry.resolve(None)
    except Exception as exc:  # the model is installed by `make test`; say why we skip otherwise
        pytest.skip(f"embedded model not installed: {exc}")
    return VocabTokenizer(path)


@pytest.fixture(scope="session")
def qwen_fim(vocab: VocabTokenizer) -> FimFormat:
    none = VocabIds(None, None, None, None, None, None, None, None)
    return detect_fim(none, vocab.special_id, model_name="qwen2.5-coder-0.5b")


@pytest.fixture
def make_workspace(tmp_path: Any) -> Callable[[dict[str, str]], str]:
    def make(files: dict[str, str]) -> str:
        for rel, text in files.items():
            path = os.path.join(tmp_path, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return str(tmp_path)

    return make
