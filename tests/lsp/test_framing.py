"""The framing layer and the envelope/lifecycle rules as plain functions (no server): every stream below must yield
the good messages in it, whatever the chunking, and never more than a bounded buffer."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from codeassist.server import envelope, framing
from codeassist.server.framing import FrameParser, Malformed, Message, Oversized, Skipped, Undecodable


def body(msg_id: Any, method: str = "m") -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method}).encode()


def frame(data: bytes, length: int | None = None, header: bytes = b"Content-Length") -> bytes:
    return header + b": %d\r\n\r\n" % (len(data) if length is None else length) + data


GOOD = frame(body("good"))


def ids(events: list[framing.Event]) -> list[Any]:
    return [e.value.get("id") for e in events if isinstance(e, Message) and isinstance(e.value, dict)]


def feed_chunks(data: bytes, rng: random.Random) -> list[framing.Event]:
    parser, events, i = FrameParser(), [], 0
    while i < len(data):
        n = rng.choice([1, 2, 3, 7, 64, 4096, len(data)])
        events += parser.feed(data[i : i + n])
        i += n
    return events


# (stream, ids that must come out whole, ids that may come out only when the stream arrives in one piece)
STREAMS: dict[str, tuple[bytes, list[Any], list[Any]]] = {
    "plain": (frame(body(1)) + GOOD, [1, "good"], []),
    "lower-case name, LF only": (b"content-length: %d\n\n" % len(body(2)) + body(2) + GOOD, [2, "good"], []),
    "extra headers, any order": (
        b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nX-Any: 1\r\n" + frame(body(3)) + GOOD,
        [3, "good"],
        [],
    ),
    "blank lines between frames": (b"\r\n\n" + frame(body(4)) + b"\r\n" + GOOD, [4, "good"], []),
    "same header twice": (b"Content-Length: %d\r\n" % len(body(5)) + frame(body(5)) + GOOD, [5, "good"], []),
    "negative length": (frame(body(6), header=b"Content-Length: -5\r\nX") + GOOD, ["good"], []),
    "non-numeric length": (b"Content-Length: abc\r\n\r\n" + body(7) + GOOD, ["good"], []),
    "conflicting lengths": (b"Content-Length: 3\r\n" + frame(body(8)) + GOOD, [8, "good"], []),
    "junk before": (bytes(range(256)) * 16 + GOOD, ["good"], []),
    "header line without a colon": (b"hello there\r\n\r\n" + GOOD, ["good"], []),
    "too long by 10": (frame(body(9), len(body(9)) + 10) + GOOD, [9, "good"], []),
    "too short by 10": (frame(body(10), len(body(10)) - 10) + GOOD, ["good"], [10]),
    "zero length": (frame(body(11), 0) + GOOD, ["good"], [11]),
    "a header with no body, then a frame": (b"Content-Length: 10\r\n\r\n" + GOOD, [], ["good"]),
    "10^15 length": (frame(body(12), 10**15) + GOOD, ["good"], []),
    "header longer than the limit": (b"X-Long: " + b"a" * 20000 + b"\r\n" + GOOD, ["good"], []),
    "BOM before the JSON": (frame(b"\xef\xbb\xbf" + body(13)) + GOOD, [13, "good"], []),
}


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_streams_recover_whatever_the_chunking(name: str) -> None:
    data, must, whole_only = STREAMS[name]
    assert ids(FrameParser().feed(data)) == [*whole_only, *must]
    rng = random.Random(name)
    for _ in range(20):
        got = ids(feed_chunks(data, rng))
        assert [i for i in got if i not in whole_only] == must, (name, got)


def test_oversized_frame_is_never_buffered_and_its_id_is_answered() -> None:
    parser = FrameParser(max_body=1000)
    head = frame(body("big"), 5_000_000)[: -len(body("big"))]
    events = parser.feed(head + body("big")[:-1] + b"x" * 10_000)
    for _ in range(500):  # 5 MB of body in 10 KB reads
        events += parser.feed(b"y" * 10_000)
        assert len(parser._buf) < 200 and len(parser._peek) <= framing.PEEK
    events += parser.feed(GOOD)
    assert [e for e in events if isinstance(e, Oversized)] == [Oversized(5_000_000, "big")]
    assert ids(events) == ["good"]


def test_junk_is_dropped_as_it_comes() -> None:
    parser = FrameParser()
    for _ in range(1000):
        parser.feed(b"z" * 1000)
        assert len(parser._buf) <= framing.MAX_HEADER + 1000
    assert ids(parser.feed(GOOD)) == ["good"]


def test_bad_bodies_are_classified() -> None:
    events = FrameParser().feed(frame(b"{not json") + frame(b'{"a": "\xff"}') + frame(b"[" * 100_000) + GOOD)
    kinds = [type(e) for e in events]
    assert kinds == [Malformed, Undecodable, Malformed, Message]
    assert "nested too deeply" in str(events[2])


def test_a_stalled_too_long_body_is_delivered() -> None:
    parser = FrameParser()
    assert parser.feed(frame(body(1), len(body(1)) + 50)) == []
    assert parser.pending_body
    (event,) = parser.stalled()
    assert isinstance(event, Message) and event.value["id"] == 1 and "Content-Length said" in (event.note or "")
    assert ids(parser.feed(GOOD)) == ["good"]


def test_a_stalled_partial_body_waits() -> None:
    parser = FrameParser()
    data = frame(body(1))
    assert parser.feed(data[:-3]) == [] and parser.stalled() == []
    assert ids(parser.feed(data[-3:])) == [1]


def test_eof_reports_unfinished_frames() -> None:
    parser = FrameParser()
    parser.feed(frame(body(1))[:-2])
    assert [type(e) for e in parser.eof()] == [Skipped]


def test_peek_id() -> None:
    assert framing.peek_id(b'{"jsonrpc": "2.0", "id": 7, "method": "x", "params": {"id": 9}}') == 7
    assert framing.peek_id(b'  {"id": "a\\"b", "jsonrpc": "2.0"') == 'a"b'
    assert framing.peek_id(b'{"method": "x", "params": {"id": 9}, "id": 3}') is None  # not first: not trusted
    assert framing.peek_id(b'{"id": {"x": 1}}') is None


# -- envelope ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "code", "answer_id", "answer"),
    [
        ([{"jsonrpc": "2.0", "id": 1, "method": "x"}], -32600, None, True),
        (5, -32600, None, True),
        ({"jsonrpc": "2.0", "id": 1}, -32600, 1, True),
        ({"jsonrpc": "2.0", "id": 2, "method": None}, -32600, 2, True),
        ({"jsonrpc": "2.0", "id": 3, "method": 42}, -32600, 3, True),
        ({"jsonrpc": "2.0", "method": 42}, -32600, None, True),
        ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "x"}, -32600, None, True),
        ({"jsonrpc": "2.0", "id": [1], "method": "x"}, -32600, None, True),
        ({"jsonrpc": "2.0", "id": True, "method": "x"}, -32600, None, True),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "x"}, -32600, None, True),
        ({"jsonrpc": "1.0", "id": 4, "method": "x"}, -32600, 4, True),
        ({"id": 5, "method": "x"}, -32600, 5, True),
        ({"method": "x"}, -32600, None, False),
        ({"jsonrpc": "2.0", "id": 6, "method": "x", "params": 5}, -32602, 6, True),
        ({"jsonrpc": "2.0", "id": [1], "result": None}, -32600, None, False),
    ],
)
def test_envelope_rejections(value: Any, code: int, answer_id: Any, answer: bool) -> None:
    reject = envelope.check(value)
    assert reject is not None and (reject.code, reject.msg_id, reject.answer) == (code, answer_id, answer)


@pytest.mark.parametrize(
    "value",
    [
        {"jsonrpc": "2.0", "id": 1, "method": "x", "params": {}},
        {"jsonrpc": "2.0", "id": "a", "method": "x", "params": []},
        {"jsonrpc": "2.0", "method": "x"},
        {"jsonrpc": "2.0", "id": 1, "result": None},
        {"jsonrpc": "2.0", "id": None, "error": {"code": 1, "message": "m"}},
    ],
)
def test_envelope_accepts(value: Any) -> None:
    assert envelope.check(value) is None


def test_lifecycle_order() -> None:
    life = envelope.Lifecycle()

    def req(method: str) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": 1, "method": method}

    assert life.admit(req("textDocument/hover")).code == -32002  # type: ignore[union-attr]
    assert life.admit(req("shutdown")).code == -32002  # type: ignore[union-attr]
    assert life.admit({"jsonrpc": "2.0", "method": "textDocument/didOpen"}).answer is False  # type: ignore[union-attr]
    assert life.admit(req("initialize")) is None
    life.dispatched("initialize")
    assert life.admit(req("initialize")).code == -32600  # type: ignore[union-attr]
    assert life.admit(req("textDocument/hover")) is None
    life.dispatched("shutdown")
    assert life.admit(req("textDocument/hover")).code == -32600  # type: ignore[union-attr]
    assert life.admit({"jsonrpc": "2.0", "method": "exit"}) is None
