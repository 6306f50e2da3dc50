"""``python -m bench.openloop``: the open-loop typing replay on real repositories, codeassist through the LSP against
llama-server ``/infill`` with llama.vim's client, on the same keystrokes, in the same run, idle and with competing
CPU-bound processes.

Why open loop: the closed-loop replay (``bench.replay``) types the next key only once the answer came, so a slow
answer is never wasted and the typed-ahead cache never races the typist. A person types on: here keystroke ``k`` is
typed at ``k × --interval-ms`` (120 ms, ~100 words a minute in code) whatever the assistant does, and an answer counts
only if it arrives before the next key. The usefulness measure is characters accepted (:mod:`bench.openloop_score`);
the editors are modelled in :mod:`bench.openloop_drivers`.

Spans: ``--spans-per-repo`` seeded picks per repository of the real-repository suite (``bench/repos.toml``, sources
from the cache ``--cache``, never downloaded here): ``--lines`` consecutive code lines of a function body (no blank,
comment or docstring lines), typed after their indentation as ``bench.replay.keystrokes`` does, at most ``--keys``
keystrokes per span. Each span is opened, then after ``--pause-ms`` (the user looks before typing; each system uses it
as it does in an editor) typed by one target, then the other; both servers stay up for a condition, as in an
editor session. ``--compete 0,1`` runs every span once per number of competing CPU-bound processes, codeassist
started afresh for each (its typed-ahead cache would otherwise answer the spans typed in the condition before).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import tomllib

from bench import openloop_drivers as drivers
from bench import openloop_score as sc
from bench import replay
from bench.omp_wait import hogs
from bench.replay_compare import lsp_env
from bench.run import LLAMA_BIN, THREADS
from codeassist.models.registry import MODEL_ENV, resolve

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "bench" / "repos.toml"
SKIP_DIRS = {"tests", "test", "docs", "doc", "examples", "benchmarks", "build"}


def log(msg: str) -> None:
    print(f"[openloop {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def repo_tree(name: str, cache: Path) -> Path:
    """The extracted source tree of suite repository ``name`` in ``cache`` (``bench.repos`` layout); no download."""
    with open(MANIFEST, "rb") as fh:
        repo = next((r for r in tomllib.load(fh)["repo"] if r["name"] == name), None)
    if repo is None:
        raise SystemExit(f"{name}: not in {MANIFEST}")
    dest = cache / "src" / f"{name}-{repo['version']}"
    if not (dest / ".complete").exists():
        raise SystemExit(f"{dest}: not fetched (python -m bench.repos fetches the suite; this bench never downloads)")
    tops = [p for p in dest.iterdir() if p.is_dir()]
    return tops[0] if len(tops) == 1 else dest


def code_runs(source: str, n_lines: int) -> list[int]:
    """0-based first lines of runs of ``n_lines`` code lines inside one function body, after its docstring."""
    lines = source.split("\n")
    starts: list[int] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring
        if not body:
            continue
        first, last = body[0].lineno - 1, (node.end_lineno or body[-1].lineno) - 1
        strings = {
            i for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            for i in range(n.lineno, (n.end_lineno or n.lineno) + 1) if (n.end_lineno or n.lineno) > n.lineno
        }  # fmt: skip  # lines of multi-line strings (1-based): typing inside them is not code
        ok = [
            bool(lines[i].strip()) and not lines[i].lstrip().startswith("#") and (i + 1) not in strings
            for i in range(first, last + 1)
        ]
        starts += [first + j for j in range(len(ok) - n_lines + 1) if all(ok[j : j + n_lines])]
    return starts


def pick_spans(tree: Path, count: int, n_lines: int, seed: int) -> list[replay.Span]:
    """``count`` seeded spans from the package's own source files (never tests, docs or setup scripts)."""
    candidates: list[replay.Span] = []
    for path in sorted(tree.rglob("*.py")):
        rel = path.relative_to(tree).parts
        if any(p in SKIP_DIRS or p.startswith("test") for p in rel) or rel[-1] in ("setup.py", "conftest.py"):
            continue
        try:
            starts = code_runs(path.read_text(encoding="utf-8"), n_lines)
        except (SyntaxError, UnicodeDecodeError):
            continue
        candidates += [replay.Span(str(path), s, n_lines) for s in starts]
    rng = random.Random(seed)
    return rng.sample(candidates, min(count, len(candidates)))


