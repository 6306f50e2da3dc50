"""``codeassist explain PATH:LINE[-LINE] [--json]``: explain lines of a file with their context, streamed to stdout."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from codeassist.cli.common import add_model_options, engine_from_args, print_json
from codeassist.cli.validate import MAX_TOKENS, int_in
from codeassist.errors import InputError
from codeassist.explain_checks import DEFAULT_MAX_WORDS

MAX_WORDS = 5000


def parse_span(spec: str) -> tuple[str, int, int]:
    """``PATH:LINE`` or ``PATH:START-END`` (1-based, inclusive) -> (path, start0, end0)."""
    m = re.match(r"^(.*):(\d+)(?:-(\d+))?$", spec)
    if m is None:
        raise InputError(f"expected PATH:LINE or PATH:START-END (1-based), got {spec!r}")
    start = int(m.group(2))
    end = int(m.group(3)) if m.group(3) else start
    if start < 1 or end < start:
        raise InputError(f"{spec}: lines are 1-based and START must not exceed END")
    return m.group(1), start - 1, end - 1


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("explain", help="explain PATH:LINE[-LINE] with its context (streamed)")
    p.add_argument("location", help="PATH:LINE or PATH:START-END, 1-based")
    p.add_argument("--json", action="store_true", help="print the explanation and its context as JSON (not streamed)")
    p.add_argument("--max-tokens", type=int_in(1, MAX_TOKENS), default=256, help="cap on generated tokens")
    p.add_argument(
        "--max-words", type=int_in(0, MAX_WORDS), default=DEFAULT_MAX_WORDS,
        help=f"stop past this many words, cut back to the last sentence (default {DEFAULT_MAX_WORDS}; 0: no limit)",
    )  # fmt: skip
    add_model_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # lazy: the parser imports every subcommand's module; `--help` must not load the engine or Docker's client
    from codeassist.context.languages import language_for_path
    from codeassist.documents import read_text_file
    from codeassist.explainer import notes, stream_explain

    path, start, end = parse_span(args.location)
    text = read_text_file(path).replace("\r\n", "\n")
    n_lines = len(text.split("\n"))
    if end >= n_lines:
        raise InputError(f"{path}: line {end + 1} is past the end of the file ({n_lines} lines)")
    engine = engine_from_args(args, time_budget_ms=None)
    engine.load()

    def write(delta: str) -> None:
        sys.stdout.write(delta)
        sys.stdout.flush()

    result = stream_explain(
        engine, text, start, end, path=path, language=language_for_path(path),
        on_delta=None if args.json else write, max_tokens=args.max_tokens,
        max_words=args.max_words,
    )  # fmt: skip
    engine.close()
    if args.json:
        print_json(result.to_json())
    else:
        sys.stdout.write("\n" + "".join(f"\n({note})\n" for note in notes(result)))
    return 0
