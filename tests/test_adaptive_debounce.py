"""The adaptive debounce (server/debounce.py): from the keystroke rhythm, clamped between the configured bounds. Pure
arithmetic on given timestamps: no clock, no server."""

from __future__ import annotations

import pytest
from codeassist.server.debounce import MIN_SAMPLES, RATE_MAX, RATE_MIN, SAME_KEY_S, AdaptiveDebounce


def typed(gaps_s: list[float]) -> AdaptiveDebounce:
    d, now = AdaptiveDebounce(), 100.0
    d.observe(now)
    for gap in gaps_s:
        now += gap
        d.observe(now)
    return d


def test_the_configured_debounce_until_the_rhythm_is_known() -> None:
    d = typed([0.2] * (MIN_SAMPLES - 1))
    assert d.rhythm_s() is None
    assert d.delay_ms(75, 400, before="x", after="y)") == 75


def test_the_debounce_follows_the_rhythm_within_the_bounds() -> None:
    d = typed([0.15] * 10)
    assert d.rhythm_s() == pytest.approx(0.15)
    mid_line = d.delay_ms(75, 400, before="x", after="y)")  # nothing says a suggestion is wanted here
    assert mid_line == pytest.approx(RATE_MAX * 150)
    # after a trigger character at the end of the line: most likely waiting for a suggestion, the shortest wait
    assert d.delay_ms(75, 400, before=".", after="  ") == pytest.approx(RATE_MIN * 150)
    assert RATE_MIN * 150 < d.delay_ms(75, 400, before="x", after="") < mid_line
    # clamped: never under debounce_ms, never over debounce_max_ms
    assert typed([0.02] * 10).delay_ms(75, 400, before="x", after="y") == 75
    assert typed([0.6] * 10).delay_ms(75, 400, before="x", after="y") == 400
    # debounce_max_ms at or below debounce_ms: a fixed debounce
    assert d.delay_ms(75, 0, before="x", after="y") == 75


def test_pauses_and_the_same_keystrokes_second_request_are_not_rhythm() -> None:
    # typing at 200 ms with long pauses (reading, thinking) between bursts: the pauses do not stretch the rhythm
    d = typed([0.2, 0.2, 5.0, 0.2, 0.2, 30.0, 0.2, 0.2])
    assert d.rhythm_s() == pytest.approx(0.2)
    # VS Code asks inline + item completions at one keystroke: the second request is not a 0 ms gap
    d = typed([0.2, SAME_KEY_S / 3, 0.2, SAME_KEY_S / 3, 0.2, 0.2, 0.2])
    assert d.rhythm_s() == pytest.approx(0.2)
    # the rhythm is the median: one slow gap among quick ones does not move it
    assert typed([0.1, 0.1, 0.1, 0.9, 0.1, 0.1]).rhythm_s() == pytest.approx(0.1)
