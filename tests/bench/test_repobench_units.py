"""The pieces of `codeassist bench repo` that need neither the model nor Docker: hole cutting, scoring, the llama.vim
request/render emulation, test selection from a traced run, and the report's denominators."""

from __future__ import annotations

import io
import keyword
import tokenize
from pathlib import Path

import pytest

from codeassist.repobench.fill import Fill, offset_of, utf16_position
from codeassist.repobench.holes import Hole, cut_holes, is_source_file
from codeassist.repobench.infill import InfillOptions, vim_render, vim_request
from codeassist.repobench.judge import TraceMap
from codeassist.repobench.report import background_section, metrics
from codeassist.repobench.scoring import edit_similarity, score

FIXTURE = Path(__file__).parent / "fixtures" / "minirepo"


def _files() -> dict[str, str]:
    return {p.relative_to(FIXTURE).as_posix(): p.read_text() for p in FIXTURE.rglob("*.py")}


def test_holes_are_seeded_and_only_in_source_functions() -> None:
    files = _files()
    a, b = cut_holes(files, 5, "line", seed=3), cut_holes(files, 5, "line", seed=3)
    assert a == b and len(a) == 5
    assert cut_holes(files, 5, "line", seed=4) != a
    assert all(h.path == "minirepo/stats.py" for h in cut_holes(files, 100, "line"))
    assert not is_source_file("tests/test_stats.py") and not is_source_file("setup.py")
    assert is_source_file("minirepo/stats.py")


def test_line_holes_keep_indentation_plus_at_most_15_characters() -> None:
    files = _files()
    for hole in cut_holes(files, 100, "line", seed=1):
        src = files[hole.path]
        line_start = src.rfind("\n", 0, hole.start) + 1
        line_end = src.find("\n", hole.start)
        typed = src[line_start : hole.start]
        indent = len(typed) - len(typed.lstrip())
        assert len(typed) - indent <= 15 and indent >= 4
        assert hole.end == line_end and hole.removed == src[hole.start : line_end] and hole.removed.strip()
        assert hole.holed(src) == src[: hole.start] + src[line_end:]
        assert hole.func_body[0] <= hole.line <= hole.func_body[1]


def test_token_holes_cut_inside_an_identifier() -> None:
    files = _files()
    holes = cut_holes(files, 100, "token", seed=2)
    assert holes
    for hole in holes:
        src = files[hole.path]
        before, after = src[hole.start - 1], src[hole.start]
        assert (before.isalnum() or before == "_") and (after.isalnum() or after == "_")
        line = src[src.rfind("\n", 0, hole.start) + 1 : src.find("\n", hole.start)]
        names = [t.string for t in tokenize.generate_tokens(io.StringIO(line.strip()).readline) if t.type == 1]
        assert any(not keyword.iskeyword(n) for n in names)


def test_multiline_holes_remove_a_whole_block_body() -> None:
    files = _files()
    holes = cut_holes(files, 100, "multiline", seed=0)
    clamp = next(h for h in holes if h.func_name == "clamp")
    src = files[clamp.path]
    assert clamp.removed.startswith("if value < low:") and clamp.removed.endswith("return value")
    assert clamp.holed(src).count("\n") == src.count("\n") - 4
    assert all(2 <= h.removed.count("\n") + 1 <= 8 for h in holes)


def _hole(src: str, needle: str, typed: int, path: str = "m.py") -> Hole:
    start = src.index(needle) + typed
    end = src.index("\n", start)
    return Hole("line-0000", path, "line", start, end, src[:start].count("\n") + 1, "f", (2, 3), src[start:end])


SRC = "def f(x):\n    y = x + 1\n    return y\n"


def test_score_exact_edit_and_syntax() -> None:
    hole = _hole(SRC, "y = x + 1", 2)
    assert score(SRC, hole, Fill("= x + 1", hole.start, hole.start, 1.0))[0].exact
    near, _ = score(SRC, hole, Fill("= x + 2", hole.start, hole.start, 1.0))
    assert not near.exact and 0.8 < near.edit_sim < 1 and near.syntax_ok
    extra, _ = score(SRC, hole, Fill("= x + 1\n    z = 0", hole.start, hole.start, 1.0))
    assert not extra.exact and extra.exact_line
    broken, spliced = score(SRC, hole, Fill("= (x +", hole.start, hole.start, 1.0))
    assert not broken.syntax_ok and "y = (x +" in spliced
    empty, _ = score(SRC, hole, Fill("", hole.start, hole.start, 1.0))
    assert not empty.shown and empty.edit_sim == 0.0
    # An answer that rewrites the typed characters (the range starts before the cursor) is compared over that range.
    healed, _ = score(SRC, hole, Fill("y = x + 1", hole.start - 2, hole.start, 1.0))
    assert healed.exact and healed.edit_sim == 1.0
    assert edit_similarity("abc", "abd") == pytest.approx(2 / 3)


def test_utf16_positions_round_trip() -> None:
    text = "a = '😀é'\nb = 1\n"
    for offset in range(len(text) + 1):
        assert offset_of(text, utf16_position(text, offset)) == offset
    assert utf16_position(text, text.index("'", 5))["character"] == 8  # the emoji counts two UTF-16 units


