"""Single line or several: whether a completion at the cursor may span lines, from the text right of the cursor and
the tree-sitter node there.
"""

from __future__ import annotations

import re

from codeassist.context.parsing import Document

_CLOSING_TAIL = re.compile(r"""^[\s)\]}"'`;,:]*$""")


def multiline_from_text(prefix: str, suffix: str) -> bool:
    """Single line when real code sits right of the cursor (only closers/quotes there still allow multi-line)."""
    nl = suffix.find("\n")
    line_suffix = suffix if nl < 0 else suffix[:nl]
    return bool(_CLOSING_TAIL.match(line_suffix))


def decide_multiline(doc: Document, offset: int) -> bool:
    """Single vs multi-line from the text right of the cursor and the tree-sitter node at the cursor.

    Single line when code follows the cursor on its line, inside a comment, or inside a one-line string literal;
    multi-line otherwise (the scope rules then keep the completion inside the current block).
    """
    line_end = doc.text.find("\n", offset)
    line_suffix = doc.text[offset : line_end if line_end >= 0 else len(doc.text)]
    if not _CLOSING_TAIL.match(line_suffix):
        return False
    if doc.tree is None or doc.spec is None:
        return True
    b = doc.byte_offset(offset)
    node = doc.node_at(offset)
    while node is not None:
        kind = node.type
        if "comment" in kind and node.start_byte < b <= node.end_byte:
            return False
        if kind in ("string", "string_literal", "interpreted_string_literal", "template_string",
                    "raw_string_literal", "char_literal") and node.start_byte < b < node.end_byte:  # fmt: skip
            head = doc.data[node.start_byte : node.start_byte + 4].lstrip(b"rbfuRBFU")
            return head.startswith((b'"""', b"'''", b"`"))
        node = node.parent
    return True
