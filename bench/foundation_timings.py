"""Foundation figures: model load time, doctor's canary latency, and `codeassist complete --json` timings on the
example file, each the median of N fresh CLI runs (a fresh process each time, as a user would see it).

    python -m bench.foundation_timings [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from typing import Any

CLI = [sys.executable, "-m", "codeassist.cli"]


def _json(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, check=True, timeout=600)
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    rows: dict[str, list[float]] = {}
    for _ in range(args.runs):
        done = _json(["complete", "examples/stats.py:8:12", "--json", "--threads", str(args.threads)])
        t = done["timings"]
        for key in ("prompt_tokens", "reused_tokens", "generated_tokens", "prompt_ms", "generation_ms", "total_ms"):
            rows.setdefault(f"complete.{key}", []).append(float(t[key]))
        rows.setdefault("model.load_ms", []).append(float(done["model"]["load_ms"]))
        doctor = _json(["doctor", "--json", "--threads", str(args.threads)])
        canary = next(c for c in doctor["checks"] if c["name"] == "canary completion")
        rows.setdefault("doctor.canary_ms", []).append(float(canary["ms"]))
    print(f"| measure (median of {args.runs} fresh processes, {args.threads} threads) | median | min | max |")
    print("|---|---|---|---|")
    for key, values in rows.items():
        print(f"| {key} | {statistics.median(values):.1f} | {min(values):.1f} | {max(values):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
