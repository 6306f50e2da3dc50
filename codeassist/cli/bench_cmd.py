"""``codeassist bench repo PATH``: how good are the suggestions on *this* repository, judged by its own tests?

Cuts seeded holes into the repository's functions, fills each through ``codeassist serve`` with the user's settings
(and, with ``--against URL``, through a llama-server ``/infill`` with llama.vim's requests), runs the tests that
execute each hole's function in the sandbox, and reports coverage, exact match, tests passing, precision of what was
shown, syntax errors and latency. The user's tree is only read. See ``codeassist/repobench``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
import time
from typing import Any

import platformdirs

from codeassist.errors import InputError

KINDS = ("line", "multiline", "token")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("bench", help="benchmark completions on a repository")
    bsub = p.add_subparsers(dest="bench_command", metavar="ACTION", required=True)
    r = bsub.add_parser(
        "repo",
        help="cut holes in a repository, fill them through the language server, judge them by its tests",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("path", help="the repository (read only; the benchmark works on a snapshot)")
    r.add_argument("--holes", type=int, default=30, help="holes per kind (default 30)")
    r.add_argument("--kind", action="append", choices=KINDS, help="hole kind, repeatable (default: line)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--test", metavar="CMD", help="the test command, a pytest invocation (default: pytest)")
    r.add_argument("--python-path", action="append", help="sys.path entry for the tests (default: src/ if any)")
    r.add_argument("--no-tests", action="store_true", help="score the text only; run no tests")
    r.add_argument("--against", metavar="URL", help="also fill through this llama-server's /infill (llama.vim)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="server setting (JSON value)")
    r.add_argument("--model", help="tier name or GGUF path (the 'model' setting)")
    r.add_argument("--timeout-ms", type=int, help="per-request cap for every system (default: your settings)")
    r.add_argument("--jobs", type=int, default=2, help="concurrent sandbox runs (default 2)")
    r.add_argument("--out", help="output directory (default: under the user cache dir)")
    r.add_argument("--resume", action="store_true", help="carry on an interrupted run in --out")
    r.add_argument("--cache-dir", help="where traced runs and verdicts are cached (default: the user cache dir)")
    r.add_argument("--json", action="store_true", help="print the summary as JSON")
    r.set_defaults(func=_repo)


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for item in args.set:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            settings[key] = json.loads(raw)
        except ValueError:
            settings[key] = raw
    if args.model:
        settings["model"] = args.model
    if args.timeout_ms is not None:
        settings["timeout_ms"] = args.timeout_ms
    return settings


def _pytest_args(cmd: str | None) -> tuple[str, ...]:
    if not cmd:
        return ()
    argv = shlex.split(cmd)
    for head in (["pytest"], ["py.test"], ["python", "-m", "pytest"], ["python3", "-m", "pytest"]):
        if argv[: len(head)] == head:
            return tuple(argv[len(head) :])
    raise InputError(
        f"--test must be a pytest command, got {cmd!r}",
        hint="pytest also runs unittest-style suites; the benchmark traces pytest runs to pick each hole's tests",
    )


class _Bar:
    """A one-line progress bar on stderr (a line per 10% when stderr is not a terminal)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last: tuple[str, int] = ("", -1)
        self.t0 = time.monotonic()

    def __call__(self, label: str, done: int, total: int, counts: dict[str, int]) -> None:
        if "tracing" in counts:
            print(f"{label}: tracing the test suite once (cached afterwards)…", file=sys.stderr)
            return
        pct = 100 * done // total if total else 100
        step = pct if self.tty else pct // 10
        if (label, step) == self.last:
            return
        self.last = (label, step)
        bar = "#" * (pct // 5) + "-" * (20 - pct // 5)
        line = (f"{label} [{bar}] {done}/{total}  shown {counts.get('shown', 0)}  passed {counts.get('pass', 0)}"
                f"  {time.monotonic() - self.t0:,.0f} s")  # fmt: skip
        print(("\r" + line + "\x1b[K") if self.tty else line, end="" if self.tty and done < total else "\n",
              file=sys.stderr)  # fmt: skip


def _repo(args: argparse.Namespace) -> int:
    # the bench machinery (sandbox client, LSP client) loads only when the command runs: `codeassist --help` stays fast
    from codeassist.repobench.infill import InfillOptions
    from codeassist.repobench.run import RepoRun, System, bench_repo

    path = os.path.abspath(args.path)
    if not os.path.isdir(path):
        raise InputError(f"{args.path!r} is not a directory")
    if args.holes < 1 or args.jobs < 1:
        raise InputError("--holes and --jobs must be at least 1")
    out = args.out
    if out is None:
        tag = hashlib.sha256(path.encode()).hexdigest()[:8]
        out = os.path.join(
            platformdirs.user_cache_dir("codeassist"), "bench", "runs", f"{os.path.basename(path)}-{tag}"
        )
    systems = [System("codeassist", "lsp", _settings(args))]
    if args.against:
        cap = args.timeout_ms
        opts = InfillOptions() if cap is None else InfillOptions(t_max_prompt_ms=cap, t_max_predict_ms=cap)
        systems.append(System("llama-server", "infill", url=args.against, infill=opts))
    run = RepoRun(
        path=path, out_dir=out, holes=args.holes, kinds=tuple(args.kind or ["line"]), seed=args.seed,
        pytest_args=_pytest_args(args.test), paths=tuple(args.python_path) if args.python_path else None,
        jobs=args.jobs, tests=not args.no_tests, resume=args.resume, cache_dir=args.cache_dir,
    )  # fmt: skip
    summary = bench_repo(run, systems, _Bar())
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        from codeassist.repobench.report import markdown  # with the rest of the bench machinery: only when run

        print(markdown(summary))
        print(f"Rows, report.json and report.md: {out}")
    return 0
