"""What to fix: a :class:`FixTarget` (a line span of a file, what is wrong there, the failing tests), found from a
syntax error, a diagnostic, an instruction or the workspace tests (:func:`locate`).

Why apart from the pipeline: the CLI, the LSP code action and the bug-fix benchmark reach the one fix pipeline
(:mod:`codeassist.fixer`) from different starting points; each builds a target here and hands it over.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from codeassist import syntax
from codeassist.context.languages import language_for_path
from codeassist.errors import InputError
from codeassist.project import find_root
from codeassist.pyast import body_after_docstring, enclosing_function, functions, python_definitions
from codeassist.syntax import Problem
from codeassist.verify import Change, TierVerdict, Verifier

MAX_WHOLE_FILE_LINES = 120
CONTEXT_LINES = 12  # shown around a target that is not a whole function
MAX_PROBLEM_LINES = 40


@dataclass
class FixTarget:
    """What to fix: a 0-based inclusive line span of ``rel`` (under ``root``) and what is wrong there."""

    root: str
    rel: str
    text: str
    start_line: int
    end_line: int
    error: str
    kind: str  # test | diagnostic | instruction | line
    symbol: str | None = None
    instruction: str | None = None
    baseline: TierVerdict | None = None
    tests: str = ""  # source of the failing test functions, when known
    context_start: int | None = None  # the function's first line when the target is only its body
    # lines shown before and after a target that is not a whole definition (a diagnostic's lines outside any
    # function): the model needs the surrounding code to fix one line
    context_lines: int = 0

    @property
    def code(self) -> str:
        return "\n".join(self.text.split("\n")[self.start_line : self.end_line + 1])

    @property
    def function(self) -> str:
        """The whole function when the target is its body (what the model reads), else the target's code."""
        start = self.start_line if self.context_start is None else self.context_start
        return "\n".join(self.text.split("\n")[start : self.end_line + 1])

    def surrounding(self) -> tuple[list[str], list[str]]:
        """The ``context_lines`` lines before and after the target (empty without context)."""
        if not self.context_lines:
            return [], []
        lines = self.text.split("\n")
        before = lines[max(0, self.start_line - self.context_lines) : self.start_line]
        return before, lines[self.end_line + 1 : self.end_line + 1 + self.context_lines]

    def body_only(self, min_docstring_lines: int = 3) -> FixTarget:
        """Narrow a function target to the statements after a long docstring: the model reads the docstring but
        need not copy it back, which on a CPU is most of a fix's generation time."""
        if self.symbol is None or self.context_start is not None:
            return self
        body = body_after_docstring(self.text, self.symbol, self.start_line, min_docstring_lines)
        if body is None or not self.start_line < body <= self.end_line:
            return self
        self.context_start, self.start_line = self.start_line, body
        return self


def summarize_failure(output: str, limit: int = 1400) -> str:
    """The informative part of a pytest failure: the failing source lines (``>``), ``E`` lines and locations,
    falling back to the output's tail."""
    keep = [
        ln.rstrip()
        for ln in output.splitlines()
        if ln.startswith(("E ", ">", "FAILED", "ERROR")) or re.match(r"^\S+\.py:\d+: ", ln)
    ]
    text = "\n".join(keep) if keep else output.strip()
    return text if len(text) <= limit else text[-limit:]


def target_for_problem(root: str, rel: str, text: str, problem: Problem) -> FixTarget:
    """The target for a reported problem (a diagnostic, a syntax error) in ``text``, the buffer of ``rel`` under
    ``root``: the enclosing Python function when the problem lies inside one (the model rewrites it whole, with the
    problem's line named), else the problem's lines shown with the code around them."""
    n_lines = len(text.split("\n"))
    start = max(0, min(problem.start_line, n_lines - 1))
    end = max(start, min(problem.end_line, n_lines - 1))
    if end - start >= MAX_PROBLEM_LINES:
        end = start  # a syntax ERROR node can span a whole file: fix where it starts
    fn = enclosing_function(text, start) if rel.endswith(".py") else None
    if fn is not None and fn[1] <= start and end <= fn[2]:
        # the model rewrites the function: the error says which of its lines is wrong
        return FixTarget(root, rel, text, fn[1], fn[2], f"line {start + 1}: {problem.message}", "diagnostic", fn[0])
    return FixTarget(root, rel, text, start, end, problem.message, "diagnostic", context_lines=CONTEXT_LINES)


