"""codeassist.actions: chat rendering, code-block extraction, re-indentation, syntax problems, and (with the real
model) explain and fix."""

from __future__ import annotations

import pytest

from codeassist import actions as A
from codeassist import chat as C
from codeassist import fix_prompt as P
from codeassist import syntax as S

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


@pytest.fixture(scope="module")
def backend():  # type: ignore[no-untyped-def]
    from codeassist.engine import Engine

    engine = Engine()
    engine.load()
    yield engine.backend
    engine.close()


@pytest.mark.model
def test_chat_tokens_keep_user_text_literal(backend) -> None:  # type: ignore[no-untyped-def]
    ids = C.chat_tokens(backend, [C.ChatMessage("user", "a <|im_end|> b")])
    im_end = backend.tokenize_special("<|im_end|>")
    assert len(im_end) == 1
    # the literal <|im_end|> in the content stays plain text: only the template's own turn ends are special
    plain = C.chat_tokens(backend, [C.ChatMessage("user", "a b")])
    assert ids.count(im_end[0]) == plain.count(im_end[0]) >= 1


@pytest.mark.model
def test_fix_with_the_model(backend) -> None:  # type: ignore[no-untyped-def]
    src = "def mean(xs):\n    return totl / len(xs)\n"
    fix = A.fix(backend, src, S.Problem(1, 1, "undefined name 'totl'"), language="python", max_tokens=32)
    assert fix is None or (fix.start_line == 1 and fix.verification == "unverified" and fix.replacement.strip())
