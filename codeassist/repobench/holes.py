"""Cut seeded holes into a repository's Python functions.

Kinds (what the user was typing when the completion was asked for):

- ``line`` (llm-ls testbed style): a statement line inside a function body (a one-line statement or a block's
  one-line header) keeps its indentation plus 0–15 more characters; the rest of the line is removed and the cursor
  sits where the cut is.
- ``multiline``: the whole body of a block inside a function (2–8 lines of an ``if``/``for``/``while``/``with``/``try``
  body, or a short function body) is removed; the cursor sits on the block's first line after its indentation, as
  after pressing Enter behind the block's header.
- ``token``: like ``line``, but the cut falls strictly inside an identifier (``retu|rn`` is a keyword and never
  chosen; ``resu|lt`` is), the case token healing is about.

Only lines that carry no comment are cut (the expected text is code the model can know), never docstrings, never
lines of test files. Candidates are sampled uniformly over the whole repository with a seeded generator, so the same
seed gives the same holes on the same tree, and holes come out sorted by file and line (consecutive requests share a
file, as an editor session would).
"""

from __future__ import annotations

import ast
import io
import keyword
import random
import re
import tokenize
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from codeassist.syntax import parse_python

HoleKind = Literal["line", "multiline", "token"]
KINDS: tuple[HoleKind, ...] = ("line", "multiline", "token")
MAX_TYPED = 15  # characters kept after the indentation (llm-ls testbed: a column in 0..15)
BLOCK_LINES = (2, 8)
NOT_SOURCE_DIRS = frozenset({"test", "tests", "testing", "docs", "doc", "examples", "example", "benchmarks", "bench"})
NOT_SOURCE = re.compile(r"(^|/)(test_[^/]*|[^/]*_test|conftest|setup|versioneer|_version|noxfile|fabfile)\.py$")


@dataclass(frozen=True)
class Hole:
    """One hole: ``text[start:end]`` of file ``path`` removed; the cursor at ``start``.

    ``func_body`` is the 1-based line span of the enclosing function's body, used to pick the tests that can see the
    hole; ``line`` is the 1-based line of the cursor."""

    id: str
    path: str
    kind: HoleKind
    start: int
    end: int
    line: int
    func_name: str
    func_body: tuple[int, int]
    removed: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Hole:
        return Hole(**{**data, "func_body": tuple(data["func_body"])})

    def holed(self, original: str) -> str:
        return original[: self.start] + original[self.end :]


def is_source_file(path: str) -> bool:
    """A Python file of the project itself: not a test, not packaging or docs."""
    if not path.endswith(".py") or NOT_SOURCE.search(path):
        return False
    return not any(part in NOT_SOURCE_DIRS for part in path.split("/")[:-1])


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(i + 1 for i, ch in enumerate(text) if ch == "\n")
    return starts


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _own_statements(func: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.stmt]:
    """Statements of ``func``'s body at any depth, not entering nested functions or classes."""
    stack: list[ast.stmt] = list(reversed(func.body))
    while stack:
        stmt = stack.pop()
        yield stmt
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for field in ("body", "orelse", "finalbody"):
            stack.extend(reversed(getattr(stmt, field, []) or []))
        for handler in getattr(stmt, "handlers", []) or []:
            stack.extend(reversed(handler.body))


def _commented_lines(source: str) -> set[int]:
    lines: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                lines.add(tok.start[0])
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return lines


@dataclass(frozen=True)
class _Candidate:
    path: str
    kind: HoleKind
    line: int  # 1-based first line
    last: int  # 1-based last line (== line for one-line holes)
    func: ast.FunctionDef | ast.AsyncFunctionDef


HEADERS = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith)


def _line_ok(stmt: ast.stmt, lines: list[str], commented: set[int]) -> bool:
    """A one-line statement, or the one-line header of an if/for/while/with block (``elif`` included)."""
    if _is_docstring(stmt) or stmt.lineno in commented:
        return False
    text = lines[stmt.lineno - 1].strip()
    if isinstance(stmt, HEADERS):
        return text.endswith(":") and stmt.body[0].lineno > stmt.lineno
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) or stmt.end_lineno != stmt.lineno:
        return False
    return bool(text)


def _block_bodies(stmt: ast.stmt) -> Iterator[list[ast.stmt]]:
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return
    for field in ("body", "orelse", "finalbody"):
        body = getattr(stmt, field, None)
        if body:
            yield body
    for handler in getattr(stmt, "handlers", []) or []:
        yield handler.body


