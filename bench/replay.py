"""Typing replay: type a span of a real source file character by character and ask for a completion after each
keystroke, the way an editor does; measure keystroke -> answer latency and the work behind it.

Targets, all fed the very same edits:

- ``lsp``: ``codeassist serve`` over stdio (didChange with one-character incremental edits + inlineCompletion, with the
  server's configured debounce); closed loop: the next key is typed once the answer arrived.
- ``engine``: our :class:`~codeassist.engine.Engine` in-process (KV-cache prefix reuse, typed-ahead cache), which also
  reports reused/evaluated tokens, cache hits and syntax-gate drops per request.
- ``engine_nocache``: the same engine with its KV cache emptied before every request (what a stateless server costs).
- ``llama_server``: llama.cpp's server, ``/infill`` with ``cache_prompt: true``, started with ``--cache-reuse 256``.

An edit list is a pure function of (file, span), so every target replays byte-identical documents.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from codeassist.engine import CompletionRequest, Engine
from codeassist.repobench import lsp_client as repobench_lsp


@dataclass(frozen=True)
class Keystroke:
    text: str  # the document after this keystroke
    line: int  # cursor after the keystroke (0-based)
    column: int  # code points
    char: str  # the character typed
    at_line: int  # where it was inserted (before the keystroke)
    at_column: int


@dataclass(frozen=True)
class Span:
    path: str  # a file's path (for the language and the report)
    first_line: int  # 0-based
    n_lines: int


def keystrokes(source: str, span: Span, limit: int | None = None) -> list[Keystroke]:
    """The edits that type ``span``'s lines (after their indentation, which an editor auto-inserts) into the file
    with those lines' content removed. Returns at most ``limit`` keystrokes."""
    lines = source.splitlines(keepends=True)
    base = list(lines)
    typed: list[tuple[int, str]] = []  # (line index, text to type on it)
    for i in range(span.first_line, span.first_line + span.n_lines):
        raw = lines[i].rstrip("\n")
        indent = raw[: len(raw) - len(raw.lstrip())]
        base[i] = indent + "\n"
        typed.append((i, raw[len(indent) :]))
    out: list[Keystroke] = []
    current = list(base)
    for i, content in typed:
        col0 = len(current[i]) - 1
        for k, ch in enumerate(content):
            before = current[i][:-1]
            current[i] = before + ch + "\n"
            out.append(Keystroke("".join(current), i, col0 + k + 1, ch, i, col0 + k))
            if limit is not None and len(out) >= limit:
                return out
    return out


def initial_text(source: str, span: Span) -> str:
    lines = source.splitlines(keepends=True)
    for i in range(span.first_line, span.first_line + span.n_lines):
        raw = lines[i].rstrip("\n")
        lines[i] = raw[: len(raw) - len(raw.lstrip())] + "\n"
    return "".join(lines)


@dataclass
class Answer:
    latency_ms: float
    text: str
    prompt_tokens: int | None = None
    reused_tokens: int | None = None
    evaluated_tokens: int | None = None
    generated_tokens: int | None = None
    cached: bool | None = None
    gate: str | None = None


@dataclass
class ReplayStats:
    target: str
    keystrokes: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    shown: int  # answers with a non-empty suggestion
    p50_model_ms: float = float("nan")  # over keystrokes that reached the model (typed-ahead hits excluded)
    p95_model_ms: float = float("nan")
    reused_tokens: int | None = None
    evaluated_tokens: int | None = None
    prompt_tokens: int | None = None
    cache_hits: int | None = None
    gate_drops: int | None = None
    latencies_ms: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) — no interpolation, so p99 of 40 samples is the maximum."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summarise(target: str, answers: Sequence[Answer]) -> ReplayStats:
    lat = [a.latency_ms for a in answers]

    def total(name: str) -> int | None:
        vals = [getattr(a, name) for a in answers]
        return None if any(v is None for v in vals) or not vals else int(sum(vals))

    cached = [a.cached for a in answers]
    gates = [a.gate for a in answers]
    model_lat = [a.latency_ms for a in answers if not a.cached]
    return ReplayStats(
        target=target, keystrokes=len(answers), p50_ms=percentile(lat, 50), p95_ms=percentile(lat, 95),
        p99_ms=percentile(lat, 99), mean_ms=statistics.fmean(lat) if lat else float("nan"),
        shown=sum(1 for a in answers if a.text.strip()), p50_model_ms=percentile(model_lat, 50),
        p95_model_ms=percentile(model_lat, 95), reused_tokens=total("reused_tokens"),
        evaluated_tokens=total("evaluated_tokens"), prompt_tokens=total("prompt_tokens"),
        cache_hits=None if any(c is None for c in cached) else sum(1 for c in cached if c),
        gate_drops=None if any(g is None for g in gates) else sum(1 for g in gates if g == "dropped"),
        latencies_ms=lat,
    )  # fmt: skip


