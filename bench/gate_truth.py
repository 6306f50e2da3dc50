"""The syntax checks against the truth: does the gate + syntax tier let the *real* rest of a line through, and stop
a wrong one? No model: each real-repository hole (``codeassist bench repo``'s cutter) is filled with what was really
there, and with another hole's removed text (a plausible wrong answer, real code from the same repository).

Why: the syntax checks exist for precision, but a check that drops correct continuations costs coverage no
matter how good the model is; this measures both sides of a change to them at once, on many holes, in seconds.
It runs the checks as the product does (``codeassist.syntax_gate.gate`` and ``codeassist.change.syntax_tier`` with
the completion's splice) and, for comparison, without the mid-typing reading (``--plain``: the criterion before it).

    .venv/bin/python -m bench.gate_truth --src build/bench-repos/src --holes 300
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

from codeassist.change import Change, syntax_tier
from codeassist.context.languages import resolve_spec
from codeassist.midtyping import closed_reading
from codeassist.repobench.holes import Hole, cut_holes, is_source_file
from codeassist.syntax_gate import gate


def _files(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*.py")):
        rel = str(p.relative_to(root))
        if is_source_file(rel) and "/tests/" not in f"/{rel}" and "/test" not in f"/{rel}":
            out[rel] = p.read_text(errors="replace")
    return out


def shown(text: str, offset: int, candidate: str, rel: str, plain: bool) -> bool:
    """Whether the checks show ``candidate`` whole (the gate passes it and the syntax tier accepts it)."""
    spec = resolve_spec(rel, None)
    assert spec is not None
    if plain:
        from codeassist import syntax  # why local: only the comparison criterion needs the raw counts

        if syntax.error_count(text[:offset] + candidate + text[offset:], spec.name) > syntax.error_count(
            text, spec.name
        ):
            return False
        splice = None
    else:
        if gate(text, offset, candidate, spec, max_parses=64, time_budget_ms=1e9).action != "pass":
            return False
        splice = (rel, offset, len(candidate))
    change = Change("", {rel: text[:offset] + candidate + text[offset:]}, {rel: text}, splice=splice)
    return syntax_tier(change).status == "passed"


def run(src: Path, holes: int, kinds: list[str]) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    for repo in sorted(p for p in src.iterdir() if p.is_dir()):
        files = _files(repo)
        for kind in kinds:
            cut: list[Hole] = cut_holes(files, holes, kind)  # type: ignore[arg-type]
            rng = random.Random(f"gate-truth:{repo.name}:{kind}")
            c = counts.setdefault(kind, Counter())
            for hole in cut:
                text = hole.holed(files[hole.path])
                truth = hole.removed.rstrip("\n")
                others = [h.removed.rstrip("\n") for h in cut if h.removed.strip() and h.removed != hole.removed]
                wrong = rng.choice(others) if others else None
                open_line = closed_reading(text, hole.start, "", resolve_spec(hole.path, None)) is not None
                tag = "open" if open_line else "closed"
                c["holes"] += 1
                c[f"holes_{tag}"] += 1
                for mode, plain in (("plain", True), ("midtyping", False)):
                    c[f"truth_{mode}_{tag}"] += shown(text, hole.start, truth, hole.path, plain)
                    if wrong is not None:
                        c[f"wrong_{mode}_{tag}"] += shown(text, hole.start, wrong, hole.path, plain)
                c[f"wrong_asked_{tag}"] += wrong is not None
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, default=Path("build/bench-repos/src"))
    ap.add_argument("--holes", type=int, default=300, help="holes per repository and kind")
    ap.add_argument("--kinds", default="line,token")
    args = ap.parse_args()
    counts = run(args.src, args.holes, args.kinds.split(","))
    print(json.dumps({k: dict(sorted(v.items())) for k, v in counts.items()}, indent=1))
    for kind, c in counts.items():
        for tag in ("open", "closed"):
            n, w = c[f"holes_{tag}"], c[f"wrong_asked_{tag}"]
            if n:
                print(f"{kind} holes, cursor line {'with' if tag == 'open' else 'without'} open brackets: {n}; "
                      f"truth shown plain {c[f'truth_plain_{tag}']}/{n}, mid-typing {c[f'truth_midtyping_{tag}']}/{n}; "
                      f"wrong shown plain {c[f'wrong_plain_{tag}']}/{w}, mid-typing {c[f'wrong_midtyping_{tag}']}/{w}")  # fmt: skip


if __name__ == "__main__":
    main()
