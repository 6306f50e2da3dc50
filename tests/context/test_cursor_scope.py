"""The cursor in prose (comment or string) or code, from the tree-sitter node around it, across grammars."""

from __future__ import annotations

import pytest

from codeassist.context.parsing import Document
from codeassist.cursor_scope import prose_at

CASES = [
    ("python", "x = 1  # note|", "comment"),
    ("python", 'x = "ab|c"', "string"),
    ("python", 'x = "abc"|', None),  # after the closing quote: code
    ("python", 'x = f"a{va|l}"', None),  # an f-string field is code
    ("python", 'def f():\n    """Doc|"""\n', "string"),  # a docstring
    ("python", "def f():\n    return |\n", None),
    ("python", "# c\nx = |", None),
    ("python", 'x = "unterminated|', None),  # still typing the string: not trusted
    ("javascript", "const a = `x ${b|} y`;", None),
    ("javascript", 'const a = "x|";', "string"),
    ("javascript", "// hi|\n", "comment"),
    ("javascript", "/* hi| */", "comment"),
    ("go", 'package m\n// x|\nfunc f() { s := "a" }', "comment"),
    ("rust", 'fn f() { let s = "ab|"; }', "string"),
    ("rust", "fn f() { let s = 1; // x|\n}", "comment"),
    ("c", "int f() { return 1; /* x| */ }", "comment"),
    ("java", 'class A { String s = "q|"; }', "string"),
    (None, "# plain text|", None),  # no grammar: never prose
]


@pytest.mark.parametrize(("language", "marked", "expected"), CASES)
def test_prose_at(language: str | None, marked: str, expected: str | None) -> None:
    offset = marked.index("|")
    doc = Document(marked.replace("|", ""), language=language)
    assert prose_at(doc, offset) == expected
