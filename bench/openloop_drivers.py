"""The open-loop replay's two editors: each types a span's keystrokes on a fixed schedule and records the answers
that reach it (:class:`~bench.openloop_score.Arrival`), in time or not; :mod:`bench.openloop_score` decides which count.

- :func:`lsp_span`, VS Code against ``codeassist serve`` over stdio: every keystroke is an incremental ``didChange``;
  an inline-completion request still outstanding is cancelled with ``$/cancelRequest`` (VS Code cancels the provider's
  token when the document changes) and a new ``textDocument/inlineCompletion`` is sent at once, with no client-side
  debounce. A ghost text the user types through stays on screen (its rest, at once), as VS Code keeps an inline
  suggestion whose start is what was typed, until an answer to the new request replaces it.
- :func:`vim_span`, llama.vim against llama-server ``/infill``: the request and rendering of
  :mod:`codeassist.repobench.infill` (llama.vim's defaults, ``t_max_prompt_ms`` 500 / ``t_max_predict_ms`` 1000, a fixed
  seed), and llama.vim's client logic: its result cache (keyed by prefix, line prefix and suffix; on a miss it looks
  back up to 128 typed characters for a cached answer that starts with what was typed since, and shows the rest at
  once); one request in flight at a time (a keystroke that comes while one is in flight re-arms a 100 ms timer that
  tries again; an answer to a state that is gone is cached but not shown). The cache is consulted before the
  in-flight check, as llama.vim's cursor-move hint does: the anchor's best case.

Before typing a span, each editor asks where the cursor arrives (the first line's indentation) and waits for the
answer, untimed and not scored: an editor session where the file has been open for a while, so neither side's first
keystroke pays a cold whole-file prompt. Ours is asked again while it answers empty (a request capped before the end
of its prompt does; the server carries on from what it cached) and while the status says the cap cut it, up to 300 s
— not while it is empty because the model or the gate said "nothing here"; llama-server evaluates a whole prompt
whatever it takes (it does not implement ``t_max_prompt_ms``). The answer stays in each side's cache, as it would in
the editor.
"""

from __future__ import annotations

import concurrent.futures
import os
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench import openloop_score as sc
from bench import replay
from bench.openloop_score import Arrival, visible_text
from codeassist.repobench.fill import first_item, offset_of
from codeassist.repobench.infill import InfillOptions, vim_render, vim_request

SEP = "\u00ce"  # llama.vim joins prefix, middle and suffix with 'Î' before hashing
LOOKBACK = 128  # characters llama.vim looks back for a cached answer (PR #18)
RETRY_S = 0.1  # llama.vim's timer when a request is in flight
DRAIN_S = 60.0  # after a span, how long to wait for an abandoned request so it does not load the next row
WARM_S = 300.0  # the longest wait for the warm-up answer before a span


def lsp_visible(result: Any, line_text: str, column: int, line: int) -> str:
    """The text an inline-completion result adds after the cursor (first item; the document line as it is now)."""
    item = first_item(result)
    if item is None:
        return ""
    insert, rng = item
    if not rng:
        return insert
    start = rng["start"]
    if start["line"] != line:
        return ""
    return visible_text(insert, line_text[offset_of(line_text, {"line": 0, "character": start["character"]}) : column])


class Clock:
    """Seconds since the span's first keystroke was due."""

    def __init__(self, lead_s: float = 0.05) -> None:
        self.t0 = time.monotonic() + lead_s  # the LSP client's read deadlines are on this clock

    def now(self) -> float:
        return time.monotonic() - self.t0


# -- VS Code against codeassist serve ---------------------------------------------------------------------------------


class OpenLoopLsp(replay.LspClient):
    """The benchmark's LSP client with non-blocking requests (send now, collect the answer when it comes)."""

    def send_request(self, method: str, params: Any) -> int:
        self._next_id += 1
        self._send({"id": self._next_id, "method": method, "params": params})
        return self._next_id

    def poll(self, until: float) -> dict[str, Any] | None:
        """The next response (server requests and notifications are handled on the way), or None at ``until``
        (``time.monotonic`` seconds)."""
        while True:
            try:
                msg = self._read(until)
            except TimeoutError:
                return None
            if "id" in msg and "method" not in msg:
                return msg
            self._handle(msg)


def lsp_start(python: str, env: dict[str, str], settings: dict[str, Any], timeout: float = 300.0) -> OpenLoopLsp:
    """``codeassist serve --stdio`` initialized, its model loaded."""
    client = OpenLoopLsp([python, "-m", "codeassist.cli", "serve", "--stdio"], env=env)
    caps = {"general": {"positionEncodings": ["utf-16"]}, "textDocument": {"inlineCompletion": {}}}
    client.request(
        "initialize",
        {"processId": os.getpid(), "rootUri": None, "initializationOptions": settings, "capabilities": caps},
        timeout=60,
    )
    client.notify("initialized", {})
    return client


