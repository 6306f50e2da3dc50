"""Single-line infilling with and without verification: precision of shown suggestions, and coverage.

The question (issue #7): when the editor runs a suggestion's tests before showing it (``verify = sandbox``), how
much more often is what it shows right, and how many suggestions does it stop showing?

Setup, per task (the same single-line HumanEval holes and engine request as :mod:`bench.quality`):

- The engine completes the hole (greedy, defaults, syntax gate on, no time cap). The completion inserted in the hole
  is its first non-empty line, as in the quality benchmark.
- **Tests are split** with :func:`bench.tasks.split_tests`: the problem's top-level one-line ``assert``s alternate
  between a *verifier* half and a *scoring* half, which share no assert. Problems whose ``check`` has fewer than two
  one-line asserts cannot be split and are left out (counted in the output).
- The **verifier** sees a workspace with ``solution.py`` (the file with the hole) and ``test_solution.py`` calling
  the verifier half, and runs :func:`codeassist.completion.check_completion` (the product's rule, ``verify="sandbox"``,
  ``single_line_tests=True``): syntax, then compile/import, then the tests found by the normal symbol scan
  (including tests that reach a helper through its callers) in the sandbox.
- **Scoring** runs the scoring half (and, for reference, the full ``check``) on the filled program in a separate
  sandbox batch (:class:`bench.scoring.Executor`), independently of any verdict.

Reported, for "syntax" (the inline default: every non-empty suggestion is shown) and "sandbox" (failed checks are
hidden): coverage (shown / tasks), precision (shown and passing the scoring half / shown), correct suggestions
lost (hidden although they pass the scoring half), the precision of the "verified" label alone, and the
verification cost per suggestion.

    python -m bench.verify_infill --n 120                 # ~5 min on 2 cores
    python -m bench.verify_infill --n 1033 --out build/bench/verify-infill-full.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.quality import first_line_keep_indent, request_for
from bench.scoring import Executor
from bench.tasks import (
    DEFAULT_SEED,
    InfillTask,
    load_problems,
    program_with,
    sample_by_problem,
    single_line_tasks,
    split_tests,
    test_program,
    workspace_test_file,
)


@dataclass
class InfillVerdict:
    task_id: str
    completion: str  # the line inserted in the hole ("" = nothing shown)
    label: str  # the verifier's label: "verified: tests pass" | compiles | unverified | failed | "" (nothing shown)
    reason: str
    hidden: bool  # verify = sandbox would hide it
    scoring_pass: bool | None  # passes the scoring half (None: nothing shown, or the sandbox could not run it)
    full_pass: bool | None  # passes the whole hidden check
    verify_ms: float
    complete_ms: float


def _workspace(root: Path, task: InfillTask, verifier_test: str) -> tuple[str, int]:
    """Write the hole's file and the verifier half of the tests; return (file text, hole line)."""
    root.mkdir(parents=True, exist_ok=True)
    # a project (codeassist.project): in a folder with no project file the product checks syntax only
    (root / "pyproject.toml").write_text("[project]\nname = 'solution'\n")
    text = task.prefix + "\n" + task.suffix
    (root / "solution.py").write_text(text)
    (root / "test_solution.py").write_text(workspace_test_file(verifier_test, task.entry_point))
    return text, task.prefix.count("\n")


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 3) if den else None


def summarise(rows: list[InfillVerdict], n_tasks: int) -> dict[str, Any]:
    """The two policies side by side. Precision counts a suggestion the scoring sandbox could not run as wrong."""
    shown_syntax = [r for r in rows if r.completion]
    shown_sandbox = [r for r in shown_syntax if not r.hidden]
    verified = [r for r in shown_sandbox if r.label.startswith("verified")]
    hidden = [r for r in shown_syntax if r.hidden]

    def side(shown: list[InfillVerdict]) -> dict[str, Any]:
        ok = sum(1 for r in shown if r.scoring_pass)
        ok_full = sum(1 for r in shown if r.full_pass)
        return {
            "shown": len(shown), "coverage": _rate(len(shown), n_tasks), "correct": ok,
            "precision": _rate(ok, len(shown)), "precision_full_check": _rate(ok_full, len(shown)),
            "correct_coverage": _rate(ok, n_tasks),
        }  # fmt: skip

    labels: dict[str, int] = {}
    for r in shown_syntax:
        labels[r.label] = labels.get(r.label, 0) + 1
    vms = [r.verify_ms for r in shown_syntax]
    return {
        "tasks": n_tasks,
        "syntax": side(shown_syntax),
        "sandbox": side(shown_sandbox),
        "verified_label": side(verified),
        "hidden": len(hidden),
        "hidden_but_scoring_pass": sum(1 for r in hidden if r.scoring_pass),
        "hidden_but_full_pass": sum(1 for r in hidden if r.full_pass),
        "labels": labels,
        "median_verify_ms": round(statistics.median(vms), 1) if vms else None,
        "p95_verify_ms": round(sorted(vms)[int(0.95 * (len(vms) - 1))], 1) if vms else None,
        "median_complete_ms": round(statistics.median(r.complete_ms for r in rows), 1) if rows else None,
    }


