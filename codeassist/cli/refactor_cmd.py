"""``codeassist refactor --instruction TEXT PATHS/GLOBS…``: per file propose, verify, diff; ``--apply`` writes the
verified edits atomically with an undo record; ``--undo`` restores them.

Exit codes: 0 every file got a verified edit or needed none (or ``--undo`` restored everything); 1 some file
failed verification, was skipped or could not be verified (see the summary); 2 bad input; 4 the edits passed one by
one but failed the ``--verify`` command together (nothing written); 130 interrupted (re-run the same command to
resume from the journal).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from codeassist.cli.common import add_model_options, engine_from_args, print_json
from codeassist.errors import InputError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "refactor", help="apply an instruction to many files, keeping only sandbox-verified edits"
    )
    p.add_argument("paths", nargs="*", help="files, directories or globs (quote ** globs)")
    p.add_argument("--instruction", "-i", default=None, help="what to change, in words")
    p.add_argument("--verify", dest="verify_cmd", default=None, help="test command run in the sandbox (shell words)")
    p.add_argument("--jobs", "-j", type=int, default=2, help="files in flight (verification runs concurrently)")
    p.add_argument("--apply", action="store_true", help="write the verified edits (atomically, with an undo record)")
    p.add_argument("--allow-unverified", action="store_true", help="with --apply: also write edits not verified")
    p.add_argument("--force", action="store_true", help="touch files with uncommitted git changes; undo over edits")
    p.add_argument("--undo", action="store_true", help="restore the files of the last applied refactor")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("-k", "--candidates", type=int, default=2, help="candidates per file (default 2)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--sandbox-image", default=None, help="sandbox image for the checks")
    add_model_options(p)
    p.set_defaults(func=run)


def _eta(done: int, total: int, elapsed: float) -> str:
    if done == 0:
        return "?"
    left = elapsed / done * (total - done)
    return f"{int(left // 60)}:{int(left % 60):02d}"


def run(args: argparse.Namespace) -> int:
    # lazy: the parser imports every subcommand's module; `--help` must not load the engine or Docker's client
    from codeassist.project import find_root
    from codeassist.refactor import FileResult, Refactorer, RefactorPlan, default_fix_config, expand, undo

    if args.undo:
        root = find_root(args.paths[0] if args.paths else Path.cwd())
        res = undo(root, force=args.force)
        if args.json:
            print_json(res.to_json())
        else:
            for rel in res.restored:
                print(f"restored {rel}")
            for rel in res.conflicts:
                print(f"conflict {rel}: edited after the refactor (use --force)", file=sys.stderr)
        return 1 if res.conflicts and not args.force else 0
    if not args.instruction:
        raise InputError("refactor needs --instruction TEXT (or --undo)")
    if not args.paths:
        raise InputError("refactor needs PATHS or globs")
    if args.jobs < 1 or args.candidates < 1:
        raise InputError("--jobs and -k must be at least 1")
    root, files = expand(args.paths)
    verify_cmd = tuple(shlex.split(args.verify_cmd)) if args.verify_cmd else None
    plan = RefactorPlan(root, files, args.instruction, verify_cmd, k=args.candidates, seed=args.seed)

    # lazy: the parser imports every subcommand's module; `--help` must not load the engine or Docker's client
    from codeassist.fixer import Fixer
    from codeassist.verify import Verifier, make_sandbox

    sandbox = make_sandbox(image=args.sandbox_image, pool_size=max(1, min(args.jobs, 4)))
    try:
        verifier = Verifier(sandbox)
        engine = engine_from_args(args, time_budget_ms=None)
        engine.load()
        fixer = Fixer(engine, verifier, default_fix_config(args.candidates, args.seed, verify_cmd, args.jobs))

        def progress(done: int, total: int, res: FileResult, elapsed: float) -> None:
            why = f" ({res.reason})" if res.reason else ""
            eta = _eta(done, total, elapsed)
            print(f"[{done}/{total}] ETA {eta} {res.rel}: {res.status}{why}", file=sys.stderr, flush=True)

        print(f"codeassist: refactoring {len(files)} file(s) under {root}", file=sys.stderr, flush=True)
        report = Refactorer(fixer, verifier).run(
            plan, jobs=args.jobs, apply=args.apply, force=args.force, allow_unverified=args.allow_unverified,
            progress=progress,
        )  # fmt: skip
        engine.close()
    finally:
        sandbox.close()
    if args.json:
        print_json(report.to_json())
    else:
        sys.stdout.write(report.diff)
        _summary(report)
    return report.exit_code()


def _summary(report: Any) -> None:
    err = sys.stderr
    print(f"\n{'file':<40} {'status':<10} reason", file=err)
    for r in report.results:
        mark = " (resumed)" if r.resumed else ""
        print(f"{r.rel:<40} {r.status:<10} {r.reason}{mark}", file=err)
    counts = ", ".join(f"{v} {k}" for k, v in report.counts().items())
    print(f"\n{counts}; {report.elapsed_s:.1f}s", file=err)
    if report.combined not in (None, "passed"):
        print(f"the edits fail together: {report.combined}; nothing written", file=err)
    if report.applied:
        print(
            f"applied {len(report.applied)} file(s); undo with: codeassist refactor --undo {report.plan.root}", file=err
        )
