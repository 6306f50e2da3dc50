"""Which brackets are open at the cursor must not depend on where a fixed window of the prefix happens to start."""

from __future__ import annotations

from codeassist.brackets import REACH, WINDOW, open_stack, scan_start
from codeassist.context.languages import resolve_spec
from codeassist.postprocess import make_situation, postprocess

SPEC = resolve_spec("m.py", None)
DOC_LINE = "    A line of the docstring, long enough that a few hundred of them fill the window.\n"
PREFIX = (
    'import itertools\n\n\ndef first(iterator, advance):\n    """Doc.\n'
    + DOC_LINE * (WINDOW // len(DOC_LINE) + 20)
    + '    """\n    value = next(itertools.islice(ite'
)


def test_a_window_starting_inside_a_docstring_loses_the_open_brackets() -> None:
    # the failure being guarded against: the last WINDOW characters start mid-docstring, so its closing quotes
    # open a string for the lexer and the code after them reads as text
    assert open_stack(PREFIX[-WINDOW:], SPEC) == []
    assert open_stack(PREFIX, SPEC) == ["(", "("]


def test_the_scan_starts_at_the_last_top_level_line() -> None:
    start = scan_start(PREFIX, SPEC)
    assert PREFIX[start:].startswith("def first(")
    assert open_stack(PREFIX[start:], SPEC) == ["(", "("]


def test_without_a_top_level_line_in_reach_the_window_is_used() -> None:
    prefix = "x = [\n" + "    1,\n" * (REACH // 7 + 10) + "    f(a"
    assert scan_start(prefix, SPEC) == len(prefix) - WINDOW
    assert scan_start("x = f(a", SPEC) == 0


def test_the_suggestion_keeps_the_closers_the_cursor_needs() -> None:
    situation = make_situation(PREFIX, "\n    return value\n", language="python")
    assert postprocess(situation, "rator, advance, None))\n").text == "rator, advance, None))"
