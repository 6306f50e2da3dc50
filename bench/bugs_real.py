"""The realistic bug set (issue 13, item 6): bugs written by hand into functions of the real-repository suite
(``bench/repos.toml``), each with the repository's own failing test, fixed by the one fix service.

Data: ``bench/bugs_real.toml``, one ``[[bug]]`` per bug: ``id``, ``repo`` (a name in repos.toml), ``file`` (relative
to the extracted sdist), ``kind``, ``original`` and ``buggy`` (the exact text replaced; ``original`` occurs once in
the file), ``tests`` (pytest node ids, or prefixes of parametrised ids, that the bug makes fail) and ``judge`` (the
test files of the hidden full check; default: the files of ``tests``).

For each bug the fetched tree is copied to a scratch snapshot (the fetched tree is never modified), the bug applied,
and the fixer run as an editor user gets it: the failing function is known (a save diagnostic sits on its ``def``
line), not the line. ``locate`` with that line runs the tests that exercise the function (the verifier's own
selection) and the fixer asks the model. The fixed file is judged in the sandbox by the whole ``judge`` files, which
must pass as they do on the original tree.

    python -m bench.bugs_real --check                  # each bug: the original passes its tests, the bug fails them
    python -m bench.bugs_real --systems default,repair --model PATH --max-bugs 40
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from bench.repos import fetch, load_manifest
from codeassist.engine import Engine, EngineConfig
from codeassist.fix_target import locate
from codeassist.fixer import FixConfig, Fixer
from codeassist.pyast import enclosing_function
from codeassist.testrun import parse_pytest
from codeassist.verdicts import TierBudget
from codeassist.verify import Change, Verifier, make_sandbox

BUGS = Path(__file__).with_name("bugs_real.toml")
PYTEST = ("python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x")
# the fixer as shipped (3 cloze candidates first: fix_cloze.py), with the self-repair loop, with narrow questions,
# the chat prompts alone (the default before cloze candidates)
SYSTEMS = ("default", "repair", "focus", "chat")


@dataclass(frozen=True)
class Bug:
    id: str
    repo: str
    file: str
    kind: str
    original: str
    buggy: str
    tests: tuple[str, ...]
    judge: tuple[str, ...]
    args: tuple[str, ...] = ()  # extra pytest arguments (parse's pyproject asks for pytest-cov, not in the image)

    @classmethod
    def from_toml(cls, row: dict[str, Any]) -> Bug:
        tests = tuple(row["tests"])
        judge = tuple(row.get("judge") or dict.fromkeys(t.split("::", 1)[0] for t in tests))
        args = tuple(row.get("pytest_args", ()))
        return cls(row["id"], row["repo"], row["file"], row["kind"], row["original"], row["buggy"], tests, judge, args)

    def apply(self, text: str) -> str:
        if text.count(self.original) != 1:
            raise ValueError(f"{self.id}: original text occurs {text.count(self.original)} times in {self.file}")
        return text.replace(self.original, self.buggy)

    def function_line(self, original: str) -> int:
        """0-based ``def`` line of the function the bug is in (what a save diagnostic points at), in the bugged
        file as in ``original`` (the text before the bug is the same)."""
        line = original[: original.index(self.original)].count("\n")
        fn = enclosing_function(self.apply(original), line)
        if fn is None:
            raise ValueError(f"{self.id}: the bug is in no function")
        return fn[1]


@dataclass
class Row:
    id: str
    system: str
    kind: str
    visible: bool = False  # the verifier's own test selection sees the failure (else: nothing to fix is visible)
    verified: bool = False  # the fixer labelled its best candidate "verified: tests pass"
    judged_pass: bool = False  # ... and the fixed file passes the full judge files
    offered: bool = False  # the best candidate passed every check that ran
    offered_pass: bool = False
    candidates: int = 0
    time_to_verified_s: float | None = None
    elapsed_s: float = 0.0
    note: str = ""
    diff: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def load_bugs(path: Path = BUGS) -> list[Bug]:
    with path.open("rb") as fh:
        return [Bug.from_toml(r) for r in tomllib.load(fh)["bug"]]


def spread(bugs: list[Bug]) -> list[Bug]:
    """Round-robin over the repositories (file order within each), so a run cut short covers them all."""
    by_repo: dict[str, list[Bug]] = {}
    for bug in bugs:
        by_repo.setdefault(bug.repo, []).append(bug)
    columns = list(by_repo.values())
    return [col[i] for i in range(max(map(len, columns), default=0)) for col in columns if i < len(col)]


def trees() -> dict[str, Path]:
    return {r["name"]: fetch(r) for r in load_manifest()}


def snapshot(tree: Path, dest: Path) -> Path:
    """A scratch copy of a fetched tree (the fetched tree stays untouched)."""
    shutil.copytree(tree, dest, symlinks=False, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
    return dest


def bugged_snapshot(bug: Bug, tree: Path, scratch: Path) -> tuple[Path, int]:
    """A scratch snapshot of ``tree`` with the bug applied: its root, and the bugged function's line (0-based), where
    the editor's save diagnostic sits -- what ``locate`` is given, as the editor's fix is."""
    root = snapshot(tree, scratch)
    text = (root / bug.file).read_text()
    (root / bug.file).write_text(bug.apply(text))
    return root, bug.function_line(text)


def run_tests(
    verifier: Verifier,
    root: Path,
    rel: str,
    text: str,
    args: tuple[str, ...],
    timeout_s: float,
    stop_first: bool = True,
) -> Any:
    """The sandbox run of ``pytest args`` over ``root`` with ``rel`` replaced by ``text``."""

    files = verifier.snapshot_files(Change(str(root), {rel: text}, {rel: text}, ()))
    return verifier.run_files(files, (*PYTEST[: None if stop_first else -1], *args), timeout_s)


def discover(bugs: list[Bug], verifier: Verifier, timeout_s: float) -> dict[str, list[str]]:
    """The judge files' tests each bug makes fail (to write its ``tests``): the whole files on the bugged tree."""
    paths, found = trees(), {}
    for bug in bugs:
        root = paths[bug.repo]
        buggy = bug.apply((root / bug.file).read_text())
        res = run_tests(verifier, root, bug.file, buggy, ("-rf", *bug.args, *bug.judge), timeout_s, stop_first=False)
        found[bug.id] = parse_pytest(res.stdout + res.stderr).failed
        print(f"{bug.id}: {res.status} {found[bug.id][:4]}", flush=True)
    return found


