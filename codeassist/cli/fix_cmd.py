"""``codeassist fix PATH[:LINE] [--test CMD] [--apply] [--json]``: the best sandbox-verified fix, as a unified diff.

Exit codes (for scripts): 0 a fix verified by tests was found (and applied with ``--apply``); 3 a fix was found but
could not be verified by tests (its label says why: "compiles", or "unverified" when the sandbox is unavailable);
1 no acceptable fix; 2 bad input.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from codeassist.cli.common import add_model_options, engine_from_args, print_json
from codeassist.cli.validate import MAX_CANDIDATES, MAX_SECONDS, MAX_SEED, MAX_TOKENS, float_in, int_in
from codeassist.errors import InputError

EXIT_VERIFIED, EXIT_NO_FIX, EXIT_UNVERIFIED = 0, 1, 3


def parse_path_line(spec: str) -> tuple[str, int | None]:
    """``PATH`` or ``PATH:LINE`` (1-based) -> (path, 0-based line or None)."""
    head, sep, tail = spec.rpartition(":")
    if sep and tail.isdigit() and head:
        if int(tail) < 1:
            raise InputError(f"{spec}: LINE is 1-based")
        return head, int(tail) - 1
    return spec, None


def add_fix_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", "--candidates", type=int_in(1, MAX_CANDIDATES), default=5, help="candidates (default 5)")
    p.add_argument("--temperature", type=float_in(0, 10), default=0.8, help="sampling temperature after the greedy one")
    p.add_argument("--seed", type=int_in(0, MAX_SEED), default=0, help="sampling seed (reproducible runs)")
    p.add_argument(
        "--budget", type=float_in(0, MAX_SECONDS), default=20.0, help="latency budget in seconds once a fix is verified"
    )
    p.add_argument("--verify", choices=("off", "syntax", "sandbox"), default="sandbox", help="how far to verify")
    p.add_argument("--sandbox-image", default=None, help="sandbox image to run checks in (default: the built one)")
    p.add_argument("--max-tokens", type=int_in(1, MAX_TOKENS), default=None, help="cap on tokens per candidate")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "fix", help="propose a sandbox-verified fix for PATH[:LINE] as a unified diff"
    )
    p.add_argument("location", help="PATH or PATH:LINE (1-based)")
    p.add_argument("--test", default=None, help="test command run in the workspace root in the sandbox (shell words)")
    p.add_argument("--error", default=None, help="the error message to fix (e.g. a linter diagnostic)")
    p.add_argument("--apply", action="store_true", help="write the best fix to the file (verified fixes only)")
    p.add_argument("--force", action="store_true", help="with --apply: also write a fix that is not verified")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_fix_options(p)
    add_model_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # lazy: the parser imports every subcommand's module; `--help` must not load the engine or Docker's client
    from codeassist.documents import read_text_file
    from codeassist.edits import atomic_write
    from codeassist.fix_target import locate
    from codeassist.fixer import FixConfig, Fixer
    from codeassist.verify import Verifier, make_sandbox

    path, line = parse_path_line(args.location)
    read_text_file(path)  # one-line errors for what locate() cannot read (FIFOs, devices, permissions, size, encoding)
    test_cmd = tuple(shlex.split(args.test)) if args.test else None
    sandbox = make_sandbox(image=args.sandbox_image) if args.verify == "sandbox" else None
    try:
        verifier = Verifier(sandbox)
        target = locate(
            path, line=line, error=args.error, verifier=verifier if sandbox else None, test_command=test_cmd
        )
        config = FixConfig(
            k=args.candidates, temperature=args.temperature, seed=args.seed, budget_s=args.budget,
            verify=args.verify, test_command=test_cmd, max_tokens=args.max_tokens, localize=True,
        )  # fmt: skip
        engine = engine_from_args(args, time_budget_ms=None)
        engine.load()
        print(f"codeassist: fixing {target.rel} lines {target.start_line + 1}-{target.end_line + 1} "
              f"({target.kind}); {config.k} candidate(s)", file=sys.stderr)  # fmt: skip
        outcome = Fixer(engine, verifier, config).candidates_for(
            target,
            on_candidate=lambda c: print(f"  {c.source} candidate {c.index + 1}: {c.verdict.display}", file=sys.stderr),
        )
        engine.close()
    finally:
        if sandbox is not None:
            sandbox.close()
    best = outcome.best
    applied = False
    if best is not None and args.apply and (best.verdict.verified or args.force):
        with open(path, encoding="utf-8", newline="") as fh:
            if fh.read() != target.text:
                raise InputError(f"{path} changed while the fix was being computed; not written")
        atomic_write(path, best.new_text.encode("utf-8"))
        applied = True
    if args.json:
        data = outcome.to_json()
        data["applied"] = applied
        print_json(data)
    elif best is not None:
        sys.stdout.write(f"# {best.verdict.display}\n{best.diff}")
    code = EXIT_NO_FIX if best is None else EXIT_VERIFIED if best.verdict.verified else EXIT_UNVERIFIED
    if best is None:
        print(f"codeassist: no acceptable fix among {outcome.generated} candidate(s)", file=sys.stderr)
    elif args.apply and not applied:
        print(f"codeassist: not applied: the best fix is {best.verdict.display} (use --force)", file=sys.stderr)
    elif applied:
        print(f"codeassist: applied to {path} ({best.verdict.display})", file=sys.stderr)
    return code
