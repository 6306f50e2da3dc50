"""``python bench/cap_overrun.py``: how far a cold completion overruns its time cap — the p95 tail of issue 16.

A cold request (a ~1,000-token prompt nothing of which is cached) gets a deadline of ``--caps`` seconds; the wall time
of ``Engine.complete`` is compared with the cap. Before prompt evaluation was chunked by time, the deadline was only
noticed between 512-token batches, so under load one batch overran the cap by seconds. The script uses only engine
API both versions have (``CompletionRequest.deadline``, ``Engine.warm``), so another checkout's virtualenv can run it
(``/other/.venv/bin/python bench/cap_overrun.py``) for a before/after in the same minutes. The text is the standard
library's ``json/decoder.py``: the same bytes for every version.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import time
from json import decoder

from codeassist.engine import CompletionRequest, Engine, EngineConfig
from codeassist.models.registry import resolve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--caps", default="1,2", help="caps in seconds, comma-separated")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--competitors", type=int, default=0, help="CPU-bound processes running meanwhile")
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    text = inspect.getsource(decoder)
    line = text[: text.index("    def raw_decode(")].count("\n")
    engine = Engine(EngineConfig(model=resolve(None), n_threads=2, max_tokens=24, typed_ahead=False,
                                 index_workspace=False, time_budget_ms=None))  # fmt: skip
    engine.load()
    hogs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(args.competitors)]
    rows = []
    try:
        for cap in [float(c) for c in args.caps.split(",")]:
            for rep in range(args.reps):
                engine.warm(CompletionRequest("x = 1\n", 0, 5, path=f"/tmp/cap-other-{rep}.py"))  # cold for `text`
                started = time.perf_counter()
                got = engine.complete(
                    CompletionRequest(text, line, 0, path=f"/tmp/cap-{rep}.py", deadline=time.monotonic() + cap)
                )
                wall = time.perf_counter() - started
                t = got.timings
                row = {"cap_s": cap, "wall_s": round(wall, 2), "ratio": round(wall / cap, 2), "stop": got.stop_reason}
                rows.append({**row, "evaluated": t.evaluated_tokens, "prompt": t.prompt_tokens})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    finally:
        for h in hogs:
            h.kill()
        engine.close()
    ratios = [r["ratio"] for r in rows]
    print(json.dumps({"label": args.label, "competitors": args.competitors, "load_avg": os.getloadavg(),
                      "median_ratio": statistics.median(ratios), "max_ratio": max(ratios), "rows": rows}))  # fmt: skip


if __name__ == "__main__":
    main()
