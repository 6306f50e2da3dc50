"""Cheap static checks on a suggestion before it is shown: obvious wrongs never reach the user.

Why: a wrong ghost text costs the user more than none, and some wrongs are recognisable in microseconds without
running anything (issue 11, seen in a real VS Code):

* ``comment`` — a trailing comment the user did not start (``total / n  # Sum of all values``): the model imitates
  tutorial code; the comment is stripped, and comment-only lines at the end of a suggestion are dropped.
* ``self_call`` — the function calling itself with its own parameters unchanged (``return mean(values)`` inside
  ``def mean(values)``): infinite recursion. Parameters reassigned in the body (``values = values[1:]``) make it
  legitimate recursion and are left alone.
* ``unresolved`` — a bare name bound nowhere: not a builtin, not bound anywhere in the file (imports, definitions,
  parameters, locals, comprehension variables — scope is ignored, which only makes the check more lenient), not a
  definition in the workspace symbol index. Attributes (``x.anything``) are never checked.

The Python checks parse the top-level statement around the cursor with the suggestion spliced in (``ast``) and look
only at the nodes on the suggestion's lines; every word of the file outside the suggestion counts as bound (lenient:
a name mentioned only in a comment counts; the file may be mid-edit elsewhere, and parsing and walking all of it
would cost tens of milliseconds per keystroke on a 2,600-line module).
A suggestion with a wrong line is cut before that line (nothing, when it is the first). Each check that changed the
suggestion is reported, so the benchmarks can count what it removes and what that costs.
"""

from __future__ import annotations

import ast
import bisect
import builtins
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

from codeassist.brackets import Lexer
from codeassist.context.parsing import Document
from codeassist.line_policy import cursor_in
from codeassist.syntax import parse_python

CHECKS = ("comment", "self_call", "unresolved")

_IMPLICIT = {
    "__file__", "__name__", "__doc__", "__spec__", "__loader__", "__package__", "__builtins__", "__path__",
    "__class__", "__annotations__", "__dict__", "__module__", "__qualname__", "__debug__",
}  # fmt: skip
BUILTIN_NAMES = frozenset(dir(builtins)) | _IMPLICIT
_WORD = re.compile(r"[^\W\d]\w*")


@dataclass(frozen=True)
class CheckResult:
    text: str
    actions: tuple[str, ...] = ()  # the checks that changed the suggestion, in order
    names: tuple[str, ...] = ()  # the self-called function and the unresolved names found


def check_suggestion(
    doc: Document,
    offset: int,
    candidate: str,
    *,
    known: Callable[[str], bool] | None = None,
    checks: Collection[str] = CHECKS,
) -> CheckResult:
    """Run the enabled ``checks`` on ``candidate`` (inserted at code-point ``offset`` of ``doc``). ``known`` answers
    whether the workspace defines a name (the symbol index)."""
    text, actions, names = candidate, [], []
    if "comment" in checks and text.strip():
        stripped = strip_invented_comments(doc, offset, text)
        if stripped != text:
            text = stripped
            actions.append("comment")
    if doc.language == "python" and text.strip() and {"self_call", "unresolved"} & set(checks):
        for action, line, name in _python_findings(doc.text, offset, text, known, checks):
            lines = text.split("\n")
            text = "\n".join(lines[:line]).rstrip() if line > 0 else ""
            actions.append(action)
            names.append(name)
            if not text.strip():
                break
    return CheckResult(text if text.strip() else "", tuple(actions), tuple(names))


# -- comments -------------------------------------------------------------------------------------------------------


def strip_invented_comments(doc: Document, offset: int, text: str) -> str:
    """Remove line comments that start inside the suggestion (unless the cursor is already in a comment or a
    string: then the user started it), and comment-only lines at its end."""
    if cursor_in(doc, offset) is not None:
        return text
    line_prefix = doc.text[doc.text.rfind("\n", 0, offset) + 1 : offset]
    lexer = Lexer(doc.spec)
    lexer.brackets(line_prefix)
    if lexer.in_line_comment or lexer.in_block_comment or lexer.quote is not None:
        return text
    out: list[str] = []
    comment_only: list[bool] = []
    for idx, line in enumerate(text.split("\n")):
        lexer.brackets(line + "\n")
        if not lexer.comment_starts:
            out.append(line)
            comment_only.append(False)
            continue
        head = line[: lexer.comment_starts[0]]
        code = bool(((line_prefix if idx == 0 else "") + head).strip())
        out.append(head.rstrip() if code else line)  # a comment line is kept unless nothing but comments follow
        comment_only.append(not code)
    while out and (comment_only[len(out) - 1] or not out[-1].strip()):
        out.pop()
    return "\n".join(out)


# -- Python: self-calls and unresolved names ----------------------------------------------------------------------


@dataclass
class _Parsed:
    tree: ast.Module
    start: int  # the suggestion's byte span in the parsed source
    end: int
    line_starts: list[int]  # byte offset of each line of the parsed source
    words: frozenset[str] | None  # every word of the file outside the suggestion counts as bound (None: any may)
    candidate: str  # the suggestion as parsed (dedented with its region)


