"""Token healing with the embedded model's real tokenizer: which text is healed, the vocabulary index, the
constrained decode, and the completions that were wrong before it (``return ␠``, ``N`` before ``None``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codeassist.engine import CompletionRequest, Engine, EngineConfig
from codeassist.healing import MAX_HEAL_CHARS, heal_split
from codeassist.models.backend import GenerationParams
from codeassist.models.llama_backend import LlamaBackend

CURSOR = "█"


@pytest.mark.parametrize(
    ("text", "kept", "healed"),
    [
        ("    return ", "   ", " return "),
        ("import numpy as ", "import numpy", " as "),
        ("x = ", "x", " = "),
        ("    if x is N", "    if x is", " N"),
        ("    return stri", "    return", " stri"),
        ("        sup", "       ", " sup"),
        ("print(grö", "print", "(grö"),
        ("def f(x):\n    ", "def f(x):\n", "    "),
        ("self.some_var_na", "self.some_var", "_na"),
        ("x = ((", "x =", " (("),
        ("items.", "items", "."),
        ("x = 1", "x = 1", ""),
        ("def f():\n", "def f():\n", ""),
        ("", "", ""),
        ("x = " + "a" * (MAX_HEAL_CHARS + 1), "x = " + "a" * (MAX_HEAL_CHARS + 1), ""),
    ],
)
def test_heal_split(text: str, kept: str, healed: str) -> None:
    assert heal_split(text) == (kept, healed)


@pytest.fixture(scope="module")
def healing_engine(model_path: str) -> Iterator[Engine]:
    """An engine of its own: no time cap (these are quality assertions, and the machine may be busy), no typed-ahead
    cache (each request must reach the model)."""
    eng = Engine(
        EngineConfig(model=model_path, n_threads=2, max_tokens=16, time_budget_ms=None, typed_ahead=False,
                     index_workspace=False)
    )  # fmt: skip
    eng.load()
    yield eng
    eng.close()


def _backend(engine: Engine) -> LlamaBackend:
    backend = engine.backend
    assert isinstance(backend, LlamaBackend)
    return backend


@pytest.mark.model
@pytest.mark.parametrize(
    "text",
    ["    return ", "import numpy as ", "x = ", "x is N", "    return stri", "        sup", "print(grö",
     "def f(x):\n    ", "a.b_c"],
)  # fmt: skip
def test_healed_chunk_ends_on_a_token_boundary(healing_engine: Engine, text: str) -> None:
    """The kept text tokenizes as a prefix of the whole text: the heal backs up to a real token boundary of the
    model's own tokenizer, so the prompt the model sees is one it could have seen in training."""
    backend = _backend(healing_engine)
    kept, healed = heal_split(text)
    assert healed
    whole, head = backend.tokenize(text), backend.tokenize(kept)
    assert whole[: len(head)] == head
    assert backend.detokenize(whole[len(head) :]) == healed


@pytest.mark.model
def test_vocab_index_candidates_are_consistent(healing_engine: Engine) -> None:
    backend = _backend(healing_engine)
    index = backend.vocab_index()
    allowed = index.consistent(b" N")
    texts = {backend.token_bytes(int(t)) for t in allowed}
    assert b" None" in texts and b" N" in texts and b" " in texts
    assert all(t.startswith(b" N") or b" N".startswith(t) for t in texts)
    assert b"None" not in texts
    fim = backend.info.fim
    assert fim is not None and not set(fim.control_ids) & {int(t) for t in allowed}


@pytest.mark.model
def test_long_tokens_decode(healing_engine: Engine) -> None:
    """Tokens longer than 32 bytes (runs of spaces, comment rules) come back whole."""
    backend = _backend(healing_engine)
    for text in [" " * 48 + "x", "# " + "-" * 70, "=" * 100]:
        ids = backend.tokenize(text)
        assert backend.detokenize(ids) == text
    assert max(len(backend.token_bytes(t)) for t in backend.tokenize(" " * 48 + "x")) > 32


def _complete(engine: Engine, marked: str, *, heal: bool = True) -> str:
    offset = marked.index(CURSOR)
    text = marked.replace(CURSOR, "")
    line = text.count("\n", 0, offset)
    column = offset - (text.rfind("\n", 0, offset) + 1)
    engine.config.token_healing = heal
    try:
        return engine.complete(CompletionRequest(text=text, line=line, column=column, path="healing.py")).text
    finally:
        engine.config.token_healing = True


@pytest.mark.model
@pytest.mark.parametrize(
    ("marked", "starts"),
    [
        ("def f(x):\n    if x is None:\n        return N█\n    return x\n", "one"),
        ("def f(values):\n    for v in values:\n        if v is not N█\n", "one"),
        ("class A(B):\n    def __init__(self):\n        sup█\n", "er()"),
        ("def clean(lines):\n    return [line.stri█ for line in lines]\n", "p()"),
        ("import string\n\n\ndef letters():\n    return stri█\n", "ng."),
        ("größe = 3\nprint(grö█)\n", "ße"),
    ],
)
def test_completion_inside_a_token(healing_engine: Engine, marked: str, starts: str) -> None:
    assert _complete(healing_engine, marked).startswith(starts)


@pytest.mark.model
def test_return_space_before_another_function(healing_engine: Engine) -> None:
    """``return ␠`` ends in a lone space token; unhealed, the model ended the body at once (an empty suggestion)."""
    marked = "def add(a, b):\n    return █\n\n\ndef sub(a, b):\n    return a - b\n"
    healed = _complete(healing_engine, marked)
    assert healed.strip() and "a" in healed and "\n" not in healed
    assert _complete(healing_engine, marked, heal=False) == ""


@pytest.mark.model
def test_generation_reports_healing_and_scores(healing_engine: Engine) -> None:
    backend = _backend(healing_engine)
    prompt = backend.tokenize("def f(x):\n    if x is")
    gen = backend.generate(prompt, GenerationParams(max_tokens=4, heal=" N"))
    assert gen.healed == " N" and gen.healed_tokens >= 1
    assert gen.text.startswith("one")  # the healed " N" itself is not repeated
    assert len(gen.tokens) - gen.healed_tokens <= 4
    assert len(gen.token_logprobs) == len(gen.token_margins) == len(gen.token_ends) == len(gen.tokens)
    assert all(lp <= 0 for lp in gen.token_logprobs) and all(m >= 0 for m in gen.token_margins)
    assert gen.token_ends[-1] == len(gen.text)
    assert gen.token_ends == sorted(gen.token_ends)
    plain = backend.generate(prompt, GenerationParams(max_tokens=4, heal=" N", logprobs=False))
    assert plain.text == gen.text and plain.token_logprobs == []
