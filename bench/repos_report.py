"""Combine the per-repository runs of ``bench.repos`` into one suite report (all holes pooled, then per hole kind and
per repository), with the same columns and denominators as ``codeassist bench repo`` (codeassist/repobench/report.py).
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeassist.repobench.report import HEADER, background_section, label_lines, metrics, system_cap_ms, table_row
from codeassist.repobench.store import read_jsonl


def _load(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    meta = json.loads((run_dir / "meta.json").read_text())
    judging = json.loads((run_dir / "judging.json").read_text()) if (run_dir / "judging.json").exists() else {}
    return meta, list(read_jsonl(str(run_dir / "rows.jsonl"))), judging


@dataclass
class Pooled:
    """Every repository's rows of one suite run, hole ids made unique as ``repo/id``, with what summarising needs."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    baselines: dict[str, Any] = field(default_factory=dict)
    unjudgeable: dict[str, int] = field(default_factory=dict)
    described: dict[str, Any] = field(default_factory=dict)  # system name -> its description, in run order
    sizes: dict[str, int] = field(default_factory=dict)  # repository -> holes

    def metrics(self, system: str, keep: Callable[[dict[str, Any]], bool] = lambda row: True) -> dict[str, Any]:
        rows = [r for r in self.rows if r["system"] == system and keep(r)]
        return metrics(rows, self.baselines, system_cap_ms(self.described[system]))


def pool(out: Path, repos: Sequence[dict[str, Any]]) -> Pooled:
    """Read every repository's run under ``out`` (those not started are skipped)."""
    pooled = Pooled()
    for repo in repos:
        run_dir = out / repo["name"]
        if not (run_dir / "meta.json").exists():
            continue
        meta, repo_rows, judging = _load(run_dir)
        pooled.sizes[repo["name"]] = len(meta["hole_ids"])
        for s in meta["systems"]:
            pooled.described.setdefault(s["name"], s)
        for hid, j in judging.items():
            key = f"{repo['name']}/{hid}"
            if j.get("baseline"):
                pooled.baselines[key] = j["baseline"]
            sel = j["selection"]
            why = None if sel["judgeable"] else sel["rule"]
            if sel["judgeable"] and (j.get("baseline") or {}).get("status") != "pass":
                why = "tests fail on the original tree"
            if why:
                pooled.unjudgeable[why] = pooled.unjudgeable.get(why, 0) + 1
        pooled.rows += [{**r, "hole": {**r["hole"], "id": f"{repo['name']}/{r['hole']['id']}"}} for r in repo_rows]
    return pooled


def combine(out: Path, repos: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pool every repository's rows (hole ids made unique as ``repo/id``) and summarise, per system in the order the
    runs list them."""
    pooled = pool(out, repos)
    sizes = pooled.sizes

    def summary(keep: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        return {n: pooled.metrics(n, keep) for n in pooled.described}

    by_repo = {
        r["name"]: {"version": r["version"], "holes": sizes[r["name"]],
                    "systems": summary(lambda row, name=r["name"]: row["repo"] == name)}
        for r in repos if r["name"] in sizes
    }  # fmt: skip
    kinds = sorted({r["hole"]["kind"] for r in pooled.rows})
    return {
        "holes": sum(sizes.values()),
        "systems_described": pooled.described,
        "systems": summary(lambda row: True),
        "by_kind": {k: summary(lambda row, k=k: row["hole"]["kind"] == k) for k in kinds},
        "by_repo": by_repo,
        "unjudgeable": pooled.unjudgeable,
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def markdown(suite: dict[str, Any]) -> str:
    run = suite.get("run", {})
    loads = "; ".join(f"{s['load_start']} → {s['load_end']}" for s in run.get("segments", [])) or "n/a"
    lines = [
        "# Real-repository suite (`python -m bench.repos`)",
        "",
        f"{suite['holes']} holes over {len(suite['by_repo'])} repositories; per-request cap {run.get('cap_ms')} ms for "
        f"every system ('at cap': requests that ran into it); {run.get('seconds')} s of running on "
        f"{platform.machine()} with {os.cpu_count()} cores, load averages (start → end of each invocation): {loads}. "
        "**Latency was measured on a shared machine**: compare it only within this run.",
        "",
        "## All holes",
        "",
        HEADER,
        *(table_row(n, m) for n, m in suite["systems"].items()),
        "",
    ]
    for kind, per in suite["by_kind"].items():
        lines += [f"## {kind} holes", "", HEADER, *(table_row(n, m) for n, m in per.items()), ""]
    names = list(suite["systems"])
    lines += ["## Per repository: tests pass (exact match)", "",
              "| repository | holes | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]  # fmt: skip
    for name, rep in suite["by_repo"].items():
        cells = [f"{_pct(m['tests_pass'])} ({_pct(m['exact'])})" for m in rep["systems"].values()]
        lines.append(f"| {name} {rep['version']} | {rep['holes']} | " + " | ".join(cells) + " |")
    unj = ", ".join(f"{k}: {v}" for k, v in sorted(suite["unjudgeable"].items())) or "none"
    lines += ["", f"Holes no test can judge (left out of 'judged'): {unj}.", ""]
    lines += ["## Verification labels of shown suggestions", "", *label_lines(suite["systems"]), ""]
    lines += background_section(suite["systems"])
    lines += ["## Systems", ""]
    for name, desc in suite["systems_described"].items():
        lines.append(f"- `{name}`: `{json.dumps({k: v for k, v in desc.items() if k != 'name'})}`")
    for seg in run.get("segments", []):
        lines += ["", f"Command ({seg['started']}): `python -m bench.repos {' '.join(seg['argv'])}`"]
    return "\n".join(lines) + "\n"


def write_suite_report(suite: dict[str, Any], out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    (out / "suite.json").write_text(json.dumps(suite, indent=1))
    md = markdown(suite)
    (out / "suite.md").write_text(md)
    return md
