"""The stay-silent gate on holes it was not calibrated on: what the shipped rule would show, from a run without it.

Input: a ``bench.repos`` run directory where one system answered with the gate off (its rows hold the confidence
features of what it showed, ``fill.info.confidence``) — on holes of another ``--seed`` than the calibration run's, so
the rule meets new holes. The gate only hides, so applying the rule to the recorded rows gives what the gated server
would show (up to rows near the threshold: recorded ``min_logprob`` varies by about 0.1 between runs). Other systems
in the run (e.g. ``infill-1.5b``) are printed beside it, as they are.

    python -m bench.gate_heldout --run build/bench-repos/runs/heldout-s24 --system nogate --tier qwen2.5-coder-1.5b

Why: the rule was picked on 112 holes of the same ten repositories; a held-out set of repositories judges the
product, so the rule must hold on holes it never saw (issue 11: precision of shown >= 80% at >= 60% coverage).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codeassist.confidence import GateRule, resolve_gate


def _rows(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for f in sorted(run.glob("*/rows.jsonl")) for line in f.read_text().splitlines()]


def _hidden(row: dict[str, Any], rule: GateRule | None) -> bool:
    conf = (row["fill"].get("info") or {}).get("confidence")
    if rule is None or not isinstance(conf, dict):
        return False
    feature, threshold = rule
    return float(conf[feature]) < threshold


def summary(rows: Sequence[dict[str, Any]], rule: GateRule | None) -> dict[str, Any]:
    """Coverage, exact match, tests pass (shown and passing over judged) and precision of shown, with ``rule``
    applied to each row's recorded confidence (None: as recorded)."""
    holes = shown = exact = judged = judged_shown = passed = 0
    for row in rows:
        holes += 1
        on = bool(row["score"]["shown"]) and not _hidden(row, rule)
        shown += on
        exact += on and bool(row["score"].get("exact"))
        if row["selection"]["judgeable"]:
            judged += 1
            judged_shown += on
            passed += on and (row.get("verdict") or {}).get("status") == "pass"
    return {
        "holes": holes, "shown": shown / holes, "exact": exact / holes, "judged": judged,
        "tests_pass": passed / judged if judged else 0.0, "precision": passed / judged_shown if judged_shown else 0.0,
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, help="a bench.repos --out directory")
    ap.add_argument("--system", default="nogate", help="the system that answered with the gate off")
    ap.add_argument("--tier", default="qwen2.5-coder-1.5b", help="whose calibrated rule to apply")
    args = ap.parse_args(argv)
    rule = resolve_gate("auto", args.tier)
    if rule is None:
        ap.error(f"no calibrated gate for {args.tier!r}")
    rows = _rows(args.run)
    systems = sorted({r["system"] for r in rows})
    if args.system not in systems:
        ap.error(f"no rows of {args.system!r} in {args.run} (systems: {', '.join(systems)})")
    print("| system | holes | shown | exact | judged | tests pass | precision of shown |")
    print("|---|---|---|---|---|---|---|")
    table = [(f"{args.system} (gate off)", args.system, None), (f"{args.system} + gate {rule[0]} >= {rule[1]}",
             args.system, rule)] + [(s, s, None) for s in systems if s != args.system]  # fmt: skip
    for label, system, applied in table:
        s = summary([r for r in rows if r["system"] == system], applied)
        print(f"| {label} | {s['holes']} | {s['shown']:.1%} | {s['exact']:.1%} | {s['judged']} | "
              f"{s['tests_pass']:.1%} | {s['precision']:.1%} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
