"""What the job's Landlock ruleset (sandbox/confine.py) costs in exec mode: a trivial job, confined and not, alternated
in one run on the same warm exec-mode pool (the unconfined preamble is the one exec mode had before it was confined).

    python bench/confine_cost.py [--n 40] [--cmd true]

Prints the median and p90 of each, and their ratio. Latency on a shared machine is noisy: only the ratio within one
run means anything. Not a timed test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from codeassist.sandbox import Sandbox, SandboxConfig, Snapshot, execjob

CONFINED = execjob.PREAMBLE
# the same preamble without the confine step: print the ready marker, become the job
UNCONFINED = (
    CONFINED[: CONFINED.index("command -v python3")] + "printf '\\000codeassist-sandbox-ready\\000\\n'; " + 'exec "$@"'
)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--cmd", default="true", help="the job (shell words)")
    args = ap.parse_args()
    times: dict[str, list[float]] = {"unconfined": [], "confined": []}
    with Sandbox(SandboxConfig(pool_size=2, runner=False)) as ex:
        assert ex.warm().ok, "sandbox unavailable"
        empty = Snapshot.from_files({})
        for i in range(args.n + 2):
            for name, preamble in (("unconfined", UNCONFINED), ("confined", CONFINED)):
                execjob.PREAMBLE = preamble  # read by run_job at each call; one thread here
                t = time.perf_counter()
                res = ex.run(empty, args.cmd.split())
                took = time.perf_counter() - t
                assert res.status == "passed", res
                if i >= 2:  # two warm-ups each
                    times[name].append(took)
        execjob.PREAMBLE = CONFINED
    out = {k: {"p50_ms": round(statistics.median(v) * 1000, 1), "p90_ms": round(pct(v, 90) * 1000, 1)}
           for k, v in times.items()}  # fmt: skip
    out["ratio_p50"] = {"confined/unconfined": round(out["confined"]["p50_ms"] / out["unconfined"]["p50_ms"], 2)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
