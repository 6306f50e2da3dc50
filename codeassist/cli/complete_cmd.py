"""``codeassist complete PATH:LINE:COL``: one fill-in-the-middle completion at a position, printed to stdout.

Verified before it is printed (``--verify``, default ``sandbox``, as for every CLI command) by the completion
service the editor uses (:mod:`codeassist.completion`): when the completion lands in a Python function that the
project's tests exercise, they run in the sandbox first; a completion that fails them is not printed (exit code 1,
the verdict on stderr) — unless one of up to ``--alternatives`` other samples passes them
(:func:`codeassist.alternatives.find_verified_alternative`, as the editor's ``verify_alternatives``): that one is
printed, labelled verified, with what it replaces on stderr. Everything else is printed with its label on stderr
("unverified: no tests reference …", "unverified: sandbox unavailable …")."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from codeassist.cli.common import add_model_options, engine_from_args, parse_location, print_json
from codeassist.cli.validate import MAX_TOKENS, int_in
from codeassist.confidence import parse_gate
from codeassist.documents import offset_at, read_text_file


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
    p.add_argument(
        "--alternatives", type=int_in(0, 8), default=3, metavar="N",
        help="--verify sandbox: when the completion fails its tests, try up to N other samples and print the first "
        "whose tests pass (default 3, as the editor's verify_alternatives; 0: off)",
    )  # fmt: skip
    p.add_argument("--sandbox-image", default=None, help="sandbox image to run checks in (default: the built one)")
    p.add_argument(
        "--confidence-gate", type=_gate, default="auto", metavar="auto|off|FEATURE:THRESHOLD",
        help="stay silent when the model is unsure (default auto: the threshold calibrated for the model tier; "
        "a completion it hides is reported on stderr, exit code 1)",
    )  # fmt: skip
    add_model_options(p)
    p.set_defaults(func=run)


def _gate(value: str) -> Any:
    try:
        return parse_gate(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    # lazy: the parser imports every subcommand's module; `--help` must not load the engine or Docker's client
    from codeassist.alternatives import find_verified_alternative, is_test_failure
    from codeassist.completion import CompletionPolicy, CompletionService
    from codeassist.engine import CompletionRequest
    from codeassist.verify import Verifier, make_sandbox

    path, line, col = parse_location(args.location)
    text = read_text_file(path)
    offset_at(text, line, col, where=path)  # validate the position before paying for the model load
    # A script asked for this completion and waits for it: no interactive time budget.
    engine = engine_from_args(args, time_budget_ms=None, confidence_gate=args.confidence_gate)
    request = CompletionRequest(text=text, line=line, column=col, path=path, max_tokens=args.max_tokens)
    info = engine.load()
    # the sandbox's pool starts on its first run: only when some test would judge the completion
    sandbox = make_sandbox(image=args.sandbox_image, pool_size=1) if args.verify == "sandbox" else None
    try:
        service = CompletionService(
            engine, Verifier(sandbox) if sandbox is not None else None, CompletionPolicy(verify=args.verify)
        )
        done = service.complete(request)
        search = None
        if args.verify == "sandbox" and done.check is not None and is_test_failure(done.check):
            search = find_verified_alternative(service, request, done.result, args.alternatives)
            failed, done = done, search.found or done
        backend = engine.backend_status()  # which model answered (a remote server, or the local fallback and why)
    finally:
        engine.close()
        if sandbox is not None:
            sandbox.close()
    result, check = done.result, done.check if args.verify != "off" else None
    shown = check is None or check.show
    if args.json:
        data = result.to_json()
        data["model"] = {
            "name": info.name, "path": info.path, "load_ms": round(info.load_ms, 1), "fallback": engine.model_fallback,
        }  # fmt: skip
        data["backend"] = backend
        if search is not None:
            data["alternatives"] = {**search.to_json(), "replaces": failed.result.text if search.found else None}
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
        if search is not None and search.found is not None:
            sys.stderr.write(f"codeassist: replaces {failed.result.text!r}, which failed its tests\n")
    if result.gate == "unsure":
        sys.stderr.write("codeassist: no completion: the model was unsure (the confidence gate hid it; "
                         "--confidence-gate off shows it)\n")  # fmt: skip
        return 1
    return 0 if shown else 1