def lsp_warm(client: OpenLoopLsp, uri: str, text: str, first: replay.Keystroke) -> str:
    """The editor's request where the cursor arrives, waited for (module docstring); the ghost text it shows."""
    line = text.split("\n")[first.at_line]
    start = {"line": first.at_line, "character": replay.utf16_col(line, first.at_column)}
    give_up = time.monotonic() + WARM_S
    shown, capped = "", True
    while time.monotonic() < give_up and capped:  # a capped answer is empty or cut: ask again, the server resumes
        params = {"textDocument": {"uri": uri}, "position": start, "context": {"triggerKind": 2}}
        seen = len(client.notifications)
        got = client.request("textDocument/inlineCompletion", params, timeout=WARM_S)
        shown = lsp_visible(got, line, first.at_column, first.at_line)
        capped = _last_capped(client, seen)
        time.sleep(0.5 if capped else 0)
    return shown


def _last_capped(client: OpenLoopLsp, since: int) -> bool:
    """Whether the time cap cut the answer just received (``lastCapped`` of the status sent with it; a status that
    does not come in 5 s: not capped, so the warm-up stops rather than spin)."""

    def answered(m: dict[str, Any]) -> int:
        return int(m["params"].get("answered") or 0) if m.get("method") == "codeassist/status" else -1

    before = max((answered(m) for m in client.notifications[:since]), default=0)
    try:
        status = client.wait_for(lambda m: answered(m) > before, 5.0, since=since)
    except TimeoutError:
        return False
    return status["params"].get("lastCapped") is not None


def lsp_span(
    client: OpenLoopLsp, path: str, text: str, strokes: Sequence[replay.Keystroke], times: Sequence[float],
    interval_ms: float, pause_s: float,
) -> list[Arrival]:  # fmt: skip
    """Open ``text`` as ``path``, wait ``pause_s`` (the user reads before typing), type ``strokes`` at ``times``;
    close the document. Returns every answer that came, with the keystroke it answered."""
    uri = "file://" + os.path.abspath(path)
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                            "text": text}})  # fmt: skip
    client.wait_for(
        lambda m: m.get("method") == "codeassist/status" and m["params"].get("state") in ("ready", "error"), 300
    )
    ghost = lsp_warm(client, uri, text, strokes[0])  # on screen now
    time.sleep(pause_s)
    arrivals = [Arrival(-1, 0.0, ghost)]  # the warm-up answer (key -1: in the JSON, never scored)
    lines = text.split("\n")
    pending: dict[int, int] = {}  # request id -> keystroke
    cancelled: set[int] = set()  # answers to these are not shown (a cancelled request's empty or error answer)
    outstanding: int | None = None
    clock = Clock()
    end = times[-1] + interval_ms / 1000

    def collect(until_rel: float, drain: bool = False) -> None:
        nonlocal outstanding, ghost
        while not (drain and not pending) and (msg := client.poll(clock.t0 + until_rel)) is not None:
            at, key = clock.now(), pending.pop(msg["id"], None)
            if msg["id"] == outstanding:
                outstanding = None
            if key is not None and "result" in msg and msg["id"] not in cancelled:
                ks = strokes[key]
                shown = lsp_visible(msg["result"], ks.text.split("\n")[ks.line], ks.column, ks.line)
                arrivals.append(Arrival(key, at, shown))
                ghost = shown if key == pending_key else ghost

    pending_key = -1
    for k, ks in enumerate(strokes):
        collect(times[k])
        ghost = sc.typed_through(ghost, sc.typed_since(strokes[k - 1] if k else None, ks))
        pending_key = k
        if ghost:  # VS Code keeps the suggestion the user types through, at once
            arrivals.append(Arrival(k, clock.now(), ghost))
        line_text = lines[ks.at_line]
        at = replay.utf16_col(line_text, ks.at_column)
        pos = {"line": ks.at_line, "character": at}
        client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": k + 2},
                                                 "contentChanges": [{"range": {"start": pos, "end": pos},
                                                                     "text": ks.char}]})  # fmt: skip
        lines[ks.at_line] = line_text[: ks.at_column] + ks.char + line_text[ks.at_column :]
        if outstanding is not None:
            client.notify("$/cancelRequest", {"id": outstanding})
            cancelled.add(outstanding)
        cursor = {"line": ks.line, "character": replay.utf16_col(lines[ks.line], ks.column)}
        outstanding = client.send_request(
            "textDocument/inlineCompletion",
            {"textDocument": {"uri": uri}, "position": cursor, "context": {"triggerKind": 2}},
        )
        pending[outstanding] = k
    collect(end)
    if outstanding is not None:
        client.notify("$/cancelRequest", {"id": outstanding})
        cancelled.add(outstanding)
    collect(end + DRAIN_S, drain=True)  # let cancelled requests finish before the next row
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    return arrivals


