"""Static checks on suggestions: invented comments, self-calls with the same arguments, names bound nowhere.

The documents are parsed with the real tree-sitter grammars and Python's own parser, as in the engine."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from codeassist.context.parsing import Document
from codeassist.static_checks import check_suggestion

CURSOR = "█"


def run(
    marked: str, candidate: str, language: str = "python", known: Callable[[str], bool] | None = None
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    offset = marked.index(CURSOR)
    doc = Document(marked.replace(CURSOR, ""), language=language)
    result = check_suggestion(doc, offset, candidate, known=known)
    return result.text, result.actions, result.names


@pytest.mark.parametrize(
    ("marked", "candidate", "expected"),
    [
        ("def mean(values):\n    return █\n", "sum(values) / len(values)  # Sum of all values",
         "sum(values) / len(values)"),
        ("def f(x):\n    █\n", "y = x + 1  # add one\n    return y  # done", "y = x + 1\n    return y"),
        ("def f(x):\n    █\n", "y = x + 1\n    # all done\n", "y = x + 1"),
        ("def f(x):\n    if x:█\n", "\n        # nothing to do", ""),
        ("function f(x) {\n  return █\n}\n", "x * 2; // double it", "x * 2;"),
    ],
)  # fmt: skip
def test_invented_comments_are_stripped(marked: str, candidate: str, expected: str) -> None:
    language = "javascript" if "function" in marked else "python"
    text, actions, _ = run(marked, candidate, language)
    assert text == expected and actions == ("comment",)


@pytest.mark.parametrize(
    ("marked", "candidate"),
    [
        ("x = 1  # the █\n", "answer to everything"),  # the user started the comment
        ('def f():\n    """Count █\n', '# of items.\n    """'),  # inside a docstring
        ("def f(x):\n    return █\n", 'x + "#"'),  # a hash in a string
        ("def f(x):\n    █\n", "# comment line first\n    return x"),  # a leading comment line stays
    ],
)
def test_comments_the_user_started_or_that_are_not_comments_stay(marked: str, candidate: str) -> None:
    text, actions, _ = run(marked, candidate)
    assert text == candidate and actions == ()


@pytest.mark.parametrize(
    ("marked", "candidate"),
    [
        ("def mean(values):\n    return m█\n", "ean(values)"),
        ("class Stats:\n    def mean(self, values):\n        return █\n", "self.mean(values)"),
        ("def scale(xs, *, factor):\n    return █\n", "scale(xs, factor=factor)"),
    ],
)
def test_self_call_with_the_same_arguments_is_dropped(marked: str, candidate: str) -> None:
    text, actions, names = run(marked, candidate)
    assert text == "" and actions == ("self_call",) and names[0] in ("mean", "scale")


def test_self_call_cuts_the_lines_from_the_call() -> None:
    text, actions, _ = run("def mean(values):\n    █\n", "total = sum(values)\n    return mean(values)")
    assert text == "total = sum(values)" and actions == ("self_call",)


@pytest.mark.parametrize(
    ("marked", "candidate"),
    [
        ("def fact(n):\n    if n <= 1:\n        return 1\n    return █\n", "n * fact(n - 1)"),
        ("def walk(node):\n    node = node.next\n    return █\n", "walk(node)"),
        ("def mean(values, other):\n    return █\n", "other.mean(values)"),
        ("def run():\n    █\n", "run()"),
    ],
)
def test_recursion_that_can_make_progress_stays(marked: str, candidate: str) -> None:
    text, actions, _ = run(marked, candidate)
    assert text == candidate and actions == ()


@pytest.mark.parametrize(
    ("marked", "candidate"),
    [
        ("def f(values):\n    return █\n", "len(values)"),
        ("total = 3\n\n\ndef f(values):\n    return █\n", "total / len(values)"),
        ("import numpy as np\n\n\ndef f(values):\n    return █\n", "np.mean(values)"),
        ("import os.path\n\n\ndef f(p):\n    return █\n", "os.path.exists(p)"),
        ("def f(values):\n    █\n", "result = sum(values)\n    return result"),
        ("def f(values):\n    return █\n", "[v * 2 for v in values if v]"),
        ("def f(values):\n    return █\n", "sorted(values, key=lambda item: item.size)"),
        ("def f(values):\n    return █\n", "values.anything_at_all"),
        ("def f(values):\n    return █\n\n\ndef helper(x):\n    return x\n", "helper(values)"),
        ("from os.path import *\n\n\ndef f(p):\n    return █\n", "joinx(p)"),
        ("def f(self):\n    return █\n", "__class__.__name__"),
    ],
)
def test_names_that_resolve_stay(marked: str, candidate: str) -> None:
    text, actions, _ = run(marked, candidate)
    assert text == candidate and actions == ()


def test_name_bound_nowhere_is_dropped() -> None:
    text, actions, names = run("def f(values):\n    return █\n", "total / len(values)")
    assert text == "" and actions == ("unresolved",) and names == ("total",)


def test_name_bound_nowhere_cuts_from_its_line() -> None:
    text, actions, names = run("def f(values):\n    █\n", "x = sum(values)\n    return x / count")
    assert text == "x = sum(values)" and actions == ("unresolved",) and names == ("count",)


def test_workspace_index_resolves_names() -> None:
    marked = "def f(values):\n    return █\n"
    assert run(marked, "helper(values)", known=lambda name: name == "helper")[0] == "helper(values)"
    assert run(marked, "helper(values)")[0] == ""


def test_file_broken_elsewhere_falls_back_to_the_statement_and_the_files_words() -> None:
    marked = "def g(:\n    pass\n\n\ndef f(values):\n    return █\n"
    assert run(marked, "totl(values)")[0] == ""
    assert run(marked, "g(values)")[0] == "g(values)"


def test_other_languages_get_only_the_comment_check() -> None:
    text, actions, _ = run("function f(x) {\n  return █\n}\n", "undefinedThing(x);", "javascript")
    assert text == "undefinedThing(x);" and actions == ()


def test_only_the_function_around_the_cursor_needs_to_parse() -> None:
    """A method is parsed on its own (dedented): another method's syntax error does not switch the checks off."""
    marked = "class A:\n    def broken(self:\n        pass\n\n    def f(self, values):\n        return █\n"
    assert run(marked, "totl(values)")[1] == ("unresolved",)
    assert run(marked, "self.f(values)")[1] == ("self_call",)
    nested = "def outer(xs):\n    def inner(x):\n        return █\n    return inner\n"
    assert run(nested, "inner(x)")[1] == ("self_call",)
    assert run(nested, "outer(xs)")[1] == ()
