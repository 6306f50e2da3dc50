"""Keystrokes in big files: what one ``didChange`` costs the server, by document size (issue 17, item 10).

Before the incremental line index every keystroke rescanned the whole text on the event loop (0.3 s per key at
5 MB). Two measurements, each per document size, in one run so the sizes see the same machine:

- ``inproc``: the server's own keystroke path, timed per key — ``did_change``: ``DocumentStore.change`` on the
  ``didChange`` params (apply the edit to the chunked text, update the line index); ``request_positions``: the
  position work of the completion request that follows (the cursor's offset, the reply's range);
  ``flat_text_for_engine``: building the flat string a completion request hands the engine (once per version; O(size)
  memcpy). ``before`` replays the same keys through the pre-index algorithm (full rescan and copy per edit, and the
  rescans of the request that follows; a copy of it lives here) on fewer keys.
- ``e2e`` (``--e2e``): the real ``codeassist serve`` over stdio with the model loaded and the file's language on;
  each key is a ``didChange`` followed by a cheap request (``codeassist.debugStats``), and the round trip is timed.
  It includes framing, JSON, pygls, and whatever the engine's document hooks cost the process.

``--load`` runs a CPU-bound competitor during the measurement (the machine has 2 cores; see GUIDE.md).

    python -m bench.bigfile_bench --sizes 50000,500000,5000000 --keys 400 --e2e --load
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from codeassist.server.convert import Pos, lsp_line_starts, offset_of, position_of
from codeassist.server.documents import DocumentStore
from lsprotocol import types

from bench.replay import LspClient, percentile

BODIES = ["    return a + b", "    x = [i * i for i in range(n)]", "    # naïve — ok ✓", "    s = 'données: ' + str(v)",
          "    if a > b:\n        return a\n    return b"]  # fmt: skip


def make_text(size: int, seed: int = 0) -> str:
    """Python-looking code of about ``size`` characters (some non-ASCII, some CRLF-free long lines)."""
    rng = random.Random(seed)
    parts: list[str] = []
    total, n = 0, 0
    while total < size:
        n += 1
        body = rng.choice(BODIES)
        chunk = f'def function_{n}(a, b, n=3, value=None):\n    """Docstring {n}."""\n{body}\n\n\n'
        parts.append(chunk)
        total += len(chunk)
    return "".join(parts)


def key_edits(text: str, keys: int, seed: int = 1) -> list[tuple[Pos, Pos, str]]:
    """Typing in the middle of the file: characters, a newline now and then, a backspace now and then."""
    rng = random.Random(seed)
    line = len(text.split("\n")) // 2
    col, edits = 0, []
    for _ in range(keys):
        roll = rng.random()
        if roll < 0.08:
            edits.append((Pos(line, col), Pos(line, col), "\n"))
            line, col = line + 1, 0
        elif roll < 0.16 and col > 0:
            edits.append((Pos(line, col - 1), Pos(line, col), ""))
            col -= 1
        else:
            edits.append((Pos(line, col), Pos(line, col), rng.choice("abcdefgh_(), é")))
            col += 1
    return edits


def change_params(uri: str, version: int, edit: tuple[Pos, Pos, str]) -> types.DidChangeTextDocumentParams:
    a, b, text = edit
    rng = types.Range(types.Position(a.line, a.character), types.Position(b.line, b.character))
    return types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(range=rng, text=text)],
    )


def old_line_starts(text: str) -> list[int]:
    """The pre-index algorithm (server/convert.py before issue 17): a Python loop over the whole text."""
    starts, i, n = [0], 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            starts.append(i + 1)
        elif ch == "\r":
            if i + 1 < n and text[i + 1] == "\n":
                i += 1
            starts.append(i + 1)
        i += 1
    return starts


def stats_ms(values: Sequence[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50": round(statistics.median(ms), 3), "p95": round(percentile(ms, 95), 3),
            "max": round(max(ms), 3)}  # fmt: skip


def inproc(size: int, keys: int, before_keys: int) -> dict[str, Any]:
    text = make_text(size)
    edits = key_edits(text, keys)
    store = DocumentStore()
    uri = "file:///bench/big.py"
    doc = store.open(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text))
    change_s, request_s, flat_s = [], [], []
    for version, edit in enumerate(edits, start=2):
        params = change_params(uri, version, edit)
        t0 = time.perf_counter()
        store.change(params)
        t1 = time.perf_counter()
        cursor = offset_of(doc.body, edit[0], starts=doc.lines)  # the request's cursor, then its reply's range
        position_of(doc.body, cursor, starts=doc.lines)
        t2 = time.perf_counter()
        snapshot = doc.text  # the flat string a completion request hands the engine (built once per version)
        t3 = time.perf_counter()
        assert lsp_line_starts(snapshot) is doc.lines
        change_s.append(t1 - t0)
        request_s.append(t2 - t1)
        flat_s.append(t3 - t2)
    before_s, old = [], text
    for edit in edits[:before_keys]:
        t0 = time.perf_counter()
        starts = old_line_starts(old)
        a = starts[edit[0].line] + edit[0].character
        b = starts[edit[1].line] + edit[1].character
        old = old[:a] + edit[2] + old[b:]
        old_line_starts(old)  # the request that follows rescanned again (prepare, then items)
        before_s.append(time.perf_counter() - t0)
    return {"size": len(text), "lines": len(doc.lines), "did_change": stats_ms(change_s),
            "request_positions": stats_ms(request_s), "flat_text_for_engine": stats_ms(flat_s),
            "before": stats_ms(before_s)}  # fmt: skip


def e2e(sizes: Sequence[int], keys: int) -> list[dict[str, Any]]:
    folder = tempfile.mkdtemp(prefix="codeassist-bigfile-")
    client = LspClient([sys.executable, "-m", "codeassist.server"])
    rows = []
    try:
        client.request("initialize", {"processId": os.getpid(), "rootUri": f"file://{folder}", "capabilities": {},
                                      "initializationOptions": {"verify": "off", "verify_actions": "off"}})  # fmt: skip
        client.notify("initialized", {})
        client.wait_for(lambda m: m.get("params", {}).get("state") == "ready", timeout=600)
        for size in sizes:
            text = make_text(size)
            path = os.path.join(folder, f"big{size}.py")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
            uri = f"file://{path}"
            client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                                    "text": text}})  # fmt: skip
            client.request("workspace/executeCommand", {"command": "codeassist.debugStats", "arguments": []})
            times = []
            for version, edit in enumerate(key_edits(text, keys), start=2):
                params = change_params(uri, version, edit)
                t0 = time.perf_counter()
                client.notify("textDocument/didChange", json.loads(json.dumps(_plain(params))))
                client.request("workspace/executeCommand", {"command": "codeassist.debugStats", "arguments": []})
                times.append(time.perf_counter() - t0)
            client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
            rows.append({"size": len(text), "keystroke_roundtrip": stats_ms(times)})
    finally:
        client.close()
    return rows


def _plain(params: types.DidChangeTextDocumentParams) -> dict[str, Any]:
    from pygls.protocol import default_converter

    data: dict[str, Any] = default_converter().unstructure(params)
    return data


def _spin(stop: Any) -> None:
    x = 0
    while not stop.is_set():
        x = (x * 31 + 7) % 1_000_003


@contextmanager
def competitor(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    stop = multiprocessing.Event()
    proc = multiprocessing.Process(target=_spin, args=(stop,), daemon=True)
    proc.start()
    try:
        yield
    finally:
        stop.set()
        proc.join(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="50000,500000,5000000", help="document sizes in characters")
    parser.add_argument("--keys", type=int, default=400, help="keystrokes per size")
    parser.add_argument("--before-keys", type=int, default=10, help="keystrokes through the old algorithm")
    parser.add_argument("--e2e", action="store_true", help="also over stdio against `codeassist serve`")
    parser.add_argument("--load", action="store_true", help="run a CPU-bound competitor meanwhile")
    parser.add_argument("--out", help="write the JSON here")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    report: dict[str, Any] = {"load_average_before": os.getloadavg(), "competitor": args.load}
    with competitor(args.load):
        report["inproc"] = [inproc(size, args.keys, args.before_keys) for size in sizes]
        if args.e2e:
            report["e2e"] = e2e(sizes, args.keys)
    report["load_average_after"] = os.getloadavg()
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