# -- llama.vim against llama-server ---------------------------------------------------------------------------------


class VimCache:
    """llama.vim's result cache (``g:result_cache``, ``max_cache_keys`` 250) with its typed-ahead look-back."""

    def __init__(self, max_keys: int = 250) -> None:
        self.data: OrderedDict[str, str] = OrderedDict()
        self.max_keys = max_keys

    @staticmethod
    def key(body: dict[str, Any]) -> str:
        return f"{body['input_prefix']}{SEP}{body['prompt']}{SEP}{body['input_suffix']}"

    def put(self, key: str, content: str) -> None:
        self.data[key] = content
        self.data.move_to_end(key)
        while len(self.data) > self.max_keys:
            self.data.popitem(last=False)

    def get(self, body: dict[str, Any]) -> str | None:
        """The cached answer for this request, or one made ``i`` ≤ 128 characters earlier whose start is what was
        typed since (its rest is the answer); llama.vim stops at the first earlier key it finds."""
        exact = self.data.get(self.key(body))
        if exact is not None:
            return exact
        past = f"{body['input_prefix']}{SEP}{body['prompt']}"
        for i in range(1, min(LOOKBACK, len(past)) + 1):
            content = self.data.get(past[:-i] + SEP + body["input_suffix"])
            if content is None:
                continue
            typed = past[-i:]
            return content[i:] if content.startswith(typed) and len(content) > i else None
        return None


@dataclass
class _Job:
    future: concurrent.futures.Future[tuple[dict[str, Any], float]]
    key: int  # the keystroke whose state it asks about
    cache_key: str


def vim_span(
    url: str, text: str, strokes: Sequence[replay.Keystroke], times: Sequence[float], interval_ms: float,
    pause_s: float, opts: InfillOptions | None = None,
) -> list[Arrival]:  # fmt: skip
    """llama.vim typing ``strokes`` at ``times`` (a fresh editor: empty cache). Returns every answer it would show
    for the state it was asked about (cache hits included), with the keystroke it answered."""
    opts = opts or InfillOptions()
    cache, arrivals = VimCache(), list[Arrival]()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    job: _Job | None = None
    timer: float | None = None
    latest = -1
    first = strokes[0]  # llama.vim's request where the cursor arrives (CursorMovedI), waited for
    body = vim_request(text, replay.offset_of(text, first.at_line, first.at_column), opts)
    if content := str(replay._post(url + "/infill", body, timeout=opts.timeout_s).get("content", "")):
        cache.put(cache.key(body), content)
    arrivals.append(Arrival(-1, 0.0, content))  # the warm-up answer (key -1: in the JSON, never scored)
    time.sleep(pause_s)
    clock = Clock()

    def post(body: dict[str, Any]) -> tuple[dict[str, Any], float]:
        data = replay._post(url + "/infill", body, timeout=opts.timeout_s)
        return data, clock.now()

    def show(k: int, content: str, at: float) -> None:
        ks = strokes[k]
        cursor = replay.offset_of(ks.text, ks.line, ks.column)
        rendered, start, _end = vim_render(content, ks.text, cursor)
        arrivals.append(Arrival(k, at, visible_text(rendered, ks.text[start:cursor]) if rendered else ""))

    def fim(k: int) -> None:
        nonlocal job, timer
        ks = strokes[k]
        body = vim_request(ks.text, replay.offset_of(ks.text, ks.line, ks.column), opts)
        hit = cache.get(body)
        if hit is not None:
            show(k, hit, clock.now())
        elif job is not None:
            timer = clock.now() + RETRY_S
        else:
            job = _Job(pool.submit(post, body), k, cache.key(body))

    try:
        end = times[-1] + interval_ms / 1000
        next_key = 0
        while True:
            due = min(times[next_key] if next_key < len(times) else end, timer if timer is not None else end)
            if job is not None:
                concurrent.futures.wait([job.future], timeout=max(0.0, due - clock.now()))
            else:
                time.sleep(max(0.0, due - clock.now()))
            if job is not None and job.future.done():
                data, at = job.future.result()
                content = str(data.get("content", ""))
                if content:
                    cache.put(job.cache_key, content)
                show(job.key, content, at)  # shown only if in time (llama.vim ignores an answer to a gone state)
                job = None
            now = clock.now()
            if timer is not None and now >= timer:
                timer = None
                fim(latest)
            if next_key < len(times) and now >= times[next_key]:
                latest, next_key = next_key, next_key + 1
                fim(latest)
            elif next_key >= len(times) and now >= end:
                break
        if job is not None:  # the last request, abandoned: its answer is late, recorded for the latency figures
            done, _ = concurrent.futures.wait([job.future], timeout=DRAIN_S)
            if done:
                data, at = job.future.result()
                show(job.key, str(data.get("content", "")), at)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return arrivals
