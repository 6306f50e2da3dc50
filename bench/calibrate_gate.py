"""Calibrate the stay-silent gate on the real-repository suite: confidence features vs the repositories' tests.

Input: a ``bench.repos`` run directory (its rows hold, per hole and system, the suggestion the server showed and the
tests' verdict). The suggestions are reproduced with the engine in-process, on a snapshot of the repository, with
the server's settings and the same document events (open the file, cut the hole, complete, restore), which gives
each one its confidence features (codeassist/confidence.py). A hole counts when the reproduced text equals the
server's (greedy decoding is deterministic; a workspace index still being built in the server's background can make
the context differ: such holes are counted and left out) and its verdict is pass or fail.

Output (committed, so the default threshold can be traced to data): ``bench/calibration/gate.json`` with every
sample (repo, hole, kind, features, passed) and, per feature, the precision/coverage curve of "show when feature >=
t" over the judgeable holes; the chosen default (the feature and threshold that maximise shown-correct minus
shown-wrong: a wrong ghost text costs the user about what a right one saves) and the point at the target precision.

    python -m bench.calibrate_gate --run build/bench-repos/runs/calibration      # make bench-calibrate
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench.repos import fetch, load_manifest
from codeassist.confidence import FEATURES, CurvePoint, pick_threshold, precision_coverage
from codeassist.engine import CompletionRequest, Engine, EngineConfig
from codeassist.repobench.holes import Hole
from codeassist.repobench.store import read_jsonl
from codeassist.walk import read_files

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "calibration" / "gate.json"


def _server_config() -> EngineConfig:
    """The server's engine settings (server/app.py ``_engine_config`` with default settings), minus its time cap and
    the background index build, which would make the context depend on timing."""
    return EngineConfig(max_tokens=48, time_budget_ms=None, index_in_background=False)


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset)
    return line, offset - (text.rfind("\n", 0, offset) + 1)


def reproduce(tree: Path, holes: Sequence[Hole], config: EngineConfig) -> dict[str, tuple[str, Any]]:
    """hole id -> (text, confidence) from the in-process engine, replaying the benchmark's document events."""
    files = read_files(tree)
    out: dict[str, tuple[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="codeassist-calibrate-") as snap:
        for rel, data in files.items():
            dest = Path(snap, rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        engine = Engine(config)
        try:
            by_file: dict[str, list[Hole]] = {}
            for hole in holes:
                by_file.setdefault(hole.path, []).append(hole)
            for rel, group in by_file.items():
                path = os.path.join(snap, rel)
                original = files[rel].decode("utf-8")
                engine.document_opened(path, original, "python")
                for hole in group:
                    holed = hole.holed(original)
                    engine.document_changed(path, holed)
                    line, column = _position(holed, hole.start)
                    result = engine.complete(CompletionRequest(holed, line, column, path=path, language="python"))
                    out[hole.id] = (result.text, result.confidence)
                    engine.document_changed(path, original)
                engine.document_closed(path)
        finally:
            engine.close()
    return out


def _recorded(row: dict[str, Any]) -> dict[str, float] | None:
    """The confidence features the server reported with the suggestion (``lastCheck.confidence``), if any."""
    conf = ((row.get("fill") or {}).get("info") or {}).get("confidence")
    if not isinstance(conf, dict) or not all(f in conf for f in FEATURES):
        return None
    return {f: float(conf[f]) for f in FEATURES}


def _needs_reproducing(rows: dict[str, dict[str, Any]]) -> bool:
    """Whether no suggestion has recorded features (a run by a server that did not report them): only then are
    suggestions reproduced in-process. A few missing ones in a recorded run are counted as unscored."""
    return not any(_recorded(r) is not None for r in rows.values())


def collect(run: Path, system: str, config: EngineConfig) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Samples for every repository of ``run``, and counts of what was left out."""
    manifest = {r["name"]: r for r in load_manifest()}
    samples: list[dict[str, Any]] = []
    counts = {"holes": 0, "judgeable": 0, "shown": 0, "mismatch": 0, "unscored": 0}
    for repo_dir in sorted(p for p in run.iterdir() if (p / "meta.json").exists()):
        rows = {r["hole"]["id"]: r for r in read_jsonl(str(repo_dir / "rows.jsonl")) if r["system"] == system}
        if not rows:
            continue
        meta = json.loads((repo_dir / "meta.json").read_text())
        holes = [Hole.from_json(h) for h in meta["holes"] if h["id"] in rows]
        got: dict[str, tuple[str, Any]] = {}
        if _needs_reproducing(rows):
            print(f"{repo_dir.name}: reproducing {len(holes)} holes", file=sys.stderr, flush=True)
            got = reproduce(fetch(manifest[repo_dir.name]), holes, config)
        for hole in holes:
            row = rows[hole.id]
            counts["holes"] += 1
            verdict = row.get("verdict") or {}
            if not row["selection"]["judgeable"]:
                continue
            counts["judgeable"] += 1
            server_text = row["fill"]["text"]
            features = _recorded(row)
            if features is None and hole.id in got:
                text, conf = got[hole.id]
                if text != server_text:
                    counts["mismatch"] += 1
                    continue
                features = None if conf is None else {f: getattr(conf, f) for f in FEATURES}
            if not server_text.strip():
                continue
            counts["shown"] += 1
            if features is None or verdict.get("status") not in ("pass", "fail"):
                counts["unscored"] += 1
                continue
            samples.append({"repo": repo_dir.name, "hole": hole.id, "kind": hole.kind, "text": server_text,
                            "passed": verdict["status"] == "pass", "exact": bool(row["score"]["exact"]),
                            "features": features})  # fmt: skip
    return samples, counts


def _best_utility(points: Sequence[CurvePoint]) -> CurvePoint | None:
    """The threshold that maximises shown-correct minus shown-wrong, the most coverage among equals (None: showing
    nothing is best)."""
    best, score = None, 0
    for p in points:
        value = p.correct - (p.shown - p.correct)
        if value > 0 and value >= score:
            best, score = p, value
    return best


def calibrate(samples: list[dict[str, Any]], total: int, target: float) -> dict[str, Any]:
    curves: dict[str, list[dict[str, Any]]] = {}
    best: tuple[str, CurvePoint] | None = None
    for feature in FEATURES:
        points = precision_coverage([(s["features"][feature], s["passed"]) for s in samples], total)
        curves[feature] = [asdict(p) for p in points]
        top = _best_utility(points)
        if top is not None and (best is None or 2 * top.correct - top.shown > 2 * best[1].correct - best[1].shown):
            best = (feature, top)
    shown_all = len(samples)
    passed_all = sum(s["passed"] for s in samples)
    result: dict[str, Any] = {
        "ungated": {"shown": shown_all, "correct": passed_all, "coverage": shown_all / total if total else 0.0,
                    "precision": passed_all / shown_all if shown_all else 0.0},
        "curves": curves,
    }  # fmt: skip
    if best is not None:
        result["default"] = {"feature": best[0], **asdict(best[1])}
        at_target = pick_threshold([CurvePoint(**p) for p in curves[best[0]]], target)
        result["at_target_precision"] = None if at_target is None else {"target": target, **asdict(at_target)}
    return result


def cross_validate(samples: list[dict[str, Any]], feature: str, target: float) -> dict[str, Any]:
    """Leave one repository out: choose the threshold (best utility, and the target-precision point) on the other
    repositories' samples, apply it to the held-out one, and pool the held-out outcomes. This is what a threshold
    chosen on the suite would do on a repository it never saw (held-out repositories judge the product too)."""
    pooled = {"utility": [0, 0], "target": [0, 0]}  # [shown, correct] over held-out samples
    for repo in sorted({s["repo"] for s in samples}):
        train = [(s["features"][feature], s["passed"]) for s in samples if s["repo"] != repo]
        test = [(s["features"][feature], s["passed"]) for s in samples if s["repo"] == repo]
        points = precision_coverage(train)
        for key, point in (("utility", _best_utility(points)), ("target", pick_threshold(points, target))):
            if point is None:
                continue
            kept = [ok for score, ok in test if score >= point.threshold]
            pooled[key][0] += len(kept)
            pooled[key][1] += sum(kept)
    n = len(samples)
    return {key: {"shown": shown, "correct": correct, "coverage_of_shown": shown / n if n else 0.0,
                  "precision": correct / shown if shown else 0.0}
            for key, (shown, correct) in pooled.items()}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.calibrate_gate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--run", required=True, help="a bench.repos run directory")
    ap.add_argument("--system", default="default", help="whose suggestions and verdicts (default: default)")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--target-precision", type=float, default=0.8)
    ap.add_argument("--engine", default="{}", help="EngineConfig fields as JSON, when the system was a variant")
    args = ap.parse_args(argv)
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(args.engine).items()}
    config = replace(_server_config(), **overrides)
    samples, counts = collect(Path(args.run), args.system, config)
    result = {"run": os.path.relpath(args.run, ROOT), "system": args.system, "counts": counts,
              **calibrate(samples, counts["judgeable"] - counts["mismatch"], args.target_precision),
              "samples": samples}  # fmt: skip
    if "default" in result:
        result["leave_one_repo_out"] = cross_validate(samples, result["default"]["feature"], args.target_precision)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    keys = ("counts", "ungated", "default", "at_target_precision", "leave_one_repo_out")
    summary = {k: result[k] for k in keys if k in result}
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
