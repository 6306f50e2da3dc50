"""Bug-fix benchmark for "verify before suggest": unverified greedy fixes vs verified best-of-k.

Bugs: :func:`bench.tasks.ordered_mutations` + :func:`bench.scoring.verify_bugs` (one-line in-place mutations of the
HumanEval canonical solutions that make the problem's tests fail; deterministic seed). Quick mode takes a
deterministic sample of problems (``--n``, default 20) so a run fits in minutes on a laptop CPU.

What each side sees:

- The **fixer** sees the buggy file (prompt + mutated solution) and the *output* of the failing verifier tests
  (pytest's ``>``/``E`` lines), never the canonical solution and never the test source.
- The **verifier** runs the *verifier tests*: by default (``--verifier-tests half``) every other top-level assert of
  the problem's ``check`` (:func:`bench.tasks.split_tests`, first element), in a workspace ``test_solution.py``
  found by the normal symbol scan. ``--verifier-tests full`` gives it the whole ``check``.
- **Scoring** runs the full hidden ``check`` (all asserts) on the final program, in a separate sandbox batch
  (:class:`bench.scoring.Executor`), independently of the verifier's verdict.

Reported: fix rate of the greedy candidate without verification (k=1), fix rate of the verified best-of-k (k=5,
stopping at the first verified candidate), median time to a verified fix, and the number of fixes labelled
"verified" that fail the full hidden test (0 with ``full``; with ``half`` it measures how often passing the visible
half is not enough). ``offered``: bugs where the best candidate passed every check that ran (what an editor shows).

The fixes come from :class:`codeassist.fixer.Fixer`, the service behind ``codeassist fix`` and the LSP quick fix;
``--preset editor`` runs it in exactly the quick fix's configuration (:meth:`FixConfig.for_editor`).

    python -m bench.bugfix_bench --quick            # 20 bugs
    python -m bench.bugfix_bench --n 40 --preset editor   # what the editor's quick fix gets
    python -m bench.bugfix_bench --n 164 --out build/bench/bugfix.json
    python -m bench.bugfix_bench --n 164 --resume      # carry on after an interruption (rows in --rows)

Each finished bug is scored at once and appended to ``--rows`` (JSON lines), so a long run can be stopped
(``--time-limit-min``, Ctrl-C) and resumed; the summary says whether the whole bug set was covered.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.scoring import Executor, verify_bugs
from bench.tasks import DEFAULT_SEED, BugTask, load_problems, split_tests, test_program, workspace_test_file


@dataclass
class BugResult:
    task_id: str
    kind: str
    greedy_fixed: bool  # the unverified k=1 suggestion passes the full hidden test
    verified: bool  # some candidate was labelled "verified: tests pass"
    verified_fixed: bool  # ... and it passes the full hidden test
    best_label: str | None
    candidates: int
    time_to_verified_s: float | None
    elapsed_s: float
    note: str = ""
    offered: bool = False  # the best candidate was not rejected by a check: what the editor would offer
    offered_fixed: bool = False  # ... and it passes the full hidden test


def _workspace(root: Path, bug: BugTask, verifier_test: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "solution.py").write_text(bug.buggy_source)
    (root / "test_solution.py").write_text(workspace_test_file(verifier_test, bug.entry_point))


def _load_rows(path: Path) -> dict[str, BugResult]:
    """Finished bugs of an earlier (interrupted) run, one JSON object per line."""
    out: dict[str, BugResult] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                row = BugResult(**json.loads(line))
                out[row.task_id] = row
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from codeassist.engine import Engine, EngineConfig
    from codeassist.fix_target import locate
    from codeassist.fixer import FixConfig, Fixer
    from codeassist.verify import Verifier, make_sandbox

    problems = load_problems()
    if args.n < len(problems):
        import random

        problems = sorted(random.Random(args.seed).sample(problems, args.n), key=lambda p: int(p.task_id.split("/")[1]))
    executor = Executor(workers=2)
    ok, reason = executor.health()
    if not ok:
        raise SystemExit(f"sandbox unavailable: {reason}")
    t0 = time.monotonic()
    bugs = verify_bugs(executor, problems, seed=args.seed)
    print(f"{len(bugs)} bugs from {len(problems)} problems ({time.monotonic() - t0:.0f}s)", file=sys.stderr)
    engine = Engine(EngineConfig(n_threads=args.threads, time_budget_ms=None))
    engine.load()
    sandbox = make_sandbox(pool_size=2)
    verifier = Verifier(sandbox)
    if args.preset == "editor":  # exactly what the LSP quick fix runs (server/code_actions.py)
        config = FixConfig.for_editor("sandbox")
    else:
        config = FixConfig(
            k=args.k,
            temperature=args.temperature,
            seed=args.seed,
            stop_at_first_verified=True,
            budget_s=0,
            repair=args.repair,
        )
    config.focus = args.focus
    if args.cloze is not None:
        config.cloze = args.cloze
    fixer = Fixer(engine, verifier, config)
    done = _load_rows(Path(args.rows)) if args.resume else {}
    rows_file = Path(args.rows)
    rows_file.parent.mkdir(parents=True, exist_ok=True)
    if not args.resume:
        rows_file.write_text("")
    bugs = bugs[args.skip_bugs :]
    results: list[BugResult] = [done[b.task_id] for b in bugs if b.task_id in done]
    todo = [b for b in bugs if b.task_id not in done]
    if args.max_bugs is not None:
        todo = todo[: max(0, args.max_bugs - len(results))]
    deadline = None if args.time_limit_min is None else time.monotonic() + args.time_limit_min * 60
    stopped_early = False
    with tempfile.TemporaryDirectory(prefix="bugfix-bench-") as tmp:
        for i, bug in enumerate(todo):
            if deadline is not None and time.monotonic() >= deadline:
                stopped_early = True
                break
            started = time.monotonic()
            verifier_test = split_tests(bug.test)[0] if args.verifier_tests == "half" else bug.test
            root = Path(tmp) / f"bug{i}"
            _workspace(root, bug, verifier_test)
            note = ""
            greedy: str | None = None
            best_text: str | None = None
            offered_text: str | None = None
            label: str | None = None
            ttv: float | None = None
            n_cand = 0
            try:
                target = locate(str(root / "solution.py"), verifier=verifier, root=str(root))
                outcome = fixer.candidates_for(target)
                n_cand = outcome.generated
                greedy = next((c.new_text for c in outcome.candidates if c.index == 0 and c.source == "chat"), None)
                best = outcome.best
                if best is not None:
                    label = best.verdict.label
                    offered_text = best.new_text
                    if best.verdict.verified:
                        best_text = best.new_text
                ttv = outcome.time_to_verified_s
            except Exception as exc:  # e.g. the verifier half does not catch the bug: nothing to fix is visible
                note = str(exc).split("\n", 1)[0][:160]
            elapsed = round(time.monotonic() - started, 2)
            # Score at once against the full hidden check (a separate sandbox batch), so an interrupted run keeps
            # every finished bug and ``--resume`` carries on from there.
            programs: list[tuple[str, str]] = []
            if greedy is not None:
                programs.append(("greedy", test_program(greedy, bug.test, bug.entry_point)))
            if offered_text is not None:
                programs.append(("offered", test_program(offered_text, bug.test, bug.entry_point)))
            scored = executor.run(programs) if programs else {}
            g, o = scored.get("greedy"), scored.get("offered")
            offered_fixed = bool(o and o.passed)
            verified = best_text is not None
            row = BugResult(
                bug.task_id, bug.kind, bool(g and g.passed), verified, verified and offered_fixed, label, n_cand,
                ttv, elapsed, note, offered_text is not None, offered_fixed,
            )  # fmt: skip
            results.append(row)
            with rows_file.open("a") as fh:
                fh.write(json.dumps(asdict(row)) + "\n")
            print(f"[{len(results)}/{len(bugs)}] {bug.task_id}: {label or note or 'no fix'} ({elapsed:.0f}s)",
                  file=sys.stderr, flush=True)  # fmt: skip
    sandbox.close()
    executor.close()
    engine.close()
    n = len(results)
    ttvs = [r.time_to_verified_s for r in results if r.time_to_verified_s is not None]
    summary = {
        "bugs": n, "problems": len(problems), "seed": args.seed, "k": args.k, "temperature": args.temperature,
        "verifier_tests": args.verifier_tests,
        "fix_rate_unverified_k1": round(sum(r.greedy_fixed for r in results) / n, 3) if n else None,
        "fix_rate_verified_best_of_k": round(sum(r.verified_fixed for r in results) / n, 3) if n else None,
        "verified": sum(r.verified for r in results),
        "preset": args.preset, "repair": args.repair, "focus": config.focus, "cloze": config.cloze,
        "offered": sum(r.offered for r in results),
        "offered_fixed": sum(r.offered_fixed for r in results),
        "offered_wrong": sum(r.offered and not r.offered_fixed for r in results),
        "verified_failing_hidden_test": sum(r.verified and not r.verified_fixed for r in results),
        "median_time_to_verified_fix_s": round(statistics.median(ttvs), 2) if ttvs else None,
        "median_elapsed_per_bug_s": round(statistics.median(r.elapsed_s for r in results), 2) if n else None,
        "not_visible_to_verifier": sum(1 for r in results if r.note),
        "bug_set": len(bugs), "complete": len(results) == len(bugs) and not stopped_early,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)"),
    }  # fmt: skip
    return {"summary": summary, "results": [asdict(r) for r in results]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--quick", action="store_true", help="20 problems (the default --n)")
    p.add_argument("--n", type=int, default=20, help="problems to sample (164 = all)")
    p.add_argument(
        "--preset", choices=("cli", "editor"), default="cli",
        help="cli: best-of-k (-k, --temperature) stopping at the first verified; editor: the LSP quick fix's "
        "configuration (FixConfig.for_editor: 3 candidates, stop at the first one no check rejects)",
    )  # fmt: skip
    p.add_argument("-k", type=int, default=5)
    p.add_argument(
        "--repair", action="store_true",
        help="the self-repair loop (a rejected candidate's failure in the next prompt) instead of independent samples",
    )  # fmt: skip
    p.add_argument(
        "--cloze", type=int, default=None, help="cloze candidates checked first (FixConfig.cloze; 0: the chat alone)"
    )
    p.add_argument(
        "--focus", action="store_true",
        help="narrow questions about the localisation's top statements before the whole-function prompt",
    )  # fmt: skip
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--verifier-tests", choices=("half", "full"), default="half")
    p.add_argument("--out", default="build/bench/bugfix.json")
    p.add_argument("--rows", default="build/bench/bugfix-rows.jsonl", help="one line per finished bug (for --resume)")
    p.add_argument("--resume", action="store_true", help="skip the bugs already in --rows")
    p.add_argument("--time-limit-min", type=float, default=None, help="start no new bug after this many minutes")
    p.add_argument("--max-bugs", type=int, default=None, help="only the first N bugs of the sample (in problem order)")
    p.add_argument("--skip-bugs", type=int, default=0,
                   help="leave out the first N bugs (continue a run whose rows are elsewhere)")  # fmt: skip
    args = p.parse_args(argv)
    if args.quick:
        args.n = min(args.n, 20)
    data = run(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2))
    print(json.dumps(data["summary"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
