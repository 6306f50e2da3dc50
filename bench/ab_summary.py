"""Paired comparison of systems in one ``bench.repos`` run: the same holes, each system's suggestion.

Why beside the suite's own report: a change is judged against the default it replaces *hole by hole* (wins and
losses on the same holes say more than two rates from a small sample), and the mid-line policy is measured in
characters a user keeps, not only exact matches:

- **chars kept**: per hole, the longest common prefix of the suggestion and the removed text's first line (what a
  user keeps by accepting word by word up to the first wrong character, or all of it when it is right), summed over
  holes and divided by the removed first lines' total length;
- **chars wrong**: characters shown past that common prefix (what the user has to read and reject).

    python -m bench.ab_summary build/bench-repos/runs/ab1 --base prev
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from codeassist.repobench.store import read_jsonl


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def load_rows(run: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for rows_file in sorted(run.glob("*/rows.jsonl")):
        rows.extend(read_jsonl(str(rows_file)))
    return rows


def _passed(row: dict[str, Any]) -> bool | None:
    verdict = row.get("verdict") or {}
    if not row["selection"]["judgeable"] or not row["score"]["shown"]:
        return None if not row["selection"]["judgeable"] else False
    status = verdict.get("status")
    return None if status not in ("pass", "fail") else status == "pass"


def summarise(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, float]]:
    """Per (system, kind) and (system, "all"): holes, coverage, exact, exact line, tests pass, precision, chars."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["system"], row["hole"]["kind"])].append(row)
        groups[(row["system"], "all")].append(row)
    out: dict[tuple[str, str], dict[str, float]] = {}
    for key, group in sorted(groups.items()):
        n = len(group)
        shown = [r for r in group if r["score"]["shown"]]
        judged = [r for r in group if _passed(r) is not None]
        judged_shown = [r for r in judged if r["score"]["shown"]]
        passed = sum(bool(_passed(r)) for r in judged)
        want = [r["hole"]["removed"].split("\n")[0] for r in group]
        kept = [_common_prefix(r["fill"]["text"].split("\n")[0], w) for r, w in zip(group, want, strict=True)]
        wrong = sum(len(r["fill"]["text"]) - k for r, k in zip(group, kept, strict=True) if r["score"]["shown"])
        out[key] = {
            "holes": n, "coverage": len(shown) / n, "exact": sum(r["score"]["exact"] for r in group) / n,
            "exact_line": sum(r["score"]["exact_line"] for r in group) / n, "judged": len(judged),
            "tests_pass": passed / len(judged) if judged else 0.0,
            "precision": passed / len(judged_shown) if judged_shown else 0.0,
            "chars_kept": sum(kept) / max(1, sum(len(w) for w in want)),
            "chars_wrong_per_shown": wrong / max(1, len(shown)),
        }  # fmt: skip
    return out


def paired(rows: Sequence[dict[str, Any]], base: str) -> dict[str, dict[str, int]]:
    """Per system: holes where it is exact and ``base`` is not (wins), and the reverse (losses); same for tests."""
    by_hole: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in rows:
        by_hole[(row["repo"], row["hole"]["id"])][row["system"]] = row
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for systems in by_hole.values():
        if base not in systems:
            continue
        b = systems[base]
        for name, row in systems.items():
            if name == base:
                continue
            out[name]["holes"] += 1
            out[name]["exact_wins"] += row["score"]["exact"] and not b["score"]["exact"]
            out[name]["exact_losses"] += b["score"]["exact"] and not row["score"]["exact"]
            mine, theirs = _passed(row), _passed(b)
            if mine is not None and theirs is not None:
                out[name]["test_wins"] += mine and not theirs
                out[name]["test_losses"] += theirs and not mine
    return {k: dict(v) for k, v in out.items()}


def differences(rows: Sequence[dict[str, Any]], before: str, after: str) -> list[dict[str, Any]]:
    """Holes where ``after`` showed something else than ``before`` (e.g. a check that is the only difference between
    the two): what changed, and whether each version was exact and passed the tests."""
    by_hole: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in rows:
        by_hole[(row["repo"], row["hole"]["id"])][row["system"]] = row
    out = []
    for (repo, hole), systems in sorted(by_hole.items()):
        if before not in systems or after not in systems:
            continue
        a, b = systems[before], systems[after]
        if a["fill"]["text"] == b["fill"]["text"]:
            continue
        change = "hidden" if a["score"]["shown"] and not b["score"]["shown"] else "changed"
        out.append({"repo": repo, "hole": hole, "change": change, "before": a["fill"]["text"],
                    "after": b["fill"]["text"], "removed": a["hole"]["removed"],
                    "exact_before": a["score"]["exact"], "exact_after": b["score"]["exact"],
                    "passed_before": _passed(a), "passed_after": _passed(b)})  # fmt: skip
    return out


def markdown(summary: dict[tuple[str, str], dict[str, float]], pairs: dict[str, dict[str, int]], base: str) -> str:
    lines = [
        "| system | kind | holes | coverage | exact | exact line | tests pass | precision of shown | chars kept | "
        "chars wrong / shown |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (system, kind), s in summary.items():
        lines.append(
            f"| {system} | {kind} | {s['holes']:.0f} | {s['coverage']:.1%} | {s['exact']:.1%} | {s['exact_line']:.1%} "
            f"| {s['tests_pass']:.1%} ({s['judged']:.0f}) | {s['precision']:.1%} | {s['chars_kept']:.1%} "
            f"| {s['chars_wrong_per_shown']:.1f} |"
        )
    lines += ["", f"Paired against `{base}` (same holes): exact wins/losses, tests wins/losses.", ""]
    for name, p in sorted(pairs.items()):
        lines.append(
            f"- `{name}`: {p.get('holes', 0)} holes; exact +{p.get('exact_wins', 0)} / -{p.get('exact_losses', 0)}; "
            f"tests +{p.get('test_wins', 0)} / -{p.get('test_losses', 0)}"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ab_summary", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("run", help="a bench.repos run directory")
    ap.add_argument("--base", default="default", help="the system the others are paired against")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--diff", help="BEFORE,AFTER: list the holes where the two systems showed different text")
    args = ap.parse_args(argv)
    rows = load_rows(Path(args.run))
    if args.diff:
        before, after = args.diff.split(",")
        for d in differences(rows, before, after):
            print(json.dumps(d))
        return 0
    summary, pairs = summarise(rows), paired(rows, args.base)
    if args.json:
        print(json.dumps({"summary": {f"{s}/{k}": v for (s, k), v in summary.items()}, "paired": pairs}, indent=1))
    else:
        print(markdown(summary, pairs, args.base))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
