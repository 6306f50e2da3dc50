"""`make demo`: complete the hole in examples/stats.py with the embedded model, as `codeassist complete --json`
would, and show the result spliced into the file with its timings."""

from __future__ import annotations

import json
import subprocess
import sys

LOCATION = "examples/stats.py:8:12"


def main() -> int:
    proc = subprocess.run(
        [sys.executable, "-m", "codeassist.cli", "complete", LOCATION, "--json"], capture_output=True, text=True
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        return proc.returncode
    result = json.loads(proc.stdout)
    t = result["timings"]
    lines = open("examples/stats.py", encoding="utf-8").read().split("\n")
    row, col = result["line"], result["column"]
    completed = lines[row][:col] + result["text"] + lines[row][col:]
    print(f"== codeassist complete {LOCATION}  (model: {result['model']['name']}) ==")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