def _file_candidates(path: str, source: str) -> list[_Candidate]:
    try:
        tree = parse_python(source)
    except (SyntaxError, ValueError):
        return []
    lines = source.split("\n")
    commented = _commented_lines(source)
    out: list[_Candidate] = []
    for func in _functions(tree):
        bodies: list[list[ast.stmt]] = [[s for s in func.body if not _is_docstring(s)]]
        for stmt in _own_statements(func):
            if stmt.lineno <= func.lineno:
                continue
            if _line_ok(stmt, lines, commented):
                out.append(_Candidate(path, "line", stmt.lineno, stmt.lineno, func))
                out.append(_Candidate(path, "token", stmt.lineno, stmt.lineno, func))
            bodies.extend(_block_bodies(stmt))
        for body in bodies:
            if not body or any(isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) for s in body):
                continue
            first, last = body[0].lineno, max(s.end_lineno or s.lineno for s in body)
            span = range(first, last + 1)
            if not BLOCK_LINES[0] <= len(span) <= BLOCK_LINES[1] or any(n in commented for n in span):
                continue
            if lines[first - 2].rstrip().endswith(":"):
                out.append(_Candidate(path, "multiline", first, last, func))
    return out


def _identifier_cuts(line_text: str, indent: int) -> list[int]:
    """Columns strictly inside an identifier (not a keyword) on this line, at most ``MAX_TYPED`` past the indent
    plus the identifier's length."""
    cuts: list[int] = []
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(line_text.strip() + "\n").readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return cuts
    for tok in toks:
        if tok.type != tokenize.NAME or keyword.iskeyword(tok.string) or len(tok.string) < 2:
            continue
        col = indent + tok.start[1]
        cuts.extend(col + k for k in range(1, len(tok.string)))
    return cuts


def _make_hole(cand: _Candidate, source: str, starts: list[int], rng: random.Random, index: int) -> Hole | None:
    lines = source.split("\n")
    text = lines[cand.line - 1]
    indent = len(text) - len(text.lstrip())
    line_start = starts[cand.line - 1]
    if cand.kind == "line":
        content = len(text) - indent
        keep = rng.randint(0, min(MAX_TYPED, content - 1))
        start, end = line_start + indent + keep, line_start + len(text)
    elif cand.kind == "token":
        cuts = _identifier_cuts(text, indent)
        if not cuts:
            return None
        start, end = line_start + rng.choice(cuts), line_start + len(text)
    else:
        last_text = lines[cand.last - 1]
        start, end = line_start + indent, starts[cand.last - 1] + len(last_text)
    removed = source[start:end]
    if not removed.strip():
        return None
    body = (cand.func.body[0].lineno, cand.func.end_lineno or cand.line)
    return Hole(
        id=f"{cand.kind}-{index:04d}", path=cand.path, kind=cand.kind, start=start, end=end, line=cand.line,
        func_name=cand.func.name, func_body=body, removed=removed,
    )  # fmt: skip


def cut_holes(files: Mapping[str, str], n: int, kind: HoleKind, seed: int = 0) -> list[Hole]:
    """``n`` holes of ``kind`` over the repository's source files (``files``: path -> text), seeded."""
    if kind not in KINDS:
        raise ValueError(f"unknown hole kind {kind!r} (known: {', '.join(KINDS)})")
    candidates: list[_Candidate] = []
    for path in sorted(files):
        if is_source_file(path) and "\r" not in files[path]:
            candidates.extend(c for c in _file_candidates(path, files[path]) if c.kind == kind)
    rng = random.Random(f"codeassist-bench:{seed}:{kind}")
    rng.shuffle(candidates)
    chosen: list[Hole] = []
    taken: set[tuple[str, int]] = set()
    starts_cache: dict[str, list[int]] = {}
    for cand in candidates:
        if len(chosen) >= n:
            break
        if (cand.path, cand.line) in taken:
            continue
        source = files[cand.path]
        starts = starts_cache.setdefault(cand.path, _line_starts(source))
        hole = _make_hole(cand, source, starts, rng, len(chosen))
        if hole is not None:
            chosen.append(hole)
            taken.add((cand.path, cand.line))
    chosen.sort(key=lambda h: (h.path, h.start))
    return chosen
