"""The pure parts of the time cap: prompt chunks sized by time (codeassist/models/prompt_eval.py) and the cap scaled
by the measured token rate (codeassist/engine_cap.py). The chunk scheduler is driven by an evaluator that takes a
known time per token (``time.sleep``), so its promises are checked against that configured cost, not the machine's
speed; the real model's side is tests/context/test_time_cap.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest
from codeassist.server.worker import PRIORITY_BACKGROUND, PRIORITY_COMPLETION, JobCancelled, Worker

from codeassist.engine_cap import MAX_SCALE, ONE_LINE_TOKENS, RateEstimator
from codeassist.models.backend import Generation
from codeassist.models.prompt_eval import CHUNK_TARGET_S, FIRST_CHUNK, MIN_CHUNK, PromptRate, evaluate_chunks

PER_TOKEN_S = 0.002  # the sleeping evaluator's cost: 500 tok/s


class Evaluator:
    def __init__(self) -> None:
        self.chunks: list[int] = []

    def __call__(self, tokens: Sequence[int]) -> None:
        self.chunks.append(len(tokens))
        time.sleep(len(tokens) * PER_TOKEN_S)


def test_chunks_are_sized_by_time_and_cover_the_prompt() -> None:
    ev, rate = Evaluator(), PromptRate()
    done = evaluate_chunks(ev, list(range(1000)), n_batch=512, rate=rate)
    assert done.stopped is None and done.evaluated == 1000 == sum(ev.chunks)
    assert ev.chunks[0] == FIRST_CHUNK  # no rate known yet: a small first chunk measures it
    # then about CHUNK_TARGET_S worth of tokens at the measured rate (sleep overshoots, so at most that many)
    assert max(ev.chunks[1:-1]) <= int(CHUNK_TARGET_S / PER_TOKEN_S), ev.chunks
    assert rate.tok_s is not None and rate.tok_s <= 1 / PER_TOKEN_S * 1.05


def test_a_deadline_stops_before_a_chunk_that_would_overrun_it() -> None:
    ev, rate = Evaluator(), PromptRate()
    rate.update(100, 100 * PER_TOKEN_S)  # the rate is known
    budget_s = 0.3
    started = time.monotonic()
    done = evaluate_chunks(ev, list(range(2000)), n_batch=512, rate=rate, deadline=started + budget_s)
    took = time.monotonic() - started
    assert done.stopped == "time_cap"
    assert 0 < done.evaluated < 2000 and done.evaluated == sum(ev.chunks)
    # within the budget plus one chunk's time (the last one could be slower than predicted, never longer than it)
    assert took <= budget_s + done.max_chunk_ms / 1000, (took, done)
    # and most of the budget was used: chunks shrink to what fits instead of stopping early
    assert done.evaluated * PER_TOKEN_S >= budget_s / 2, done


def test_a_deadline_already_passed_still_makes_progress() -> None:
    """Context building took the whole cap: one small chunk is evaluated anyway (the next request resumes after it)."""
    ev, rate = Evaluator(), PromptRate()
    rate.update(100, 100 * PER_TOKEN_S)
    done = evaluate_chunks(ev, list(range(1000)), n_batch=512, rate=rate, deadline=time.monotonic() - 1)
    assert done.stopped == "time_cap" and ev.chunks == [MIN_CHUNK] and done.evaluated == MIN_CHUNK


def test_a_cancel_is_noticed_between_chunks() -> None:
    ev, calls = Evaluator(), [0]

    def cancel() -> bool:
        calls[0] += 1
        return calls[0] > 2

    done = evaluate_chunks(ev, list(range(1000)), n_batch=512, rate=PromptRate(), cancel=cancel)
    assert done.stopped == "cancelled" and len(ev.chunks) == 2 and done.evaluated == sum(ev.chunks)


def gen(evaluated: int, prompt_ms: float, generated: int, generation_ms: float) -> Generation:
    return Generation(
        text="x", tokens=[1] * generated, evaluated_tokens=evaluated, prompt_ms=prompt_ms, generation_ms=generation_ms
    )


def test_the_cap_is_the_configured_one_until_rates_are_measured() -> None:
    rates = RateEstimator()
    assert rates.cap(1.0, 5000).seconds == 1.0 and not rates.last_cap.raised  # type: ignore[union-attr]
    rates.record(gen(8, 1000, 2, 1000))  # too few tokens for a rate: noise
    assert rates.prompt.recent is None and rates.decode.recent is None
    assert rates.cap(1.0, 5000).seconds == 1.0


def test_the_cap_rises_to_a_one_line_answer_only_within_the_bound() -> None:
    rates = RateEstimator()
    rates.record(gen(400, 1000, 20, 1000))  # prompt 400 tok/s, decode 20 tok/s
    one_line_s = ONE_LINE_TOKENS / 20
    # fast enough: the configured cap stands
    assert rates.cap(5.0, 100).seconds == 5.0
    # slow for this prompt: raised to evaluate it and write one line
    cap = rates.cap(1.0, 400)
    assert cap.raised and cap.seconds == pytest.approx(1.0 + one_line_s)
    assert rates.to_json()["capRaised"] and rates.to_json()["timeCapMs"] == round((1.0 + one_line_s) * 1000)
    # up to MAX_SCALE times the configured cap ...
    assert rates.cap(1.0, int(400 * (MAX_SCALE - one_line_s))).seconds == pytest.approx(MAX_SCALE)
    # ... and not at all when even that cannot finish: waiting three caps for nothing is worse than failing fast
    cap = rates.cap(1.0, 100_000)
    assert cap.seconds == 1.0 and not cap.raised and cap.needed_s == pytest.approx(250 + one_line_s)
    assert not rates.to_json()["capRaised"]


def test_the_machine_is_slow_when_a_recent_rate_falls_well_below_the_best() -> None:
    rates = RateEstimator()
    rates.record(gen(400, 1000, 20, 1000))
    assert rates.slow() is None
    for _ in range(8):  # a competing process: decode at 2 tok/s (the weighted rate follows within a few)
        rates.record(gen(400, 1000, 4, 2000))
    reason = rates.slow()
    assert reason is not None and "decode at 2 tok/s (20 when quieter)" in reason, reason
    assert "prompt" not in reason  # the prompt rate did not fall


def test_background_work_is_cancelled_at_once_by_any_real_job() -> None:
    """The warm-up after a capped request is background work: any other job's submission cancels it, pending or
    running (it stops at its next cancel check); background work does not cancel real jobs."""
    w, started = Worker("test-worker"), threading.Event()

    def background(cancel: Callable[[], bool]) -> str:
        started.set()
        while not cancel():
            time.sleep(0.001)
        return "stopped"

    try:
        warm = w.submit(background, kind="warm", key="warm:a", priority=PRIORITY_BACKGROUND)
        assert started.wait(10)
        real = w.submit(lambda _c: "answer", kind="completion", key="b", priority=PRIORITY_COMPLETION)
        assert real.future.result(10) == "answer"
        with pytest.raises(JobCancelled):
            warm.future.result(10)
        # queued background work yields too, and background work never cancels a real job
        slow = w.submit(lambda _c: time.sleep(0.2) or "slow", kind="completion", key="c", priority=PRIORITY_COMPLETION)
        pending = w.submit(background, kind="warm", key="warm:a", priority=PRIORITY_BACKGROUND)
        w.submit(lambda _c: "x", kind="completion", key="d", priority=PRIORITY_COMPLETION)
        assert slow.future.result(10) == "slow"
        with pytest.raises(JobCancelled):
            pending.future.result(10)
        assert w.stats.cancelled_background == 2 and w.stats.cancelled_running == w.stats.cancelled_pending == 0
    finally:
        w.stop()
