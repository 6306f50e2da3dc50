"""PSM vs SPM with the real model: prompt tokens re-evaluated per keystroke, and single-line quality.

Why a measurement: every prompt token re-evaluated per keystroke costs ~8 ms on a 2-core CPU, and llama-cpp-python
reuses only the longest common token prefix. Under PSM the whole suffix sits after the edit point; under SPM only the
end of the prefix does. Whether the model completes as well under SPM has to be measured, not assumed.

    python bench/reuse_bench.py [--tasks 12] [--keystrokes 12] [--threads 2]

Part 1 types a line keystroke by keystroke into a real file and evaluates each prompt (no generation), reading
``evaluated_tokens`` from the backend. Part 2 runs HumanEval single-line infilling tasks under both orders
(exact match of the completed line) and reports the syntax-gate counters.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from codeassist.engine import CompletionRequest, Engine, EngineConfig


def keystrokes(engine: Engine, path: str, text: str, at: str, typed: str) -> list[int]:
    pos = text.index(at)
    out = []
    engine.document_opened(path, text, None)
    for k in range(len(typed) + 1):
        doc = text[:pos] + typed[:k] + text[pos:]
        line = doc[: pos + k].count("\n")
        col = pos + k - (doc.rfind("\n", 0, pos + k) + 1)
        req = CompletionRequest(doc, line, col, path=path)
        gen = engine.warm(req)
        if k:
            out.append(gen.evaluated_tokens)
        prompt_tokens = gen.prompt_tokens
    out.append(prompt_tokens)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--file", default=os.path.join(os.path.dirname(__file__), "..", "codeassist", "postprocess.py"))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--skip-keystrokes", action="store_true")
    args = ap.parse_args()
    report: dict[str, object] = {}
    path = os.path.abspath(args.file)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    at = "\n\nclass StreamFilter"
    typed = "\n    total = len(lines)"
    for order in () if args.skip_keystrokes else ("psm", "spm"):
        eng = Engine(EngineConfig(n_threads=args.threads, prompt_order=order, time_budget_ms=None))
        eng.load()
        t0 = time.perf_counter()
        res = keystrokes(eng, path, text, at, typed)
        per_key, prompt = res[:-1], res[-1]
        eng.close()
        report[f"{order}_keystroke"] = {
            "prompt_tokens": prompt, "keystrokes": len(per_key), "mean": round(statistics.mean(per_key), 1),
            "median": statistics.median(per_key), "max": max(per_key),
            "ms_per_keystroke": round((time.perf_counter() - t0) * 1000 / (len(per_key) + 1), 1),
        }  # fmt: skip
        print(order, report[f"{order}_keystroke"], flush=True)

    if args.tasks:
        from bench.tasks import load_problems, sample, single_line_tasks

        tasks = sample(single_line_tasks(load_problems()), args.tasks)
        with tempfile.TemporaryDirectory() as ws:
            for order in ("psm", "spm"):
                eng = Engine(EngineConfig(n_threads=args.threads, prompt_order=order, max_tokens=24, workspace=ws,
                                          time_budget_ms=None, typed_ahead=False))  # fmt: skip
                eng.load()
                exact = 0
                ms = []
                for task in tasks:
                    # The hole is a whole line: the cursor sits on an empty line between prefix and suffix.
                    doc = task.prefix + "\n" + task.suffix
                    line = task.prefix.count("\n")
                    out = eng.complete(CompletionRequest(doc, line, 0, path=os.path.join(ws, "t.py")))
                    first = next((ln for ln in out.text.split("\n") if ln.strip()), "")
                    exact += first.strip() == task.middle.strip()  # the first completed line is the single line
                    ms.append(out.timings.total_ms)
                report[f"{order}_humaneval_single_line"] = {
                    "tasks": len(tasks), "exact_match": exact, "median_ms": round(statistics.median(ms)),
                    "gate": eng.gate.stats.as_dict(),
                }  # fmt: skip
                print(order, report[f"{order}_humaneval_single_line"], flush=True)
                eng.close()
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
