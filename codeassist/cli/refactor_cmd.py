"""``codeassist refactor --instruction TEXT PATHS/GLOBS…``: per file propose, verify, diff; ``--apply`` writes the
verified edits atomically with an undo record; ``--undo`` restores them.

Exit codes: 0 every file got a verified edit or needed none (or ``--undo`` restored everything); 1 some file
failed verification, was skipped or could not be verified (see the summary); 2 bad input; 4 the edits passed one by
one but failed the ``--verify`` command together (nothing written); 130 / 143 interrupted by SIGINT / SIGTERM (re-run
the same command to resume from the journal, or to finish writing an interrupted ``--apply``).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codeassist.cli.common import add_model_options, engine_from_args, print_json
from codeassist.cli.validate import MAX_CANDIDATES, MAX_JOBS, MAX_SEED, int_in
from codeassist.errors import InputError

if TYPE_CHECKING:
    from codeassist.refactor import RefactorPlan, RefactorReport


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "refactor", help="apply an instruction to many files, keeping only sandbox-verified edits"
    )
    p.add_argument("paths", nargs="*", help="files, directories or globs (quote ** globs)")
    p.add_argument("--instruction", "-i", default=None, help="what to change, in words")
    p.add_argument("--verify", dest="verify_cmd", default=None, help="test command run in the sandbox (shell words)")
    p.add_argument(
        "--jobs", "-j", type=int_in(1, MAX_JOBS), default=2, help="files in flight (verification runs concurrently)"
    )
    p.add_argument("--apply", action="store_true", help="write the verified edits (atomically, with an undo record)")
    p.add_argument("--allow-unverified", action="store_true", help="with --apply: also write edits not verified")
    p.add_argument("--force", action="store_true", help="touch files with uncommitted git changes; undo over edits")
    p.add_argument("--undo", action="store_true", help="restore the files of the last applied refactor")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("-k", "--candidates", type=int_in(1, MAX_CANDIDATES), default=2, help="candidates per file")
    p.add_argument("--seed", type=int_in(0, MAX_SEED), default=0, help="sampling seed")
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
    from codeassist.refactor import RefactorPlan, expand

    if args.undo:
        return _undo(args)
    if not args.instruction:
        raise InputError("refactor needs --instruction TEXT (or --undo)")
    if not args.paths:
        raise InputError("refactor needs PATHS or globs")
    root, files = expand(args.paths)
    verify_cmd = tuple(shlex.split(args.verify_cmd)) if args.verify_cmd else None
    plan = RefactorPlan(root, files, args.instruction, verify_cmd, k=args.candidates, seed=args.seed)
    if args.apply:
        _warn_without_git(plan)
    print(f"codeassist: refactoring {len(files)} file(s) under {root}", file=sys.stderr, flush=True)
    try:
        report = _run(args, plan)
    except KeyboardInterrupt:
        _interrupted_hint(plan)
        raise
    if args.json:
        print_json(report.to_json())
    else:
        sys.stdout.write(report.diff)
        _summary(report)
    return report.exit_code()


def _run(args: argparse.Namespace, plan: RefactorPlan) -> RefactorReport:
    """Run the plan with a sandbox (closed on every way out, Ctrl-C and SIGTERM included) and a model loaded only
    when some file still needs a proposal."""
    # lazy: the parser imports every subcommand's module; `--help` must not load the engine or Docker's client
    from codeassist.engine import Engine
    from codeassist.fixer import Fixer
    from codeassist.refactor import FileResult, Refactorer, default_fix_config
    from codeassist.verify import Verifier, make_sandbox

    _remove_orphan_containers()
    sandbox = make_sandbox(image=args.sandbox_image, pool_size=max(1, min(args.jobs, 4)))
    engines: list[Engine] = []
    verifier = Verifier(sandbox)

    def make_fixer() -> Fixer:
        engine = engine_from_args(args, time_budget_ms=None)
        engines.append(engine)
        engine.load()
        return Fixer(engine, verifier, default_fix_config(args.candidates, args.seed, plan.verify_command, args.jobs))

    def progress(done: int, total: int, res: FileResult, elapsed: float) -> None:
        why = f" ({res.reason})" if res.reason else ""
        eta = _eta(done, total, elapsed)
        print(f"[{done}/{total}] ETA {eta} {res.rel}: {res.status}{why}", file=sys.stderr, flush=True)

    refactorer = Refactorer(make_fixer, verifier)
    try:
        report = refactorer.run(
            plan, jobs=args.jobs, apply=args.apply, force=args.force, allow_unverified=args.allow_unverified,
            progress=progress,
        )  # fmt: skip
    except BaseException:
        refactorer.cancelled.set()  # in-flight proposals stop at their next token; the model stays loaded till exit
        sandbox.close()
        raise
    sandbox.close()
    for engine in engines:
        engine.close()
    return report


def _undo(args: argparse.Namespace) -> int:
    # lazy: the parser imports every subcommand's module; `--help` must not load the engine or Docker's client
    from codeassist.batches import undo
    from codeassist.project import find_root

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


def _warn_without_git(plan: RefactorPlan) -> None:
    # lazy: the parser imports every subcommand's module; `--help` must not load the engine or Docker's client
    from codeassist.edits import git_dirty

    if git_dirty(plan.root, plan.files) is None:
        print(
            f"codeassist: warning: {plan.root} is not in a git work tree: files with unsaved work cannot be told "
            f"apart, and `codeassist refactor --undo {plan.root}` (our own record) is the only way back",
            file=sys.stderr, flush=True,
        )  # fmt: skip


def _interrupted_hint(plan: RefactorPlan) -> None:
    # lazy: the parser imports every subcommand's module; `--help` must not load the engine or Docker's client
    from codeassist.batches import pending

    if pending(plan.root) is not None:
        print(
            "codeassist: interrupted while applying: some files are written, some not. Re-run the same command to "
            f"finish the batch, or `codeassist refactor --undo {plan.root}` to restore every file",
            file=sys.stderr, flush=True,
        )  # fmt: skip
    else:
        print("codeassist: no file was written; re-run the same command to resume", file=sys.stderr, flush=True)


def _remove_orphan_containers() -> None:
    """Remove sandbox containers left by a killed run (SIGKILL skips every cleanup): a resume that only finishes
    writing files never starts the sandbox, which would otherwise do it on first use."""
    # lazy: Docker's client is imported only when a refactor runs
    try:
        from codeassist.sandbox.containers import remove_orphans
        from codeassist.sandbox.docker_conn import DockerConn

        conn = DockerConn(5.0)
        try:
            remove_orphans(conn.api())
        finally:
            conn.close()
    except Exception:  # no Docker: nothing of ours can be running either; verification will say "unverified"
        return


def _summary(report: RefactorReport) -> None:
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
