"""HumanEval single-line infilling, several engine variants in one run (the regression check for quality changes).

The same seeded sample as ``bench.run --quick`` (120 holes, whole problems), the same scoring (exact match, pass@1
in the sandbox), each variant's ``EngineConfig`` fields on top of the defaults, one model for all of them. HumanEval
is synthetic: a change is judged on the real-repository suite; this only checks that it does not regress here.

    python -m bench.humaneval_ab 'prev:{"token_healing": false, "rest_of_line": false, "static_checks": []}' default
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from bench import quality, tasks
from bench.scoring import Executor
from codeassist.engine import Engine, EngineConfig

KEEP = ("name", "n", "exact_match", "edit_similarity", "pass_at_1", "executed", "shown_rate", "syntax_error_shown")


def _variant(spec: str) -> tuple[str, dict[str, Any]]:
    name, sep, raw = spec.partition(":")
    fields = json.loads(raw) if sep else {}
    return name, {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.humaneval_ab", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("variants", nargs="+", help="NAME or NAME:JSON (EngineConfig fields)")
    ap.add_argument("--n", type=int, default=120, help="single-line holes (whole problems, seeded)")
    ap.add_argument("--out", default=None, help="write the per-task outcomes as JSON here")
    args = ap.parse_args(argv)
    variants = [_variant(v) for v in args.variants]
    single = tasks.sample_by_problem(tasks.single_line_tasks(tasks.load_problems()), args.n)
    executor = Executor()
    ok, reason = executor.health()
    if not ok:
        raise SystemExit(f"sandbox unavailable: {reason}")
    base = EngineConfig(n_threads=2, workspace=tempfile.mkdtemp(prefix="codeassist-he-"))
    engine = Engine(base)
    results: dict[str, Any] = {}
    try:
        for name, fields in variants:
            engine.config = dataclasses.replace(base, **fields)
            print(f"{name}: {len(single)} tasks", file=sys.stderr, flush=True)
            summary = quality.run_quality(name, engine, single, multi_line=False, max_tokens=24, executor=executor)
            results[name] = summary.to_json(True)
            row = summary.to_json(False)
            print(json.dumps({k: row[k] for k in KEEP}), flush=True)
    finally:
        engine.close()
        executor.close()
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