def _line_starts(data: bytes) -> list[int]:
    starts = [0]
    pos = data.find(b"\n")
    while pos >= 0:
        starts.append(pos + 1)
        pos = data.find(b"\n", pos + 1)
    return starts


_TOP_LEVEL = re.compile(r"^[^\s#]", re.M)  # a line that starts a top-level statement (or a col-0 string line)
_MAX_REGION = 200_000  # characters: a top-level statement longer than this (a generated table) is not checked
_STAR_IMPORT = re.compile(r"^[ \t]*from[ \t]+[\w.]+[ \t]+import[ \t]+\*", re.M)
_words_cache: tuple[str, frozenset[str] | None] = ("", frozenset())


def _words(text: str) -> frozenset[str] | None:
    """Every word of ``text`` (None when it has a star import: any name may exist)."""
    return None if _STAR_IMPORT.search(text) else frozenset(_WORD.findall(text))


def _outside_words(outside: str) -> frozenset[str] | None:
    """:func:`_words` of the file outside the parsed region, cached for the last text: typing inside one function
    leaves the rest of the file unchanged, and a 2,600-line file takes ~10 ms to scan."""
    global _words_cache
    cached = _words_cache
    if cached[0] == outside:
        return cached[1]
    words = _words(outside)
    _words_cache = (outside, words)
    return words


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _function_region(head: str, tail: str) -> tuple[int, int, str] | None:
    """(start of its ``def`` line in ``head``, end of its body in ``tail``, its indentation) for the innermost function
    around the cursor, found by indentation (every code line between the ``def`` and the cursor is indented deeper
    than the ``def``); None at top level or when nothing is found within 2,000 lines."""
    lines = head.split("\n")
    cursor_line = lines[-1] + tail.split("\n", 1)[0]
    deepest = _indent(cursor_line) if cursor_line.strip() else len(lines[-1])
    pos = len(head) - len(lines[-1])
    for line in reversed(lines[-2000:-1]):
        pos -= len(line) + 1
        code = line.strip()
        if not code or code.startswith("#"):
            continue
        ind = _indent(line)
        if ind < deepest and (code.startswith("def ") or code.startswith("async def ")):
            rest = tail.split("\n")
            end = len(rest[0])
            for after in rest[1:]:
                if after.strip() and not after.lstrip().startswith("#") and _indent(after) <= ind:
                    break
                end += len(after) + 1
            return pos, end, line[:ind]
        deepest = min(deepest, ind)
        if deepest == 0:
            return None
    return None


def _dedent(text: str, indent: str, continues: bool) -> str | None:
    """``text`` with ``indent`` removed from each line (not the first when it continues a line); None when a code
    line is indented less (the region is not one function's body after all)."""
    out = []
    for i, line in enumerate(text.split("\n")):
        if (i == 0 and continues) or not indent:
            out.append(line)
        elif line.startswith(indent):
            out.append(line[len(indent) :])
        elif line.strip():
            return None
        else:
            out.append("")
    return "\n".join(out)


def _parse(text: str, offset: int, candidate: str) -> _Parsed | None:
    """Parse the innermost function around the cursor (else the top-level statement: from the last line that starts
    in column 0 with code to the next one after the cursor's line) with the suggestion spliced in. Not the whole
    file: ~60 ms for a 2,600-line module on every keystroke, and a file being edited often does not parse anyway."""
    head, tail = text[:offset], text[offset:]
    found = _function_region(head, tail)
    if found is not None:
        begin, stop, indent = found
    else:
        begin = max((m.start() for m in _TOP_LEVEL.finditer(head)), default=0)
        after = _TOP_LEVEL.search(tail, tail.find("\n") + 1 if "\n" in tail else len(tail))
        stop, indent = (after.start() if after else len(tail)), ""
    if offset - begin + stop > _MAX_REGION:
        return None
    pieces = [
        _dedent(head[begin:], indent, False),
        _dedent(candidate, indent, True),
        _dedent(tail[:stop], indent, True),
    ]
    if any(piece is None for piece in pieces):
        return None
    before, cand, after_text = (piece or "" for piece in pieces)
    region = (before + cand + after_text).encode("utf-8")
    start = len(before.encode("utf-8"))
    try:
        tree = parse_python(region)
    except (SyntaxError, ValueError):
        return None
    outside, inside = _outside_words(head[:begin] + "\n" + tail[stop:]), _words(head[begin:] + "\n" + tail[:stop])
    words = None if outside is None or inside is None else outside | inside
    return _Parsed(tree, start, start + len(cand.encode("utf-8")), _line_starts(region), words, cand)


def _span(p: _Parsed, node: ast.AST) -> tuple[int, int]:
    line, col = getattr(node, "lineno", 1), getattr(node, "col_offset", 0)
    end_line, end_col = getattr(node, "end_lineno", None) or line, getattr(node, "end_col_offset", None) or col
    return p.line_starts[line - 1] + col, p.line_starts[end_line - 1] + end_col


