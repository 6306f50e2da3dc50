"""The open-loop replay's pure parts: the schedule, which answers count (in time vs superseded), characters accepted,
llama.vim's client cache and the span picker. No model, no server."""

from __future__ import annotations

import http.server
import json
import math
import threading
import time
from typing import ClassVar

from bench import openloop, openloop_drivers, openloop_score, replay
from bench.openloop_score import Arrival, accepted_chars
from codeassist.repobench.fill import offset_of


def test_schedule_and_deadlines() -> None:
    times = openloop_score.schedule(4, 120)
    assert times == [0.0, 0.12, 0.24, 0.36]
    assert openloop_score.deadline(times, 0, 120) == 0.12
    assert math.isclose(openloop_score.deadline(times, 3, 120), 0.48)  # the last key: one interval
    paused = openloop_score.schedule(4, 100, line_starts=[0, 2], line_pause_ms=1000)
    assert [round(t, 3) for t in paused] == [0.0, 0.1, 1.2, 1.3]  # the pause comes before a line's first key


def test_accepted_chars_whole_prefix_is_a_tab() -> None:
    assert accepted_chars("x + 1)", "x + 1)") == 6
    assert accepted_chars("x + ", "x + 1)") == 4  # shorter, all correct
    assert accepted_chars("x + 1)\n    return y", "x + 1)") == 6  # later lines are not scored
    assert accepted_chars("", "x") == 0
    assert accepted_chars("x", "") == 0
    # at a line's end the target is the next line: a next-line suggestion counts up to that line's end
    assert accepted_chars("\n    return y\n", "\n    return y") == len("\n    return y")
    assert accepted_chars("\n    return x", "\n    return y") == len("\n    return")
    assert accepted_chars("\n        return y", "\n    return y") == 0  # wrong indentation: nothing


def test_accepted_chars_partial_counts_whole_words_only() -> None:
    # "self.vals" vs "self.value": the word "vals" is wrong, so the user accepts "self." word by word and stops
    assert accepted_chars("self.vals = 0", "self.value = 1") == len("self.")
    assert accepted_chars("foo(a, c)", "foo(a, b)") == len("foo(a,")
    assert accepted_chars("bar", "baz") == 0  # partly right word: nothing
    assert accepted_chars("value + 2", "value + 1") == len("value +")  # spaces go with the word after them


def test_only_answers_in_time_count_and_superseded_ones_do_not() -> None:
    times = openloop_score.schedule(3, 100)
    rests = ["bc", "c", ""]
    arrivals = [
        Arrival(0, 0.15, "bc"),  # to key 0, after key 1 was typed: superseded
        Arrival(1, 0.12, "c"),  # in time
        Arrival(1, 0.13, "zzz"),  # a second answer to key 1: the first one counts
        Arrival(2, 0.25, "x"),  # the last key: within one interval
    ]
    rows = openloop_score.outcomes(times, arrivals, rests, 100)
    assert [r.answered for r in rows] == [False, True, True]
    assert [r.accepted for r in rows] == [0, 1, 0]
    assert rows[1].latency_ms is not None and math.isclose(rows[1].latency_ms, 20.0)
    late = openloop_score.late_latencies(times, arrivals, 100)
    assert len(late) == 1 and math.isclose(late[0], 150.0)
    s = openloop_score.score("t", rows, late, rests)
    assert (s.keys, s.answered, s.shown, s.accepted_chars, s.keys_with_accept, s.late) == (3, 2, 2, 1, 1, 1)
    assert s.offered_chars == 3 and math.isclose(s.answered_rate, 2 / 3)


def test_rests_of_lines_follow_the_keystrokes() -> None:
    source = "def f(x):\n    y = x\n    return y\n"
    span = replay.Span("f.py", 1, 2)
    strokes = replay.keystrokes(source, span)
    rests = openloop_score.rests_of_lines(source, strokes)
    assert rests[0] == " = x" and rests[len("y = x")] == "eturn y"
    assert rests[len("y = x") - 1] == "\n    return y"  # the line's end: the next typed line is the target
    assert rests[-1] == ""  # the span's last line: nothing after it is typed
    assert openloop_score.line_starts(strokes) == [0, len("y = x")]


