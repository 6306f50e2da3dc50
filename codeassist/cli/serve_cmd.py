"""``codeassist serve``: the language server, over stdio (default) or ``--tcp HOST:PORT``."""

from __future__ import annotations

import argparse
from typing import Any

from codeassist.errors import InputError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("serve", help="run the language server (stdio, or --tcp HOST:PORT)")
    p.add_argument("--stdio", action="store_true", help="speak LSP over stdin/stdout (the default)")
    p.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP socket instead of stdio")
    p.add_argument("--log-file", help="also write logs to this file")
    p.add_argument("--log-code", action="store_true", help="allow user code (documents, completions) in the logs")
    p.add_argument("--verbose", "-v", action="store_true", help="debug-level logging")
    p.set_defaults(func=run)


def parse_hostport(spec: str) -> tuple[str, int]:
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--tcp expects HOST:PORT (e.g. 127.0.0.1:2087), got {spec!r}")
    return host or "127.0.0.1", int(port)


def run(args: argparse.Namespace) -> int:
    address = parse_hostport(args.tcp) if args.tcp else None
    if args.log_file:
        check_log_file(args.log_file)
    # Imported here: `codeassist --help` (and a bad option above) must not pay for pygls.
    from codeassist.server.app import ServeOptions
    from codeassist.server.handlers import create_server
    from codeassist.server.logs import configure
    from codeassist.server.transport import serve_stdio, serve_tcp

    options = ServeOptions(log_file=args.log_file, log_code=args.log_code, verbose=args.verbose)
    server = create_server(options)
    try:  # our transport, not pygls' start_io/start_tcp: see codeassist.server.transport for why
        configure(server.send_log, log_file=args.log_file, log_code=args.log_code, verbose=args.verbose)
        if address is None:
            return serve_stdio(server)
        try:
            return serve_tcp(server, *address)
        except OSError as exc:  # busy port, no such address, privileged port
            raise InputError(f"--tcp {address[0]}:{address[1]}: cannot listen: {exc.strerror or exc}") from None
    finally:
        server.worker.stop(timeout_s=2.0)


def check_log_file(path: str) -> None:
    """Open the log file for appending now (it is created, as logging would), so a missing folder or a directory is
    a one-line error before the server starts rather than a traceback from the logging setup."""
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise InputError(f"--log-file {path}: cannot open it: {exc.strerror or exc}") from None
