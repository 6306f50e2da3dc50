"""The decode loop's pure parts: choosing and scoring a token (optionally among allowed ids), and the text callers
see when a healed prefix is held back."""

from __future__ import annotations

import math

import numpy as np
import pytest

from codeassist.models.backend import Generation, GenerationParams
from codeassist.models.decoding import TextOutput, choose


def test_greedy_choice_is_scored_against_the_whole_distribution() -> None:
    logits = np.array([1.0, 3.0, 2.0, -1.0], dtype=np.float32)
    c = choose(logits, GenerationParams(), np.random.default_rng(0))
    norm = math.log(sum(math.exp(x) for x in logits.tolist()))
    assert c.token == 1 and c.logprob == pytest.approx(3.0 - norm, rel=1e-6) and c.margin == pytest.approx(1.0)
    assert logits.tolist() == [1.0, 3.0, 2.0, -1.0]  # the runner-up search leaves the buffer as it was


def test_allowed_ids_restrict_the_choice_and_renormalise() -> None:
    logits = np.array([5.0, 1.0, 2.0, 0.0], dtype=np.float32)
    c = choose(logits, GenerationParams(), np.random.default_rng(0), np.array([3, 2], dtype=np.int64))
    norm = math.log(math.exp(2.0) + math.exp(0.0))
    assert c.token == 2 and c.logprob == pytest.approx(2.0 - norm, rel=1e-6) and c.margin == pytest.approx(2.0)
    single = choose(logits, GenerationParams(), np.random.default_rng(0), np.array([1], dtype=np.int64))
    assert single.token == 1 and single.logprob == pytest.approx(0.0) and single.margin == 0.0
    with pytest.raises(ValueError):
        choose(logits, GenerationParams(), np.random.default_rng(0), np.array([], dtype=np.int64))


def test_sampling_stays_within_the_allowed_ids() -> None:
    logits = np.zeros(50, dtype=np.float32)
    allowed = np.array([7, 11, 13], dtype=np.int64)
    rng = np.random.default_rng(1)
    picks = {choose(logits, GenerationParams(temperature=1.0, top_p=1.0), rng, allowed).token for _ in range(40)}
    assert picks <= {7, 11, 13} and len(picks) > 1


def test_text_output_holds_back_the_healed_text() -> None:
    gen = Generation(text="")
    seen: list[str] = []
    out = TextOutput(gen, " N", lambda text: seen.append(text) or True, scores=True)
    logits = np.array([0.0, 1.0], dtype=np.float32)
    c = choose(logits, GenerationParams(), np.random.default_rng(0))
    assert out.emit(c, b" ") and seen == []  # still inside the healed text
    assert out.emit(c, b"None") and seen == ["one"]
    assert out.emit(c, b"\xc3") and out.emit(c, b"\xa9")  # a character split across two tokens
    assert out.finish() == "oneé" and gen.token_ends == [0, 3, 3, 4] and len(gen.token_logprobs) == 4
