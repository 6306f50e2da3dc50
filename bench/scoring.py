"""Scorers: exact match and edit similarity (pure), and execution pass@1 (only ever in the sandbox).

Exact match follows Qwen's fim-bench / SantaCoder-FIM convention: compare the first non-empty line of the completion
with the first non-empty line of the reference, both stripped. For multi-line holes, :func:`exact_match_lines`
compares every line with trailing whitespace removed and surrounding blank lines ignored. Edit similarity is
``1 - levenshtein / max(len)`` on the same normalised strings (RepoEval's ES; 1.0 for two empty strings).

Execution: programs never run on the host. :class:`Executor` ships a batch of programs plus a small runner script to
one sandbox container, where the runner starts ``python3 -`` for each program in turn (per-program timeout) and
prints one JSON line per program. Batching amortises the container round trip (~0.3 s) over dozens of programs; the
sandbox's own limits (memory, pids, network off, read-only root, time) still bound the whole batch.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench.tasks import (
    BugTask,
    InfillTask,
    Mutation,
    Problem,
    apply_mutation,
    ordered_mutations,
    program_with,
    test_program,
)

# -- text scorers -------------------------------------------------------------------------------------------------


def first_line(text: str) -> str:
    for line in text.split("\n"):
        if line.strip():
            return line.strip()
    return ""


def normalise_lines(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").split("\n")).strip("\n")


def exact_match(completion: str, reference: str) -> bool:
    """First non-empty line, stripped, equal (single-line infilling)."""
    return first_line(completion) == first_line(reference)


def exact_match_lines(completion: str, reference: str) -> bool:
    """All lines equal up to trailing whitespace and leading/trailing blank lines (multi-line infilling)."""
    return normalise_lines(completion) == normalise_lines(reference)


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def edit_similarity(completion: str, reference: str) -> float:
    """``1 - levenshtein / max(len)`` in [0, 1]; 1.0 when both are empty."""
    longest = max(len(completion), len(reference))
    if longest == 0:
        return 1.0
    return 1.0 - levenshtein(completion, reference) / longest


# -- execution in the sandbox -------------------------------------------------------------------------------------

_RUNNER = r"""
import json, subprocess, sys
jobs = json.load(open("jobs.json"))
timeout = float(sys.argv[1])
for job in jobs:
    try:
        p = subprocess.run([sys.executable, "-"], input=job["code"], capture_output=True, text=True, timeout=timeout,
                           cwd="/tmp")
        status = "passed" if p.returncode == 0 else "failed"
        tail = (p.stdout + p.stderr)[-1500:]
        code = p.returncode
    except subprocess.TimeoutExpired:
        status, tail, code = "timeout", "", None
    print(json.dumps({"id": job["id"], "status": status, "exit_code": code, "tail": tail}), flush=True)