def check(bugs: list[Bug], verifier: Verifier, timeout_s: float) -> int:
    """Each bug: the original passes its tests and its judge files, the bugged file fails its tests."""
    paths, bad = trees(), 0
    for bug in bugs:
        root = paths[bug.repo]
        text = (root / bug.file).read_text()
        try:
            buggy = bug.apply(text)
            bug.function_line(text)
        except ValueError as exc:
            print(f"BAD {bug.id}: {exc}", flush=True)
            bad += 1
            continue
        orig = run_tests(verifier, root, bug.file, text, (*bug.args, *bug.judge), timeout_s)
        broken = run_tests(verifier, root, bug.file, buggy, (*bug.args, *bug.tests), timeout_s)
        ok = orig.status == "passed" and broken.status == "failed"
        bad += not ok
        why = "" if ok else f" original={orig.status} bugged={broken.status}: {(orig.stdout + broken.stdout)[-400:]}"
        print(f"{'ok ' if ok else 'BAD'} {bug.id} ({bug.kind}){why}", flush=True)
    print(f"{len(bugs) - bad}/{len(bugs)} bugs check out", flush=True)
    return bad


def fix_one(
    bug: Bug,
    system: str,
    engine: Engine,
    cfg: FixConfig,
    verifier: Verifier,
    tree: Path,
    scratch: Path,
    timeout_s: float,
) -> Row:
    if bug.args:  # the fixer's checks need the repository's pytest arguments too
        verifier = Verifier(verifier.sandbox, budget=verifier.budget, test_args=bug.args)
    fixer = Fixer(engine, verifier, cfg)

    root, line = bugged_snapshot(bug, tree, scratch)
    row, started = Row(bug.id, system, bug.kind), time.monotonic()
    try:
        target = locate(str(root / bug.file), line=line, verifier=verifier, root=str(root))
        row.visible = target.kind == "test"
        outcome = fixer.candidates_for(target)
        row.candidates, row.time_to_verified_s = outcome.generated, outcome.time_to_verified_s
        best = outcome.best
        if best is not None:
            row.offered, row.verified, row.diff = True, best.verdict.verified, best.diff
            judged = run_tests(verifier, tree, bug.file, best.new_text, (*bug.args, *bug.judge), timeout_s)
            row.offered_pass = judged.status == "passed"
            row.judged_pass = row.verified and row.offered_pass
        row.note = outcome.message
    except Exception as exc:  # e.g. the verifier's selection sees no failing test: nothing to fix is visible
        row.note = str(exc).split("\n", 1)[0][:200]
    row.elapsed_s = round(time.monotonic() - started, 2)
    return row


