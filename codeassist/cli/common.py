"""Helpers shared by CLI subcommands: location parsing, engine construction, JSON output."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from codeassist.cli.validate import MAX_THREADS, N_CTX_RANGE, int_in
from codeassist.errors import InputError

if TYPE_CHECKING:
    from codeassist.engine import Engine


def parse_location(spec: str) -> tuple[str, int, int]:
    """``PATH:LINE:COL`` (1-based, as compilers print) -> (path, line0, col0). Splits from the right so paths may
    contain colons."""
    parts = spec.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise InputError(f"expected PATH:LINE:COL with 1-based numbers, got {spec!r}")
    path, line, col = parts[0], int(parts[1]), int(parts[2])
    if line < 1 or col < 1:
        raise InputError(f"{spec}: LINE and COL are 1-based")
    return path, line - 1, col - 1


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        help="model tier name or path to a GGUF file (default: $CODEASSIST_MODEL, else the default tier "
        "qwen2.5-coder-1.5b; when that is not installed, the embedded qwen2.5-coder-0.5b, with a warning)",
    )
    parser.add_argument(
        "--threads", type=int_in(1, MAX_THREADS), default=None, help="CPU threads for inference (default: all cores)"
    )
    parser.add_argument("--n-ctx", type=int_in(*N_CTX_RANGE), default=4096, help="model context size in tokens")


def engine_from_args(args: argparse.Namespace, **overrides: Any) -> Engine:
    # lazy: the parser imports every subcommand's module; `--help` must not load the engine or Docker's client
    from codeassist.engine import Engine, EngineConfig

    config = EngineConfig(model=args.model, n_threads=args.threads, n_ctx=args.n_ctx, **overrides)
    return Engine(config)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
