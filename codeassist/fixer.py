"""The fix pipeline: problem -> chat prompt -> k candidates -> concurrent sandbox verification -> ranked fixes.

Why k candidates: a 0.5B model often gets a fix right on the second or fourth sample but not greedily. Sampling a
few and *running the tests* on each turns a weak generator into a useful fixer, and the label tells the user which
suggestions were actually checked. Candidates are generated one at a time (one model, serialised through the
engine's lock so the LSP server's completions can interleave) while earlier ones are verified concurrently on the
sandbox's warm pool.

Ranking: verified first (tests ran and passed), then "compiles", then "unverified"; candidates that failed a check
are never offered as fixes. Among equals the smaller diff wins, then the earlier (greedy first) candidate.
"""

from __future__ import annotations

import ast
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeassist.actions import ChatMessage, chat_tokens, extract_code_block, reindent, syntax_problems
from codeassist.documents import language_for_path
from codeassist.edits import diff_size, find_root, unified_diff
from codeassist.engine import Engine
from codeassist.errors import InputError
from codeassist.models.backend import CancelCheck, GenerationParams
from codeassist.verify import (
    LABEL_UNVERIFIED,
    Change,
    TierVerdict,
    Verdict,
    Verifier,
    VerifyMode,
    python_definitions,
)

FIX_SYSTEM = (
    "You are an expert Python programmer fixing a bug. Reply with the complete corrected code in one fenced code "
    "block. Change as little as possible and keep the original names, signature and indentation. No explanation."
)
EDIT_SYSTEM = (
    "You are an expert programmer editing code as instructed. Reply with the complete edited code in one fenced "
    "code block. Keep names, behaviour and indentation unless the instruction says otherwise. No explanation."
)
MAX_WHOLE_FILE_LINES = 120


@dataclass
class FixConfig:
    """Knobs of the pipeline. ``budget_s`` is the latency budget: once a candidate is verified and this much time
    has passed, no more candidates are generated. ``deadline_s`` stops generation whatever happened."""

    k: int = 5
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int = 0
    max_tokens: int | None = None  # None: sized from the target's length
    budget_s: float = 20.0
    deadline_s: float | None = 300.0
    stop_at_first_verified: bool = False
    verify: VerifyMode = "sandbox"
    workers: int = 2
    test_command: tuple[str, ...] | None = None


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

    @property
    def code(self) -> str:
        return "\n".join(self.text.split("\n")[self.start_line : self.end_line + 1])

    @property
    def function(self) -> str:
        """The whole function when the target is its body (what the model reads), else the target's code."""
        start = self.start_line if self.context_start is None else self.context_start
        return "\n".join(self.text.split("\n")[start : self.end_line + 1])

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


@dataclass
class RankedFix:
    """One de-duplicated candidate with its verdict."""

    index: int
    temperature: float
    replacement: str
    new_text: str
    diff: str
    diff_lines: int
    verdict: Verdict
    generation_ms: float = 0.0

    def sort_key(self) -> tuple[int, int, int]:
        return (self.verdict.rank, self.diff_lines, self.index)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "temperature": self.temperature, "diff": self.diff, "diff_lines": self.diff_lines,
            "label": self.verdict.display, "verdict": self.verdict.to_json(),
            "generation_ms": round(self.generation_ms, 1),
        }  # fmt: skip


@dataclass
class FixOutcome:
    target: FixTarget
    candidates: list[RankedFix] = field(default_factory=list)
    generated: int = 0
    duplicates: int = 0
    unusable: int = 0
    elapsed_s: float = 0.0
    time_to_verified_s: float | None = None
    stopped: str = "k"  # k | budget | deadline | first_verified | cancelled

    @property
    def best(self) -> RankedFix | None:
        """The best offerable candidate (never one that failed a check)."""
        ok = [c for c in self.candidates if not c.verdict.rejected]
        return min(ok, key=RankedFix.sort_key) if ok else None

    def to_json(self) -> dict[str, Any]:
        best = self.best
        return {
            "path": self.target.rel, "root": self.target.root, "kind": self.target.kind, "symbol": self.target.symbol,
            "lines": [self.target.start_line + 1, self.target.end_line + 1], "error": self.target.error,
            "best": best.to_json() if best else None, "label": best.verdict.display if best else None,
            "verified": bool(best and best.verdict.verified), "candidates": [c.to_json() for c in self.candidates],
            "generated": self.generated, "duplicates": self.duplicates, "unusable": self.unusable,
            "elapsed_s": round(self.elapsed_s, 2), "time_to_verified_s": self.time_to_verified_s,
            "stopped": self.stopped,
        }  # fmt: skip


