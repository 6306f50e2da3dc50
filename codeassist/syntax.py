"""Syntax checks on tree-sitter parses: ERROR and MISSING nodes as fixable problems."""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass
class Problem:
    """Something to fix: a 0-based, inclusive line span of the document and what is wrong there."""

    start_line: int
    end_line: int
    message: str
    source: str = ""  # the linter or LSP that reported it; "codeassist" for our syntax check


_GRAMMARS = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
}


def syntax_problems(text: str, language: str | None, *, limit: int = 20) -> list[Problem]:
    """ERROR and MISSING nodes of a tree-sitter parse, as fixable problems (empty for unknown languages)."""
    if language not in _GRAMMARS:
        return []
    import tree_sitter

    module, attr = _GRAMMARS[language]
    try:
        lang = tree_sitter.Language(getattr(importlib.import_module(module), attr)())
    except (ImportError, AttributeError):
        return []
    tree = tree_sitter.Parser(lang).parse(text.encode("utf-8"))
    problems: list[Problem] = []
    stack = [tree.root_node]
    while stack and len(problems) < limit:
        node = stack.pop()
        if not node.has_error:
            continue
        if node.is_missing:
            problems.append(
                Problem(node.start_point[0], node.end_point[0], f"syntax error: missing {node.type!r}", "codeassist")
            )
            continue
        if node.type == "ERROR":
            problems.append(Problem(node.start_point[0], node.end_point[0], "syntax error", "codeassist"))
            continue
        stack.extend(reversed(node.children))
    return sorted(problems, key=lambda p: (p.start_line, p.end_line))
