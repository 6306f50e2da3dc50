"""``codeassist complete PATH:LINE:COL``: one fill-in-the-middle completion at a position, printed to stdout."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from codeassist.cli.common import add_model_options, engine_from_args, parse_location, print_json
from codeassist.documents import read_text_file
from codeassist.engine import CompletionRequest


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("complete", help="complete code at PATH:LINE:COL (1-based)")
    p.add_argument("location", help="PATH:LINE:COL, 1-based like compiler messages")
    p.add_argument("--json", action="store_true", help="print the completion with timings and context as JSON")
    p.add_argument("--max-tokens", type=int, default=None, help="cap on generated tokens")
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
    if args.json:
        data = result.to_json()
        data["model"] = {"name": info.name, "path": info.path, "load_ms": round(info.load_ms, 1)}
        print_json(data)
    else:
        sys.stdout.write(result.text + "\n")
    return 0