def read_target_file(path: str, root: str | None = None) -> tuple[Path, str, str]:
    """(project root, path relative to it, text) of a file to fix; InputError when it is not a UTF-8 file."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{path}: no such file")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a UTF-8 text file") from exc
    base = Path(root).resolve() if root else find_root(file)
    return base, file.resolve().relative_to(base).as_posix(), text


def locate(
    path: str,
    *,
    line: int | None = None,
    instruction: str | None = None,
    error: str | None = None,
    verifier: Verifier | None = None,
    test_command: Sequence[str] | None = None,
    root: str | None = None,
) -> FixTarget:
    """Find what to fix in ``path``: a syntax error, else (with a verifier) the failing tests of the file's functions,
    else the function at ``line`` with ``error``/``instruction``. Raises InputError when there is nothing to fix."""
    base, rel, text = read_target_file(path, root)
    n_lines = len(text.split("\n"))
    if line is not None and not 0 <= line < n_lines:
        raise InputError(f"{path}: line {line + 1} is past the end of the file ({n_lines} lines)")

    def span_for(at: int | None, symbol_hint: Sequence[str] = ()) -> tuple[int, int, str | None]:
        if at is not None:
            fn = enclosing_function(text, at)
            return (fn[1], fn[2], fn[0]) if fn else (at, at, None)
        for name, start, end in functions(text):
            if name in symbol_hint:
                return start, end, name
        if n_lines <= MAX_WHOLE_FILE_LINES:
            return 0, n_lines - 1, None
        raise InputError(f"{path}: give a line (PATH:LINE) to fix; the file is too long to rewrite whole")

    if instruction:
        start, end, sym = span_for(line)
        return FixTarget(str(base), rel, text, start, end, error or "", "instruction", sym, instruction)
    problems = syntax.problems(text, language_for_path(rel))
    if problems and (line is None or any(p.start_line <= line <= p.end_line for p in problems)):
        return target_for_problem(str(base), rel, text, problems[0])
    if error and line is not None:
        return target_for_problem(str(base), rel, text, Problem(line, line, error))
    if error:
        start, end, sym = span_for(None)
        return FixTarget(str(base), rel, text, start, end, error, "diagnostic", sym)
    if verifier is not None:
        return _failing_tests_target(path, base, rel, text, line, verifier, test_command, span_for)
    if line is None:
        raise InputError(f"{path}: no syntax error found; give PATH:LINE and an error or test command")
    start, end, sym = span_for(line)
    return FixTarget(str(base), rel, text, start, end, "the code at this line is wrong", "line", sym)


def _failing_tests_target(
    path: str,
    base: Path,
    rel: str,
    text: str,
    line: int | None,
    verifier: Verifier,
    test_command: Sequence[str] | None,
    span_for: Callable[[int | None, Sequence[str]], tuple[int, int, str | None]],
) -> FixTarget:
    """The function whose tests fail (run once in the sandbox as the baseline), narrowed to its body."""
    names = [n for n, _s, _e in functions(text)]
    if line is not None and (fn := enclosing_function(text, line)) is not None:
        names = [fn[0]]
    cmd = tuple(test_command) if test_command else None
    baseline = verifier.check_tests(Change(str(base), {rel: text}, {rel: text}, tuple(names), cmd))
    if baseline.status == "failed":
        mentioned = [n for n in names if re.search(rf"\b{re.escape(n)}\b", baseline.evidence)]
        start, end, sym = span_for(line, mentioned)
        tgt = FixTarget(str(base), rel, text, start, end, summarize_failure(baseline.evidence), "test", sym)
        tgt.body_only()
        tgt.baseline = baseline
        tgt.tests = failing_test_sources(base, baseline.evidence)
        return tgt
    if baseline.status == "passed":
        raise InputError(f"{path}: nothing to fix: no syntax error and its tests pass", exit_code=1)
    if line is None:
        raise InputError(f"{path}: nothing to fix found ({baseline.evidence.splitlines()[0]}); give PATH:LINE")
    start, end, sym = span_for(line, ())
    return FixTarget(str(base), rel, text, start, end, "the code at this line is wrong", "line", sym)


def failing_test_sources(root: Path, output: str, limit: int = 2, max_lines: int = 30) -> str:
    """Source of the first failing pytest functions named in ``output`` (``FAILED file.py::test_x``)."""
    out: list[str] = []
    for rel, cls, name in re.findall(r"FAILED ([\w./-]+\.py)::(?:(\w+)::)?(\w+)", output)[:limit]:
        try:
            text = (root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        # Test classes reuse method names (``test_basic`` in every ``...Tests`` class): inside the named class only,
        # or the model is shown another function's test.
        within = next(((s, e) for c, s, e in python_definitions(text) if c == cls), None) if cls else None
        for fn, start, end in functions(text):
            if fn == name and (within is None or within[0] < start <= within[1]):
                out.append("\n".join(text.split("\n")[start : min(end + 1, start + max_lines)]))
                break
    return "\n\n".join(out)