def _candidate_line(p: _Parsed, byte: int) -> int:
    """The line of the suggestion that holds byte ``byte`` of the parsed source (0 when it is before it)."""
    rel = max(0, byte - p.start)
    return p.candidate.encode("utf-8")[:rel].count(b"\n")


def _near(p: _Parsed) -> list[ast.AST]:
    """The nodes on the suggestion's lines and their ancestors: a walk pruned to those lines, so a class of a
    thousand lines costs the path down to the cursor, not a thousand lines of nodes."""
    first = bisect.bisect_right(p.line_starts, p.start)
    last = bisect.bisect_right(p.line_starts, max(p.start, p.end - 1))
    out: list[ast.AST] = []
    stack: list[ast.AST] = [p.tree]
    while stack:
        node = stack.pop()
        out.append(node)
        for child in ast.iter_child_nodes(node):
            lo = getattr(child, "lineno", None)
            if lo is None or (lo <= last and (getattr(child, "end_lineno", None) or lo) >= first):
                stack.append(child)
    return out


def _overlaps(p: _Parsed, node: ast.AST) -> tuple[bool, int]:
    begin, end = _span(p, node)
    return end > p.start and begin < p.end, begin


def _bound_in(nodes: list[ast.AST]) -> set[str]:
    bound: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            bound.update(node.names)
    return bound


def _unresolved(p: _Parsed, near: list[ast.AST], known: Callable[[str], bool] | None) -> list[tuple[str, int, str]]:
    """Loaded names in the suggestion that are not words anywhere else in the file, not bound by the suggestion
    itself, not builtins and not in the workspace index."""
    if p.words is None:
        return []
    bound: set[str] | None = None
    found: list[tuple[str, int, str]] = []
    for node in near:
        if not isinstance(node, ast.Name) or not isinstance(node.ctx, ast.Load):
            continue
        hit, begin = _overlaps(p, node)
        name = node.id
        if not hit or name in p.words or name in BUILTIN_NAMES or (known is not None and known(name)):
            continue
        bound = _bound_in(near) if bound is None else bound
        if name not in bound:
            found.append(("unresolved", _candidate_line(p, begin), name))
    return found


def _enclosing_function(p: _Parsed, near: list[ast.AST]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    best: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    for node in near:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            begin, end = _span(p, node)
            if begin <= p.start <= end and (best is None or begin >= _span(p, best)[0]):
                best = node
    return best


def _same_arguments(call: ast.Call, params: list[str], keyword_only: list[str]) -> bool:
    """The call passes each parameter unchanged, in place (``f(a, b)``, ``f(a, b=b)``), and nothing else."""
    if len(call.args) > len(params) or not all(isinstance(a, ast.Name) for a in call.args):
        return False
    passed = [a.id for a in call.args if isinstance(a, ast.Name)]
    if passed != params[: len(passed)]:
        return False
    for kw in call.keywords:
        if kw.arg is None or not isinstance(kw.value, ast.Name) or kw.value.id != kw.arg or kw.arg in passed:
            return False
        passed.append(kw.arg)
    return sorted(passed) == sorted(params + keyword_only)


def _reassigned(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Names bound inside the function's body (a reassigned parameter lets a recursion make progress)."""
    body = ast.Module(body=fn.body, type_ignores=[])
    return _bound_in(list(ast.walk(body)))


def _self_calls(p: _Parsed, near: list[ast.AST]) -> list[tuple[str, int, str]]:
    fn = _enclosing_function(p, near)
    if fn is None or fn.args.vararg or fn.args.kwarg:
        return []
    params = [a.arg for a in [*fn.args.posonlyargs, *fn.args.args]]
    method = bool(params) and params[0] in ("self", "cls")
    own = params[1:] if method else params
    keyword_only = [a.arg for a in fn.args.kwonlyargs]
    if not own and not keyword_only:
        return []  # f() calling f(): only global state could end it; too rare to be sure either way
    found: list[tuple[str, int, str]] = []
    for node in near:
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        direct = isinstance(f, ast.Name) and f.id == fn.name
        via_self = (
            method and isinstance(f, ast.Attribute) and f.attr == fn.name
            and isinstance(f.value, ast.Name) and f.value.id == params[0]
        )  # fmt: skip
        hit, begin = _overlaps(p, node)
        if hit and (direct or via_self) and _same_arguments(node, own, keyword_only):
            found.append(("self_call", _candidate_line(p, begin), fn.name))
    if found and _reassigned(fn) & {*own, *keyword_only}:
        return []  # a parameter is reassigned (or shadowed): the recursion may make progress
    return found


def _python_findings(
    text: str, offset: int, candidate: str, known: Callable[[str], bool] | None, checks: Collection[str]
) -> list[tuple[str, int, str]]:
    """(check, suggestion line, name) for each wrong found, earliest line first."""
    parsed = _parse(text, offset, candidate)
    if parsed is None:
        return []
    near = _near(parsed)
    found: list[tuple[str, int, str]] = []
    if "self_call" in checks:
        found += _self_calls(parsed, near)
    if "unresolved" in checks:
        found += _unresolved(parsed, near, known)
    return sorted(found, key=lambda f: f[1])[:1]
