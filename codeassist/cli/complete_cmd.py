"""``codeassist complete PATH:LINE:COL``: one fill-in-the-middle completion at a position, printed to stdout.

Verified before it is printed (``--verify``, default ``sandbox``, as for every CLI command): when the completion
lands in a Python function that workspace tests exercise, they run in the sandbox first; a completion that fails
them is not printed (exit code 1, the verdict on stderr). Everything else is printed with its label on stderr
("unverified: no tests reference …", "unverified: sandbox unavailable …")."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from codeassist.cli.common import add_model_options, engine_from_args, parse_location, print_json
from codeassist.cli.validate import MAX_TOKENS, int_in
from codeassist.documents import read_text_file
from codeassist.engine import CompletionRequest

if TYPE_CHECKING:
    from codeassist.verify import CompletionCheck, VerifyMode


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("complete", help="complete code at PATH:LINE:COL (1-based)")
    p.add_argument("location", help="PATH:LINE:COL, 1-based like compiler messages")
    p.add_argument("--json", action="store_true", help="print the completion with timings and context as JSON")
    p.add_argument("--max-tokens", type=int_in(1, MAX_TOKENS), default=None, help="cap on generated tokens")
    p.add_argument(
        "--verify", choices=("off", "syntax", "sandbox"), default="sandbox",
        help="check the completion before printing it: run the tests that exercise its function in the sandbox "
        "(default); a completion that fails them is not printed and the exit code is 1",
    )  # fmt: skip
    p.add_argument("--sandbox-image", default=None, help="sandbox image to run checks in (default: the built one)")
    add_model_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path, line, col = parse_location(args.location)
    text = read_text_file(path)
    # A script asked for this completion and waits for it: no interactive time budget.
    engine = engine_from_args(args, time_budget_ms=None)
    request = CompletionRequest(text=text, line=line, column=col, path=path, max_tokens=args.max_tokens)
    # Validate the position before paying for the model load.
    from codeassist.documents import offset_at

    offset_at(text, line, col, where=path)
    info = engine.load()
    result = engine.complete(request)
    engine.close()
    check = verify(args, text, path, result.line, result.column, result.text)
    shown = check is None or check.show
    if args.json:
        data = result.to_json()
        data["model"] = {
            "name": info.name, "path": info.path, "load_ms": round(info.load_ms, 1), "fallback": engine.model_fallback,
        }  # fmt: skip
        if check is not None:
            data["verification"] = {**check.verdict.to_json(), "shown": check.show}
            if not check.show:
                data["hidden_text"], data["text"] = result.text, ""
        print_json(data)
    else:
        if shown:
            sys.stdout.write(result.text + "\n")
        if check is not None:
            sys.stderr.write(f"codeassist: {check.verdict.display}{'' if shown else ' (not shown)'}\n")
    return 0 if shown else 1


def verify(
    args: argparse.Namespace, text: str, path: str, line: int, column: int, completion: str
) -> CompletionCheck | None:
    """The completion's :class:`codeassist.verify.CompletionCheck` (None when ``--verify off`` or nothing to check).
    The workspace is the file's project root (nearest VCS dir or project file); the sandbox is only started when
    some test would judge the completion. A file in no project is a project of its own: its folder is not searched
    for tests (a scratch file under a big shared folder must not have that folder walked and shipped)."""
    if args.verify == "off" or not completion:
        return None
    import dataclasses
    import os

    from codeassist.edits import project_root
    from codeassist.verify import CompletionCheck, Verifier, make_sandbox, verify_completion

    root = project_root(path)
    mode: VerifyMode = args.verify if root is not None else "syntax"
    sandbox = make_sandbox(image=args.sandbox_image, pool_size=1) if mode == "sandbox" else None
    try:
        check = verify_completion(
            text, line, column, completion, path=os.path.abspath(path), root=str(root) if root else None, mode=mode,
            verifier=Verifier(sandbox), multi_line_only=False,
        )  # fmt: skip
    finally:
        if sandbox is not None:
            sandbox.close()
    if root is None and args.verify == "sandbox" and check.show:
        why = "not in a project (no .git or project file above it), so no tests were searched"
        check = CompletionCheck(True, dataclasses.replace(check.verdict, reason=why))
    return check
