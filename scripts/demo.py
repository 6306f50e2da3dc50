"""`make demo`: complete the hole in examples/stats.py with the default model tier (make demo installs it), as
`codeassist complete --json` would, verify it against examples/test_stats.py in the Docker sandbox, and show the
result spliced into the file with its timings and verdict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LOCATION = "examples/stats.py:8:12"


def main() -> int:
    proc = subprocess.run(
        [sys.executable, "-m", "codeassist.cli", "complete", LOCATION, "--json"], capture_output=True, text=True
    )
    if proc.returncode not in (0, 1) or not proc.stdout.strip():  # 1: the completion failed its tests (shown below)
        sys.stderr.write(proc.stderr)
        return proc.returncode or 1
    result = json.loads(proc.stdout)
    check = result.get("verification") or {}
    if not check.get("shown", True):
        result["text"] = result.get("hidden_text", "")
    t = result["timings"]
    lines = Path("examples/stats.py").read_text(encoding="utf-8").split("\n")
    row, col = result["line"], result["column"]
    completed = lines[row][:col] + result["text"] + lines[row][col:]
    print(f"== codeassist complete {LOCATION}  (model: {result['model']['name']}) ==")
    if result["model"].get("fallback"):
        print(f"note: {result['model']['fallback']}")
    print("\n".join(lines[3:row]))
    print(f"{completed}    <-- completion")
    print()
    print(f"completion: {result['text']!r}")
    print(
        f"model load {result['model']['load_ms']:.0f} ms; prompt {t['prompt_tokens']} tokens "
        f"({t['reused_tokens']} reused) in {t['prompt_ms']:.0f} ms; {t['generated_tokens']} tokens generated in "
        f"{t['generation_ms']:.0f} ms; total {t['total_ms']:.0f} ms; stop: {result['stop_reason']}"
    )
    pieces = ", ".join(f"{p['kind']}:{p['tokens']}" for p in result["context"])
    print(f"context pieces (tokens): {pieces}")
    tiers = "; ".join(
        f"{t['tier']} {t['status']} ({1000 * (t.get('wall_s') or 0):.0f} ms)" for t in check.get("tiers", [])
    )
    label = check.get("label", "not checked")
    reason = f" ({check['reason']})" if check.get("reason") else ""
    print(f"verification: {label}{reason}{'' if check.get('shown', True) else ', not shown'} -- {tiers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