def test_llama_vim_request_shape() -> None:
    src = "def f(x):\n    y = x\n    \n    return y\n"
    cursor = src.index("    \n") + 4
    body = vim_request(src, cursor, InfillOptions())
    assert body["prompt"] == "" and body["n_indent"] == 0  # whitespace-only line: no prefix, no indentation
    assert body["input_prefix"] == "def f(x):\n    y = x\n" and body["input_suffix"] == "\n    return y\n\n"
    assert body["samplers"] == ["top_k", "top_p", "infill"] and body["n_predict"] == 128 and body["cache_prompt"]
    mid = src.index("y = x") + 2
    body = vim_request(src, mid, InfillOptions(t_max_predict_ms=9000))
    assert body["prompt"] == "    y " and body["n_indent"] == 4 and body["t_max_predict_ms"] == 9000


def test_llama_vim_render_rules() -> None:
    src = "def f(x):\n    y = x\n        \n    return y\n"
    cursor = src.index("        \n") + 8
    text, start, end = vim_render("    z = y\n\n", src, cursor)  # its own indentation replaces the line's
    assert (text, src[start:end]) == ("    z = y", "        ")
    assert vim_render("    return y", src, cursor)[0] == ""  # repeats the next non-empty line
    assert vim_render("\n\n", src, cursor)[0] == ""
    mid = src.index("y = x") + 4
    # The rest of the line moves behind the suggestion's last line, replacing what followed the cursor.
    assert vim_render("x + 1\n    w = 2", src, mid) == ("x + 1\n    w = 2x", mid, mid + 1)


def test_selection_by_traced_function_and_import_time() -> None:
    src = "def f(x):\n    y = x + 1\n    return y\n\n\ndef g():\n    return 2\n"
    trace = TraceMap(
        tests=["t.py::a", "t.py::b", "t.py::c"], outcomes=["passed", "passed", "failed"], durations=[0.1] * 3,
        sets=[[0], [0, 1], [2]], lines={"m.py": {"2": 0, "3": 1, "7": 2}}, collect_lines={}, exit_code=1,
        seconds=1.0,
    )  # fmt: skip
    hole = _hole(src, "y = x + 1", 0)
    sel = trace.select(hole)
    assert sel.judgeable and sel.rule == "function" and sel.tests == ("t.py::a", "t.py::b")
    only_failing = Hole("line-0001", "m.py", "line", src.index("return 2"), src.index("return 2") + 8, 7, "g", (7, 7),
                        "return 2")  # fmt: skip
    assert not trace.select(only_failing).judgeable
    trace.collect_lines = {"m.py": [3]}
    assert trace.select(hole).rule == "import-time" and trace.select(hole).tests == ("t.py::a", "t.py::b")


def test_report_denominators() -> None:
    def row(hid: str, shown: bool, judgeable: bool, verdict: str | None) -> dict[str, object]:
        return {"hole": {"id": hid}, "score": {"shown": shown, "exact": False, "exact_line": False, "edit_sim": 0.5,
                "syntax_ok": True}, "selection": {"judgeable": judgeable}, "fill": {"latency_ms": 10.0, "label": "x"},
                "verdict": {"status": verdict} if verdict else None}  # fmt: skip

    rows = [row("a", True, True, "pass"), row("b", True, True, "fail"), row("c", False, True, None),
            row("d", True, False, None), row("e", True, True, "pass")]  # fmt: skip
    base = {h: {"status": "pass"} for h in "abcd"} | {"e": {"status": "fail"}}  # e: tests fail on the original
    m = metrics(rows, base)
    assert m["holes"] == 5 and m["shown"] == 4 and m["judged"] == 3
    assert m["tests_pass"] == pytest.approx(1 / 3, abs=1e-3) and m["precision_shown"] == pytest.approx(1 / 2)


def test_report_counts_replacements_and_time_to_verdict() -> None:
    """verify = sandbox rows: a first suggestion that failed and was replaced by a verified one is counted as
    withdrawn and replaced, its label apart; time to verdict comes from ``settled_ms``."""

    def row(hid: str, info: dict[str, object], label: str) -> dict[str, object]:
        return {"hole": {"id": hid}, "score": {"shown": True, "exact": False, "exact_line": False, "edit_sim": 0.5,
                "syntax_ok": True}, "selection": {"judgeable": True}, "verdict": {"status": "pass"},
                "fill": {"latency_ms": 100.0, "label": label, "info": info}}  # fmt: skip

    rows = [
        row("a", {"settled_ms": 900.0, "replaced": True, "first_verdict": "failed"}, "verified: tests pass"),
        row("b", {"settled_ms": 300.0, "withdrawn": True}, "failed"),
        row("c", {"settled_ms": 200.0}, "verified: tests pass"),
    ]
    m = metrics(rows, {h: {"status": "pass"} for h in "abc"})
    assert (m["withdrawn"], m["replaced"], m["verdict_p50_ms"], m["verdict_p95_ms"]) == (2, 1, 300.0, 900.0)
    assert set(m["labels"]) == {"verified: tests pass (replacement)", "failed", "verified: tests pass"}
    assert background_section({"v": m})[0] == "## Background checks (verify = sandbox)"
    assert background_section({"d": metrics(rows[:0], {})}) == []
