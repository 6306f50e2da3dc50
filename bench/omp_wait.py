"""``python -m bench.omp_wait``: OpenMP wait policy x thread count, with and without competing CPU-bound processes.

Why: llama.cpp's OpenMP threads spin while they wait for each other. On a machine where something else runs (a
build, a browser, another helper's tests), a spinning thread holds a core the other thread needs, and decode can
collapse. The engine's default wait policy is chosen from these numbers (``codeassist.models.omp``).

Each configuration runs in a fresh child process (libgomp reads ``OMP_WAIT_POLICY`` once, when it loads), which loads
the default model, evaluates a fixed prompt from an empty cache and decodes a fixed number of tokens greedily.
Configurations are interleaved round by round, so load drift on a shared machine hits them alike; medians per
configuration are reported, with the load average at the start and end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ("unset", "active", "passive")
HOG = "while 1: pass"


def child(threads: int, n_prompt: int, n_gen: int) -> dict[str, Any]:
    """Measure in this process (run by the parent with the policy in the environment)."""
    from codeassist.models.backend import GenerationParams
    from codeassist.models.llama_backend import LlamaBackend
    from codeassist.models.registry import resolve

    backend = LlamaBackend(resolve(None), n_ctx=2048, n_threads=threads)
    src = (ROOT / "codeassist" / "engine.py").read_text(encoding="utf-8")
    tokens = backend.tokenize(src)
    ev = backend.evaluate(tokens[:n_prompt])
    # decode after a different prompt so the greedy loop cannot stop early on an end token from a fixed place
    gen = backend.generate(tokens[n_prompt : n_prompt + 64], GenerationParams(max_tokens=n_gen))
    backend.close()
    return {
        "prompt_tok_s": ev.evaluated_tokens / max(ev.prompt_ms / 1000, 1e-9),
        "gen_tok_s": len(gen.tokens) / max(gen.generation_ms / 1000, 1e-9),
        "gen_tokens": len(gen.tokens),
    }


@contextlib.contextmanager
def hogs(n: int) -> Iterator[None]:
    """``n`` competing CPU-bound processes at normal priority (the processes we start, stopped by their pid)."""
    procs = [subprocess.Popen(["nice", "-n", "0", sys.executable, "-c", HOG]) for _ in range(n)]
    try:
        time.sleep(0.5 if n else 0)
        yield
    finally:
        for p in procs:
            p.terminate()
            p.wait(5)


def run_one(policy: str, threads: int, n_prompt: int, n_gen: int) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if policy != "unset":
        env["OMP_WAIT_POLICY"] = policy
    env["CODEASSIST_OMP_WAIT_POLICY"] = "inherit"  # measure what the environment says, not the engine's default
    cmd = [sys.executable, "-m", "bench.omp_wait", "--child", "--threads", str(threads),
           "--n-prompt", str(n_prompt), "--n-gen", str(n_gen)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    if proc.returncode != 0:
        return {"error": proc.stderr[-300:]}
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--thread-counts", default="1,2")
    ap.add_argument("--competitors", default="0,1", help="numbers of competing CPU-bound processes")
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--n-prompt", type=int, default=256)
    ap.add_argument("--n-gen", type=int, default=32)
    ap.add_argument("--out", default=None, help="write the JSON here")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.threads, args.n_prompt, args.n_gen)))
        return
    counts = [int(x) for x in args.thread_counts.split(",")]
    comps = [int(x) for x in args.competitors.split(",")]
    policies = args.policies.split(",")
    rows: dict[tuple[int, str, int], list[dict[str, Any]]] = {}
    load_start = os.getloadavg()
    for r in range(args.rounds):
        for c in comps:
            with hogs(c):
                for t in counts:
                    for p in policies:
                        got = run_one(p, t, args.n_prompt, args.n_gen)
                        rows.setdefault((c, p, t), []).append(got)
                        print(f"round {r} competitors={c} policy={p} threads={t}: {got}", file=sys.stderr, flush=True)
    load_end = os.getloadavg()
    table = []
    for (c, p, t), runs in rows.items():
        ok = [x for x in runs if "error" not in x]
        table.append({
            "competitors": c, "policy": p, "threads": t, "runs": len(ok),
            "prompt_tok_s": statistics.median(x["prompt_tok_s"] for x in ok) if ok else float("nan"),
            "gen_tok_s": statistics.median(x["gen_tok_s"] for x in ok) if ok else float("nan"),
        })  # fmt: skip
    result = {"load_avg_start": load_start, "load_avg_end": load_end, "cores": os.cpu_count(), "rows": table}
    print("| competitors | OMP_WAIT_POLICY | threads | prompt tok/s | decode tok/s |")
    print("|---|---|---|---|---|")
    for row in sorted(table, key=lambda x: (x["competitors"], x["threads"], x["policy"])):
        print(f"| {row['competitors']} | {row['policy']} | {row['threads']} | {row['prompt_tok_s']:.1f} | "
              f"{row['gen_tok_s']:.1f} |")  # fmt: skip
    print(f"\nload average start {load_start}, end {load_end}; {os.cpu_count()} cores")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
