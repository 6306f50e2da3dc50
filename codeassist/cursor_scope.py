"""Whether the cursor is in prose (a comment or a string) rather than code, from the tree-sitter node around it.

Why: a code model asked to continue a comment or a string literal invents prose (or code inside the string) that
users mostly reject; editors suppress inline suggestions there unless asked (the server's ``suggest_in_comments``).
The rule is structural and the same in every grammar: a node whose type names a comment, or a string literal
the cursor is strictly inside (after its opening quote, before its closing one). Code inside a string (an f-string
``{…}``, a template literal's ``${…}``) is code again.
"""

from __future__ import annotations

from typing import Literal

from tree_sitter import Node

from codeassist.context.parsing import Document

Prose = Literal["comment", "string"]
# node types that put code back inside a string (Python f-string fields, JS template substitutions, Rust format args)
CODE_IN_STRING = ("interpolation", "template_substitution", "format_expression")


def _kind(node_type: str) -> Prose | None:
    if "comment" in node_type:
        return "comment"
    if node_type.endswith(("string", "string_literal", "char_literal", "rune_literal")) or node_type in (
        "template_string",
        "raw_string_literal",
        "interpreted_string_literal",
        "concatenated_string",
    ):
        return "string"
    return None


def prose_at(doc: Document, offset: int) -> Prose | None:
    """``"comment"`` or ``"string"`` when the code-point ``offset`` is inside one, else None (code, or a language
    without a grammar)."""
    if doc.tree is None:
        return None
    b = doc.byte_offset(offset)
    node: Node | None = doc.tree.root_node.descendant_for_byte_range(max(b - 1, 0), b)
    while node is not None:
        if any(part in node.type for part in CODE_IN_STRING):
            return None
        kind = _kind(node.type)
        if kind == "comment" and node.start_byte < b <= node.end_byte:
            return "comment"
        # a string with an error in it is one the user is still typing (no closing quote yet): not trusted as prose
        if kind == "string" and node.start_byte < b < node.end_byte and not node.has_error:
            return "string"
        node = node.parent
    return None
