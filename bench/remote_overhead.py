"""``python -m bench.remote_overhead``: what the remote backends add on top of the server's own time, on loopback.

For each request (a cursor walking through a real file, so prompts change like keystrokes) we take the engine's
wall time for ``complete`` and subtract the server's own time for that answer (llama-server's ``prompt_ms`` +
``predicted_ms``, reported with every streamed token) and our context assembly (which the local path pays too).
What is left is the remote backend: HTTP, JSON, SSE parsing, the reader thread, early stop — and, on a shared
machine, every wait for a CPU. ``client_cpu_ms`` (this process's CPU time per request) is the part load cannot
inflate: the work a remote request costs the client. A bare ``urllib`` POST of
the same ``/infill`` body gives the floor any client pays. Also measured: how long a request takes to fall back to the
local model when the server is unreachable. Optionally with a competing CPU-bound process (``--busy``), as every
latency claim here must be.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.replay import free_port, llama_server
from codeassist.engine import CompletionRequest, Engine, EngineConfig
from codeassist.models import registry
from codeassist.models.remote_config import RemoteConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(ROOT, "build", "llama.cpp", "bin", "llama-server")


def positions(text: str, n: int, *, mid_line: bool = False) -> list[tuple[int, int]]:
    """``n`` cursor positions on lines that have code, spread over the file: at their end (the post-processor's
    multi-line rules decide where to stop), or ``mid_line`` (code after the cursor: a single-line completion, which
    the server is told to end at the newline)."""
    lines = text.split("\n")
    spots = [(i, len(ln)) for i, ln in enumerate(lines) if ln.strip() and not ln.strip().startswith("#")]
    if mid_line:
        spots = [(i, (len(lines[i]) + len(lines[i]) - len(lines[i].lstrip())) // 2) for i, _ in spots]
    step = max(1, len(spots) // n)
    return spots[::step][:n]


def p50(xs: list[float]) -> float:
    return round(statistics.median(xs), 2) if xs else float("nan")


def p90(xs: list[float]) -> float:
    return round(sorted(xs)[int(len(xs) * 0.9)], 2) if xs else float("nan")


def run_backend(
    url: str, backend: str, text: str, path: str, spots: list[tuple[int, int]], gap_s: float = 0.0
) -> dict[str, Any]:
    """``backend`` "local" is the in-process model: its time outside the model (post-processing, the syntax gate)
    is what every path pays, so "remote adds" = a remote path's overhead minus the local one's. ``gap_s``: a pause
    before each request, as an editor has between requests (typing, the debounce). Back to back (0), a request that
    the post-processor stopped early leaves the server decoding until it notices the closed stream (2–3 tokens), and
    the next request waits for that: measured as overhead, though it is the server's own time."""
    remote = None if backend == "local" else RemoteConfig(backend=backend, url=url, timeout_ms=120_000)
    engine = Engine(EngineConfig(remote=remote, max_tokens=8, index_workspace=False, typed_ahead=False, n_threads=2))
    engine.load()
    overhead, totals, servers, cpu = [], [], [], []
    try:
        for line, col in spots:
            time.sleep(gap_s)
            started, cpu0 = time.perf_counter(), time.process_time()
            result = engine.complete(CompletionRequest(text=text, line=line, column=col, path=path))
            wall = (time.perf_counter() - started) * 1000
            cpu.append((time.process_time() - cpu0) * 1000)
            server_ms = result.timings.prompt_ms + result.timings.generation_ms
            if backend == "openai" and result.stop_reason == "callback":
                server_ms = float("nan")  # /v1 streams carry the server's timings only in their last event
            totals.append(wall)
            servers.append(server_ms)
            overhead.append(wall - server_ms - result.timings.context_ms)
        status = engine.backend_status()
        answered = f"{status.get('answeredBy')} {status.get('reason', '')}".strip()
    finally:
        engine.close()
    clean = [o for o in overhead if o == o]
    return {"backend": backend, "gap_ms": round(gap_s * 1000), "n": len(spots), "answered_by": answered,
            "total_ms_p50": p50(totals),
            "server_ms_p50": p50([s for s in servers if s == s]), "overhead_ms_p50": p50(clean),
            "overhead_ms_p90": p90(clean), "client_cpu_ms_p50": p50(cpu)}  # fmt: skip


