"""The pieces of the explain round trip that are pure text (no model, no sandbox): which function, its signature and
docstring, the file without its docstring (what the explainer sees), the one regeneration prompt, and the
regenerated body spliced back in place of the original one.

A regenerated function keeps the original's header and docstring and gets the model's body: tests that read the
docstring (doctests) see what they saw before, and the body is the only thing that changes between conditions.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

from codeassist.chat import ChatMessage

CONDITIONS = ("signature", "docstring", "explanation")
REGEN_SYSTEM = (
    "You are an expert Python programmer. Write the complete function, signature included, in one ```python code "
    "block and nothing else."
)


@dataclass(frozen=True)
class Target:
    """One function of ``text`` (the whole file). Lines are 0-based and inclusive; ``body_start`` is the first line
    after the docstring (the first body line when there is none)."""

    id: str
    source: str  # humaneval | repo
    path: str  # the file's path (relative to the repository, or a name for HumanEval)
    text: str
    name: str
    start: int  # first line, decorators included
    header_end: int  # the line that ends the `def ...:` header
    doc_span: tuple[int, int] | None  # the docstring's lines, when the function has one on lines of its own
    body_start: int
    end: int
    docstring: str | None
    context: str  # what every regeneration prompt shows besides the signature (imports, helpers, the class line)

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    def signature(self) -> str:
        return textwrap.dedent("\n".join(self.lines[self.start : self.header_end + 1]))

    def without_docstring(self) -> tuple[str, int, int]:
        """The file with this function's docstring lines removed, and the function's span in it."""
        if self.doc_span is None:
            return self.text, self.start, self.end
        a, b = self.doc_span
        lines = self.lines
        return "\n".join(lines[:a] + lines[b + 1 :]), self.start, self.end - (b - a + 1)

    def splice(self, body: str) -> str:
        """The file with the function's body (after its docstring) replaced by ``body`` (dedented code)."""
        lines = self.lines
        first = lines[self.body_start] if self.body_start <= self.end else "    "
        indent = first[: len(first) - len(first.lstrip())] or "    "
        new_body = textwrap.indent(body.strip("\n"), indent, lambda ln: bool(ln.strip())).split("\n")
        return "\n".join(lines[: self.body_start] + new_body + lines[self.end + 1 :])


def _docstring_node(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.Expr | None:
    first = fn.body[0] if fn.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first
    return None


def target_at(
    id: str, source: str, path: str, text: str, fn: ast.FunctionDef | ast.AsyncFunctionDef, context: str
) -> Target | None:
    """The target for ``fn`` (a node of ``ast.parse(text)``); None when its body is only a docstring or its header
    shares a line with the body."""
    start = min([fn.lineno, *(d.lineno for d in fn.decorator_list)]) - 1
    doc = _docstring_node(fn)
    code = [s for s in fn.body if s is not doc]
    if not code or code[0].lineno == fn.lineno:
        return None
    header_end = (doc or code[0]).lineno - 2
    while header_end >= fn.lineno - 1 and not text.split("\n")[header_end].strip():
        header_end -= 1
    doc_span = None
    if doc is not None and doc.lineno > fn.lineno and doc.end_lineno is not None and doc.end_lineno < code[0].lineno:
        doc_span = (doc.lineno - 1, doc.end_lineno - 1)
    return Target(
        id=id, source=source, path=path, text=text, name=fn.name, start=start, header_end=header_end,
        doc_span=doc_span, body_start=(doc_span[1] + 1) if doc_span else code[0].lineno - 1,
        end=(fn.end_lineno or fn.lineno) - 1, docstring=ast.get_docstring(fn), context=context,
    )  # fmt: skip


def regen_messages(target: Target, description: str | None) -> list[ChatMessage]:
    """The one regeneration prompt: the context, the description (none, the docstring or the explanation) and the
    signature. The conditions differ only in ``description``."""
    parts = []
    if target.context.strip():
        parts.append(f"Context (the surrounding code):\n```python\n{target.context.strip()}\n```")
    if description:
        parts.append(f"What the function does:\n{description.strip()}")
    parts.append(f"Write this Python function, complete with its body:\n```python\n{target.signature()}\n```")
    return [ChatMessage("system", REGEN_SYSTEM), ChatMessage("user", "\n\n".join(parts))]


_BLOCK = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.S)


def block_closed(text: str) -> bool:
    """Whether the answer's first code block is complete (generation can stop there)."""
    return bool(re.search(r"```[^\n]*\n.*?```", text, re.S))


def extract_body(answer: str, name: str) -> str | None:
    """The body (dedented, docstring left out) of the function ``name`` in the answer's first code block (or the
    whole answer); when no such function is there, the block itself as a body. None when nothing parses."""
    m = _BLOCK.search(answer)
    code = textwrap.dedent(m.group(1) if m else answer).strip("\n")
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    fns = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name]
    if not fns:
        return code if code.strip() else None
    fn = fns[0]
    doc = _docstring_node(fn)
    stmts = [s for s in fn.body if s is not doc]
    if not stmts:
        return None
    lines = code.split("\n")
    if stmts[0].lineno == fn.lineno:  # def f(x): return x
        return ast.get_source_segment(code, stmts[0])
    return textwrap.dedent("\n".join(lines[stmts[0].lineno - 1 : fn.end_lineno]))


def module_context(text: str, fn: ast.FunctionDef | ast.AsyncFunctionDef, tree: ast.Module) -> str:
    """A repository function's context: the module's imports and, for a method, its class's header line."""
    lines = text.split("\n")
    out = [ast.get_source_segment(text, n) or "" for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        if fn in cls.body:
            out.append(lines[cls.lineno - 1].strip() + "\n    ...")
    return "\n".join(out)
