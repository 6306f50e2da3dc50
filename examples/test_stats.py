"""Tests of the example module: `make demo` completes `mean` and runs these in the sandbox before showing it."""

from stats import mean, median


def test_mean() -> None:
    assert mean([1.0, 2.0, 3.0, 6.0]) == 3.0
    assert mean([-1.0, 1.0]) == 0.0


def test_median() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
