"""The syntax checks against the truth, without a model: does the gate + syntax tier let the *real* rest of a line
through, and stop a wrong one?

Each real-repository hole (``codeassist bench repo``'s cutter) is filled with what was really there and with another
hole's removed text (a plausible wrong answer: real code from the same repository), and both are run through the
checks every shown completion passes (:func:`codeassist.syntax_gate.gate`, then the syntax tier as
:func:`codeassist.completion.check_completion` runs it). ``--criterion plain`` is the rule before
:mod:`codeassist.midtyping` (the document as it is is the only baseline); ``midtyping`` the rule now.

Why: the checks exist for precision, but one that drops correct continuations costs coverage however good the model
is. This measures both sides of a change to them at once, on thousands of holes, in a minute.

Hole kinds: ``line`` and ``token`` as the suite cuts them; ``operand``: a line hole's line cut right after its first
operator, comma, dot or opening bracket past the kept characters (where an operand must follow: the mid-typing
case); ``continued``: the same cut on lines that start inside a bracket opened on an earlier line (the lines the
suite's cutter never picks, where Python's implicit line continuation can join a dangling operator to the next line:
the open-loop replay's inflection span); ``continued_start``: those lines from their first character (a new element
of a call or a literal, the whole line to write). ``--below N`` also removes the N lines after the hole's line, as
when the user is writing new code and the rest of the statement does not exist yet (the open-loop replay's
situation).

    .venv/bin/python -m bench.gate_truth --src build/bench-repos/src --holes 200 --below 0,3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
from collections import Counter
from pathlib import Path

from codeassist import syntax
from codeassist.brackets import OPENERS, Lexer
from codeassist.change import Change, syntax_tier
from codeassist.context.languages import resolve_spec
from codeassist.midtyping import at, neutral_document
from codeassist.repobench.holes import Hole, cut_holes, is_source_file
from codeassist.syntax_gate import gate

_OPERATOR = re.compile(r"[-+*/%@&|^<>=,.(\[{]")


@dataclasses.dataclass(frozen=True)
class Case:
    """A document with the cursor at ``offset`` and the real rest of its line."""

    path: str
    text: str
    offset: int
    truth: str


def _files(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*.py")):
        rel = str(p.relative_to(root))
        if is_source_file(rel):
            out[rel] = p.read_text(errors="replace")
    return out


def shown(case: Case, candidate: str, criterion: str) -> bool:
    """Whether the checks show ``candidate`` whole at the case's cursor."""
    spec = resolve_spec(case.path, None)
    assert spec is not None
    text, offset = case.text, case.offset
    spliced = text[:offset] + candidate + text[offset:]
    if criterion == "plain":
        if syntax.error_count(spliced, spec.name) > syntax.error_count(text, spec.name):
            return False
    elif gate(text, offset, candidate, spec, max_parses=64, time_budget_ms=1e9).action != "pass":
        return False
    change = Change("", {case.path: spliced}, {case.path: text})
    parsed = syntax_tier(change)
    mid = at(text, offset, spec.name) if parsed.status == "failed" and criterion != "plain" else None
    if mid is not None and mid.accepts(candidate):
        parsed = syntax_tier(dataclasses.replace(change, original={case.path: mid.neutral}))
    return parsed.status == "passed"


def _case(hole: Hole, original: str, kind: str, below: int) -> Case | None:
    """The hole as a case of ``kind``, with the ``below`` lines after its line removed too."""
    line_end = original.find("\n", hole.start)
    line_end = len(original) if line_end < 0 else line_end
    offset = hole.start
    if kind in ("operand", "continued"):  # ``continued_start`` keeps the cursor at the line's first character
        match = _OPERATOR.search(original, hole.start, line_end)
        if match is None or "#" in original[hole.start : match.end()]:
            return None
        offset = match.end()
        while offset < line_end and original[offset] == " ":
            offset += 1  # the cursor after the operator's space, as typed
    truth = original[offset:line_end]
    if not truth.strip():
        return None
    cut_end = line_end
    for _ in range(below):
        nxt = original.find("\n", cut_end + 1)
        cut_end = len(original) if nxt < 0 else nxt
    return Case(hole.path, original[:offset] + original[cut_end:], offset, truth)


