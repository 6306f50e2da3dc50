"""``codeassist stats``: the local acceptance stats the language server keeps per workspace (suggestions shown,
accepted, dismissed; characters accepted and still present later). ``--delete`` removes them. Nothing of the code is
stored, and nothing leaves the machine."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from codeassist import acceptance

from .common import print_json


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "stats", help="local acceptance stats of the editor suggestions (--delete removes them)"
    )
    p.add_argument("--workspace", metavar="PATH", help="only this workspace (the editor's workspace folder)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--delete", action="store_true", help="delete the stats (of --workspace, or all)")
    p.set_defaults(func=run)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def describe(counts: dict[str, Any]) -> str:
    """One line: ``12 shown, 5 accepted (42%: 3 full, 2 partial), 4 dismissed; 230 characters accepted, …``."""
    rates = counts["rates"]
    parts = [
        f"{counts['shown']} shown, {counts['accepted']} accepted ({_pct(rates['acceptance'])}: "
        f"{counts['accepted_full']} full, {counts['accepted_partial']} partial), {counts['dismissed']} dismissed",
        f"{counts['chars_accepted']} characters accepted",
    ]
    for label, r in sorted(counts["retained"].items(), key=lambda kv: float(kv[0].rstrip("s"))):
        parts.append(
            f"still there after {label}: {r['chars_present']}/{r['chars_accepted']} "
            f"({_pct(rates.get(f'retained_{label}'))}, {r['checks']} checked)"
        )
    return "; ".join(parts)


def run(args: argparse.Namespace) -> int:
    folder = acceptance.stats_dir()
    workspace = os.path.abspath(args.workspace) if args.workspace else None
    if args.delete:
        removed = acceptance.delete_all(folder, workspace)
        if args.json:
            print_json({"deleted": [str(p) for p in removed]})
        else:
            what = f"for {workspace}" if workspace else f"in {folder}"
            print(f"deleted {len(removed)} stats file(s) {what}")
        return 0
    if workspace is not None:
        path = acceptance.file_for(workspace, folder)
        found = [acceptance.summary(d, path)] if (d := acceptance.read(path)) is not None else []
    else:
        found = [acceptance.summary(d, Path(folder) / "?") for d in acceptance.load_all(folder)]
        for s in found:
            s["file"] = str(acceptance.file_for(s["workspace"], folder))
    if args.json:
        print_json({"directory": str(folder), "workspaces": found})
        return 0
    print(f"codeassist acceptance stats (local only, {folder})")
    if not found:
        print("  none yet: they are counted as you accept or dismiss suggestions in an editor")
    for s in found:
        print(f"{s['workspace']}")
        print(f"  today:  {describe(s['today'])}")
        print(f"  all ({s['days']} day{'s' if s['days'] != 1 else ''}): {describe(s['total'])}")
    return 0
