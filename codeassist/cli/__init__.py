"""The ``codeassist`` command line.

Each subcommand lives in its own module under ``codeassist.cli`` and exposes ``register(subparsers)``, which adds its
parser and sets ``func`` (a callable taking the parsed namespace and returning an exit code). Modules are imported
lazily by name so a broken optional part (say, Docker) cannot stop ``codeassist model`` from working.

The CLI is a caller of the engine, like the LSP server; it is the only part of ``codeassist`` allowed to import
``codeassist.server`` and ``codeassist.sandbox`` together.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from codeassist import __version__
from codeassist.errors import CodeassistError

# Module names under codeassist.cli, in the order `--help` lists them.
COMMANDS: tuple[str, ...] = (
    "complete_cmd",
    "model_cmd",
    "doctor_cmd",
    "serve_cmd",
    "sandbox_cmd",
    "fix_cmd",
    "explain_cmd",
    "refactor_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codeassist", description="Local, private coding assistant.")
    parser.add_argument("--version", action="version", version=f"codeassist {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"codeassist.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"codeassist.cli.{name}":
                continue  # not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return func(args)
    except CodeassistError as exc:
        print(f"codeassist: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("codeassist: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`codeassist … | head`): not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
