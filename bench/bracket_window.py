"""Where the post-processing's bracket state was read from a fixed window of the prefix, and what that cost.

The bracket rule needs which brackets are open at the cursor. It lexed the last 12,000 characters of the prefix; a
window that starts inside a docstring reads code as text up to the cursor, so the open brackets are lost (or
invented) and a suggestion is cut before the closers it needs. ``codeassist.brackets.scan_start`` now starts at the
last top-level line. This tool

1. cuts real-repository holes (``codeassist bench repo``'s cutter, line and token kinds) and counts those where the
   old window and the new start read other brackets than lexing the whole prefix;
2. with ``--model``, completes exactly those holes with the engine (default settings, no time cap) and scores the
   suggestion both ways from the same model output: exact match, and whether the file still parses (``ast``), after
   the syntax gate as the engine applies it.

    python -m bench.bracket_window --holes 200
    python -m bench.bracket_window --holes 200 --model

Why both ways from one output: the old and the new rule differ only in what they cut, so one generation per hole
(the new rule stops streaming no earlier than the old one) compares them without the run-to-run noise of two runs.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Any

from bench.repos import fetch, load_manifest
from codeassist.brackets import WINDOW, closable_brackets, open_stack, scan_start
from codeassist.context.languages import resolve_spec
from codeassist.engine import CompletionRequest, Engine, EngineConfig
from codeassist.postprocess import make_situation, postprocess, prepare
from codeassist.repobench.holes import Hole, cut_holes, is_source_file
from codeassist.syntax_gate import gate

SPEC = resolve_spec("m.py", None)


def misread_holes(per_kind: int) -> tuple[Counter[str], list[tuple[Path, str, Hole]]]:
    """Counts per kind, and the holes where the old fixed window misreads the open brackets."""
    counts: Counter[str] = Counter()
    found = []
    for repo in load_manifest():
        root = fetch(repo)
        files = {str(p.relative_to(root)): p.read_text(errors="replace") for p in sorted(root.rglob("*.py"))}
        files = {rel: text for rel, text in files.items() if is_source_file(rel)}
        for kind in ("line", "token"):
            for hole in cut_holes(files, per_kind, kind):
                text = hole.holed(files[hole.path])
                prefix = text[: hole.start]
                truth = open_stack(prefix, SPEC)
                counts[kind] += 1
                old_wrong = open_stack(prefix[-WINDOW:], SPEC) != truth
                counts[f"{kind}_old_misread"] += old_wrong
                counts[f"{kind}_new_misread"] += open_stack(prefix[scan_start(prefix, SPEC) :], SPEC) != truth
                if old_wrong:
                    found.append((root, text, hole))
    return counts, found


def shown(text: str, hole: Hole, raw: str, old: bool) -> str:
    """What the engine would show from ``raw``: post-processing (old window or new start), then the syntax gate."""
    situation = make_situation(text[: hole.start], text[hole.start :], language="python")
    prep = prepare(situation)
    if old:
        prep = dataclasses.replace(prep, closable=closable_brackets(situation.prefix[-WINDOW:], situation.suffix, SPEC))
    cut = postprocess(situation, raw, prep=prep).text
    assert SPEC is not None
    return gate(text, hole.start, cut, SPEC).text if cut.strip() else ""


def parses(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True


def complete(holes: list[tuple[Path, str, Hole]]) -> Counter[str]:
    engine = Engine(EngineConfig(time_budget_ms=None, typed_ahead=False))
    counts: Counter[str] = Counter()
    for root, text, hole in holes:
        line = text.count("\n", 0, hole.start)
        column = hole.start - (text.rfind("\n", 0, hole.start) + 1)
        res = engine.complete(CompletionRequest(text, line, column, path=str(root / hole.path), language="python"))
        truth = hole.removed.rstrip("\n").strip()
        counts[f"{hole.kind}_holes"] += 1
        for side in ("old", "new"):
            out = shown(text, hole, res.raw_text, side == "old")
            counts[f"{hole.kind}_{side}_shown"] += bool(out.strip())
            counts[f"{hole.kind}_{side}_exact"] += out.strip() == truth
            counts[f"{hole.kind}_{side}_syntax_error"] += bool(out.strip()) and not parses(
                text[: hole.start] + out + text[hole.start :]
            )
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--holes", type=int, default=200, help="holes per repository and kind")
    ap.add_argument("--model", action="store_true", help="complete the misread holes with the default engine")
    args = ap.parse_args()
    counts, holes = misread_holes(args.holes)
    report: dict[str, Any] = {"holes": dict(counts)}
    if args.model:
        report["completed"] = dict(sorted(complete(holes).items()))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
