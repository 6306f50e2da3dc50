"""``python -m bench.refactor_engines``: files/min of a batch refactor with the sandbox on this machine's Docker
engine, on a second engine (TCP + TLS on loopback, standing in for a remote machine), on both, and on both with the
second engine killed midway (every file must still get exactly one result, and ``--apply`` write each once).

A 2-core machine cannot show a speed-up from a second engine on the same cores: the figures say what the remote
path costs and that spreading works, not how a real second machine would scale.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "remote"))

from dockerd import SecondDockerd, start_second_dockerd  # noqa: E402

INSTRUCTION = "Add a one-line docstring to the function."


def workspace(folder: Path, n: int) -> list[str]:
    folder.mkdir(parents=True)
    (folder / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    names = []
    for i in range(n):
        (folder / f"mod_{i}.py").write_text(f"def scale_{i}(x):\n    return x * {i + 2}\n")
        (folder / f"test_mod_{i}.py").write_text(
            f"from mod_{i} import scale_{i}\n\n\ndef test_scale():\n    assert scale_{i}(3) == {3 * (i + 2)}\n"
        )
        names.append(f"mod_{i}.py")
    return names


def refactor(folder: Path, files: list[str], hosts: list[str], tls: str | None, kill: SecondDockerd | None,
             kill_after_s: float) -> dict[str, Any]:  # fmt: skip
    cmd = [sys.executable, "-m", "codeassist.cli", "refactor", "-i", INSTRUCTION, "--verify", "python3 -m pytest -q",
           "-k", "2", "--jobs", "4", "--apply", "--allow-unverified", "--json", *files]  # fmt: skip
    for host in hosts:
        cmd += ["--docker-host", host]
    if tls:
        cmd += ["--docker-tls-dir", tls]
    timer = threading.Timer(kill_after_s, kill.kill) if kill is not None else None
    started = time.monotonic()
    if timer is not None:
        timer.start()
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=7200, check=False)
    wall = time.monotonic() - started
    if timer is not None:
        timer.cancel()
    report = json.loads(proc.stdout)
    rels = [f["rel"] for f in report["files"]]
    return {
        "engines": hosts or ["local (default)"], "killed_second_engine_after_s": kill_after_s if kill else None,
        "files": len(files), "results": len(rels), "each_file_once": sorted(rels) == sorted(files),
        "applied_once": len(report["applied"]) == len(set(report["applied"])), "counts": report["counts"],
        "wall_s": round(wall, 1), "files_per_min": round(len(files) / wall * 60, 2),
        "runs_per_engine": {e["engine"]: e["runs"] for e in report.get("engines", [])},
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=6)
    ap.add_argument("--kill-after", type=float, default=30.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="codeassist-bench-engines-"))
    daemon = start_second_dockerd(tmp / "dockerd")
    rows = []
    try:
        tls = str(daemon.tls_client)
        plans: list[tuple[str, list[str], SecondDockerd | None]] = [
            ("local", [], None), ("remote", [daemon.url], None), ("both", ["local", daemon.url], None),
            ("both, second killed", ["local", daemon.url], daemon),
        ]  # fmt: skip
        for name, hosts, kill in plans:
            folder = tmp / name.replace(" ", "_").replace(",", "")
            files = workspace(folder, args.files)
            rows.append({"run": name, **refactor(folder, files, hosts, tls if hosts else None, kill, args.kill_after)})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    finally:
        daemon.stop()
    print(json.dumps({"rows": rows}, indent=2))


if __name__ == "__main__":
    main()
