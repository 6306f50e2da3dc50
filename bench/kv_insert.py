"""KV-shift reuse after an insertion (``cache_reuse``, codeassist/models/kv_reuse.py): what it saves and what it
changes, on holes of the real-repository suite, through the engine the editor uses.

Why: reuse keeps the suffix's keys and values from a prompt where the typed text was not there yet, so its answers can
differ from a cold evaluation. Whether that costs quality on real code has to be measured, not assumed. Per hole, two
engine requests in the order an editor sends them, then the same last request evaluated cold:

* ``typed``: the hole's line with one character less, then the hole itself (a keystroke);
* ``line``: the hole's line with only its indentation and first character typed (as when an answer came at the
  line's start and the user typed on), then the hole itself: the moved suffix keeps values computed before all the
  characters typed since;
* ``jump``: the previous hole of the same file, then this one (the cursor moved elsewhere in the file).

Reported per scenario: answers identical to the cold ones, exact match of warm and cold against the removed text,
evaluated tokens and prompt time, warm vs cold. The typed-ahead cache is off (the keystroke must reach the model).

    python -m bench.kv_insert --holes-per-repo 6 --seed 41 --out build/bench/kv-insert.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import tomllib

from bench.openloop import MANIFEST, SKIP_DIRS, repo_tree
from codeassist.engine import Engine
from codeassist.engine_config import EngineConfig
from codeassist.engine_types import CompletionRequest, CompletionResult
from codeassist.repobench.holes import Hole, cut_holes


def log(msg: str) -> None:
    print(f"[kv_insert {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sources(tree: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for path in sorted(tree.rglob("*.py")):
        rel = path.relative_to(tree)
        if not SKIP_DIRS.intersection(rel.parts[:-1]):
            files[str(path)] = path.read_text(encoding="utf-8", errors="replace")
    return files


def request(text: str, offset: int, path: str) -> CompletionRequest:
    line = text.count("\n", 0, offset)
    column = offset - (text.rfind("\n", 0, offset) + 1)
    return CompletionRequest(text=text, line=line, column=column, path=path)


def ask(engine: Engine, text: str, offset: int, path: str) -> CompletionResult:
    engine.document_changed(path, text)
    return engine.complete(request(text, offset, path))


def cold(engine: Engine) -> None:
    engine.backend._llm.n_tokens = 0  # type: ignore[union-attr]  # nothing cached: the next prompt is evaluated whole


def exact(res: CompletionResult, hole: Hole) -> bool:
    want = hole.removed.split("\n", 1)[0].rstrip()
    return bool(want) and res.text.split("\n", 1)[0].rstrip() == want


def row(engine: Engine, scenario: str, hole: Hole, original: str, before: tuple[str, int]) -> dict[str, Any]:
    holed = hole.holed(original)
    cold(engine)
    c = ask(engine, holed, hole.start, hole.path)
    # the earlier state evaluated from nothing: had it been reached from the hole's cached prompt, its suffix would be
    # the hole's cells moved, and moving them back would give the cold answer by construction
    cold(engine)
    ask(engine, before[0], before[1], hole.path)
    w = ask(engine, holed, hole.start, hole.path)
    return {
        "scenario": scenario, "hole": hole.id, "same": w.text == c.text, "exact_warm": exact(w, hole),
        "exact_cold": exact(c, hole), "eval_warm": w.timings.evaluated_tokens, "eval_cold": c.timings.evaluated_tokens,
        "prompt_ms_warm": w.timings.prompt_ms, "prompt_ms_cold": c.timings.prompt_ms, "warm": w.text, "cold": c.text,
        "removed": hole.removed,
    }  # fmt: skip


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for scenario in ("typed", "line", "jump"):
        rs = [r for r in rows if r["scenario"] == scenario]
        if not rs:
            continue
        out[scenario] = {
            "n": len(rs), "same": sum(r["same"] for r in rs), "exact_warm": sum(r["exact_warm"] for r in rs),
            "exact_cold": sum(r["exact_cold"] for r in rs),
            "eval_p50_warm": statistics.median(r["eval_warm"] for r in rs),
            "eval_p50_cold": statistics.median(r["eval_cold"] for r in rs),
            "prompt_ms_p50_warm": round(statistics.median(r["prompt_ms_warm"] for r in rs)),
            "prompt_ms_p50_cold": round(statistics.median(r["prompt_ms_cold"] for r in rs)),
        }  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repos", default="", help="comma-separated suite names (default: all of bench/repos.toml)")
    ap.add_argument("--holes-per-repo", type=int, default=6)
    ap.add_argument("--seed", type=int, default=41)
    ap.add_argument("--cache-reuse", type=int, default=32)
    ap.add_argument("--scenarios", default="typed,line,jump", help="which of typed, line, jump")
    ap.add_argument("--prefix-tokens", type=int, default=EngineConfig.prefix_tokens)
    ap.add_argument("--suffix-tokens", type=int, default=EngineConfig.suffix_tokens)
    ap.add_argument("--cache", default="build/bench-repos")
    ap.add_argument("--out", default="build/bench/kv-insert.json")
    args = ap.parse_args(argv)
    with open(MANIFEST, "rb") as fh:
        names = [r["name"] for r in tomllib.load(fh)["repo"]]
    if args.repos:
        names = args.repos.split(",")
    config = EngineConfig(cache_reuse=args.cache_reuse, typed_ahead=False)
    config.prefix_tokens, config.suffix_tokens = args.prefix_tokens, args.suffix_tokens
    engine = Engine(config)
    engine.load()
    rows: list[dict[str, Any]] = []
    wanted = set(args.scenarios.split(","))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.rows.jsonl").unlink(missing_ok=True)
    for name in names:
        files = sources(repo_tree(name, Path(args.cache)))
        holes = sorted(cut_holes(files, args.holes_per_repo, "line", seed=args.seed), key=lambda h: (h.path, h.start))
        for i, hole in enumerate(holes):
            original = files[hole.path]
            engine.document_opened(hole.path, hole.holed(original))
            new: list[dict[str, Any]] = []
            # a character typed after the indentation
            if "typed" in wanted and original[hole.start - 1 : hole.start].strip():
                typed = (original[: hole.start - 1] + original[hole.end :], hole.start - 1)
                new.append(row(engine, "typed", hole, original, typed))
            line_start = original.rfind("\n", 0, hole.start) + 1
            first = len(original[line_start : hole.start]) - len(original[line_start : hole.start].lstrip()) + 1
            if "line" in wanted and line_start + first < hole.start:  # more than one character typed on the line
                started = (original[: line_start + first] + original[hole.end :], line_start + first)
                new.append(row(engine, "line", hole, original, started))
            if "jump" in wanted and i > 0 and holes[i - 1].path == hole.path:
                prev = holes[i - 1]
                new.append(row(engine, "jump", hole, original, (prev.holed(original), prev.start)))
            with open(f"{args.out}.rows.jsonl", "a", encoding="utf-8") as fh:  # kept when stopped early
                fh.writelines(json.dumps(r) + "\n" for r in new)
            for r in new:
                log(f"{name} {hole.id} {r['scenario']} same={r['same']} eval {r['eval_warm']}/{r['eval_cold']}")
            rows.extend(new)
    windows = [args.prefix_tokens, args.suffix_tokens]
    result = {"cache_reuse": args.cache_reuse, "windows": windows, "summary": summary(rows), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
