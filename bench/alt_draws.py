"""What alternative draws look like with and without the ban of failed texts, at holes of a `bench.repos` run.

Why: the suite's counts say whether draws repeat a failed text and whether one passes; they do not show whether
the draws the ban steers are still plausible code. This replays the search's draws (codeassist/alternatives.py:
temperature ``ALTERNATIVE_TEMPERATURE``, seeds 1…n, the confidence gate off, each draw banning the greedy text and
the draws before it when the ban is on) through the engine for chosen holes, and prints the texts. No tests run.

    python bench/alt_draws.py --run build/bench-repos/runs/ban inflection:line-0002 parse:line-0007 [--draws 3]

The model is the default tier (``CODEASSIST_MODEL`` overrides); sources come from the run's repository cache.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from codeassist.alternatives import banned_texts
from codeassist.completion import ALTERNATIVE_TEMPERATURE
from codeassist.engine import CompletionRequest, Engine, EngineConfig


def hole_request(run: Path, src: Path, repo: str, hole_id: str) -> tuple[CompletionRequest, dict[str, Any]]:
    """The request the bench's editor sent at ``hole_id``: the file with the hole cut, the cursor at its start."""
    rows = (json.loads(line) for line in (run / repo / "rows.jsonl").read_text().splitlines())
    hole = next(r["hole"] for r in rows if r["hole"]["id"] == hole_id)
    path = next(p for p in src.glob(f"{repo}-*/**/{hole['path']}") if p.is_file())
    full = path.read_text()
    text = full[: hole["start"]] + full[hole["end"] :]
    before = text[: hole["start"]]
    line, column = before.count("\n"), len(before) - (before.rfind("\n") + 1)
    return CompletionRequest(text=text, line=line, column=column, path=str(path)), hole


def draws(engine: Engine, req: CompletionRequest, first: str, n: int, *, ban: bool) -> list[tuple[str, int | None]]:
    seen = {first.rstrip()}
    out: list[tuple[str, int | None]] = []
    for seed in range(1, n + 1):
        avoid = banned_texts(req, seen) if ban else ()
        sample = dataclasses.replace(
            req, temperature=ALTERNATIVE_TEMPERATURE, seed=seed, confidence_gate=False, avoid=avoid
        )
        result = engine.complete(sample, remember=False)
        out.append((result.text, result.branched))
        seen.add(result.text.rstrip())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("holes", nargs="+", help="REPO:HOLE_ID, e.g. inflection:line-0002")
    ap.add_argument("--run", type=Path, required=True, help="a bench.repos --out directory")
    ap.add_argument("--src", type=Path, default=Path("build/bench-repos/src"))
    ap.add_argument("--draws", type=int, default=3)
    args = ap.parse_args()
    engine = Engine(EngineConfig(max_tokens=48, time_budget_ms=None))
    engine.load()
    print(f"model: {engine.model_name}")
    for spec in args.holes:
        repo, _, hole_id = spec.partition(":")
        req, hole = hole_request(args.run, args.src, repo, hole_id)
        greedy = engine.complete(req, remember=False).text
        print(f"\n{repo} {hole_id}: removed {hole['removed']!r}, greedy {greedy!r}")
        for ban in (False, True):
            print(f"  ban {'on ' if ban else 'off'}:", draws(engine, req, greedy, args.draws, ban=ban))
    engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
