"""Summaries of benchmark rows: per system (and per hole kind), per verification label; JSON and Markdown.

Denominators, so the columns read the same everywhere:

- coverage, exact match, exact line, edit similarity: over all holes of the system;
- tests pass: holes judged for this system (judgeable: a passing test executes the hole's line and the tests pass
  on the original tree; a sandbox error excludes that one hole) whose shown suggestion passed them — a hole where
  nothing was shown counts as not passing;
- precision of shown: of the judged holes where something was shown, the share that passed;
- syntax errors shown: shown suggestions whose spliced file does not parse.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from codeassist.repobench.holes import Hole
from codeassist.repobench.judge import Selection


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (no interpolation)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-int(q * len(ordered)) // 100)))
    return ordered[rank - 1]


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def system_cap_ms(desc: Mapping[str, Any]) -> float | None:
    """The per-request time cap a system ran with (our server's ``timeout_ms``, 5000 by default; /infill's
    ``t_max_predict_ms``)."""
    if desc.get("kind") == "infill":
        return float(desc.get("options", {}).get("t_max_predict_ms", 0)) or None
    return float(desc.get("settings", {}).get("timeout_ms", 5000))


def _at_cap(row: Mapping[str, Any], cap_ms: float | None) -> bool:
    """Did this request run into its time cap (so its answer may be cut by the machine's load)?"""
    if cap_ms is None:
        return False
    fill = row["fill"]
    predicted = (fill.get("info") or {}).get("predicted_ms")
    spent = float(predicted) if predicted is not None else float(fill["latency_ms"])
    return spent >= 0.98 * cap_ms


def metrics(
    rows: Iterable[Mapping[str, Any]], baselines: Mapping[str, Mapping[str, Any]], cap_ms: float | None = None
) -> dict[str, Any]:
    """The summary numbers for one group of rows (one system, maybe one kind)."""
    rows = list(rows)
    n = len(rows)
    shown = [r for r in rows if r["score"]["shown"]]
    judged = shown_judged = passed = 0
    labels: dict[str, dict[str, int]] = {}
    for r in rows:
        base = baselines.get(r["hole"]["id"], {}).get("status")
        verdict = (r.get("verdict") or {}).get("status")
        judgeable = r["selection"]["judgeable"] and base == "pass" and verdict != "error"
        judged += int(judgeable)
        if not r["score"]["shown"]:
            continue
        label = labels.setdefault(label_key(r["fill"]), {"shown": 0, "judged": 0, "pass": 0})
        label["shown"] += 1
        if judgeable:
            shown_judged += 1
            label["judged"] += 1
            passed += int(verdict == "pass")
            label["pass"] += int(verdict == "pass")
    latencies = [float(r["fill"]["latency_ms"]) for r in rows]
    infos = [r["fill"].get("info") or {} for r in rows]
    settled = [float(i["settled_ms"]) for i in infos if i.get("settled_ms") is not None]
    return {
        "holes": n,
        "shown": len(shown),
        "coverage": _ratio(len(shown), n),
        "exact": _ratio(sum(r["score"]["exact"] for r in rows), n),
        "exact_line": _ratio(sum(r["score"]["exact_line"] for r in rows), n),
        "edit_sim": round(statistics.fmean(r["score"]["edit_sim"] for r in rows), 4) if rows else None,
        "judged": judged,
        "tests_pass": _ratio(passed, judged),
        "precision_shown": _ratio(passed, shown_judged),
        "syntax_err_shown": _ratio(sum(not r["score"]["syntax_ok"] for r in shown), len(shown)),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "errors": sum(1 for r in rows if r["fill"].get("error")),
        "at_cap": sum(1 for r in rows if _at_cap(r, cap_ms)),
        "sandbox_errors": sum(1 for r in rows if (r.get("verdict") or {}).get("status") == "error"),
        "labels": labels,
        # verify = sandbox (background checks): failed first suggestions, those a verified replacement took the place
        # of, and when the final verdict came (the first answer's time is latency_*)
        "withdrawn": sum(1 for i in infos if i.get("withdrawn") or i.get("first_verdict") == "failed"),
        "replaced": sum(1 for i in infos if i.get("replaced")),
        "verdict_p50_ms": percentile(settled, 50),
        "verdict_p95_ms": percentile(settled, 95),
    }


def label_key(fill: Mapping[str, Any]) -> str:
    """A shown suggestion's label for the per-label counts; a verified replacement of a failed first suggestion is
    counted apart (its label is the server's, "verified: tests pass")."""
    label = str(fill.get("label") or "none")
    return f"{label} (replacement)" if (fill.get("info") or {}).get("replaced") else label


def summarise(
    rows: Sequence[Mapping[str, Any]],
    holes: Sequence[Hole],
    selections: Mapping[str, Selection],
    baselines: Mapping[str, Mapping[str, Any]],
    meta: Mapping[str, Any],
) -> dict[str, Any]:
    ids = {h.id for h in holes}
    rows = [r for r in rows if r["hole"]["id"] in ids]
    systems = [s["name"] for s in meta["systems"]]
    caps = {s["name"]: system_cap_ms(s) for s in meta["systems"]}
    kinds = sorted({h.kind for h in holes})
    unjudgeable: dict[str, int] = {}
    for h in holes:
        sel = selections.get(h.id)
        why = sel.rule if sel is not None and not sel.judgeable else None
        if sel is not None and sel.judgeable and baselines.get(h.id, {}).get("status") != "pass":
            why = "tests fail on the original tree"
        if why:
            unjudgeable[why] = unjudgeable.get(why, 0) + 1
    rules: dict[str, int] = {}
    for sel in selections.values():
        if sel.judgeable:
            rules[sel.rule] = rules.get(sel.rule, 0) + 1
    return {
        "meta": dict(meta),
        "holes": len(holes),
        "unjudgeable": unjudgeable,
        "selection_rules": rules,
        "systems": {s: metrics([r for r in rows if r["system"] == s], baselines, caps[s]) for s in systems},
        "by_kind": {
            k: {
                s: metrics([r for r in rows if r["system"] == s and r["hole"]["kind"] == k], baselines, caps[s])
                for s in systems
            }
            for k in kinds
        },
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _ms(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f}"


HEADER = (
    "| system | holes | shown | exact | exact line | edit sim | judged | tests pass | precision of shown "
    "| syntax err shown | p50 ms | p95 ms | at cap |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def table_row(name: str, m: Mapping[str, Any]) -> str:
    es = "n/a" if m["edit_sim"] is None else f"{m['edit_sim']:.3f}"
    return (
        f"| {name} | {m['holes']} | {_pct(m['coverage'])} | {_pct(m['exact'])} | {_pct(m['exact_line'])} | {es} "
        f"| {m['judged']} | {_pct(m['tests_pass'])} | {_pct(m['precision_shown'])} | {_pct(m['syntax_err_shown'])} "
        f"| {_ms(m['latency_p50_ms'])} | {_ms(m['latency_p95_ms'])} | {m.get('at_cap', 'n/a')} |"
    )


def label_lines(systems: Mapping[str, Mapping[str, Any]]) -> list[str]:
    out = ["| system | label | shown | judged | passed |", "|---|---|---|---|---|"]
    for name, m in systems.items():
        for label, c in sorted(m["labels"].items()):
            share = _pct(_ratio(c["pass"], c["judged"]))
            out.append(f"| {name} | {label} | {c['shown']} | {c['judged']} | {c['pass']} ({share}) |")
    return out


def background_section(systems: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The systems whose suggestions were checked in the background (verify = sandbox): first suggestions that failed,
    how many a verified replacement took the place of, time to show and time to the final verdict; none: no lines."""
    checked = {n: m for n, m in systems.items() if m.get("verdict_p50_ms") is not None}
    return ["## Background checks (verify = sandbox)", "", *verdict_lines(checked), ""] if checked else []


def verdict_lines(systems: Mapping[str, Mapping[str, Any]]) -> list[str]:
    out = [
        "| system | first failed (withdrawn) | replaced by a verified one | show p50 ms | verdict p50 ms "
        "| verdict p95 ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in systems.items():
        out.append(
            f"| {name} | {m['withdrawn']} | {m['replaced']} | {_ms(m['latency_p50_ms'])} | {_ms(m['verdict_p50_ms'])} "
            f"| {_ms(m['verdict_p95_ms'])} |"
        )
    return out


def markdown(summary: Mapping[str, Any]) -> str:
    meta = summary["meta"]
    lines = [
        f"# codeassist bench repo: {meta['repo']}",
        "",
        f"{summary['holes']} holes ({', '.join(meta['kinds'])}; seed {meta['seed']}); tree {meta['tree'][:12]}. "
        "Latency is wall clock per request on this machine (other load included).",
        "",
        HEADER,
        *(table_row(name, m) for name, m in summary["systems"].items()),
        "",
    ]
    if len(summary["by_kind"]) > 1:
        for kind, per in summary["by_kind"].items():
            lines += [f"## {kind} holes", "", HEADER, *(table_row(n, m) for n, m in per.items()), ""]
    lines += ["## Verification labels of shown suggestions", "", *label_lines(summary["systems"]), ""]
    lines += background_section(summary["systems"])
    unj = ", ".join(f"{k}: {v}" for k, v in sorted(summary["unjudgeable"].items())) or "none"
    rules = ", ".join(f"{k}: {v}" for k, v in sorted(summary["selection_rules"].items())) or "none"
    lines += [f"Unjudgeable holes (not in 'judged'): {unj}. Tests per judged hole chosen by: {rules}.", ""]
    return "\n".join(lines)


def write(summary: Mapping[str, Any], out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "report.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=1)
    with open(os.path.join(out_dir, "report.md"), "w", encoding="utf-8") as fh:
        fh.write(markdown(summary))