# -- locating the problem -------------------------------------------------------------------------------------------


def _functions(text: str) -> list[tuple[str, int, int]]:
    """(name, start, end) 0-based inclusive of every function (decorators included), outermost first."""
    return python_definitions(text, classes=False)


def enclosing_function(text: str, line: int) -> tuple[str, int, int] | None:
    """The innermost function whose span covers ``line``."""
    best: tuple[str, int, int] | None = None
    for name, start, end in _functions(text):
        if start <= line <= end and (best is None or end - start < best[2] - best[1]):
            best = (name, start, end)
    return best


def body_after_docstring(text: str, name: str, start: int, min_docstring_lines: int = 3) -> int | None:
    """0-based line of the first statement after the docstring of function ``name`` starting at ``start``, when the
    docstring spans at least ``min_docstring_lines`` lines."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name != name:
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
        if first != start or len(node.body) < 2:
            continue
        doc = node.body[0]
        if not (isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str)):
            return None
        doc_end = (doc.end_lineno or doc.lineno) - 1
        if doc_end - (doc.lineno - 1) + 1 < min_docstring_lines:
            return None
        return node.body[1].lineno - 1
    return None


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
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{path}: no such file")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a UTF-8 text file") from exc
    base = Path(root).resolve() if root else find_root(file)
    rel = file.resolve().relative_to(base).as_posix()
    n_lines = len(text.split("\n"))
    if line is not None and not 0 <= line < n_lines:
        raise InputError(f"{path}: line {line + 1} is past the end of the file ({n_lines} lines)")
    language = language_for_path(rel)

    def span_for(at: int | None, symbol_hint: Sequence[str] = ()) -> tuple[int, int, str | None]:
        if at is not None:
            fn = enclosing_function(text, at)
            return (fn[1], fn[2], fn[0]) if fn else (at, at, None)
        for name, start, end in _functions(text):
            if name in symbol_hint:
                return start, end, name
        if n_lines <= MAX_WHOLE_FILE_LINES:
            return 0, n_lines - 1, None
        raise InputError(f"{path}: give a line (PATH:LINE) to fix; the file is too long to rewrite whole")

    if instruction:
        start, end, sym = span_for(line)
        return FixTarget(str(base), rel, text, start, end, error or "", "instruction", sym, instruction)
    problems = syntax_problems(text, language)
    if problems and (line is None or any(p.start_line <= line <= p.end_line for p in problems)):
        p = problems[0]
        start, end, sym = span_for(p.start_line)
        return FixTarget(str(base), rel, text, start, end, f"line {p.start_line + 1}: {p.message}", "diagnostic", sym)
    if error:
        start, end, sym = span_for(line)
        return FixTarget(str(base), rel, text, start, end, error, "diagnostic", sym)
    if verifier is not None:
        names = [n for n, _s, _e in _functions(text)]
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
    if line is None:
        raise InputError(f"{path}: no syntax error found; give PATH:LINE and an error or test command")
    start, end, sym = span_for(line)
    return FixTarget(str(base), rel, text, start, end, "the code at this line is wrong", "line", sym)


def failing_test_sources(root: Path, output: str, limit: int = 2, max_lines: int = 30) -> str:
    """Source of the first failing pytest functions named in ``output`` (``FAILED file.py::test_x``)."""
    out: list[str] = []
    for rel, name in re.findall(r"FAILED ([\w./-]+\.py)::(?:\w+::)?(\w+)", output)[:limit]:
        try:
            text = (root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for fn, start, end in _functions(text):
            if fn == name:
                out.append("\n".join(text.split("\n")[start : min(end + 1, start + max_lines)]))
                break
    return "\n\n".join(out)


# -- prompting ------------------------------------------------------------------------------------------------------


def related_definitions(text: str, target: FixTarget, limit: int = 3) -> str:
    """Short same-file functions the target calls, so the model sees the helpers' contracts."""
    code = target.code
    out: list[str] = []
    lines = text.split("\n")
    for name, start, end in _functions(text):
        if name == target.symbol or (start >= target.start_line and end <= target.end_line):
            continue
        if re.search(rf"\b{re.escape(name)}\s*\(", code) and end - start < 25:
            out.append("\n".join(lines[start : end + 1]))
        if len(out) >= limit:
            break
    return "\n\n".join(out)