"""


@dataclass(frozen=True)
class ExecResult:
    id: str
    status: str  # passed | failed | timeout | error (the sandbox could not run it: not checked)
    tail: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


class Executor:
    """Runs test programs in the codeassist sandbox in batches. ``close()`` when done."""

    def __init__(self, *, batch_size: int = 40, program_timeout_s: float = 5.0, workers: int = 2) -> None:
        from codeassist.sandbox import Limits, Sandbox, SandboxConfig

        self.batch_size = batch_size
        self.program_timeout_s = program_timeout_s
        self.workers = workers
        self._limits = Limits(timeout_s=program_timeout_s * batch_size + 30.0, memory_mb=512, pids=64)
        self._sandbox = Sandbox(SandboxConfig(pool_size=workers, limits=self._limits))
        self._lock = threading.Lock()
        self.runs = 0
        self.retries = 0
        self.wall_s = 0.0

    def health(self) -> tuple[bool, str | None]:
        h = self._sandbox.warm()
        return h.ok, h.reason

    def run(self, programs: Sequence[tuple[str, str]]) -> dict[str, ExecResult]:
        """Run ``(id, program)`` pairs; each passes when it exits 0 within the per-program timeout."""
        batches = [list(programs[i : i + self.batch_size]) for i in range(0, len(programs), self.batch_size)]
        results: dict[str, ExecResult] = {}
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            for batch_results in pool.map(self._run_batch, batches):
                results.update(batch_results)
        return results

    def _run_batch(self, batch: list[tuple[str, str]]) -> dict[str, ExecResult]:
        """Run one batch; when the sandbox itself failed (say dockerd restarted), retry the unreported programs a few
        times with a pause. Programs still unreported after that are reported as ``error`` (not checked)."""
        out: dict[str, ExecResult] = {}
        pending = batch
        for pause in (2.0, 5.0, 10.0, 0.0):
            out.update(self._run_once(pending))
            pending = [(pid, code) for pid, code in batch if out[pid].status == "error"]
            if not pending or not pause:
                break
            with self._lock:
                self.retries += 1
            time.sleep(pause)
        return out

    def _run_once(self, batch: list[tuple[str, str]]) -> dict[str, ExecResult]:
        jobs = [{"id": pid, "code": code} for pid, code in batch]
        files = {"jobs.json": json.dumps(jobs), "runner.py": _RUNNER}
        res = self._sandbox.run(files, self._sandbox.command("python", "runner.py", str(self.program_timeout_s)))
        with self._lock:
            self.runs += 1
            self.wall_s += res.wall_s
        out: dict[str, ExecResult] = {}
        for line in res.stdout.splitlines():
            try:
                row: dict[str, Any] = json.loads(line)
            except json.JSONDecodeError:
                continue
            out[str(row["id"])] = ExecResult(str(row["id"]), str(row["status"]), str(row.get("tail", "")))
        reason = res.reason or res.status
        for pid, _ in batch:
            if pid not in out:
                # The batch died before this program reported (sandbox error, batch timeout, OOM): not checked.
                out[pid] = ExecResult(pid, "error", f"sandbox {res.status}: {reason}")
        return out

    def close(self) -> None:
        self._sandbox.close()


def infill_programs(tasks: Sequence[InfillTask], completions: Sequence[str]) -> list[tuple[str, str]]:
    pairs = zip(tasks, completions, strict=True)
    return [(t.task_id, test_program(program_with(t, c), t.test, t.entry_point)) for t, c in pairs]


def pass_at_1(executor: Executor, tasks: Sequence[InfillTask], completions: Sequence[str]) -> dict[str, ExecResult]:
    """Greedy pass@1: one completion per task, run against the problem's hidden tests in the sandbox."""
    return executor.run(infill_programs(tasks, completions))


# -- bug set verification -----------------------------------------------------------------------------------------


def verify_bugs(
    executor: Executor, problems: Sequence[Problem], *, seed: int, per_problem: int = 12, step: int = 3
) -> list[BugTask]:
    """For each problem, the first mutation (in the seeded order of :func:`ordered_mutations`) whose program fails
    the problem's tests in the sandbox, provided the canonical solution passes them there. Mutants are tried in rounds
    of ``step`` per problem still lacking a bug, which gives the same answer as trying them all, in a fraction of the
    runs. Deterministic for a given seed (timeouts count as failures)."""
    canon = executor.run([(f"{p.task_id}/canonical", test_program(p.source, p.test, p.entry_point)) for p in problems])
    todo = {p.task_id: ordered_mutations(p, seed=seed, limit=per_problem) for p in problems}
    found: dict[str, tuple[Mutation, ExecResult]] = {}
    by_id = {p.task_id: p for p in problems}
    for start in range(0, per_problem, step):
        programs: list[tuple[str, str]] = []
        for pid, ms in todo.items():
            if pid in found or not canon[f"{pid}/canonical"].passed:
                continue
            p = by_id[pid]
            for m in ms[start : start + step]:
                programs.append((m.mutation_id, test_program(apply_mutation(p, m), p.test, p.entry_point)))
        if not programs:
            break
        results = executor.run(programs)
        for pid, ms in todo.items():
            if pid in found:
                continue
            for m in ms[start : start + step]:
                r = results.get(m.mutation_id)
                if r is not None and r.status in ("failed", "timeout"):
                    found[pid] = (m, r)
                    break
    bugs: list[BugTask] = []
    for p in problems:
        if p.task_id not in found:
            continue
        m, r = found[p.task_id]
        bug = BugTask(
            task_id=m.mutation_id, problem_id=p.task_id, kind=m.kind, line=m.line, original_line=m.original_line,
            mutated_line=m.mutated_line, buggy_source=apply_mutation(p, m), test=p.test, entry_point=p.entry_point,
            failure=r.tail if r.status == "failed" else "timed out",
        )  # fmt: skip
        bugs.append(bug)
    return bugs
