"""The seeded bug shared by the fix tests of every suite (LSP, CLI, services): a flipped comparison under a docstring
that states the intent, and the tests that say which numbers count. The 0.5B model fixes it reliably. A plain module
(the test folders are not packages): ``tests/`` is on ``sys.path`` through its root conftest."""

from __future__ import annotations

BUGGY_STATS = '''def count_positive(numbers):
    """Return how many numbers are greater than zero."""
    count = 0
    for n in numbers:
        if n < 0:
            count += 1
    return count
'''
TEST_STATS = """from stats import count_positive


def test_count_positive():
    assert count_positive([1, -2, 3]) == 2
    assert count_positive([]) == 0
"""
# A second seeded bug, for suites that need a module where one function passes its tests and one fails: the middle
# index is off (``// 3``; ``// 2`` fixes it).
BUGGY_MEDIAN = '''def median(values):
    """Return the median of values."""
    ordered = sorted(values)
    middle = len(ordered) // 3
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
'''