# -- engine ---------------------------------------------------------------------------------------------------------


def empty_kv_cache(engine: Engine) -> None:
    """Forget the backend's cached prompt so the next request evaluates everything (llama-cpp-python trims the KV
    cache to ``n_tokens`` on the next eval)."""
    llm = getattr(engine.backend, "_llm", None)
    if llm is not None:
        llm.n_tokens = 0
    cache = getattr(engine, "typed_ahead", None)
    if cache is not None and callable(getattr(cache, "clear", None)):
        cache.clear()


def engine_answer(engine: Engine, path: str, ks: Keystroke, *, fresh: bool, max_tokens: int) -> Answer:
    """One keystroke's completion from the engine in-process; ``fresh`` empties the KV cache first and bypasses the
    typed-ahead cache (every keystroke pays the whole prompt)."""
    if fresh:
        empty_kv_cache(engine)
    saved = getattr(engine.config, "typed_ahead", None)
    if fresh and saved is not None:
        engine.config.typed_ahead = False
    req = CompletionRequest(text=ks.text, line=ks.line, column=ks.column, path=path, max_tokens=max_tokens)
    t0 = time.perf_counter()
    try:
        res = engine.complete(req)
    finally:
        if fresh and saved is not None:
            engine.config.typed_ahead = saved
    ms = (time.perf_counter() - t0) * 1000
    t = res.timings
    return Answer(
        ms, res.text, t.prompt_tokens, t.reused_tokens, t.evaluated_tokens, t.generated_tokens, res.cached, res.gate
    )


def replay_engine(
    engine: Engine, path: str, strokes: Sequence[Keystroke], *, fresh: bool, max_tokens: int
) -> list[Answer]:
    return [engine_answer(engine, path, ks, fresh=fresh, max_tokens=max_tokens) for ks in strokes]


# -- llama-server -----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def anchor_env() -> dict[str, str]:
    """Environment for the llama.cpp anchors. OpenMP's default active wait makes decode ~10x slower when the 2 cores
    are shared with other work (measured: llama-bench tg16 2.2 tok/s active vs 23.5 passive, same minute), so the
    anchors get ``OMP_WAIT_POLICY=passive`` unless ``BENCH_ANCHOR_OMP_WAIT_POLICY`` says otherwise: their best case."""
    env = dict(os.environ)
    env["OMP_WAIT_POLICY"] = os.environ.get("BENCH_ANCHOR_OMP_WAIT_POLICY", "passive")
    return env