def summarize(rows: list[Row]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for system in dict.fromkeys(r.system for r in rows):
        mine = [r for r in rows if r.system == system]
        out[system] = {
            "bugs": len(mine), "visible": sum(r.visible for r in mine),
            "verified": sum(r.verified for r in mine), "verified_and_judged_pass": sum(r.judged_pass for r in mine),
            "verified_failing_judge": sum(r.verified and not r.judged_pass for r in mine),
            "offered": sum(r.offered for r in mine), "offered_pass": sum(r.offered_pass for r in mine),
            "by_kind": {k: sum(r.judged_pass for r in mine if r.kind == k) for k in sorted({r.kind for r in mine})},
        }  # fmt: skip
    return out


def run(args: argparse.Namespace, bugs: list[Bug], verifier: Verifier) -> list[Row]:

    engine = Engine(EngineConfig(model=args.model, n_threads=args.threads, time_budget_ms=None))
    engine.load()
    paths, rows_file = trees(), Path(args.rows)
    rows_file.parent.mkdir(parents=True, exist_ok=True)
    done = (
        {(r["id"], r["system"]) for r in map(json.loads, rows_file.read_text().splitlines())} if args.resume else set()
    )
    if not args.resume:
        rows_file.write_text("")
    rows: list[Row] = []
    deadline = None if args.time_limit_min is None else time.monotonic() + args.time_limit_min * 60
    with tempfile.TemporaryDirectory(prefix="bugs-real-") as tmp:
        for i, bug in enumerate(bugs):
            for system in args.systems.split(","):
                if (bug.id, system) in done or (deadline is not None and time.monotonic() >= deadline):
                    continue
                cfg = FixConfig(k=args.k, seed=args.seed, stop_at_first_verified=True, budget_s=0,
                                deadline_s=args.deadline_s, repair=system == "repair",
                                focus=system == "focus")  # fmt: skip
                if system == "chat":
                    cfg.cloze = 0
                row = fix_one(bug, system, engine, cfg, verifier, paths[bug.repo],
                              Path(tmp) / f"{i}-{system}", args.timeout_s)  # fmt: skip
                rows.append(row)
                with rows_file.open("a") as fh:
                    fh.write(json.dumps(asdict(row)) + "\n")
                label = "verified" if row.verified else ("offered" if row.offered else "no fix")
                print(f"[{bug.id} {system}] {label}, judge {'pass' if row.offered_pass else '-'} "
                      f"({row.elapsed_s:.0f}s) {row.note}", file=sys.stderr, flush=True)  # fmt: skip
    engine.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--check", action="store_true", help="only check the bugs (original passes, bugged fails)")
    p.add_argument("--discover", action="store_true", help="print the tests each bug makes fail (JSON to --out)")
    p.add_argument("--bugs", default=str(BUGS))
    p.add_argument("--only", default="", help="comma-separated bug ids")
    p.add_argument("--max-bugs", type=int, default=None)
    p.add_argument("--systems", default="default,focus", help=f"comma-separated, of {', '.join(SYSTEMS)}")
    p.add_argument("--model", default=None, help="GGUF path (default: the engine's default model)")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--deadline-s", type=float, default=600.0, help="per-bug fix budget (generous: load must not decide)"
    )
    p.add_argument("--timeout-s", type=float, default=300.0, help="per sandbox test run")
    p.add_argument("--time-limit-min", type=float, default=None, help="start no new fix after this many minutes")
    p.add_argument("--rows", default="build/bench/bugs-real-rows.jsonl")
    p.add_argument("--out", default="build/bench/bugs-real.json")
    p.add_argument("--resume", action="store_true")
    args = p.parse_args(argv)

    bugs = load_bugs(Path(args.bugs))
    if args.only:
        bugs = [b for b in bugs if b.id in args.only.split(",")]
    bugs = spread(bugs)[: args.max_bugs]
    sandbox = make_sandbox(pool_size=2)
    verifier = Verifier(sandbox, budget=TierBudget(tests_s=args.timeout_s))
    try:
        if args.discover:
            Path(args.out).write_text(json.dumps(discover(bugs, verifier, args.timeout_s), indent=1))
            return 0
        if args.check:
            return 1 if check(bugs, verifier, args.timeout_s) else 0
        rows = run(args, bugs, verifier)
    finally:
        sandbox.close()
    all_rows = [json.loads(ln) for ln in Path(args.rows).read_text().splitlines() if ln.strip()]
    summary = summarize([Row(**r) for r in all_rows])
    Path(args.out).write_text(json.dumps({"summary": summary, "rows": all_rows}, indent=2))
    print(json.dumps(summary, indent=2))
    return 0 if rows or all_rows else 1


if __name__ == "__main__":
    sys.exit(main())