def run_span(
    span: replay.Span, client: drivers.OpenLoopLsp, url: str, args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """One span typed by both targets: per target its outcomes, late latencies and the lines' rests."""
    source = Path(span.path).read_text(encoding="utf-8")
    strokes = replay.keystrokes(source, span, limit=args.keys)
    text = replay.initial_text(source, span)
    times = sc.schedule(len(strokes), args.interval_ms, sc.line_starts(strokes), args.line_pause_ms)
    rests = sc.rests_of_lines(source, strokes)
    pause = args.pause_ms / 1000
    got = {
        "codeassist": drivers.lsp_span(client, span.path, text, strokes, times, args.interval_ms, pause),
        "llama_server": drivers.vim_span(url, text, strokes, times, args.interval_ms, pause),
    }
    out: dict[str, dict[str, Any]] = {}
    for name, arrivals in got.items():
        rows = sc.outcomes(times, arrivals, rests, args.interval_ms)
        late = sc.late_latencies(times, arrivals, args.interval_ms)
        out[name] = {"rows": rows, "late": late, "rests": rests, "arrivals": [a.__dict__ for a in arrivals]}
        s = sc.score(name, rows, late, rests)
        log(f"  {name}: answered {s.answered}/{s.keys}, accepted {s.accepted_chars} chars, late {s.late}")
    return out


def run_condition(
    spans: list[replay.Span], client: drivers.OpenLoopLsp, url: str, args: argparse.Namespace
) -> dict[str, Any]:
    load_start = os.getloadavg()
    per: dict[str, dict[str, list[Any]]] = {}
    spans_out = []
    for span in spans:
        log(f"{span.path}:{span.first_line + 1} ({span.n_lines} lines)")
        res = run_span(span, client, url, args)
        spans_out.append({"path": span.path, "first_line": span.first_line, "n_lines": span.n_lines, "targets": {
            name: {**sc.score(name, r["rows"], r["late"], r["rests"]).__dict__, "arrivals": r["arrivals"],
                   "rows": [row.__dict__ for row in r["rows"]]} for name, r in res.items()}})  # fmt: skip
        for name, r in res.items():
            acc = per.setdefault(name, {"rows": [], "late": [], "rests": []})
            for k in acc:
                acc[k] += r[k]
    totals = {name: sc.score(name, a["rows"], a["late"], a["rests"]).__dict__ for name, a in per.items()}
    return {"load_avg_start": load_start, "load_avg_end": os.getloadavg(), "targets": totals, "spans": spans_out}


def report(result: dict[str, Any]) -> str:
    out = []
    for n, cond in result["conditions"].items():
        out.append(f"\n### {n} competing process(es); load average (1/5/15 min) start {cond['load_avg_start']}, "
                   f"end {cond['load_avg_end']}")  # fmt: skip
        out.append("| target | keys | answered in time | shown | chars accepted | keys with an accept | p50 ms | "
                   "p95 ms | late (p50 ms) |")  # fmt: skip
        out.append("|---|---|---|---|---|---|---|---|---|")
        for name, t in cond["targets"].items():
            out.append(
                f"| {name} | {t['keys']} | {t['answered'] / max(t['keys'], 1):.0%} | {t['shown']} | "
                f"{t['accepted_chars']} of {t['offered_chars']} | {t['keys_with_accept']} | {t['p50_ms']:.0f} | "
                f"{t['p95_ms']:.0f} | {t['late']} ({t['late_p50_ms']:.0f}) |"
            )
        ours, anchor = cond["targets"]["codeassist"], cond["targets"]["llama_server"]
        if anchor["accepted_chars"]:
            ratio = ours["accepted_chars"] / anchor["accepted_chars"]
            out.append(f"\nchars accepted, codeassist / llama-server: {ratio:.2f}x")
        else:
            out.append(f"\nchars accepted: codeassist {ours['accepted_chars']}, llama-server 0 (no ratio)")
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--repos", default="inflection,toolz,sqlparse", help="suite repositories (bench/repos.toml)")
    ap.add_argument("--spans-per-repo", type=int, default=1)
    ap.add_argument("--lines", type=int, default=3, help="code lines per span")
    ap.add_argument("--keys", type=int, default=80, help="at most this many keystrokes per span")
    ap.add_argument("--interval-ms", type=float, default=120.0, help="time between keystrokes")
    ap.add_argument("--line-pause-ms", type=float, default=1000.0, help="more before the first key of each line")
    ap.add_argument("--pause-ms", type=float, default=1500.0, help="after opening a span, before its first key")
    ap.add_argument("--compete", default="0", help="comma list: competing CPU-bound processes per condition")
    ap.add_argument("--model", default=None, help="tier or GGUF for both (default: the bench's default model)")
    ap.add_argument("--cache", default=str(ROOT / "build" / "bench-repos"), help="bench.repos' cache directory")
    ap.add_argument("--lsp-settings", default="{}", help="JSON: more codeassist settings (e.g. a diagnostic run)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=None, help="JSON result file")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: still stop the servers we started
    cache = Path(args.cache)
    spans = [s for name in args.repos.split(",")
             for s in pick_spans(repo_tree(name, cache), args.spans_per_repo, args.lines, args.seed)]  # fmt: skip
    model = resolve(args.model)
    env = lsp_env({MODEL_ENV: args.model} if args.model else {})
    settings = {"threads": THREADS, **json.loads(args.lsp_settings)}
    result: dict[str, Any] = {"args": vars(args), "model": model, "cores": os.cpu_count(), "conditions": {}}
    with replay.llama_server(os.path.join(LLAMA_BIN, "llama-server"), model, threads=THREADS, n_ctx=8192,
                             n_batch=1024) as url:  # fmt: skip
        for n in [int(c) for c in args.compete.split(",")]:
            log(f"condition: {n} competing CPU-bound process(es)")
            # a fresh codeassist per condition: its typed-ahead cache would otherwise hold the answers to the same
            # spans typed in the condition before (llama.vim's client cache is fresh per span, bench.openloop_drivers)
            client = drivers.lsp_start(sys.executable, env, settings)
            try:
                with hogs(n):
                    result["conditions"][str(n)] = run_condition(spans, client, url, args)
            finally:
                client.close()
            if args.out:
                Path(args.out).write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(report(result))


if __name__ == "__main__":
    main()