def build_messages(target: FixTarget) -> list[ChatMessage]:
    lang = language_for_path(target.rel) or ""
    related = related_definitions(target.text, target)
    parts = [] if target.instruction else [f"File `{target.rel}`."]
    if related:
        parts.append(f"Related definitions:\n```{lang}\n{related}\n```")
    if target.instruction:
        parts.append(f"Code:\n```{lang}\n{target.code}\n```")
        parts.append(f"Instruction: {target.instruction}\nReply with the edited code.")
        system = EDIT_SYSTEM
    else:
        what = "This code has a bug" + (": it fails the test below." if target.kind == "test" else ".")
        parts.append(f"{what}\n```{lang}\n{target.function}\n```")
        if target.tests:
            parts.append(f"Failing test:\n```{lang}\n{target.tests}\n```")
        parts.append(f"Error:\n```\n{target.error.strip()}\n```")
        if target.context_start is not None:
            parts.append(
                f"Fix the bug. Reply with only the corrected body of `{target.symbol}` (the lines after its "
                f"docstring), which currently is:\n```{lang}\n{target.code}\n```"
            )
        else:
            parts.append("Fix the bug. Reply with the corrected code.")
        system = FIX_SYSTEM
    return [ChatMessage("system", system), ChatMessage("user", "\n\n".join(parts))]


def _extract(answer: str, target: FixTarget) -> str | None:
    """The replacement lines from a model answer: the code block, cut to the target function when the model added
    extras (example calls, tests), re-indented to the original."""
    code = extract_code_block(answer)
    if code is None or not code.strip():
        return None
    if target.symbol:
        import textwrap

        dedented = textwrap.dedent(code)
        for name, start, end in _functions(dedented):
            if name == target.symbol:
                if target.context_start is not None:  # the model sent the whole function back: keep its body
                    body = body_after_docstring(dedented, name, start, 1)
                    if body is None:
                        body = start + 1
                    start = body
                code = "\n".join(dedented.split("\n")[start : end + 1])
                break
    original_lines = target.code.split("\n")
    first = next((ln for ln in original_lines if ln.strip()), "")
    return reindent(code.rstrip(), first)


# -- the pipeline ---------------------------------------------------------------------------------------------------


