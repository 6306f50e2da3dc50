"""Python source as data: definitions, their spans, callers and docstrings, through :mod:`ast`.

Why ast and not tree-sitter here: these helpers feed the verifier and the fixer, which only act on Python files,
and ``ast`` gives exact statement spans (decorators, docstrings) that tree-sitter's error-tolerant tree blurs.
Every parse goes through :func:`codeassist.syntax.python_module`, so several questions about one text parse it
once; parsing never executes anything, so it runs on the host.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Sequence

from codeassist.syntax import python_module


def changed_lines(old: str, new: str) -> set[int]:
    """0-based lines of ``new`` that differ from ``old`` (insertions and replacements)."""
    a, b = old.split("\n"), new.split("\n")
    lines: set[int] = set()
    for tag, _i1, _i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal":
            lines.update(range(j1, max(j2, j1 + 1)))
    return lines


def python_definitions(text: str, *, classes: bool = True) -> list[tuple[str, int, int]]:
    """(name, start, end), 0-based inclusive with decorators, of every function (and class) in ``text``, outermost
    first. Parses with :mod:`ast` (parsing never executes anything); empty when the text does not parse."""
    tree = python_module(text)
    if tree is None:
        return []
    out: list[tuple[str, int, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and (
            classes or not isinstance(node, ast.ClassDef)
        ):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            out.append((node.name, start, (node.end_lineno or node.lineno) - 1))
    return out


def python_symbols_at(text: str, lines: set[int]) -> list[str]:
    """Names of the functions/classes (and their enclosing classes) whose span covers any of ``lines``."""
    found: list[str] = []
    for name, start, end in python_definitions(text):
        if any(start <= ln <= end for ln in lines) and name not in found:
            found.append(name)
    return found


def python_callers(text: str, names: Sequence[str], depth: int = 3) -> list[str]:
    """Functions of ``text`` that call (or otherwise name) any of ``names``, transitively up to ``depth`` levels,
    excluding ``names`` themselves. Why: a private helper is rarely named by a test, but the tests of the public
    function that calls it exercise it; verifying an edit of the helper runs those."""
    tree = python_module(text)
    if tree is None:
        return []
    uses: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            used = uses.setdefault(node.name, set())
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name):
                    used.add(sub.id)
                elif isinstance(sub, ast.Attribute):
                    used.add(sub.attr)
    known = set(names)
    found: list[str] = []
    frontier = set(names)
    for _ in range(depth):
        new = [fn for fn, used in uses.items() if fn not in known and used & frontier]
        if not new:
            break
        found += new
        known.update(new)
        frontier = set(new)
    return found


def special_method_owners(text: str, names: Sequence[str]) -> list[str]:
    """Classes of ``text`` whose body defines one of the special methods (``__call__``, ``__init__`` …) among
    ``names``. Why: code calls a special method as ``obj(...)``, ``obj[k]`` or ``Cls(...)``, never by its name, so
    the class is the name a test or a caller uses for it."""
    special = {n for n in names if len(n) > 4 and n.startswith("__") and n.endswith("__")}
    tree = python_module(text) if special else None
    owners: list[str] = []
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.ClassDef) and node.name not in owners:
            defined = {d.name for d in node.body if isinstance(d, (ast.FunctionDef, ast.AsyncFunctionDef))}
            if defined & special:
                owners.append(node.name)
    return owners


def top_level_names(text: str) -> list[str]:
    """Names of the module-level functions and classes of ``text`` (empty when it does not parse)."""
    tree = python_module(text)
    if tree is None:
        return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def module_name(rel_path: str) -> str | None:
    """Dotted module name of a workspace-relative ``.py`` path (``pkg/mod.py`` -> ``pkg.mod``)."""
    if not rel_path.endswith(".py"):
        return None
    parts = rel_path[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts)


def has_doctests(text: str, symbols: Sequence[str]) -> bool:
    """True when a docstring of an edited symbol holds a ``>>>`` example."""
    tree = python_module(text)
    if tree is None:
        return False
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in symbols:
            doc = ast.get_docstring(node) or ""
            if ">>>" in doc:
                return True
    return False


def functions(text: str) -> list[tuple[str, int, int]]:
    """(name, start, end) 0-based inclusive of every function (decorators included), outermost first."""
    return python_definitions(text, classes=False)


def enclosing_function(text: str, line: int) -> tuple[str, int, int] | None:
    """The innermost function whose span covers ``line``."""
    best: tuple[str, int, int] | None = None
    for name, start, end in functions(text):
        if start <= line <= end and (best is None or end - start < best[2] - best[1]):
            best = (name, start, end)
    return best


def body_after_docstring(text: str, name: str, start: int, min_docstring_lines: int = 3) -> int | None:
    """0-based line of the first statement after the docstring of function ``name`` starting at ``start``, when the
    docstring spans at least ``min_docstring_lines`` lines."""
    tree = python_module(text)
    if tree is None:
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


def statement_spans(text: str) -> list[tuple[ast.stmt, int, int]]:
    """Every statement but a definition, with its 0-based inclusive span: a simple statement whole, a compound one
    (``if``, ``for``, ``while``, ``with``, ``try``) only its header -- what a test's path through it depends on, and
    what a one-line fix can rewrite. Empty when the text does not parse."""
    tree = python_module(text)
    if tree is None:
        return []
    spans: list[tuple[ast.stmt, int, int]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt) or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        start, end = node.lineno, node.end_lineno or node.lineno
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            end = max(start, body[0].lineno - 1)
        spans.append((node, start - 1, end - 1))
    return spans
