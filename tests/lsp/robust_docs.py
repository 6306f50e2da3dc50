"""Seeded hostile requests about documents (params, positions, encodings) for the robustness suite.

The documents' language is disabled in the suite's settings, so a *valid* completion request is answered (an empty
list) without running the model: every case costs the validation path only, which is what is under test.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

from robust_cases import (
    CONTENT_MODIFIED,
    INVALID_PARAMS,
    PARSE_ERROR,
    RESULT,
    Case,
    Expect,
    Follow,
    body,
    frame,
)

TEXT = "a😀b漢c\r\nline2\rline3\n\ttab\x0cff\u2028x\n\nlast"


def lines_of(text: str) -> list[str]:
    """LSP lines (content only): \\n, \\r\\n and a lone \\r end a line; nothing else does."""
    out, cur, i = [], "", 0
    while i < len(text):
        ch = text[i]
        if ch in "\r\n":
            out.append(cur)
            cur = ""
            if ch == "\r" and text[i + 1 : i + 2] == "\n":
                i += 1
        else:
            cur += ch
        i += 1
    return [*out, cur]


def utf16_valid(text: str, line: int, character: int) -> bool:
    lines = lines_of(text)
    if not 0 <= line < len(lines) or character < 0:
        return False
    boundaries, col = {0}, 0
    for ch in lines[line]:
        col += 2 if ord(ch) > 0xFFFF else 1
        boundaries.add(col)
    return character in boundaries


def request(msg_id: str, method: str, params: Any) -> bytes:
    return frame(body({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}))


def notification(method: str, params: Any) -> bytes:
    return frame(body({"jsonrpc": "2.0", "method": method, "params": params}))


def inline_params(uri: Any, line: Any, character: Any) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character},
            "context": {"triggerKind": 1}}  # fmt: skip


def debug_document(uri: str, codes: tuple[int, ...] = (RESULT,), text: str | None = None) -> Follow:
    return Follow("workspace/executeCommand", {"command": "codeassist.debugDocument", "arguments": [uri]}, codes, text)


def param_cases(uri: str, rng: random.Random) -> Iterator[Case]:
    good = inline_params(uri, 0, 0)
    mutations: list[tuple[str, Any, tuple[int, ...]]] = [
        ("valid", good, (RESULT,)),
        ("no textDocument", {k: v for k, v in good.items() if k != "textDocument"}, (INVALID_PARAMS,)),
        ("textDocument 5", {**good, "textDocument": 5}, (INVALID_PARAMS,)),
        ("uri not open", {**good, "textDocument": {"uri": uri + ".nope"}}, (INVALID_PARAMS,)),
        ("uri 5", {**good, "textDocument": {"uri": 5}}, (INVALID_PARAMS,)),
        ("uri empty", {**good, "textDocument": {"uri": ""}}, (INVALID_PARAMS,)),
        ("no position", {k: v for k, v in good.items() if k != "position"}, (INVALID_PARAMS,)),
        ("position null", {**good, "position": None}, (INVALID_PARAMS,)),
        ("line 'a'", {**good, "position": {"line": "a", "character": 0}}, (INVALID_PARAMS,)),
        ("line -1", {**good, "position": {"line": -1, "character": 0}}, (INVALID_PARAMS,)),
        ("line 10^12", {**good, "position": {"line": 10**12, "character": 0}}, (INVALID_PARAMS,)),
        ("line 2^64", {**good, "position": {"line": 2**64, "character": 0}}, (INVALID_PARAMS,)),
        ("character 10^12", {**good, "position": {"line": 0, "character": 10**12}}, (INVALID_PARAMS,)),
        ("line 1.5 (coerced)", {**good, "position": {"line": 1.5, "character": 0}}, (RESULT, INVALID_PARAMS)),
        ("line '1' (coerced)", {**good, "position": {"line": "1", "character": 0}}, (RESULT, INVALID_PARAMS)),
        ("no context", {k: v for k, v in good.items() if k != "context"}, (INVALID_PARAMS,)),
        ("context trigger 99", {**good, "context": {"triggerKind": 99}}, (INVALID_PARAMS,)),
        ("params []", [], (INVALID_PARAMS,)),
        ("extra keys", {**good, "zzz": [1, {"a": None}]}, (RESULT,)),
    ]
    for i, (what, params, codes) in enumerate(mutations):
        for method in ("textDocument/inlineCompletion", "textDocument/completion"):
            p = params if method.endswith("inlineCompletion") or not isinstance(params, dict) else (
                {k: v for k, v in params.items() if k != "context"})  # fmt: skip
            if method.endswith("/completion") and what in ("no context", "context trigger 99"):
                continue  # completion's context is optional and has other fields
            msg_id = f"param{i}-{method[13:]}"
            yield Case(f"{method} with {what}", "params", [request(msg_id, method, p)], Expect("reply", msg_id, codes))
    yield from _code_action_cases(uri)
    yield from _command_cases(uri)
    yield from _notification_cases(uri, rng)


def _range(a: tuple[int, int], b: tuple[int, int]) -> dict[str, Any]:
    return {"start": {"line": a[0], "character": a[1]}, "end": {"line": b[0], "character": b[1]}}


def _code_action_cases(uri: str) -> Iterator[Case]:
    ctx = {"diagnostics": []}
    actions: list[tuple[str, Any, tuple[int, ...]]] = [
        ("valid", {"textDocument": {"uri": uri}, "range": _range((0, 0), (1, 2)), "context": ctx}, (RESULT,)),
        ("end before start", {"textDocument": {"uri": uri}, "range": _range((2, 0), (0, 0)), "context": ctx},
         (INVALID_PARAMS,)),
        ("lines past the end", {"textDocument": {"uri": uri}, "range": _range((0, 0), (99, 0)), "context": ctx},
         (INVALID_PARAMS,)),
        ("column past the end (clamped)", {"textDocument": {"uri": uri}, "range": _range((0, 0), (0, 999)),
                                           "context": ctx}, (RESULT,)),
        ("no context", {"textDocument": {"uri": uri}, "range": _range((0, 0), (0, 1))}, (INVALID_PARAMS,)),
        ("diagnostics [5]", {"textDocument": {"uri": uri}, "range": _range((0, 0), (0, 1)),
                             "context": {"diagnostics": [5]}}, (INVALID_PARAMS,)),
    ]  # fmt: skip
    for i, (what, params, codes) in enumerate(actions):
        yield Case(f"codeAction with {what}", "params", [request(f"ca{i}", "textDocument/codeAction", params)],
                   Expect("reply", f"ca{i}", codes))  # fmt: skip
    fix = {"uri": uri, "version": 1, "startLine": 0, "endLine": 1, "message": "m"}
    garbage: list[tuple[str, Any, tuple[int, ...]]] = [
        ("startLine 'a'", {**fix, "startLine": "a"}, (INVALID_PARAMS,)),
        ("startLine -1", {**fix, "startLine": -1}, (INVALID_PARAMS,)),
        ("startLine 10^12", {**fix, "startLine": 10**12, "endLine": 10**12}, (INVALID_PARAMS,)),
        ("endLine 10^15", {**fix, "endLine": 10**15}, (INVALID_PARAMS,)),
        ("startLine 1.5", {**fix, "startLine": 1.5}, (INVALID_PARAMS,)),
        ("startLine null", {**fix, "startLine": None}, (INVALID_PARAMS,)),
        ("startLine true", {**fix, "startLine": True}, (INVALID_PARAMS,)),
        ("end before start", {**fix, "startLine": 3, "endLine": 1}, (INVALID_PARAMS,)),
        ("message 5", {**fix, "message": 5}, (INVALID_PARAMS,)),
        ("no message", {k: v for k, v in fix.items() if k != "message"}, (INVALID_PARAMS,)),
        ("uri not open", {**fix, "uri": uri + ".nope"}, (INVALID_PARAMS,)),
        ("stale version", {**fix, "version": 999}, (CONTENT_MODIFIED,)),
        ("data 5", 5, (INVALID_PARAMS,)),
        ("explain range 'x'", {"explain": {"uri": uri, "range": "x"}}, (INVALID_PARAMS,)),
    ]
    for i, (what, data, codes) in enumerate(garbage):
        msg_id = f"resolve{i}"
        yield Case(f"codeAction/resolve with {what}", "params",
                   [request(msg_id, "codeAction/resolve", {"title": "t", "data": data})],
                   Expect("reply", msg_id, codes))  # fmt: skip


def _command_cases(uri: str) -> Iterator[Case]:
    commands: list[tuple[str, list[Any], tuple[int, ...]]] = [
        ("codeassist.explain", [], (INVALID_PARAMS,)),
        ("codeassist.explain", [5, 6], (INVALID_PARAMS,)),
        ("codeassist.explain", [uri, "x"], (INVALID_PARAMS,)),
        ("codeassist.explain", [uri + ".nope", _range((0, 0), (1, 0))], (INVALID_PARAMS,)),
        ("codeassist.debugDocument", [], (INVALID_PARAMS,)),
        ("codeassist.debugDocument", [5], (INVALID_PARAMS,)),
        ("codeassist.debugDocument", ["file:///nope.py"], (INVALID_PARAMS,)),
        ("codeassist.nope", [], (INVALID_PARAMS,)),
        ("", [], (INVALID_PARAMS,)),
    ]
    for i, (command, args, codes) in enumerate(commands):
        msg_id = f"cmd{i}"
        yield Case(f"executeCommand {command!r} {json.dumps(args)[:40]}", "params",
                   [request(msg_id, "workspace/executeCommand", {"command": command, "arguments": args})],
                   Expect("reply", msg_id, codes))  # fmt: skip


def _notification_cases(uri: str, rng: random.Random) -> Iterator[Case]:
    bad: list[tuple[str, Any]] = [
        ("textDocument/didChange", {"textDocument": {"uri": uri, "version": "x"}, "contentChanges": []}),
        ("textDocument/didChange", {"textDocument": {"uri": uri, "version": 9}}),
        ("textDocument/didChange", {"textDocument": {"uri": uri, "version": 9}, "contentChanges": [{"range": 5}]}),
        ("textDocument/didChange", {"textDocument": {"uri": uri + ".nope", "version": 9},
                                    "contentChanges": [{"text": "zzz"}]}),
        ("textDocument/didOpen", {"textDocument": {"uri": 5}}),
        ("textDocument/didClose", {"textDocument": {"uri": uri + ".nope"}}),
        ("textDocument/didSave", {"textDocument": {"uri": uri}}),
        ("$/cancelRequest", {"id": {"x": 1}}),
        ("$/cancelRequest", {"id": "never-sent"}),
        ("$/setTrace", {"value": "loud"}),
        ("workspace/didChangeConfiguration", {"settings": {"codeassist": {"max_tokens": "abc", "debounce_ms": -5}}}),
        ("workspace/didChangeConfiguration", {"settings": 5}),
        ("initialized", {}),
        ("no/such/notification", [1, 2, 3]),
    ]  # fmt: skip
    for method, params in bad:
        yield Case(f"notification {method} {json.dumps(params)[:50]}", "params", [notification(method, params)],
                   Expect("silent"), after=[debug_document(uri, text=TEXT)])  # fmt: skip


def position_cases(uri: str, rng: random.Random, n: int = 60) -> Iterator[Case]:
    lines = lines_of(TEXT)
    for i in range(n):
        line = rng.randint(-1, len(lines) + 1)
        width = sum(2 if ord(c) > 0xFFFF else 1 for c in lines[line]) if 0 <= line < len(lines) else 3
        character = rng.randint(-1, width + 2)
        method = rng.choice(["textDocument/inlineCompletion", "textDocument/completion"])
        codes = (RESULT,) if utf16_valid(TEXT, line, character) else (INVALID_PARAMS,)
        msg_id = f"pos{i}"
        sent = request(msg_id, method, inline_params(uri, line, character))
        yield Case(f"{method[13:]} at {line}:{character}", "positions", [sent], Expect("reply", msg_id, codes))


def encoding_cases(root: str) -> Iterator[Case]:
    def doc(name: str) -> str:
        return f"file://{root}/{name}.py"

    def open_doc(uri: str, text: str) -> bytes:
        item = {"uri": uri, "languageId": "python", "version": 1, "text": text}
        return notification("textDocument/didOpen", {"textDocument": item})

    probes = [lambda u: Follow("textDocument/inlineCompletion", inline_params(u, 0, 1), (RESULT,)),
              lambda u: Follow("textDocument/codeAction", {"textDocument": {"uri": u}, "range": _range((0, 0), (0, 3)),
                                                           "context": {"diagnostics": []}}, (RESULT,))]  # fmt: skip
    for i, text in enumerate(["x\ud800y\n", "\udfff", "a\ud83d\n\ude00b", "\ud800" * 50, "ok\u0000nul\n"]):
        uri = doc(f"surrogate{i}")
        want = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
        yield Case(f"didOpen with lone surrogates {text[:6]!r}", "encodings", [open_doc(uri, text)], Expect("silent"),
                   after=[*(p(uri) for p in probes), debug_document(uri, text=want)])  # fmt: skip
    uri = doc("surrogate-edit")
    edit = notification("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [
        {"range": _range((0, 1), (0, 1)), "text": "\udc00\ud800"}]})  # fmt: skip
    yield Case("didChange inserting lone surrogates", "encodings", [open_doc(uri, "ab\n") + edit], Expect("silent"),
               after=[*(p(uri) for p in probes), debug_document(uri, text="a\ufffd\ufffdb\n")])  # fmt: skip
    for i, raw in enumerate([b"\xe9", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf0\x9f\x98", b"\xff\xfe"]):
        uri = doc(f"raw{i}")
        change = (b'{"jsonrpc":"2.0","method":"textDocument/didChange","params":{"textDocument":{"uri":"%s",'
                  b'"version":2},"contentChanges":[{"range":{"start":{"line":0,"character":1},"end":{"line":0,'
                  b'"character":1}},"text":"x%sy"}]}}' % (uri.encode(), raw))  # fmt: skip
        resync = Follow(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": 3}, "contentChanges": [{"text": "fresh\n"}]},
        )
        yield Case(
            f"didChange with raw bytes {raw!r}",
            "encodings",
            [open_doc(uri, "abc\n") + frame(change)],
            Expect("silent"),
            notice="out of sync",
            after=[
                Follow("textDocument/inlineCompletion", inline_params(uri, 0, 0), (CONTENT_MODIFIED,)),
                debug_document(uri, (CONTENT_MODIFIED,)),
                resync,
                debug_document(uri, text="fresh\n"),
            ],
        )
    raw_open = (b'{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"%s",'
                b'"languageId":"python","version":1,"text":"caf\xe9"}}}' % doc("raw-open").encode())  # fmt: skip
    yield Case("didOpen with a raw latin-1 byte", "encodings", [frame(raw_open)], Expect("silent"),
               notice="out of sync", after=[debug_document(doc("raw-open"), (CONTENT_MODIFIED,))])  # fmt: skip
    bad_request = (b'{"jsonrpc":"2.0","id":"raw-req","method":"workspace/executeCommand","params":{"command":'
                   b'"codeassist.debugStats","arguments":["\xff"]}}')  # fmt: skip
    yield Case("a request with a raw 0xff byte", "encodings", [frame(bad_request)],
               Expect("reply", "raw-req", (PARSE_ERROR,)))  # fmt: skip
    stats = {"jsonrpc": "2.0", "id": "bom", "method": "workspace/executeCommand",
             "params": {"command": "codeassist.debugStats", "arguments": []}}  # fmt: skip
    yield Case("a UTF-8 BOM before the body", "encodings", [frame(b"\xef\xbb\xbf" + body(stats))],
               Expect("reply", "bom", (RESULT,)))  # fmt: skip
    yield Case("a UTF-16 body", "encodings", [frame(json.dumps({**stats, "id": "u16"}).encode("utf-16"))],
               Expect("null_error", None, (PARSE_ERROR,)))  # fmt: skip
