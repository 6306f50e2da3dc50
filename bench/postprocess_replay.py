"""A post-processing change replayed on recorded suggestions: which shown texts of earlier ``bench.repos`` runs the
current ``codeassist.postprocess`` would change, and how those rows had been judged.

Post-processing only cuts, and is deterministic: re-applying it to what a system showed gives what this checkout
would show for the same model output (up to the multi-line decision, taken here from the text as the fallback does,
where the server asks tree-sitter, and up to streaming, which stops generating at a cut and so never changes the
kept part). Rows it leaves alone are the rows the change cannot move, so a change is judged on every recorded hole
in seconds, before a run with the model spends half an hour on the few it moves. For each changed row: its verdict,
whether the old text was the truth, whether the new one is.

    python -m bench.postprocess_replay --runs heldout-s24,suite-s21 --systems default,nogate

Why: rules that act on rare situations (a header typed over an existing body) move one hole in a hundred; a run's
noise hides them, the rows themselves do not.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

from bench.repos import BUILD, fetch, load_manifest
from bench.repos_report import pool
from codeassist.postprocess import make_situation, postprocess


def changed_rows(run: Path, systems: set[str]) -> tuple[int, list[dict[str, Any]]]:
    """(rows replayed, the rows whose shown text the current post-processing changes, with ``new`` and ``reason``)."""
    manifest = load_manifest()
    trees = {repo["name"]: fetch(repo) for repo in manifest}
    seen, out = 0, []
    for row in pool(run, manifest).rows:
        text = (row.get("fill") or {}).get("text") or ""
        if row["system"] not in systems or not text:
            continue
        repo, _, _ = row["hole"]["id"].partition("/")
        hole = row["hole"]
        source = (trees[repo] / hole["path"]).read_text(encoding="utf-8")
        holed = source[: hole["start"]] + source[hole["end"] :]
        situation = make_situation(holed[: hole["start"]], holed[hole["start"] :], language="python")
        new = postprocess(situation, text)
        seen += 1
        if new.text != text:
            out.append({**row, "new": new.text, "reason": new.reason})
    return seen, out


def summary(rows: list[dict[str, Any]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for row in rows:
        truth = row["hole"]["removed"].rstrip("\n").strip()
        counts[f"verdict_{(row.get('verdict') or {}).get('status')}"] += 1
        counts["exact_before"] += row["fill"]["text"].strip() == truth
        counts["exact_after"] += row["new"].strip() == truth
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", required=True, help="run directories under build/bench-repos/runs, comma-separated")
    ap.add_argument("--systems", default="default,nogate", help="our systems whose shown texts to replay")
    args = ap.parse_args()
    systems = set(args.systems.split(","))
    total, changed = 0, []
    for name in args.runs.split(","):
        seen, rows = changed_rows(BUILD / "runs" / name, systems)
        total += seen
        changed += [{**r, "run": name} for r in rows]
    for r in changed:
        print(f"{r['run']} {r['system']} {r['hole']['id']} ({(r.get('verdict') or {}).get('status')}) {r['reason']}:"
              f"\n  shown {r['fill']['text'][:160]!r}\n  now   {r['new'][:160]!r}"
              f"\n  truth {r['hole']['removed'].rstrip()[:160]!r}")  # fmt: skip
    print(f"{total} shown texts replayed, {len(changed)} changed: {dict(sorted(summary(changed).items()))}")


if __name__ == "__main__":
    main()