class Fixer:
    """Generates and verifies fixes with one engine and one verifier (both shared, both thread-safe)."""

    def __init__(self, engine: Engine, verifier: Verifier, config: FixConfig | None = None) -> None:
        self.engine = engine
        self.verifier = verifier
        self.config = config or FixConfig()

    def _generate(
        self, prompt: list[int], index: int, max_tokens: int, cancel: CancelCheck | None, max_lines: int = 200
    ) -> tuple[str, float]:
        cfg = self.config
        temperature = 0.0 if index == 0 else cfg.temperature
        params = GenerationParams(
            max_tokens=max_tokens, temperature=temperature, top_p=cfg.top_p, seed=cfg.seed + index
        )

        def keep_going(text: str) -> bool:
            return text.count("```") < 2 and text.count("\n") <= max_lines

        t0 = time.perf_counter()
        with self.engine.model_lock:  # the server shares this engine: never interleave with its completions
            gen = self.engine.backend.generate(prompt, params, on_text=keep_going, cancel=cancel)
        return gen.text, (time.perf_counter() - t0) * 1000

    def candidates_for(
        self,
        target: FixTarget,
        *,
        cancel: CancelCheck | None = None,
        on_candidate: Callable[[RankedFix], None] | None = None,
    ) -> FixOutcome:
        """Run the pipeline on ``target``; candidates come back ranked (best first)."""
        cfg = self.config
        started = time.monotonic()
        outcome = FixOutcome(target)
        backend = self.engine.backend
        messages = build_messages(target)
        with self.engine.model_lock:
            prompt = chat_tokens(backend, messages)
        code_tokens = len(backend.tokenize(target.code))
        # a fix rewrites about as much as it got; an instruction (docstrings, type hints) may add more
        slack = code_tokens * 2 + 96 if target.instruction else code_tokens * 3 // 2 + 32
        max_tokens = cfg.max_tokens or min(1024, slack)
        room = backend.info.n_ctx - len(prompt) - 1
        if room < 32:
            raise InputError(f"{target.rel}: the code and error are too long for the model context")
        max_tokens = min(max_tokens, room)
        max_lines = target.code.count("\n") * 2 + 12  # an answer much longer than the target has gone off the rails
        seen: set[str] = {_norm(target.code)}
        lines = target.text.split("\n")
        futures: list[Future[RankedFix]] = []
        first_verified: list[float] = []
        lock_v = threading.Lock()

        def check(rf: RankedFix) -> RankedFix:
            change = Change(
                target.root, {target.rel: rf.new_text}, {target.rel: target.text},
                (target.symbol,) if target.symbol else (), cfg.test_command,
            )  # fmt: skip
            rf.verdict = self.verifier.verify(change, cfg.verify)
            if rf.verdict.verified:
                with lock_v:
                    first_verified.append(time.monotonic() - started)
            if on_candidate is not None:
                on_candidate(rf)
            return rf

        with ThreadPoolExecutor(max_workers=max(1, cfg.workers), thread_name_prefix="codeassist-verify") as pool:
            for index in range(cfg.k):
                elapsed = time.monotonic() - started
                if cancel is not None and cancel():
                    outcome.stopped = "cancelled"
                    break
                if first_verified and (cfg.stop_at_first_verified or elapsed >= cfg.budget_s):
                    outcome.stopped = "first_verified" if cfg.stop_at_first_verified else "budget"
                    break
                if cfg.deadline_s is not None and elapsed >= cfg.deadline_s:
                    outcome.stopped = "deadline"
                    break
                answer, gen_ms = self._generate(prompt, index, max_tokens, cancel, max_lines)
                outcome.generated += 1
                replacement = _extract(answer, target)
                if replacement is None:
                    outcome.unusable += 1
                    continue
                key = _norm(replacement)
                if key in seen:
                    outcome.duplicates += 1
                    continue
                seen.add(key)
                new_text = "\n".join([*lines[: target.start_line], replacement, *lines[target.end_line + 1 :]])
                if target.text.endswith("\n") and not new_text.endswith("\n"):
                    new_text += "\n"  # a whole-file rewrite keeps the final newline
                rf = RankedFix(
                    index=index, temperature=0.0 if index == 0 else cfg.temperature, replacement=replacement,
                    new_text=new_text, diff=unified_diff(target.rel, target.text, new_text),
                    diff_lines=diff_size(target.text, new_text), verdict=Verdict(LABEL_UNVERIFIED, "not checked yet"),
                    generation_ms=gen_ms,
                )  # fmt: skip
                futures.append(pool.submit(check, rf))
                if cfg.stop_at_first_verified:
                    # the greedy-first candidate is cheap to wait for and often right: check before sampling more
                    futures[-1].result()
            outcome.candidates = sorted((f.result() for f in futures), key=RankedFix.sort_key)
        outcome.elapsed_s = time.monotonic() - started
        outcome.time_to_verified_s = round(min(first_verified), 2) if first_verified else None
        return outcome


def _norm(code: str) -> str:
    return "\n".join(ln.rstrip() for ln in code.strip("\n").split("\n"))
