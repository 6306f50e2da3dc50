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
        print(f"{repo_dir.name}: reproducing {len(holes)} holes", file=sys.stderr, flush=True)
        got = reproduce(fetch(manifest[repo_dir.name]), holes, config)
        for hole in holes:
            row = rows[hole.id]
            counts["holes"] += 1
            verdict = row.get("verdict") or {}
            if not row["selection"]["judgeable"]:
                continue
            counts["judgeable"] += 1
            text, conf = got[hole.id]
            server_text = row["fill"]["text"]
            if text != server_text:
                counts["mismatch"] += 1
                continue
            if not text.strip():
                continue
            counts["shown"] += 1
            if conf is None or verdict.get("status") not in ("pass", "fail"):
                counts["unscored"] += 1
                continue
            samples.append({"repo": repo_dir.name, "hole": hole.id, "kind": hole.kind, "text": text,
                            "passed": verdict["status"] == "pass", "exact": bool(row["score"]["exact"]),
                            "features": {f: getattr(conf, f) for f in FEATURES}})  # fmt: skip
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
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    summary = {k: result[k] for k in ("counts", "ungated", "default", "at_target_precision") if k in result}
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
