"""The replay driver's pure parts: the edit list, percentiles, prompt windows. No model, no server."""

from __future__ import annotations

import math

from bench import replay

SOURCE = "def f(x):\n    y = x + 1\n    return y\n"


def test_keystrokes_rebuild_the_file() -> None:
    span = replay.Span("f.py", 1, 2)
    start = replay.initial_text(SOURCE, span)
    assert start == "def f(x):\n    \n    \n"  # contents removed, indentation kept (the editor auto-indents)
    strokes = replay.keystrokes(SOURCE, span)
    assert len(strokes) == len("y = x + 1") + len("return y")
    assert strokes[-1].text == SOURCE
    assert strokes[0].text == "def f(x):\n    y\n    \n" and (strokes[0].line, strokes[0].column) == (1, 5)
    assert (strokes[0].at_line, strokes[0].at_column, strokes[0].char) == (1, 4, "y")
    # Each keystroke inserts exactly its character at (at_line, at_column) of the previous document.
    prev = start
    for ks in strokes:
        lines = prev.split("\n")
        lines[ks.at_line] = lines[ks.at_line][: ks.at_column] + ks.char + lines[ks.at_line][ks.at_column :]
        assert "\n".join(lines) == ks.text
        prev = ks.text
    assert len(replay.keystrokes(SOURCE, span, limit=3)) == 3


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert replay.percentile(values, 50) == 50
    assert replay.percentile(values, 95) == 95
    assert replay.percentile(values, 99) == 99
    assert replay.percentile([3.0, 1.0, 2.0], 99) == 3.0
    assert math.isnan(replay.percentile([], 50))


def test_summarise_counts() -> None:
    answers = [
        replay.Answer(10.0, "x", 100, 90, 10, 3, False, "ok"),
        replay.Answer(30.0, "", 100, 95, 5, 0, True, "dropped"),
    ]
    s = replay.summarise("engine", answers)
    assert (s.keystrokes, s.shown, s.reused_tokens, s.evaluated_tokens, s.cache_hits, s.gate_drops) == (
        2, 1, 185, 15, 1, 1,
    )  # fmt: skip
    s2 = replay.summarise("llama_server", [replay.Answer(5.0, "y")])
    assert s2.cache_hits is None and s2.gate_drops is None


def test_windows_and_offsets() -> None:
    text = "a\n" * 1000 + "CURSOR" + "\nb" * 1000
    off = replay.offset_of(text, 1000, 3)
    assert text[off:].startswith("SOR")
    prefix, suffix = replay.windows(text, off, prefix_tokens=10, suffix_tokens=10)
    assert len(prefix) <= 40 and prefix.endswith("CUR") and text[:off].endswith(prefix)
    assert len(suffix) <= 40 and suffix.startswith("SOR") and text[off:].startswith(suffix)
    assert replay.utf16_col("é😀x", 2) == 3
