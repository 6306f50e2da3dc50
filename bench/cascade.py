"""What a small→large cascade would show, from one real-repository run (issue 11: "the 1.5B only where the 0.5B is
unsure").

Input: a ``bench.repos`` run directory where two systems answered the same holes — the small tier (its rows hold the
confidence features of what it showed, ``fill.info.confidence``) and the large one. For each threshold ``t`` on one
feature of the small tier's answer, the cascade shows the small tier's suggestion when the feature is ``>= t`` and
otherwise asks the large tier (and shows what it showed). Verdicts come from the run (each hole's own tests), so no
model is called here; the cost of a hole is the small tier's latency plus, when it escalated, the large tier's —
both measured in that run, on the same machine (compare the two columns only within one run).

    python -m bench.cascade --run build/bench-repos/runs/suite-s21 --small 0.5b --large default

Prints one row per threshold: share of holes sent to the large tier, tests pass (shown and passing over judged),
precision of shown, exact match, and median / mean latency per hole.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeassist.confidence import FEATURES


@dataclass(frozen=True)
class Pair:
    """One hole answered by both tiers."""

    judged: bool
    small: dict[str, Any]
    large: dict[str, Any]


def _passed(row: dict[str, Any]) -> bool:
    return bool(row["score"]["shown"]) and (row.get("verdict") or {}).get("status") == "pass"


def load_pairs(run: Path, small: str, large: str) -> list[Pair]:
    """Holes both systems answered (a hole is judged when some passing test executes its line)."""
    pairs = []
    for rows_file in sorted(run.glob("*/rows.jsonl")):
        by_hole: dict[str, dict[str, dict[str, Any]]] = {}
        for line in rows_file.read_text().splitlines():
            row = json.loads(line)
            by_hole.setdefault(row["hole"]["id"], {})[row["system"]] = row
        for systems in by_hole.values():
            if small in systems and large in systems:
                judged = bool(systems[large]["selection"]["judgeable"])
                pairs.append(Pair(judged, systems[small], systems[large]))
    return pairs


def _feature(row: dict[str, Any], name: str) -> float | None:
    conf = (row["fill"].get("info") or {}).get("confidence")
    return float(conf[name]) if isinstance(conf, dict) and conf.get(name) is not None else None


def evaluate(pairs: Sequence[Pair], feature: str, threshold: float | None) -> dict[str, Any]:
    """The cascade at one threshold (None: always the large tier; -inf: never)."""
    shown = passed = exact = escalated = 0
    judged = 0
    costs = []
    for pair in pairs:
        value = _feature(pair.small, feature) if pair.small["score"]["shown"] else None
        never = threshold == float("-inf")
        keep_small = never or (threshold is not None and value is not None and value >= threshold)
        row = pair.small if keep_small else pair.large
        cost = float(pair.small["fill"]["latency_ms"]) if threshold is not None else 0.0
        if not keep_small:
            escalated += 1
            cost += float(pair.large["fill"]["latency_ms"])
        costs.append(cost)
        exact += int(bool(row["score"].get("exact")))
        if pair.judged:
            judged += 1
            shown += int(bool(row["score"]["shown"]))
            passed += int(_passed(row))
    n = len(pairs)
    return {
        "threshold": threshold, "escalated": escalated / n if n else 0.0,
        "tests_pass": passed / judged if judged else 0.0, "precision": passed / shown if shown else 0.0,
        "exact": exact / n if n else 0.0, "p50_ms": statistics.median(costs) if costs else 0.0,
        "mean_ms": statistics.fmean(costs) if costs else 0.0, "holes": n, "judged": judged,
    }  # fmt: skip


def curve(pairs: Sequence[Pair], feature: str) -> list[dict[str, Any]]:
    """Always-large, then every distinct value of the small tier's feature as a threshold (highest first: fewer and
    fewer holes escalate), then never-escalate."""
    values = sorted({v for p in pairs if (v := _feature(p.small, feature)) is not None}, reverse=True)
    out = [evaluate(pairs, feature, None)]
    out += [evaluate(pairs, feature, t) for t in values]
    out.append(evaluate(pairs, feature, float("-inf")))
    return out


def _table(rows: Sequence[dict[str, Any]], feature: str, small: str, large: str) -> str:
    head = (f"| rule | to {large} | tests pass | precision | exact | p50 ms | mean ms |\n"
            "|---|---:|---:|---:|---:|---:|---:|")  # fmt: skip
    lines = [head]
    for r in rows:
        t = r["threshold"]
        rule = (f"always {large}" if t is None else f"always {small}" if t == float("-inf")
                else f"{small} if {feature} >= {t:.2f}")  # fmt: skip
        lines.append(f"| {rule} | {r['escalated']:.0%} | {r['tests_pass']:.1%} | {r['precision']:.1%} | "
                     f"{r['exact']:.1%} | {r['p50_ms']:.0f} | {r['mean_ms']:.0f} |")  # fmt: skip
    return "\n".join(lines)


def _thin(rows: list[dict[str, Any]], steps: int) -> list[dict[str, Any]]:
    """The two ends plus about ``steps`` thresholds spread over the escalation share."""
    if len(rows) <= steps + 2:
        return rows
    middle = rows[1:-1]
    picked = [middle[round(i * (len(middle) - 1) / (steps - 1))] for i in range(steps)]
    return [rows[0], *picked, rows[-1]]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a bench.repos --out directory")
    ap.add_argument("--small", default="0.5b", help="the small tier's system name in that run")
    ap.add_argument("--large", default="default", help="the large tier's system name in that run")
    ap.add_argument("--feature", default="min_logprob", choices=FEATURES)
    ap.add_argument("--steps", type=int, default=12, help="thresholds shown between the two ends")
    ap.add_argument("--json", action="store_true", help="every threshold as JSON instead of a Markdown table")
    args = ap.parse_args(argv)
    pairs = load_pairs(args.run, args.small, args.large)
    if not pairs:
        print(f"no hole answered by both {args.small!r} and {args.large!r} in {args.run}", file=sys.stderr)
        return 1
    rows = curve(pairs, args.feature)
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
    else:
        print(_table(_thin(rows, args.steps), args.feature, args.small, args.large))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