def test_visible_text_of_a_replacing_item() -> None:
    assert openloop_score.visible_text("foo(x)", "fo") == "o(x)"
    assert openloop_score.visible_text("bar", "fo") == ""  # not shown inline: it does not extend what is there
    result = {"items": [{"insertText": "    y = 1", "range": {"start": {"line": 2, "character": 0},
                                                              "end": {"line": 2, "character": 6}}}]}  # fmt: skip
    assert openloop_drivers.lsp_visible(result, "    y ", 6, 2) == "= 1"
    assert openloop_drivers.lsp_visible({"items": []}, "    y ", 6, 2) == ""
    assert offset_of("a\U0001f600b", {"line": 0, "character": 3}) == 2  # the UTF-16 column lsp_visible converts


def test_vim_cache_exact_and_typed_ahead_lookback() -> None:
    cache = openloop_drivers.VimCache(max_keys=2)
    body = {"input_prefix": "def f():\n", "prompt": "    ret", "input_suffix": "\n"}
    cache.put(cache.key(body), "urn 1")
    assert cache.get(body) == "urn 1"
    typed = dict(body, prompt="    retu")
    assert cache.get(typed) == "rn 1"  # the user typed the suggestion's first character: its rest, at once
    assert cache.get(dict(body, prompt="    rex")) is None  # typed something else
    assert cache.get(dict(body, prompt="    return 1")) is None  # the whole suggestion typed: nothing left
    cache.put("a", "1")
    cache.put("b", "2")
    assert cache.get(body) is None  # evicted (LRU of max_keys)


def test_code_runs_skip_docstrings_comments_and_blank_lines() -> None:
    source = (
        "def f(x):\n"  # 0
        '    """Doc.\n'  # 1
        '    more"""\n'  # 2
        "    a = 1\n"  # 3
        "    b = 2\n"  # 4
        "    # note\n"  # 5
        "    c = 3\n"  # 6
        "    d = 4\n"  # 7
        "    s = '''x\n"  # 8
        "    y'''\n"  # 9
        "    return a\n"  # 10
    )
    assert openloop.code_runs(source, 2) == [3, 6]
    assert openloop.code_runs(source, 3) == []


class _SlowInfill(http.server.BaseHTTPRequestHandler):
    """A stand-in /infill that answers after DELAY_S with the rest of the real line (a perfect, slow model): enough
    to check llama.vim's client logic (one request in flight, stale answers, the cache), not a model."""

    DELAY_S = 0.7
    LINE = "    return value + 1"
    bodies: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append(body)
        time.sleep(self.DELAY_S)
        prompt = str(body["prompt"])
        content = self.LINE[len(prompt) :] if prompt and self.LINE.startswith(prompt) else ""
        data = json.dumps({"content": content}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_vim_client_ignores_stale_answers_and_answers_typed_ahead_from_its_cache() -> None:
    source = f"def f(value):\n{_SlowInfill.LINE}\n"
    span = replay.Span("f.py", 1, 1)
    strokes = replay.keystrokes(source, span, limit=8)
    interval = 300.0
    times = openloop_score.schedule(len(strokes), interval)
    _SlowInfill.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowInfill)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        arrivals = openloop_drivers.vim_span(url, replay.initial_text(source, span), strokes, times, interval, 0.0)
    finally:
        server.shutdown()
        server.server_close()
    rests = openloop_score.rests_of_lines(source, strokes)
    rows = openloop_score.outcomes(times, arrivals, rests, interval)
    # key 0's answer comes ~0.7 s later, after keys 1 and 2: superseded, not counted, but late and cached
    assert not rows[0].answered and not rows[1].answered
    assert openloop_score.late_latencies(times, arrivals, interval)[0] >= _SlowInfill.DELAY_S * 1000
    # from then on llama.vim's cache answers what was typed since, at once: in time, the whole rest of the line
    for r in rows[3:]:
        assert r.answered and r.accepted == len(rests[r.key]), r
    # one request in flight at a time, and none once the cache answers: the warm-up and key 0's
    assert len(_SlowInfill.bodies) == 2


def test_typing_through_a_ghost_text_keeps_its_rest() -> None:
    source = "def f(x):\n    y = x\n    return y\n"
    strokes = replay.keystrokes(source, replay.Span("f.py", 1, 2))
    first_of_line2 = len("y = x")
    assert openloop_score.typed_since(None, strokes[0]) == "y"
    assert openloop_score.typed_since(strokes[0], strokes[1]) == " "
    assert openloop_score.typed_since(strokes[first_of_line2 - 1], strokes[first_of_line2]) == "\n    r"
    assert openloop_score.typed_through("y = x", "y") == " = x"
    assert openloop_score.typed_through("\n    return y", "\n    r") == "eturn y"
    assert openloop_score.typed_through("y = x", "z") == ""
    assert openloop_score.typed_through("y", "y") == ""  # typed to its end: nothing left to show
