"""``python -m bench.replay_compare``: the typing replay through the LSP for two versions of codeassist (this checkout
and another checkout's virtualenv), with llama-server ``/infill`` as the anchor, on a quiet machine and with competing
CPU-bound processes, all in one run.

Why a separate driver: a before/after latency claim is only worth something when both sides see the same machine in
the same minutes; ``bench.run`` measures one version. Targets are interleaved span by span. Reported per condition and
target: p50/p95 keystroke → answer, and the answered rate (keystrokes answered with a non-empty suggestion).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench import replay
from bench.omp_wait import hogs
from bench.run import LLAMA_BIN, N_CTX, THREADS, replay_spans
from codeassist.models.registry import resolve


def log(msg: str) -> None:
    print(f"[compare {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def lsp_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "CODEASSIST_OMP_WAIT_POLICY")}
    return {**env, **extra}


def spans_from(root: str | None) -> list[replay.Span]:
    """``bench.run``'s replay spans, read from the checkout ``root`` instead of this one (a refactor here moves the
    text at the span's line: comparisons across runs need the same keystrokes)."""
    spans = replay_spans(quick=True)
    if root is None:
        return spans
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [
        replay.Span(os.path.join(root, os.path.relpath(s.path, here)), s.first_line, s.n_lines)
        if os.path.abspath(s.path).startswith(here + os.sep)
        else s
        for s in spans
    ]


def run_condition(
    targets: dict[str, tuple[str, dict[str, str]]],
    keys: int,
    settings: dict[str, Any],
    spans: list[replay.Span],
    read_s: float = 0.0,
) -> dict[str, Any]:
    answers: dict[str, list[replay.Answer]] = {name: [] for name in [*targets, "llama_server"]}
    load_start = os.getloadavg()
    server_bin = os.path.join(LLAMA_BIN, "llama-server")
    for span in spans:
        source = Path(span.path).read_text(encoding="utf-8")
        strokes = replay.keystrokes(source, span, limit=keys)
        log(f"{os.path.basename(span.path)}:{span.first_line + 1}: {len(strokes)} keystrokes")
        for name, (python, extra) in targets.items():
            got, status = replay.replay_lsp(
                strokes, source, span, settings=settings, python=python, env=lsp_env(extra), read_s=read_s
            )
            answers[name] += got
            log(f"  {name}: last status busy={status.get('busy')} {status.get('busyReason')}")
        with replay.llama_server(server_bin, resolve(None), threads=THREADS, n_ctx=N_CTX, n_batch=1024) as url:
            answers["llama_server"] += replay.replay_llama_server(
                url, strokes, max_tokens=settings["max_tokens"], prefix_tokens=768, suffix_tokens=256
            )
    out: dict[str, Any] = {"load_avg_start": load_start, "load_avg_end": os.getloadavg(), "targets": {}}
    for name, got in answers.items():
        st = replay.summarise(name, got)
        out["targets"][name] = {
            "keys": st.keystrokes, "p50_ms": st.p50_ms, "p95_ms": st.p95_ms, "answered": st.shown,
            "answered_rate": st.shown / max(st.keystrokes, 1),
        }  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True, help="python of the other checkout's virtualenv")
    ap.add_argument("--keys", type=int, default=24, help="keystrokes per span")
    ap.add_argument("--competitors", default="0,1")
    ap.add_argument("--after-active", action="store_true", help="also this checkout with OMP_WAIT_POLICY=active")
    ap.add_argument("--out", default=None)
    ap.add_argument("--spans-from", default=None, help="read the replay spans' files from this checkout")
    ap.add_argument("--read-s", type=float, default=0.0, help="seconds the cursor rests before typing (sends warm)")
    args = ap.parse_args()
    settings = {"threads": THREADS, "n_ctx": N_CTX, "max_tokens": 24, "debounce_ms": 75}
    targets: dict[str, tuple[str, dict[str, str]]] = {"before": (args.before, {}), "after": (sys.executable, {})}
    if args.after_active:
        targets["after_omp_active"] = (sys.executable, {"CODEASSIST_OMP_WAIT_POLICY": "active"})
    result: dict[str, Any] = {"settings": settings, "cores": os.cpu_count(), "read_s": args.read_s, "conditions": {}}
    for n in [int(c) for c in args.competitors.split(",")]:
        log(f"condition: {n} competing CPU-bound process(es)")
        with hogs(n):
            spans = spans_from(args.spans_from)
            result["conditions"][str(n)] = run_condition(targets, args.keys, settings, spans, args.read_s)
        if args.out:
            Path(args.out).write_text(json.dumps(result, indent=1), encoding="utf-8")
    for n, cond in result["conditions"].items():
        print(
            f"\n### {n} competing process(es); load average start {cond['load_avg_start']}, end {cond['load_avg_end']}"
        )
        print("| target | keys | p50 ms | p95 ms | answered |")
        print("|---|---|---|---|---|")
        for name, t in cond["targets"].items():
            print(f"| {name} | {t['keys']} | {t['p50_ms']:.0f} | {t['p95_ms']:.0f} | {t['answered_rate']:.0%} |")


if __name__ == "__main__":
    main()
