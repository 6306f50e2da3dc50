"""KV-shift chunk reuse with the real model: after a deletion in the middle of the prompt, the cached run after the
gap is shifted into place instead of evaluated again. Greedy output is compared token for token with a cold
evaluation of the same prompt, and the evaluated tokens are counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from codeassist.models.backend import GenerationParams
from codeassist.models.kv_reuse import MAX_EDIT, Insert, plan, plan_insert
from codeassist.models.llama_backend import LlamaBackend

pytestmark = pytest.mark.model

SOURCE = (Path(__file__).resolve().parents[2] / "codeassist" / "typed_ahead.py").read_text(encoding="utf-8")
CURSOR = SOURCE.index(
    "        with self._lock:\n            found = self._find(path, prefix, suffix)\n            if found is None"
)


@pytest.fixture(scope="module")
def backend(model_path: str) -> Iterator[LlamaBackend]:
    b = LlamaBackend(model_path, n_ctx=4096, n_threads=2, cache_reuse=32)
    yield b
    b.close()


def fim(backend: LlamaBackend, prefix: str, suffix: str) -> list[int]:
    f = backend.info.fim
    assert f is not None
    return [f.prefix, *backend.tokenize(prefix), f.suffix, *backend.tokenize(suffix), f.middle]


def deletions() -> list[tuple[str, str]]:
    """(name, prefix after the deletion): a method removed above the cursor; the window's start moved down to a
    line (the module's docstring and imports dropped). A window that starts mid-statement re-tokenizes its first
    line, and new tokens before a run make it unusable (see kv_reuse.py)."""
    prefix = SOURCE[:CURSOR]
    start = prefix.index("    def put(")
    end = prefix.index("    def window(")
    return [
        ("method removed", prefix[:start] + prefix[end:]),
        ("window moved", prefix[prefix.index("@dataclass(frozen=True)") :]),
    ]


@pytest.mark.parametrize("name", ["method removed", "window moved"])
def test_shifted_reuse_matches_a_cold_evaluation(backend: LlamaBackend, name: str) -> None:
    suffix = SOURCE[CURSOR:]
    before = fim(backend, SOURCE[:CURSOR], suffix)
    after = fim(backend, dict(deletions())[name], suffix)
    params = GenerationParams(max_tokens=24)
    backend._llm.n_tokens = 0  # cold: nothing cached
    cold = backend.generate(after, params)
    backend.generate(before, params)  # the cache now holds the prompt before the edit
    warm = backend.generate(after, params)
    assert warm.tokens == cold.tokens, (backend.detokenize(warm.tokens), backend.detokenize(cold.tokens))
    assert warm.shifted_tokens > 0
    assert warm.evaluated_tokens < cold.evaluated_tokens / 4, (warm.evaluated_tokens, cold.evaluated_tokens)
    assert warm.reused_tokens + warm.evaluated_tokens == len(after)


def test_plan_matches_runs_only_where_the_prompt_continues_with_cached_tokens() -> None:
    cached = [1, 2, 3, 9, 9, 4, 5, 6, 7, 8]
    moves, n = plan(cached, [1, 2, 3, 4, 5, 6, 7, 0], 3, min_chunk=3)
    assert [(m.src, m.dst, m.length) for m in moves] == [(5, 3, 4)] and n == 7
    # new tokens before the run: nothing can be reused after them (batches must stay in position order)
    moves, n = plan(cached, [1, 2, 3, 0, 4, 5, 6, 7], 3, min_chunk=3)
    assert moves == [] and n == 3
    # runs shorter than min_chunk are not moved
    moves, n = plan(cached, [1, 2, 3, 4, 5, 0], 3, min_chunk=3)
    assert moves == [] and n == 3


def test_a_keystroke_evaluates_only_the_typed_tokens_and_matches_a_cold_evaluation(backend: LlamaBackend) -> None:
    """The suffix after the cursor is cached from the request one keystroke earlier: it is parked in a second
    sequence while the typed tokens are evaluated below it, then shifted after them (kv_reuse.park)."""
    prefix, suffix = SOURCE[:CURSOR], SOURCE[CURSOR:]
    typed = prefix + "        with self._lock:\n            found = self._find(path, prefix, suffix)\n            if f"
    after = fim(backend, typed, suffix)
    params = GenerationParams(max_tokens=24)
    backend._llm.n_tokens = 0
    cold = backend.generate(after, params)
    backend.generate(fim(backend, typed[:-1], suffix), params)  # one keystroke earlier
    warm = backend.generate(after, params)
    assert warm.tokens == cold.tokens, (backend.detokenize(warm.tokens), backend.detokenize(cold.tokens))
    assert warm.shifted_tokens > 100 and warm.evaluated_tokens <= 8, (warm.shifted_tokens, warm.evaluated_tokens)
    assert warm.reused_tokens + warm.evaluated_tokens == len(after)
    assert backend.cached_tokens[: len(after)] == after


def test_a_cancel_while_the_run_is_parked_leaves_a_cache_the_next_request_can_use(backend: LlamaBackend) -> None:
    prefix, suffix = SOURCE[:CURSOR], SOURCE[CURSOR:]
    after = fim(backend, prefix + "        x = 1\n", suffix)
    params = GenerationParams(max_tokens=12)
    backend._llm.n_tokens = 0
    cold = backend.generate(after, params)
    backend.generate(fim(backend, prefix, suffix), params)
    stopped = backend.generate(after, params, cancel=lambda: True)
    assert stopped.stop_reason == "cancelled" and stopped.shifted_tokens == 0
    again = backend.generate(after, params)
    assert again.tokens == cold.tokens
    assert again.reused_tokens + again.evaluated_tokens == len(after)


def test_nothing_is_moved_to_the_start_of_the_prompt(backend: LlamaBackend) -> None:
    """A prompt that shares no first token with the cache (the same code asked without the header before it) is
    evaluated cold: a run moved to position 0 would hold values computed after other tokens, not a first token's
    (tests/lsp/test_verify_completion.py answered nothing, depending on the random workspace's name)."""
    prefix, suffix = SOURCE[:CURSOR], SOURCE[CURSOR:]
    bare = fim(backend, prefix, suffix)
    params = GenerationParams(max_tokens=12)
    backend._llm.n_tokens = 0
    cold = backend.generate(bare, params)
    backend.generate([*backend.tokenize("# a header that is dropped next\n"), *bare], params)
    again = backend.generate(bare, params)
    assert again.shifted_tokens == 0 and again.evaluated_tokens == len(bare) and again.tokens == cold.tokens


def marker(token: int) -> bool:
    return token >= 500


def test_plan_insert_finds_the_run_the_prompt_ends_with_after_new_tokens() -> None:
    cached = [1, 2, 3, 9, 504, 5, 6, 7, 8, 42, 43]  # the last two: a generated answer after the prompt
    ins = plan_insert(cached, [1, 2, 3, 10, 11, 504, 5, 6, 7, 8], 3, min_chunk=3, special=marker)
    # 504..7 (a marker and the text after it: the suffix) move from 4 to 5; the last token (8) is evaluated again
    assert ins == Insert(n_prefix=3, src=4, dst=5, length=4)
    assert plan_insert(cached, [1, 2, 3, 10, 11, 504, 5, 8], 3, min_chunk=3, special=marker) is None  # run too short
    assert plan_insert(cached, [1, 2, 3, 10, 11, 12, 13, 14], 3, min_chunk=3, special=marker) is None  # not cached
    # more than a few keystrokes' worth new or dropped before the run: evaluated again (its cells would keep too much
    # of the old text)
    many = list(range(100, 100 + MAX_EDIT))
    assert plan_insert(cached, [1, 2, 3, *many, 504, 5, 6, 7, 8], 3, min_chunk=3, special=marker) is not None
    assert plan_insert(cached, [1, 2, 3, *many, 99, 504, 5, 6, 7, 8], 3, min_chunk=3, special=marker) is None
    long_gap = [1, 2, 3, *many, 9, 504, 5, 6, 7, 8]
    # a marker dropped or new before the run: the run's text changed sides of the cursor (a cloze step)
    assert plan_insert([1, 2, 3, 500, 9, 504, 5, 6, 7, 8], [1, 2, 3, 10, 500, 504, 5, 6, 7, 8], 3, 3, marker) is None
    assert plan_insert(long_gap, [1, 2, 3, 10, 504, 5, 6, 7, 8], 3, min_chunk=3, special=marker) is None
    # a run that does not start at a marker, or holds another: an edit far above the cursor (a header), not typing
    assert plan_insert([1, 2, 3, 5, 6, 504, 7, 8], [1, 2, 9, 5, 6, 504, 7, 8], 2, 3, marker) is None
    assert plan_insert([1, 2, 3, 504, 6, 505, 7, 8], [1, 2, 9, 504, 6, 505, 7, 8], 2, 3, marker) is None
