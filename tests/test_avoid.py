"""Steering draws off failed texts (codeassist/models/avoid.py), on the real embedded model.

No assertion depends on what the model's greedy answer is (CI's CPU gives different greedy outputs): each fixture's
greedy line is generated first and then banned (not assumed to be what the next call would generate: a prompt
evaluated again from the cache rounds differently), and the checks are the ban's guarantees — a draw never finishes a
banned text (at temperature 0 and sampled), and a draw that never reaches a banned text's end is token for token
what it is without the ban. The pure parts (where a text counts as finished, where the draw branches) run without
the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from codeassist.alternatives import banned_texts
from codeassist.engine import CompletionRequest, Engine
from codeassist.healing import VocabIndex
from codeassist.models.avoid import Steer
from codeassist.models.backend import Generation, GenerationParams

PREFIXES = (
    "def add(a, b):\n    return ",
    "import os\n\n\ndef python_files(root):\n    found = []\n    for name in os.listdir(root):\n        if ",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n        ",
    "def mean(values):\n    total = sum(values)\n    return ",
    "def read_lines(path):\n    with open(path) as handle:\n        ",
)


def one_line(text: str) -> bool:
    return "\n" not in text  # on_text: stop once the line ends, as the single-line policy does


def finishes(raw: str, banned: str) -> bool:
    """Whether ``raw`` is ``banned`` with the line (or the generation) ended right after it: what the ban forbids."""
    return re.match(re.escape(banned) + r"[ \t]*(\n|$)", raw) is not None


def generate(engine: Engine, prefix: str, avoid: Sequence[str] = (), **params: Any) -> Generation:
    backend = engine.backend  # the backend alone: nothing else uses this engine meanwhile
    prompt = backend.tokenize(prefix)
    return backend.generate(prompt, GenerationParams(max_tokens=40, avoid=tuple(avoid), **params), on_text=one_line)


@pytest.mark.model
def test_a_banned_greedy_line_is_never_reproduced(engine: Engine) -> None:
    for prefix in PREFIXES:
        greedy = generate(engine, prefix)
        line = greedy.text.split("\n")[0]
        assert line.strip(), prefix
        steered = generate(engine, prefix, [line])
        assert steered.avoid_honoured, prefix
        assert not finishes(steered.text, line), (prefix, line, steered.text)
        # a second ban on top of the first: neither is finished
        second = steered.text.split("\n")[0]
        if second.strip() and steered.stop_reason != "max_tokens":
            both = generate(engine, prefix, [line, second])
            assert not finishes(both.text, line) and not finishes(both.text, second), (prefix, both.text)


@pytest.mark.model
def test_sampled_draws_never_finish_a_banned_line(engine: Engine) -> None:
    prefix = PREFIXES[0]
    line = generate(engine, prefix).text.split("\n")[0]
    for seed in range(1, 7):
        draw = generate(engine, prefix, [line], temperature=1.3, seed=seed)
        assert not finishes(draw.text, line), (seed, draw.text)


@pytest.mark.model
def test_a_ban_the_draw_never_reaches_changes_nothing(engine: Engine) -> None:
    for prefix in PREFIXES[:3]:
        for params in ({}, {"temperature": 1.0, "seed": 5}):
            # twice: the first call evaluates the whole prompt in batches, later ones only its last token, and the
            # logits differ by rounding; comparisons are made between calls in the same state
            generate(engine, prefix, **params)
            plain = generate(engine, prefix, **params)
            line = plain.text.split("\n")[0]
            # an unrelated text, and one sharing the draw's start but never finished by it
            for banned in ("zz_never_generated(§)", line[: max(1, len(line) // 2)] + "§§"):
                with_ban = generate(engine, prefix, [banned], **params)
                assert with_ban.tokens == plain.tokens and with_ban.text == plain.text, (prefix, banned)
                assert with_ban.avoid_honoured and with_ban.branched == 0


@pytest.mark.model
def test_the_engine_passes_the_ban_and_reports_it(engine: Engine) -> None:
    text = "def add(a, b):\n    \n\n\ndef sub(a, b):\n    return a - b\n"
    req = CompletionRequest(text=text, line=1, column=4, path="calc.py")
    first = engine.complete(req, remember=False)
    assert first.branched is None  # nothing to avoid: not reported
    if not first.text.strip():
        pytest.skip("the model offered nothing here")
    again = engine.complete(CompletionRequest(text=text, line=1, column=4, path="calc.py", avoid=(first.text,)))
    assert again.branched is not None  # the local backend applied the ban (0 when the draw went elsewhere anyway)
    assert not finishes(again.raw_text, first.text.rstrip())


# -- the pure parts --------------------------------------------------------------------------------------------------


def steer_of(*texts: str) -> Steer:
    vocab = [b"ret", b"urn", b" x", b" x\n", b"\n", b" ", b" y", b"return"]
    index = VocabIndex.build(len(vocab), lambda t: vocab[t], lambda t: False)
    steer = Steer.of(texts, "", lambda: index, lambda t: t == 99, lambda t: vocab[t])
    assert steer is not None
    return steer


def test_a_text_is_finished_by_a_line_end_or_the_end_only() -> None:
    steer = steer_of("return x")
    assert steer.finished(b"return", b" x\n", False) == b"return x"
    assert steer.finished(b"return x", b"  \n", False) == b"return x"
    assert steer.finished(b"return x ", b"", True) == b"return x"
    assert steer.finished(b"return", b" x", False) is None  # on the text, not finished yet
    assert steer.finished(b"return x", b"s\n", False) is None  # a longer line: another text
    assert steer.finished(b"return", b" y\n", False) is None
    assert steer.finished(b"return x\n", b"foo", False) is None  # the line ended earlier: not this token's doing


def test_the_tokens_that_stay_on_a_failed_text_are_the_ones_excluded() -> None:
    steer = steer_of("return x")
    assert sorted(steer.on_path(b"return").tolist()) == [2, 3, 5]  # " x", " x\n", " " (a prefix of " x")
    assert sorted(steer.on_path(b"return x").tolist()) == [4]  # only "\n" ends the line there
    assert steer.on_path(b"ret y").tolist() == []


def test_the_branch_step_follows_where_the_model_had_an_alternative() -> None:
    steer = steer_of("return x")
    pieces = [b"ret", b"urn"]
    rng = np.random.default_rng(0)
    # the model was sure of "ret", unsure of "urn" (p = 0.5), sure of " x\n": greedy branches at step 1
    logprobs = [0.0, float(np.log(0.5))]
    assert steer.branch_step(pieces, logprobs, 0, b"return x", 0.0, rng, greedy=True) == 1
    # sure everywhere (or nothing scored): the last step
    assert steer.branch_step(pieces, [0.0, 0.0], 0, b"return x", 0.0, rng, greedy=True) == 2
    assert steer.branch_step(pieces, [], 0, b"return x", 0.0, rng, greedy=False) == 2
    # never inside the healed text: steps before ``first`` are not candidates
    assert steer.branch_step(pieces, [float(np.log(0.1)), 0.0], 1, b"return x", 0.0, rng, greedy=True) == 2
    # sampled: in proportion to q_<i (1 - p_i): steps 0 and 1 equally likely here (0.5 and 0.5 * 1.0)
    draws = [steer.branch_step(pieces, [float(np.log(0.5)), -50.0], 0, b"return x", 0.0, rng, greedy=False)
             for _ in range(400)]  # fmt: skip
    assert {0, 1} == set(draws) and 150 < draws.count(0) < 250


def test_alternatives_also_ban_a_seen_text_followed_by_the_rest_of_the_line() -> None:
    mid = CompletionRequest(text="x = max()\ny = 1\n", line=0, column=8)
    assert banned_texts(mid, {"a, b"}) == ("a, b", "a, b)")  # ")" retyped: post-processing cuts it again
    end = CompletionRequest(text="x = \ny = 1\n", line=0, column=4)
    assert banned_texts(end, {"max(a, b)", "min(a)"}) == ("max(a, b)", "min(a)")