def bare_floor(url: str, text: str, spots: list[tuple[int, int]]) -> dict[str, Any]:
    """The same kind of request with urllib and no streaming: wall minus the server's reported time."""
    lines = text.split("\n")
    floors, cpu = [], []
    for line, col in spots:
        prefix = "\n".join(lines[:line]) + "\n" + lines[line][:col]
        suffix = lines[line][col:] + "\n" + "\n".join(lines[line + 1 :])
        body = {"input_prefix": prefix[-3000:], "input_suffix": suffix[:1000], "n_predict": 16, "cache_prompt": True,
                "temperature": 0, "top_k": 1, "samplers": ["top_k"]}  # fmt: skip
        req = urllib.request.Request(url + "/infill", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
        started, cpu0 = time.perf_counter(), time.process_time()
        with urllib.request.urlopen(req, timeout=120) as r:
            data = json.loads(r.read())
        wall = (time.perf_counter() - started) * 1000
        cpu.append((time.process_time() - cpu0) * 1000)
        t = data.get("timings", {})
        floors.append(wall - float(t.get("prompt_ms", 0)) - float(t.get("predicted_ms", 0)))
    return {"backend": "bare urllib /infill (no streaming)", "n": len(spots), "overhead_ms_p50": p50(floors),
            "overhead_ms_p90": p90(floors), "client_cpu_ms_p50": p50(cpu)}  # fmt: skip


def fallback_time(text: str) -> dict[str, Any]:
    """A request to a port nobody listens on: time until the local model has answered it (model already loaded)."""
    remote = RemoteConfig(backend="llama-server", url=f"http://127.0.0.1:{free_port()}", timeout_ms=5000)
    engine = Engine(EngineConfig(remote=remote, max_tokens=16, index_workspace=False, typed_ahead=False))
    engine.load()  # the remote probe fails here and the local model loads
    try:
        started = time.perf_counter()
        result = engine.complete(CompletionRequest(text=text, line=3, column=0, path="x.py"))
        wall = (time.perf_counter() - started) * 1000
        model_ms = result.timings.prompt_ms + result.timings.generation_ms
        return {"fallback_request_ms": round(wall, 1), "local_model_ms": round(model_ms, 1),
                "time_to_fallback_ms": round(wall - model_ms - result.timings.context_ms, 1),
                "answered_by": engine.backend_status().get("answeredBy")}  # fmt: skip
    finally:
        engine.close()


@contextmanager
def busy(enabled: bool) -> Iterator[None]:
    """One competing CPU-bound process for the duration (the one we start, stopped by its pid)."""
    if not enabled:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--file", default=os.path.join(ROOT, "codeassist", "postprocess.py"))
    ap.add_argument("--busy", action="store_true", help="run alongside one competing CPU-bound process")
    ap.add_argument(
        "--gap-ms",
        type=float,
        default=300.0,
        help="pause before each request in the second pass of each remote backend (0: one pass)",
    )
    ap.add_argument("--mid-line", action="store_true", help="cursors mid-line (single-line completions)")
    ap.add_argument("--server-args", default="", help='more llama-server options, e.g. "--cache-ram 0"')
    args = ap.parse_args()
    with open(args.file, encoding="utf-8") as fh:
        text = fh.read()
    spots = positions(text, args.n, mid_line=args.mid_line)
    model = registry.resolve(None)
    rows: list[dict[str, Any]] = []
    with (
        busy(args.busy),
        llama_server(SERVER, model, threads=2, n_ctx=4096, n_batch=512, extra=args.server_args.split()) as url,
    ):
        bare_floor(url, text, spots[:3])  # warm the server's cache the way the others will find it
        gaps = [0.0, args.gap_ms / 1000] if args.gap_ms > 0 else [0.0]
        for backend in ("llama-server", "openai"):
            rows.extend(run_backend(url, backend, text, args.file, spots, gap) for gap in gaps)
        rows.append(run_backend(url, "local", text, args.file, spots))
        local = rows[-1]["overhead_ms_p50"]
        for row in rows[:-1]:
            row["remote_adds_ms_p50"] = round(row["overhead_ms_p50"] - local, 2)
        rows.append(bare_floor(url, text, spots))
        rows.append(fallback_time(text))
    where = {
        "busy": args.busy,
        "mid_line": args.mid_line,
        "server_args": args.server_args,
        "file": os.path.relpath(args.file, ROOT),
    }
    print(json.dumps({**where, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