def verify_completions(
    tasks: Sequence[InfillTask],
    completions: Sequence[str],
    complete_ms: Sequence[float],
    *,
    executor: Executor,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Verify each task's completion (the line put in its hole; "" = nothing shown) against the verifier half of
    its tests, score it on the scoring half, and summarise. Tasks of unsplittable problems are left out.
    :mod:`bench.run` calls this with the completions of its quality run, so they are generated once."""
    from codeassist.completion import CompletionPolicy, check_completion
    from codeassist.engine import CompletionRequest, CompletionResult
    from codeassist.verify import Verifier, make_sandbox

    halves = {t.problem_id: split_tests(t.test) for t in tasks}
    unsplittable = sorted({pid for pid, (v, sc) in halves.items() if v == sc})
    keep = [i for i, t in enumerate(tasks) if t.problem_id not in unsplittable]
    verifier = Verifier(make_sandbox(pool_size=2))
    # the product's rule (codeassist.completion), asked to run tests for one-line completions too
    policy = CompletionPolicy(verify="sandbox", single_line_tests=True)
    rows: list[InfillVerdict] = []
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="verify-infill-") as tmp:
            for n, i in enumerate(keep):
                task, comp = tasks[i], completions[i]
                root = Path(tmp) / task.problem_id.replace("/", "_")
                text, line = _workspace(root, task, halves[task.problem_id][0])
                label, why, hidden, verify_ms = "", "nothing shown", False, 0.0
                if comp:
                    t1 = time.perf_counter()
                    request = CompletionRequest(text, line, 0, path=str(root / "solution.py"))
                    check = check_completion(request, CompletionResult(comp, line, 0), policy, verifier)
                    verify_ms = (time.perf_counter() - t1) * 1000
                    label, why, hidden = check.verdict.label, check.verdict.reason, not check.show
                rows.append(
                    InfillVerdict(task.task_id, comp, label, why, hidden, None, None, verify_ms, complete_ms[i])
                )
                if progress is not None and (n + 1) % 25 == 0:
                    progress(f"verify: {n + 1}/{len(keep)} suggestions, {time.monotonic() - started:.0f} s")
    finally:
        if verifier.sandbox is not None:
            verifier.sandbox.close()
    programs: list[tuple[str, str]] = []
    for n, (i, row) in enumerate(zip(keep, rows, strict=True)):
        task = tasks[i]
        if row.completion:
            source = program_with(task, row.completion)
            scoring_test = halves[task.problem_id][1]
            programs.append((f"{n}#scoring", test_program(source, scoring_test, task.entry_point)))
            programs.append((f"{n}#full", test_program(source, task.test, task.entry_point)))
    scored = executor.run(programs)
    for n, row in enumerate(rows):
        sc, f = scored.get(f"{n}#scoring"), scored.get(f"{n}#full")
        row.scoring_pass = None if sc is None or sc.status == "error" else sc.passed
        row.full_pass = None if f is None or f.status == "error" else f.passed
    summary = summarise(rows, len(rows))
    summary.update({
        "unsplittable_problems": unsplittable,
        "split": "alternate top-level one-line asserts of check(): verifier gets #1,#3,...; scoring gets #2,#4,...",
        "seconds": round(time.monotonic() - started, 1),
    })  # fmt: skip
    return {"summary": summary, "results": [asdict(r) for r in rows]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from codeassist.engine import Engine, EngineConfig

    problems = load_problems()
    all_tasks = single_line_tasks(problems)
    tasks = all_tasks if args.n >= len(all_tasks) else sample_by_problem(all_tasks, args.n, seed=args.seed)
    executor = Executor(workers=2)
    ok, reason = executor.health()
    if not ok:
        raise SystemExit(f"sandbox unavailable: {reason}")
    engine = Engine(EngineConfig(n_threads=args.threads, time_budget_ms=None, typed_ahead=False))
    engine.load()
    completions: list[str] = []
    complete_ms: list[float] = []
    started = time.monotonic()
    for i, task in enumerate(tasks):
        t0 = time.perf_counter()
        res = engine.complete(request_for(task, args.max_tokens))
        complete_ms.append((time.perf_counter() - t0) * 1000)
        completions.append(first_line_keep_indent(res.text))
        if (i + 1) % 20 == 0:
            print(f"[{i + 1}/{len(tasks)}] {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    engine.close()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    try:
        data = verify_completions(tasks, completions, complete_ms, executor=executor, progress=log)
    finally:
        executor.close()
    data["summary"].update({"seed": args.seed, "sampled": args.n})
    return data


def markdown(summary: dict[str, Any]) -> str:
    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{100 * v:.1f}%"

    rows = [
        "| policy | shown | coverage | precision (scoring half) | precision (full check) | correct / tasks |",
        "|---|---|---|---|---|---|",
    ]
    for name, key in (("verify = syntax (shown as is)", "syntax"), ("verify = sandbox (failures hidden)", "sandbox"),
                      ("  of which labelled verified", "verified_label")):  # fmt: skip
        s = summary[key]
        rows.append(
            f"| {name} | {s['shown']} | {pct(s['coverage'])} | {pct(s['precision'])} | "
            f"{pct(s['precision_full_check'])} | {pct(s['correct_coverage'])} |"
        )
    rows.append("")
    rows.append(
        f"{summary['tasks']} tasks; hidden by verification: {summary['hidden']} (of which "
        f"{summary['hidden_but_scoring_pass']} passed the scoring half); labels {summary['labels']}; "
        f"verification median {summary['median_verify_ms']} ms, p95 {summary['p95_verify_ms']} ms."
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--n", type=int, default=120, help="single-line tasks to sample (1033 = all)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-tokens", type=int, default=24)
    p.add_argument("--out", default="build/bench/verify-infill.json")
    args = p.parse_args(argv)
    data = run(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2))
    print(json.dumps(data["summary"], indent=2))
    print(markdown(data["summary"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