def _continued(files: dict[str, str], n: int, seed: str) -> list[tuple[str, int]]:
    """Up to ``n`` (path, line start) of lines that start inside a bracket opened on an earlier line, seeded."""
    spec = resolve_spec("x.py", None)
    found: list[tuple[str, int]] = []
    for path, text in sorted(files.items()):
        depth_at: dict[int, int] = {}
        depth = 0
        marks = iter(Lexer(spec).brackets(text))
        mark = next(marks, None)
        start = 0
        while start < len(text):
            while mark is not None and mark[0] < start:
                depth = depth + 1 if mark[1] in OPENERS else max(0, depth - 1)
                mark = next(marks, None)
            depth_at[start] = depth
            nl = text.find("\n", start)
            start = len(text) if nl < 0 else nl + 1
        found += [(path, at) for at, d in depth_at.items() if d > 0 and text[at:].lstrip(" ")[:1] not in "#\n)]}"]
    random.Random(seed).shuffle(found)
    return found[:n]


def _continued_hole(path: str, at: int, text: str) -> Hole:
    """A line hole at the first non-blank character of the line at ``at`` (only ``path``, ``start`` are read)."""
    start = at + len(text[at:]) - len(text[at:].lstrip(" "))
    return Hole("continued", path, "line", start, start, text.count("\n", 0, at) + 1, "", (0, 0), "")


def run(src: Path, holes: int, kinds: list[str], belows: list[int]) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    for repo in sorted(p for p in src.iterdir() if p.is_dir()):
        files = _files(repo)
        for kind in kinds:
            if kind in ("continued", "continued_start"):
                cut = [_continued_hole(p, at, files[p]) for p, at in _continued(files, holes, f"{repo.name}")]
            else:
                cut = cut_holes(files, holes, "line" if kind == "operand" else kind)  # type: ignore[arg-type]
            for below in belows:
                cases = [case for h in cut if (case := _case(h, files[h.path], kind, below)) is not None]
                rng = random.Random(f"gate-truth:{repo.name}:{kind}:{below}")
                c = counts.setdefault(f"{kind} below={below}", Counter())
                for case in cases:
                    others = [o.truth for o in cases if o.truth != case.truth]
                    wrong = rng.choice(others) if others else None
                    c["cases"] += 1
                    c["neutral_applies"] += neutral_document(case.text, case.offset) is not None
                    c["wrong_asked"] += wrong is not None
                    for criterion in ("plain", "midtyping"):
                        c[f"truth_{criterion}"] += shown(case, case.truth, criterion)
                        if wrong is not None:
                            c[f"wrong_{criterion}"] += shown(case, wrong, criterion)
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, default=Path("build/bench-repos/src"))
    ap.add_argument("--holes", type=int, default=200, help="holes per repository and kind")
    ap.add_argument("--kinds", default="line,token,operand,continued,continued_start")
    ap.add_argument("--below", default="0,3", help="comma-separated: lines after the hole's line also removed")
    args = ap.parse_args()
    counts = run(args.src, args.holes, args.kinds.split(","), [int(b) for b in args.below.split(",")])
    print(json.dumps({k: dict(sorted(v.items())) for k, v in counts.items()}, indent=1))
    print("| holes | cases | operand expected | truth shown: plain | midtyping | wrong shown: plain | midtyping |")
    print("|---|---|---|---|---|---|---|")
    for name, c in counts.items():
        n, w = c["cases"], c["wrong_asked"]
        print(f"| {name} | {n} | {c['neutral_applies']} | {c['truth_plain']} | {c['truth_midtyping']} | "
              f"{c['wrong_plain']} of {w} | {c['wrong_midtyping']} of {w} |")  # fmt: skip


if __name__ == "__main__":
    main()
