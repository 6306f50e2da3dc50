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
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from codeassist import __version__
from codeassist.cli import interrupts
from codeassist.cli.validate import OneLineParser
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
    "bench_cmd",
    "stats_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="codeassist", description="Local, private coding assistant.")
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


def split_trailing_command(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """``sandbox run [OPTIONS] DIR [OPTIONS] -- CMD…``: everything after the first ``--`` is the command, and options
    may come anywhere before it (argparse's REMAINDER would run ``DIR --json -- CMD`` as the command ``--json``)."""
    if argv[:2] == ["sandbox", "run"] and "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, None


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes common to every command: 0 success, 2 bad input or usage (one line on stderr), 130 / 143
    interrupted by SIGINT / SIGTERM, 141 the reader of stdout went away; each command documents its others."""
    previous = {sig: signal.getsignal(sig) for sig in interrupts.HANDLED}
    interrupts.install()
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt as exc:  # while the parser imports the commands' modules (slow on a loaded machine)
        print("codeassist: interrupted", file=sys.stderr)
        return interrupts.exit_code(exc)
    finally:
        if argv is None:  # the console script: the process exits next, and a late signal must not kill it (-15)
            interrupts.exiting()
        elif threading.current_thread() is threading.main_thread():
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _main(argv: list[str]) -> int:
    parser = build_parser()
    head, command = split_trailing_command(argv)
    args = parser.parse_args(head)
    if command is not None:
        if args.cmd:
            parser.error(f"give the command after `--` only (got {' '.join(args.cmd)!r} before it)")
        args.cmd = command
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.error("a command is required")
    try:
        return func(args)
    except CodeassistError as exc:
        print(f"codeassist: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        print("codeassist: interrupted", file=sys.stderr)
        return interrupts.exit_code(exc)
    except BrokenPipeError:
        # The reader went away (`codeassist … | head`): not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:
        # An operating-system refusal on a path the user gave (permissions, a vanished file, a full disk) that no
        # command foresaw: one line, not a traceback. Programming errors still keep their traceback.
        where = f": {exc.filename}" if exc.filename else ""
        print(f"codeassist: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
