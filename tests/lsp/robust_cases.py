"""Seeded hostile inputs for the LSP robustness suite, each with what a correct server must answer.

The expectations come from the specs (LSP 3.17 base protocol, JSON-RPC 2.0), written here independently of the
server's own checks. ``Expect.kind``:
- ``reply``: a response with ``msg_id`` must arrive; ``codes`` lists the acceptable error codes, ``0`` standing for a
  result;
- ``null_error``: an error response with ``id: null`` and code ``codes[0]`` must arrive (a message whose id cannot be
  known);
- ``answered``: either of the above (a wrong frame length, salvaged or not, depending on how the bytes arrive);
- ``silent``: nothing is owed (a notification, or bytes that are not a frame); the server must simply keep serving.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

RESULT = 0
INVALID_REQUEST, PARSE_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND = -32600, -32700, -32602, -32601
CONTENT_MODIFIED, REQUEST_FAILED = -32801, -32803


@dataclass(frozen=True)
class Expect:
    kind: str
    msg_id: Any = None
    codes: tuple[int, ...] = ()


@dataclass(frozen=True)
class Follow:
    """A follow-up sent after the case: a request (``codes`` acceptable, 0 = a result; ``text`` the document text
    ``codeassist.debugDocument`` must report) or, with no codes, a notification."""

    method: str
    params: Any
    codes: tuple[int, ...] = ()
    text: str | None = None


@dataclass
class Case:
    name: str
    category: str
    chunks: list[bytes]
    expect: Expect
    after: list[Follow] = field(default_factory=list)
    notice: str | None = None  # a window/showMessage containing this must arrive


def body(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def frame(data: bytes, header: bytes | None = None) -> bytes:
    return (header if header is not None else b"Content-Length: %d\r\n\r\n" % len(data)) + data


def stats_request(msg_id: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": msg_id,
        "method": "workspace/executeCommand",
        "params": {"command": "codeassist.debugStats", "arguments": []},
    }


# -- framing ----------------------------------------------------------------------------------------------------------


def framing_cases(rng: random.Random) -> Iterator[Case]:
    names = [b"Content-Length", b"content-length", b"CONTENT-LENGTH", b"Content-length", b"cOnTeNt-LeNgTh"]
    extras = [b"", b"Content-Type: application/vscode-jsonrpc; charset=utf-8", b"Content-Type: application/json",
              b"X-Anything: 1", b"content-type: text/plain; charset=utf8"]  # fmt: skip
    for i in range(30):
        msg_id = f"hdr{i}"
        data = body(stats_request(msg_id))
        eol = rng.choice([b"\r\n", b"\n"])
        name, extra = rng.choice(names), rng.choice(extras)
        spacing = rng.choice([b": ", b":", b":  ", b" : "])
        lines = [name + spacing + b"%d" % len(data)] + ([extra] if extra else [])
        rng.shuffle(lines)
        head = eol.join(lines) + eol + eol
        yield Case(f"header variant {head!r}", "framing", [rng.choice([b"", b"\r\n", b"\n\n"]) + head + data],
                   Expect("reply", msg_id, (RESULT,)))  # fmt: skip
    for value in [b"-5", b"abc", b"", b"1.5", b"0x10", b"1e3", b"+5", b"9" * 25, b"12abc", b"\xd9\xa1\xd9\xa2",
                  b"5 5", b"NaN", b"-0", b"0.0", b"1_000"]:  # fmt: skip
        data = body(stats_request(f"bad-length-{value!r}"))
        yield Case(f"Content-Length {value!r}", "framing", [frame(data, b"Content-Length: " + value + b"\r\n\r\n")],
                   Expect("silent"))  # fmt: skip
    for k in [1, 3, 17, 200, 3000]:
        data = body(stats_request(f"long{k}"))
        yield Case(f"Content-Length too long by {k}", "framing",
                   [frame(data, b"Content-Length: %d\r\n\r\n" % (len(data) + k))],
                   Expect("reply", f"long{k}", (RESULT,)))  # fmt: skip
    for k in [1, 2, 9, 40]:
        data = body(stats_request(f"short{k}"))
        yield Case(f"Content-Length too short by {k}", "framing",
                   [frame(data, b"Content-Length: %d\r\n\r\n" % (len(data) - k))],
                   Expect("answered", f"short{k}", (RESULT, PARSE_ERROR)))  # fmt: skip
    yield from _junk_cases(rng)
    for length in [64 * 2**20 + 1, 10**9, 10**15, 2**63, 10**19]:
        msg_id = f"huge{length}"
        data = body(stats_request(msg_id))
        yield Case(f"Content-Length {length} on a small body", "framing",
                   [frame(data, b"Content-Length: %d\r\n\r\n" % length)],
                   Expect("reply", msg_id, (INVALID_REQUEST,)))  # fmt: skip
    big = body({"jsonrpc": "2.0", "id": "real-huge", "method": "workspace/executeCommand",
                "params": {"command": "codeassist.debugStats", "arguments": ["x" * (64 * 2**20 + 10)]}})  # fmt: skip
    yield Case("a real 64 MiB+ body", "framing", [frame(big)], Expect("reply", "real-huge", (INVALID_REQUEST,)))
    for i in range(10):
        data = frame(body(stats_request(f"chunked{i}")))
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 12)))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        yield Case(f"a frame in {len(pieces)} pieces", "framing", pieces, Expect("reply", f"chunked{i}", (RESULT,)))
    data = body(stats_request("dup-same"))
    yield Case("the same Content-Length twice", "framing",
               [b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(data), len(data)) + data],
               Expect("reply", "dup-same", (RESULT,)))  # fmt: skip
    data = body(stats_request("dup-diff"))
    yield Case("two different Content-Lengths", "framing",
               [b"Content-Length: 3\r\nContent-Length: %d\r\n\r\n" % len(data) + data],
               Expect("reply", "dup-diff", (RESULT,)))  # fmt: skip
    yield Case("no blank line after the header", "framing",
               [b"Content-Length: %d\r\n" % len(data) + body(stats_request("noblank"))], Expect("silent"))  # fmt: skip
    yield Case("a header with no body, then a frame", "framing",
               [b"Content-Length: 10\r\n\r\n" + frame(body(stats_request("after-empty")))],
               Expect("reply", "after-empty", (RESULT,)))  # fmt: skip
    yield Case("Content-Length: 0", "framing", [b"Content-Length: 0\r\n\r\n"],
               Expect("null_error", None, (PARSE_ERROR,)))  # fmt: skip
    yield Case("a header block without Content-Length", "framing", [b"Content-Type: x\r\n\r\n{}"], Expect("silent"))
    yield Case("a header line without a colon", "framing", [b"hello\r\n\r\n"], Expect("silent"))


def _junk_cases(rng: random.Random) -> Iterator[Case]:
    alphabets = {
        "binary": bytes(range(256)),
        "letters": b"abcdefghijklmnopqrstuvwxyz ",
        "newlines": b"\r\n\n\r  ab:",
        "json-ish": b'{}[]":,0123456789 jsonrpcidmethod',
        "header-ish": b"Content-Length:Type\r\n 0123456789",
    }
    for i in range(30):
        kind = rng.choice(sorted(alphabets))
        junk = bytes(rng.choice(alphabets[kind]) for _ in range(rng.choice([1, 7, 100, 1000, 4096])))
        msg_id = f"junk{i}"
        data = frame(body(stats_request(msg_id)))
        # a junk header that happens to be well formed may swallow the next frame: only promise survival then
        owed = Expect("reply", msg_id, (RESULT,)) if kind != "header-ish" else Expect("silent")
        yield Case(f"{len(junk)} bytes of {kind} junk, then a frame", "framing", [junk + data], owed)


# -- envelope ---------------------------------------------------------------------------------------------------------

_IDS: list[Any] = [7, "s", -1, 0, 2**53, "", "ü", "x" * 300, {"a": 1}, [1], True, None, 1.5, 1e300]
_METHODS: list[Any] = ["workspace/executeCommand", None, 5, [], {}, "", "no/such", "$/nothing", "textDocument/hover"]
_VERSIONS: list[Any] = ["2.0", "missing", "1.0", 2.0]
_PARAMS: list[Any] = ["stats", "missing", None, 5, "str", [], {"command": 5}]


def oracle(msg: dict[str, Any]) -> Expect:
    """What JSON-RPC 2.0 (and LSP, for a running server) owes this object."""
    msg_id, method = msg.get("id"), msg.get("method")
    id_ok = isinstance(msg_id, int | str) and not isinstance(msg_id, bool)
    if "id" in msg and not id_ok:
        return Expect("null_error", None, (INVALID_REQUEST,))
    if not isinstance(method, str):
        return Expect("reply", msg_id, (INVALID_REQUEST,)) if id_ok else Expect("null_error", None, (INVALID_REQUEST,))
    if not id_ok:
        return Expect("silent")  # a notification: nothing is ever owed
    if msg.get("jsonrpc") != "2.0":
        return Expect("reply", msg_id, (INVALID_REQUEST,))
    params = msg.get("params")
    if params is not None and not isinstance(params, dict | list):
        return Expect("reply", msg_id, (INVALID_PARAMS,))
    if method == "workspace/executeCommand":
        ok = isinstance(params, dict) and params.get("command") == "codeassist.debugStats"
        return Expect("reply", msg_id, (RESULT,) if ok else (INVALID_PARAMS,))
    if method == "textDocument/hover":  # a known LSP method: its params are checked before the handler is looked up
        return Expect("reply", msg_id, (METHOD_NOT_FOUND, INVALID_PARAMS))
    return Expect("reply", msg_id, (METHOD_NOT_FOUND,))


def envelope_cases(rng: random.Random) -> Iterator[Case]:
    for i in range(70):
        msg: dict[str, Any] = {}
        version = rng.choice(_VERSIONS)
        if version != "missing":
            msg["jsonrpc"] = version
        if rng.random() < 0.85:
            chosen = rng.choice(_IDS)
            msg["id"] = f"env{i}-{chosen}" if isinstance(chosen, str) else chosen
        if rng.random() < 0.9:
            msg["method"] = rng.choice(_METHODS)
        params = rng.choice(_PARAMS)
        if params == "stats":
            msg["params"] = {"command": "codeassist.debugStats", "arguments": []}
        elif params != "missing":
            msg["params"] = params
        yield Case(f"envelope {json.dumps(msg)[:90]}", "envelope", [frame(body(msg))], oracle(msg))
    for value in [5, "x", None, True, [], [1, 2], [stats_request("in-batch")], {}]:
        yield Case(f"top-level {json.dumps(value)}", "envelope", [frame(body(value))],
                   Expect("null_error", None, (INVALID_REQUEST,)))  # fmt: skip
    good = body(stats_request("cut"))
    for _ in range(12):
        cut = rng.randint(1, len(good) - 1)
        yield Case(f"JSON cut at {cut}", "envelope", [frame(good[:cut])], Expect("null_error", None, (PARSE_ERROR,)))
    for raw in [b"{not json}", b'{"a":}', b"[" * 100_000, b"1" * 5000, b'{"id": 1, "method": "x",}', b"\x00" * 10,
                b'{"jsonrpc":"2.0","id":1,"method":"x"} trailing']:  # fmt: skip
        yield Case(f"malformed JSON {raw[:30]!r}", "envelope", [frame(raw)], Expect("null_error", None, (PARSE_ERROR,)))
