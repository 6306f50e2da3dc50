"""Helpers shared by CLI subcommands: location parsing, engine construction, JSON output."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from codeassist.cli.validate import MAX_THREADS, N_CTX_RANGE, int_in
from codeassist.errors import InputError
from codeassist.models import remote_config
from codeassist.models.remote_config import BACKENDS, RemoteConfig
from codeassist.project import find_root

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
    parser.add_argument(
        "--backend", choices=BACKENDS, default=None,
        help="where the model runs: local (in-process, default), llama-server or openai (a server at --url; "
        "--model then names the served model). Also read from [tool.codeassist] config files",
    )  # fmt: skip
    parser.add_argument("--url", default=None, help="the model server's URL for --backend llama-server/openai")


def remote_from_args(args: argparse.Namespace) -> RemoteConfig | None:
    """The remote backend from config files, environment and flags (flags win); None for the local model."""
    flags = {"backend": getattr(args, "backend", None), "url": getattr(args, "url", None)}
    config, errors = remote_config.load(str(find_root(os.getcwd())), flags)
    if errors:
        raise InputError("; ".join(errors))
    if not config.remote:
        return None
    return replace(config, model=args.model or config.model)


def sandbox_engines(args: argparse.Namespace, root: str) -> tuple[tuple[str, ...], str | None]:
    """Docker engines for the sandbox: ``--docker-host`` flags, else ``[tool.codeassist.sandbox] docker_host`` in
    the user's or the workspace's config files (the LSP reads the same keys); none = the local engine."""
    hosts: tuple[str, ...] = tuple(getattr(args, "docker_host", None) or ())
    tls: str | None = getattr(args, "docker_tls_dir", None)
    if hosts:
        return hosts, tls
    # the LSP's settings reader (the same keys and files); lazy: only when no --docker-host flag names the engines
    from codeassist.server.config import Settings, merge, workspace_file_settings

    settings = Settings()
    found, _ = workspace_file_settings(root)
    for source, raw in found:
        settings, errors = merge(settings, raw, source)
        bad = [e for e in errors if "sandbox" in e]
        if bad:
            raise InputError("; ".join(bad))
    return settings.sandbox_docker_host or (), tls or settings.sandbox_tls_dir


def engine_from_args(args: argparse.Namespace, **overrides: Any) -> Engine:
    # lazy: the parser imports every subcommand's module; `--help` must not load the engine or Docker's client
    from codeassist.engine import Engine, EngineConfig

    remote = remote_from_args(args)
    model = args.model if remote is None else None  # with a remote backend --model names the served model
    config = EngineConfig(model=model, n_threads=args.threads, n_ctx=args.n_ctx, remote=remote, **overrides)
    return Engine(config)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
