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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.repos import load_manifest
from bench.repos_report import pool
from codeassist.confidence import Confidence, GateRule, resolve_gate, unsure
from codeassist.repobench.report import HEADER, table_row


def gated(row: dict[str, Any], rule: GateRule) -> dict[str, Any]:
    """``row`` as the gated server would have answered: not shown when ``rule`` hides its recorded confidence."""
    conf = (row["fill"].get("info") or {}).get("confidence")
    if not row["score"]["shown"] or not isinstance(conf, dict) or not unsure(Confidence(**conf), rule):
        return row
    return {
        **row,
        "score": {
            **row["score"],
            "shown": False,
            "exact": False,
            "exact_line": False,
            "edit_sim": 0.0,
            "syntax_ok": True,
        },
    }  # as the bench scores an empty answer


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, help="a bench.repos --out directory")
    ap.add_argument("--system", default="nogate", help="the system that answered with the gate off")
    ap.add_argument("--tier", default="qwen2.5-coder-1.5b", help="whose calibrated rule to apply")
    args = ap.parse_args(argv)
    rule = resolve_gate("auto", args.tier)
    if rule is None:
        ap.error(f"no calibrated gate for {args.tier!r}")
    pooled = pool(args.run, load_manifest())
    if args.system not in pooled.described:
        ap.error(f"no rows of {args.system!r} in {args.run} (systems: {', '.join(pooled.described)})")
    with_gate = f"{args.system} + gate {rule[0]} >= {rule[1]}"
    pooled.described[with_gate] = pooled.described[args.system]
    pooled.rows += [{**gated(r, rule), "system": with_gate} for r in pooled.rows if r["system"] == args.system]
    print(HEADER)
    for name in [args.system, with_gate, *(n for n in pooled.described if n not in (args.system, with_gate))]:
        print(table_row(name, pooled.metrics(name)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
