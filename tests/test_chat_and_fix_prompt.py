"""Chat rendering (codeassist.chat), the one fix prompt and extractor (codeassist.fix_prompt), syntax problems and
parse counting (codeassist.syntax), and, with the real model, the fix service in the editor's configuration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from codeassist import chat as C
from codeassist import fix_prompt as P
from codeassist import syntax as S
from codeassist.context.parsing import PARSES
from codeassist.engine import Engine, EngineConfig
from codeassist.fix_target import FixTarget, failing_test_sources, target_for_problem
from codeassist.fixer import FixConfig, Fixer
from codeassist.verify import Verifier

QWEN_LIKE = (
    "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def test_render_chat_template_and_chatml_fallback() -> None:
    msgs = [C.ChatMessage("system", "be brief"), C.ChatMessage("user", "hi")]
    expected = "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert C.render_chat(msgs, QWEN_LIKE) == expected
    assert C.render_chat(msgs, None) == expected
    assert C.render_chat(msgs, "{% broken") == expected  # a template that does not render falls back to ChatML


def test_extract_code_block() -> None:
    assert P.extract_code_block("Here:\n```python\nx = 1\ny = 2\n```\nDone") == "x = 1\ny = 2"
    assert P.extract_code_block("```\nunterminated\n") == "unterminated"
    assert P.extract_code_block("no code") is None


def test_reindent() -> None:
    assert P.reindent("for x in xs:\n    total += x", "    for x in xs") == "    for x in xs:\n        total += x"
    assert P.reindent("    ok", "    ok") == "    ok"


def test_focus_answer_drops_echoed_context() -> None:
    answer = "def mean(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total / len(xs)"
    context = ["def mean(xs):", "    total = 0", "    for x in xs", "        total += x"]
    assert P.focus_answer(answer, "    return totl / len(xs)", context) == "    return total / len(xs)"
    assert P.focus_answer("import os\nx = os.sep", "x = os.sep", []) == "import os\nx = os.sep"


def test_syntax_problems() -> None:
    problems = S.problems("def f(:\n    return 1\n", "python")
    assert problems and problems[0].start_line == 0 and problems[0].source == "codeassist"
    assert S.problems("def f():\n    return 1\n", "python") == []
    assert S.problems("whatever", None) == []
    assert S.problems("int main( { return 0; }", "c")


def test_syntax_parses_each_text_once() -> None:
    text = "def f(x):\n    return x +\n"
    before = PARSES.total
    assert S.error_count(text, "python") > 0 and S.problems(text, "python") and S.python_error(text)
    assert S.python_module(text) is None and S.error_count(text, "python") > 0
    assert PARSES.total - before == 2  # one tree-sitter parse, one ast.parse, however many questions


def _target(text: str, problem: S.Problem, rel: str = "mean.py") -> FixTarget:
    return target_for_problem("/nonexistent", rel, text, problem)


def test_fix_prompt_shows_the_function_or_the_lines_with_their_surroundings() -> None:
    src = "import os\n\n\ndef mean(xs):\n    return totl / len(xs)\n"
    target = _target(src, S.Problem(4, 4, "undefined name 'totl'"))
    (system, user) = P.build_messages(target)
    assert "expert Python programmer" in system.content
    assert "def mean(xs):" in user.content and "line 5: undefined name 'totl'" in user.content
    assert "Code before" not in user.content
    js = "const a = 1;\nconst b = a +;\nconsole.log(b);\n"
    (system, user) = P.build_messages(_target(js, S.Problem(1, 1, "syntax error"), "b.js"))
    # outside any function: only the lines, between the code before and after them, asked for last
    assert system.content == P.LINES_SYSTEM
    assert user.content.startswith("Code before in `b.js`:\n```javascript\nconst a = 1;\n```")
    assert "Problem reported at line 2: syntax error" in user.content
    assert user.content.endswith(
        "Rewrite only these lines so that the problem is fixed:\n```javascript\nconst b = a +;\n```"
    )
    # the model echoing the code around the line: the extractor keeps the line asked for
    answer = "```javascript\nconst a = 1;\nconst b = a + 1;\nconsole.log(b);\n```"
    assert P.extract_replacement(answer, _target(js, S.Problem(1, 1, "syntax error"), "b.js")) == "const b = a + 1;"


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    eng = Engine(EngineConfig(time_budget_ms=None))
    eng.load()
    yield eng
    eng.close()


@pytest.mark.model
def test_failing_test_source_is_taken_from_the_named_class(tmp_path: Path) -> None:
    """unittest classes reuse method names: the prompt must show the test that failed, not the first namesake."""
    (tmp_path / "test_m.py").write_text(
        "import unittest\n\n"
        "class NthTests(unittest.TestCase):\n    def test_basic(self):\n        self.assertEqual(nth(1), 1)\n\n"
        "class TotientTests(unittest.TestCase):\n    def test_basic(self):\n        self.assertEqual(totient(9), 6)\n"
    )
    out = "FAILED test_m.py::TotientTests::test_basic - AssertionError: 0 != 1\n"
    assert "totient(9)" in failing_test_sources(tmp_path, out)
    assert "nth(1)" not in failing_test_sources(tmp_path, out)
    assert "nth(1)" in failing_test_sources(tmp_path, out.replace("TotientTests", "NthTests"))


def test_chat_tokens_keep_user_text_literal(engine: Engine) -> None:
    backend = engine.backend
    ids = C.chat_tokens(backend, [C.ChatMessage("user", "a <|im_end|> b")])
    im_end = backend.tokenize_special("<|im_end|>")
    assert len(im_end) == 1
    # the literal <|im_end|> in the content stays plain text: only the template's own turn ends are special
    plain = C.chat_tokens(backend, [C.ChatMessage("user", "a b")])
    assert ids.count(im_end[0]) == plain.count(im_end[0]) >= 1


@pytest.mark.model
def test_editor_fix_with_the_model(engine: Engine) -> None:
    """The fix service in the editor's configuration, syntax-checked only: at most three candidates, greedy first,
    stopping at the first one no check rejects; whatever it offers parses and changes the line."""
    src = "def mean(xs):\n    total = sum(xs)\n    return totl / len(xs)\n"
    target = _target(src, S.Problem(2, 2, "undefined name 'totl'"))
    outcome = Fixer(engine, Verifier(None), FixConfig.for_editor("syntax")).candidates_for(target)
    assert 1 <= outcome.generated <= 3
    best = outcome.best
    assert best is not None and outcome.candidates[0] is best, outcome.to_json()  # ranked best first
    assert outcome.stopped == "first_ok" or outcome.generated == 3
    assert best.verdict.display == "unverified (syntax checked only)"
    assert S.python_error(best.new_text) is None and best.new_text != src and "totl" not in best.new_text