@contextlib.contextmanager
def llama_server(
    binary: str, model: str, *, threads: int, n_ctx: int, n_batch: int, extra: Sequence[str] = ()
) -> Iterator[str]:
    """Start llama-server on a loopback port (``extra``: more of its options); yield its base URL; stop it (the
    process we started) afterwards."""
    port = free_port()
    cmd = [
        binary, "-m", model, "--host", "127.0.0.1", "--port", str(port), "-t", str(threads), "-tb", str(threads),
        "-c", str(n_ctx), "-b", str(n_batch), "-ub", "512", "-np", "1", "--cache-reuse", "256", *extra,
    ]  # fmt: skip
    log = open(os.path.join(os.path.dirname(binary), "llama-server.log"), "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=anchor_env())
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"llama-server exited with {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("llama-server did not become healthy in 120 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _post(url: str, body: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        data: dict[str, Any] = json.loads(r.read())
    return data


def windows(text: str, offset: int, prefix_tokens: int, suffix_tokens: int) -> tuple[str, str]:
    """The same line-aligned character windows our engine cuts before tokenizing (4 chars per token guess)."""
    prefix, suffix = text[:offset], text[offset:]
    if len(prefix) > prefix_tokens * 4:
        cut = prefix.find("\n", len(prefix) - prefix_tokens * 4)
        prefix = prefix[cut + 1 :] if cut >= 0 else prefix[-prefix_tokens * 4 :]
    if len(suffix) > suffix_tokens * 4:
        cut = suffix.rfind("\n", 0, suffix_tokens * 4)
        suffix = suffix[: cut + 1] if cut >= 0 else suffix[: suffix_tokens * 4]
    return prefix, suffix


def offset_of(text: str, line: int, column: int) -> int:
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    return starts[line] + column


def llama_server_answer(url: str, ks: Keystroke, *, max_tokens: int, prefix_tokens: int, suffix_tokens: int) -> Answer:
    """One keystroke's completion from llama-server ``/infill`` with the prompt cache on."""
    off = offset_of(ks.text, ks.line, ks.column)
    prefix, suffix = windows(ks.text, off, prefix_tokens, suffix_tokens)
    rest = suffix.split("\n", 1)[0]
    body = {
        "input_prefix": prefix, "input_suffix": suffix, "input_extra": [], "cache_prompt": True,
        "n_predict": max_tokens, "temperature": 0.0, "top_k": 1, "samplers": ["top_k"],
        "stop": ["\n"] if rest.strip() else ["\n\n"], "t_max_predict_ms": 5000,
    }  # fmt: skip
    t0 = time.perf_counter()
    data = _post(url + "/infill", body)
    ms = (time.perf_counter() - t0) * 1000
    tm = data.get("timings", {})
    cached, evaluated = int(tm.get("cache_n", 0)), int(tm.get("prompt_n", 0))
    return Answer(
        ms, str(data.get("content", "")), cached + evaluated, cached, evaluated, int(tm.get("predicted_n", 0))
    )


def replay_llama_server(
    url: str, strokes: Sequence[Keystroke], *, max_tokens: int, prefix_tokens: int, suffix_tokens: int
) -> list[Answer]:
    return [
        llama_server_answer(url, ks, max_tokens=max_tokens, prefix_tokens=prefix_tokens, suffix_tokens=suffix_tokens)
        for ks in strokes
    ]


# -- LSP over stdio -----------------------------------------------------------------------------------------------


class LspClient(repobench_lsp.LspClient):
    """``codeassist serve`` over stdio (the benchmark-my-repo client), with the environment given whole and a wait
    that raises when the notification does not come."""

    def __init__(self, cmd: Sequence[str], env: dict[str, str] | None = None) -> None:
        super().__init__(cmd, env=env, inherit_env=False)

    def wait_for(self, pred: Any, timeout: float, *, since: int = 0) -> dict[str, Any]:
        msg = super().wait_for(pred, timeout, since=since)
        if msg is None:
            raise TimeoutError("no answer from the language server")
        return msg


def utf16_col(line_text: str, column: int) -> int:
    return len(line_text[:column].encode("utf-16-le")) // 2


def replay_lsp(
    strokes: Sequence[Keystroke],
    source: str,
    span: Span,
    *,
    settings: dict[str, Any],
    timeout: float = 180.0,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
    read_s: float = 0.0,
) -> tuple[list[Answer], dict[str, Any]]:
    """Replay through ``codeassist serve`` (stdio), run by ``python`` (another checkout's virtualenv replays that
    version). Returns the answers and the last ``codeassist/status``. ``read_s`` > 0: once the model is ready, the
    cursor rests at the first keystroke's place that long before the typing starts, and the client says so with
    ``codeassist/warm`` as the editors do (a version without it ignores the notification and idles)."""
    client = LspClient([python, "-m", "codeassist.cli", "serve", "--stdio"], env=env)
    uri = "file://" + os.path.abspath(span.path)
    try:
        client.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": None,
                "initializationOptions": settings,
                "capabilities": {
                    "general": {"positionEncodings": ["utf-16"]},
                    "textDocument": {"inlineCompletion": {"dynamicRegistration": False}},
                },
            },
            timeout=60,
        )
        client.notify("initialized", {})
        text = initial_text(source, span)
        client.notify(
            "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}
        )
        client.wait_for(
            lambda m: m.get("method") == "codeassist/status" and m["params"].get("state") in ("ready", "error"),
            timeout=timeout,
        )
        answers: list[Answer] = []
        lines = text.split("\n")
        if read_s > 0 and strokes:
            first = strokes[0]
            at = {"line": first.at_line, "character": utf16_col(lines[first.at_line], first.at_column)}
            client.notify("codeassist/warm", {"textDocument": {"uri": uri}, "position": at})
            time.sleep(read_s)
        for version, ks in enumerate(strokes, start=2):
            line_text = lines[ks.at_line]
            at = utf16_col(line_text, ks.at_column)
            change = {
                "range": {"start": {"line": ks.at_line, "character": at}, "end": {"line": ks.at_line, "character": at}},
                "text": ks.char,
            }
            lines[ks.at_line] = line_text[: ks.at_column] + ks.char + line_text[ks.at_column :]
            t0 = time.perf_counter()
            client.notify(
                "textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}
            )
            result = client.request(
                "textDocument/inlineCompletion",
                {
                    "textDocument": {"uri": uri},
                    "position": {"line": ks.line, "character": utf16_col(lines[ks.line], ks.column)},
                    "context": {"triggerKind": 2},
                },
                timeout=timeout,
            )
            ms = (time.perf_counter() - t0) * 1000
            items = (result or {}).get("items", []) if isinstance(result, dict) else (result or [])
            first = items[0] if items else {}
            insert = first.get("insertText", "")
            answers.append(Answer(ms, insert if isinstance(insert, str) else str(insert.get("value", ""))))
        statuses = [m["params"] for m in client.notifications if m.get("method") == "codeassist/status"]
        return answers, (statuses[-1] if statuses else {})
    finally:
        client.close()
