"""Sandbox latency: warm-pool runs against a cold ``docker run --rm`` of the same image, measured in the same run.

    python bench/sandbox_latency.py [--n 30]

Prints p50/p95 for ``python3 -c pass``-style checks and a 20-test pytest file. Not a timed test: numbers depend on
the machine, so they are reported, not asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable

from codeassist.sandbox import Sandbox, SandboxConfig, Snapshot
from codeassist.sandbox.containers import ContainerSpec, remove_quietly
from codeassist.sandbox.docker_conn import DockerConn

TESTS = "\n".join(f"def test_{i}():\n    assert {i} + 1 == {i + 1}\n" for i in range(20))


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def measure(fn: Callable[[], object], n: int) -> list[float]:
    fn()  # warm-up
    out: list[float] = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30)
    args = ap.parse_args()
    results: dict[str, dict[str, float]] = {}
    with Sandbox(SandboxConfig(pool_size=2)) as sb, Sandbox(SandboxConfig(pool_size=2, runner=False)) as ex:
        assert sb.warm().ok and ex.warm().ok, "sandbox unavailable"
        empty = Snapshot.from_files({})
        tests = Snapshot.from_files({"test_many.py": TESTS})

        def warm_pass() -> None:
            assert sb.run(empty, ["python3", "-c", "pass"]).status == "passed"

        def exec_pass() -> None:
            assert ex.run(empty, ["python3", "-c", "pass"]).status == "passed"

        def warm_pytest() -> None:
            assert sb.run(tests, sb.command("pytest")).status == "passed"

        api = DockerConn(30.0).api()
        spec = ContainerSpec(sb.image, sb.config.limits, sb.config.user)

        def cold(cmd: list[str]) -> Callable[[], None]:
            def run() -> None:  # docker run --rm: create, start, wait, remove (same hardening)
                cid = api.create_container(
                    sb.image, cmd, user=spec.user, host_config=spec.host_config(api), network_disabled=True
                )["Id"]
                try:
                    api.start(cid)
                    assert api.wait(cid)["StatusCode"] == 0
                finally:
                    remove_quietly(api, cid)

            return run

        cases: list[tuple[str, Callable[[], object]]] = [
            ("warm python3 -c pass", warm_pass),
            ("warm exec-mode python3 -c pass", exec_pass),
            ("cold docker run python3 -c pass", cold(["python3", "-c", "pass"])),
            ("warm pytest 20 tests", warm_pytest),
        ]
        if shutil.which("docker"):
            cli = [
                "docker",
                "run",
                "--rm",
                "--network",
                "none",
                "--read-only",
                "--user",
                spec.user,
                "--cap-drop",
                "ALL",
                "--security-opt",
                "no-new-privileges",
                sb.image,
                "python3",
                "-c",
                "pass",
            ]
            cases.append(("cold docker CLI run --rm -c pass", lambda: subprocess.run(cli, check=True)))
        for name, fn in cases:
            xs = measure(fn, args.n)
            results[name] = {
                "p50_ms": round(statistics.median(xs) * 1000, 1),
                "p95_ms": round(pct(xs, 95) * 1000, 1),
                "n": len(xs),
            }
            print(f"{name:34s} p50 {results[name]['p50_ms']:7.1f} ms   p95 {results[name]['p95_ms']:7.1f} ms")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
