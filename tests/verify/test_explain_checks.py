"""The explanation's honesty checks on fixed texts: word counts, the cut at the word limit, and names mentioned in
code spans that the code does not contain."""

from __future__ import annotations

from codeassist.explain_checks import known_names, mentioned_names, trim_to_words, unknown_names, word_count
from codeassist.explainer import ExplainResult, notes

CODE = '''import os


def total(values, scale=2):
    """Sum of scaled values."""
    out = 0
    for v in values:
        out += helper(v) * scale
    return out
'''


def test_known_names_are_the_codes_identifiers_builtins_keywords_and_the_path() -> None:
    known = known_names([CODE], "pkg/stats.py")
    assert {"total", "values", "scale", "out", "helper", "os", "v"} <= known
    assert {"len", "sorted", "ValueError", "None", "return", "self"} <= known
    assert {"pkg", "stats", "py"} <= known
    assert "validate_input" not in known


def test_mentioned_names_come_from_inline_code_spans_only() -> None:
    text = (
        "`total` sums `values` after `helper(v) * scale`. It never calls validate_input.\n"
        "```python\nresult = total([1, 2])\n```\n"
        "Literals are not names: `'abc'`, `\"x y\"`, `0x1F`, `1e3`; `os.path.join` is three."
    )
    assert mentioned_names(text) == ["total", "values", "helper", "v", "scale", "os", "path", "join"]


def test_unknown_names_are_the_invented_ones_in_order() -> None:
    known = known_names([CODE], "stats.py")
    text = "`total` calls `helper` on each of `values`, then `normalize(out)` and `self.cache`; see `List[int]`."
    assert unknown_names(text, known) == ["normalize", "cache", "List"]
    assert unknown_names("No code spans at all: total helper.", known) == []


def test_word_count_and_no_cut_within_the_limit() -> None:
    assert word_count("  one two\nthree  ") == 3
    assert trim_to_words("Short. Fine.", 5) == ("Short. Fine.", False)
    assert trim_to_words("x " * 500, 0) == ("x " * 500, False)  # 0: no limit


def test_cut_falls_on_the_last_sentence_within_the_limit() -> None:
    text = "It sums values. " + "Then it scales each one by a factor and adds them up again. " * 5
    cut, was_cut = trim_to_words(text, 20)
    assert was_cut and word_count(cut) <= 20 and cut.endswith(".")
    assert cut.startswith("It sums values. Then it scales")


def test_cut_drops_a_heading_left_without_its_content() -> None:
    text = "It sums the values and returns the total of them all.\n\n### How it works\n" + "word " * 40
    cut, was_cut = trim_to_words(text, 16)
    assert was_cut and cut == "It sums the values and returns the total of them all."


def test_cut_without_a_sentence_end_stops_at_the_limit_with_an_ellipsis() -> None:
    cut, was_cut = trim_to_words("word " * 50, 10)
    assert was_cut and cut == ("word " * 10).rstrip() + "…" and word_count(cut) == 10


def test_notes_say_what_was_cut_and_which_names_are_unknown() -> None:
    result = ExplainResult("text", "a.py", 1, 2, "f", stop_reason="word_limit", words=120, unknown_names=["nope"])
    assert notes(result) == [
        "cut at the word limit (120 words shown)",
        "names not found in the code it was shown: `nope` (check them)",
    ]
    assert notes(ExplainResult("text", "a.py", 1, 2, "f", stop_reason="eot", words=1)) == []
