"""Prompt-lookup decoding on vs off: the same HumanEval infilling requests, greedy, in one process and one run.

Reports the generation time (prompt evaluation excluded), generated tokens, accepted draft tokens, and how many
outputs are identical (greedy drafting should change nothing but the speed; batched evaluation can differ from
one-token evaluation in the last bits of the logits, so a few outputs may differ). The two settings alternate per
task so machine noise hits both alike.

    python -m bench.lookup_bench --n 60 --multi 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Any

from bench import tasks
from bench.quality import request_for


def run(args: argparse.Namespace) -> dict[str, Any]:
    from codeassist.engine import Engine, EngineConfig

    problems = tasks.load_problems()
    single = tasks.sample_by_problem(tasks.single_line_tasks(problems), args.n)
    multi = tasks.multi_line_subset(problems, args.multi)
    work = [(t, 24) for t in single] + [(t, 64) for t in multi]
    engine = Engine(EngineConfig(n_threads=args.threads, time_budget_ms=None, typed_ahead=False))
    engine.load()
    rows: list[dict[str, Any]] = []
    for task, max_tokens in work:
        row: dict[str, Any] = {"task": task.task_id}
        for draft in (0, args.draft) if len(rows) % 2 == 0 else (args.draft, 0):
            engine.config.draft_tokens = draft
            res = engine.complete(request_for(task, max_tokens))
            key = "on" if draft else "off"
            row[f"{key}_ms"] = res.timings.generation_ms
            row[f"{key}_tokens"] = res.timings.generated_tokens
            row[f"{key}_text"] = res.raw_text
        rows.append(row)
    engine.close()
    same = sum(1 for r in rows if r["on_text"] == r["off_text"])
    off_ms = [r["off_ms"] for r in rows]
    on_ms = [r["on_ms"] for r in rows]
    off_tps = sum(r["off_tokens"] for r in rows) / (sum(off_ms) / 1000)
    on_tps = sum(r["on_tokens"] for r in rows) / (sum(on_ms) / 1000)
    summary = {
        "requests": len(rows), "draft_tokens": args.draft, "identical_outputs": same,
        "median_gen_ms_off": round(statistics.median(off_ms), 1),
        "median_gen_ms_on": round(statistics.median(on_ms), 1),
        "total_gen_s_off": round(sum(off_ms) / 1000, 2), "total_gen_s_on": round(sum(on_ms) / 1000, 2),
        "tok_s_off": round(off_tps, 1), "tok_s_on": round(on_tps, 1),
        "speedup_total": round(sum(off_ms) / sum(on_ms), 2),
    }  # fmt: skip
    return {"summary": summary, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--n", type=int, default=60)
    p.add_argument("--multi", type=int, default=20)
    p.add_argument("--draft", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="build/bench/lookup.json")
    args = p.parse_args(argv)
    data = run(args)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    print(json.dumps(data["summary"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
