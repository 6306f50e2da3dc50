"""The engine with the real embedded model: typed-ahead cache and keystroke reuse. Few, short calls (2 CPU cores)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from codeassist.engine import CompletionRequest, Engine, EngineConfig
from codeassist.engine_types import CompletionResult

pytestmark = pytest.mark.model

DOC = (
    "def mean(values):\n"
    '    """Arithmetic mean of a non-empty list."""\n'
    "    total = 0\n"
    "    for v in values:\n"
    "        total += v\n"
    "    return total / len(values)\n"
    "\n\n"
    "def variance(values):\n"
    "    m = mean(values)\n"
    "    return \n"
    "\n\n"
    'if __name__ == "__main__":\n'
    "    print(variance([1, 2, 3]))\n"
)
LINE, COL = 10, 11  # after "    return "


@pytest.fixture(scope="module")
def model_engine(model_path: str, tmp_path_factory: Any) -> Iterator[Engine]:
    root = str(tmp_path_factory.mktemp("ws"))
    eng = Engine(EngineConfig(model=model_path, n_threads=2, max_tokens=16, workspace=root, time_budget_ms=None))
    eng.load()
    yield eng
    eng.close()


def _count_generate(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = engine.backend.generate

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.backend, "generate", counting)
    return calls


def test_typed_ahead_returns_rest_without_model(model_engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Any) -> None:  # fmt: skip
    calls = _count_generate(model_engine, monkeypatch)
    path = os.path.join(str(tmp_path), "stats.py")
    first = model_engine.complete(CompletionRequest(DOC, LINE, COL, path=path))
    assert calls == [1] and first.model_called and len(first.text) >= 2, first
    typed = first.text[:2]
    lines = DOC.split("\n")
    lines[LINE] = lines[LINE][:COL] + typed + lines[LINE][COL:]
    second = model_engine.complete(CompletionRequest("\n".join(lines), LINE, COL + 2, path=path))
    assert calls == [1], "the model was called for text the user typed from the suggestion"
    assert second.cached and not second.model_called and second.text == first.text[2:]


def test_one_keystroke_reevaluates_under_ten_percent(model_engine: Engine, tmp_path: Any) -> None:
    """The cache-friendly layout (cursor line after <|fim_middle|>): a keystroke re-evaluates a few tokens."""
    model_engine.config.typed_ahead = False
    model_engine.config.line_in_middle = True
    try:
        path = os.path.join(str(tmp_path), "stats2.py")
        a = model_engine.complete(CompletionRequest(DOC, LINE, COL, path=path, max_tokens=4))
        lines = DOC.split("\n")
        lines[LINE] = lines[LINE][:COL] + "(" + lines[LINE][COL:]
        b = model_engine.complete(CompletionRequest("\n".join(lines), LINE, COL + 1, path=path, max_tokens=4))
    finally:
        model_engine.config.typed_ahead = True
        model_engine.config.line_in_middle = False
    assert a.timings.prompt_tokens > 0
    assert b.timings.evaluated_tokens <= 0.10 * b.timings.prompt_tokens, b.timings
    assert b.timings.reused_tokens >= 0.90 * b.timings.prompt_tokens
    kinds = {p.kind for p in b.context}
    assert {"prefix", "suffix"} <= kinds


def test_completion_uses_definition_from_other_file(make_workspace: Callable[[dict[str, str]], str],
                                                   model_path: str) -> None:  # fmt: skip
    root = make_workspace({
        "units.py": "def celsius_to_kelvin(celsius: float) -> float:\n    return celsius + 273.15\n",
        "app.py": "from units import celsius_to_kelvin\n\n\ndef boil() -> float:\n    return \n",
    })  # fmt: skip
    eng = Engine(EngineConfig(model=model_path, n_threads=2, max_tokens=12, workspace=root, time_budget_ms=None))
    try:
        path = os.path.join(root, "app.py")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        eng.document_opened(path, text, "python")
        res = eng.complete(CompletionRequest(text, 4, 11, path=path))
    finally:
        eng.close()
    assert any(p.kind == "definition" and p.source == "units.py" for p in res.context), res.context
    assert res.gate in ("ok", "truncated") and res.text.strip(), res


def _keystroke(engine: Engine, tmp_path: Any, name: str) -> CompletionResult:
    """A request, then the same document with one character typed at the cursor; the second result."""
    engine.config.typed_ahead = False
    try:
        path = os.path.join(str(tmp_path), name)
        # a suffix as long as in a real file (runs under ``cache_reuse`` tokens are evaluated again)
        doc = DOC + "".join(
            f"\n\ndef scaled_{i}(values, k):\n    return [v * k + {i} for v in values]\n" for i in range(6)
        )
        engine.complete(CompletionRequest(doc, LINE, COL, path=path, max_tokens=4))
        lines = doc.split("\n")
        lines[LINE] = lines[LINE][:COL] + "(" + lines[LINE][COL:]
        return engine.complete(CompletionRequest("\n".join(lines), LINE, COL + 1, path=path, max_tokens=4))
    finally:
        engine.config.typed_ahead = True


def test_by_default_a_keystroke_evaluates_the_suffix_again(model_engine: Engine, tmp_path: Any) -> None:
    """``cache_reuse`` is off by default: cells computed before the typed text existed change answers on real code
    (engine_config.py), so the suffix after a keystroke is evaluated again; everything before the cursor stays
    cached (the PSM layout)."""
    b = _keystroke(model_engine, tmp_path, "stats3.py")
    suffix = sum(p.tokens for p in b.context if p.kind == "suffix")
    assert suffix > 20, b.context
    assert suffix <= b.timings.evaluated_tokens <= suffix + 8, (b.timings, b.context)
    assert b.timings.reused_tokens == b.timings.prompt_tokens - b.timings.evaluated_tokens


def test_cache_reuse_reevaluates_only_the_typed_tokens(model_path: str, tmp_path: Any) -> None:
    """With KV-shift reuse on (``cache_reuse``, a setting) the cached suffix is moved after the typed text: a
    keystroke evaluates only the typed token(s) and the prompt's last token (issue 16: at most 8), never the prefix,
    the repo context or the suffix window."""
    eng = Engine(EngineConfig(model=model_path, n_threads=2, max_tokens=16, workspace=str(tmp_path),
                              time_budget_ms=None, cache_reuse=32))  # fmt: skip
    try:
        b = _keystroke(eng, tmp_path, "stats4.py")
    finally:
        eng.close()
    suffix = sum(p.tokens for p in b.context if p.kind == "suffix")
    assert suffix > 20, b.context
    assert b.timings.evaluated_tokens <= 8, (b.timings, b.context)
    assert b.timings.reused_tokens == b.timings.prompt_tokens - b.timings.evaluated_tokens
