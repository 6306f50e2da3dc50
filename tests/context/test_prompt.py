"""Prompt builder with the embedded model's real tokenizer and FIM token ids."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from codeassist.context.assemble import assemble_context
from codeassist.context.parsing import Document
from codeassist.context.symbols import WorkspaceIndex
from codeassist.models.fim import FimFormat
from codeassist.prompt import build_prompt

FILES = {
    "shapes/circle.py": "def circle_area(radius: float) -> float:\n    return 3.14159 * radius ** 2\n",
    "main.py": "from shapes.circle import circle_area\n\n\ndef total(rs):\n    areas = [circle_area(r) for r in rs]\n"
               "    return \n\n\nprint(total([1]))\n",
}  # fmt: skip


def _ctx(root: str) -> tuple[Document, int, WorkspaceIndex]:
    index = WorkspaceIndex(root)
    index.build()
    path = os.path.join(root, "main.py")
    doc = Document(FILES["main.py"], path=path)
    return doc, FILES["main.py"].index("return ") + 7, index


def test_repo_layout_psm_and_spm(
    make_workspace: Callable[[dict[str, str]], str], vocab: Any, qwen_fim: FimFormat
) -> None:
    doc, offset, index = _ctx(make_workspace(FILES))
    ctx = assemble_context(doc, offset, index=index)
    psm = build_prompt(ctx, qwen_fim, vocab.tokenize, order="psm", repo_name="demo")
    text = vocab.llm.detokenize(psm.tokens, special=True).decode()
    assert text.startswith("<|repo_name|>demo\n<|file_sep|>shapes/circle.py\ndef circle_area(radius: float)")
    assert "<|file_sep|>main.py\n<|fim_prefix|>from shapes.circle import" in text
    # The cursor line's text goes after <|fim_middle|>: typing on it leaves everything before unchanged.
    assert text.endswith("<|fim_suffix|>\n\n\nprint(total([1]))\n<|fim_middle|>    return ")
    spm = build_prompt(ctx, qwen_fim, vocab.tokenize, order="spm", repo_name="demo")
    text = vocab.llm.detokenize(spm.tokens, special=True).decode()
    assert "<|file_sep|>main.py\n<|fim_suffix|>\n\n\nprint(total([1]))\n<|fim_prefix|>from shapes" in text
    assert text.endswith("    return <|fim_middle|>")
    assert psm.count("definition") == spm.count("definition") > 0 and len(psm.tokens) == len(spm.tokens)


def test_comment_layout_without_repo_tokens(
    make_workspace: Callable[[dict[str, str]], str], vocab: Any, qwen_fim: FimFormat
) -> None:
    doc, offset, index = _ctx(make_workspace(FILES))
    ctx = assemble_context(doc, offset, index=index)
    plain = FimFormat("starcoder-like", qwen_fim.prefix, qwen_fim.suffix, qwen_fim.middle)
    built = build_prompt(ctx, plain, vocab.tokenize)
    text = vocab.llm.detokenize(built.tokens, special=True).decode()
    assert built.layout == "comments"
    assert text.startswith("<|fim_prefix|># Path: shapes/circle.py\n# def circle_area(radius: float) -> float:\n")


def test_user_text_never_becomes_control_tokens(vocab: Any, qwen_fim: FimFormat) -> None:
    doc = Document("s = '<|fim_middle|><|file_sep|>'\n", language="python")
    built = build_prompt(assemble_context(doc, len(doc.text)), qwen_fim, vocab.tokenize)
    controls = [t for t in built.tokens if t in qwen_fim.control_ids or t in (qwen_fim.repo, qwen_fim.file_sep)]
    assert len(controls) == 3  # prefix, suffix, middle (no other files: no repo header); none from the user's text


def test_fits_context_by_dropping_other_files(
    make_workspace: Callable[[dict[str, str]], str], vocab: Any, qwen_fim: FimFormat
) -> None:
    doc, offset, index = _ctx(make_workspace(FILES))
    ctx = assemble_context(doc, offset, index=index)
    full = build_prompt(ctx, qwen_fim, vocab.tokenize)
    small = build_prompt(ctx, qwen_fim, vocab.tokenize, max_prompt_tokens=len(full.tokens) - 5)
    assert small.dropped and small.count("definition") == 0 and len(small.tokens) < len(full.tokens)


def test_keystroke_reuse_spm_beats_psm(vocab: Any, qwen_fim: FimFormat) -> None:
    """Token-level check of the cache-aware layout: typing one character changes only the prompt's tail."""
    base = "".join(f"def fn{i}(x):\n    return x + {i}\n\n" for i in range(60))
    cut = base.index("def fn30")
    before, after = base[:cut] + "value = compu", base[cut:]
    doc = Document(before + after, language="python")
    results = {}
    doc2 = Document(before + "t" + after, language="python")
    for name, order, in_middle in (("psm", "psm", True), ("spm", "spm", True), ("classic", "psm", False)):
        a = build_prompt(assemble_context(doc, len(before)), qwen_fim, vocab.tokenize, order=order,
                         line_in_middle=in_middle).tokens  # fmt: skip
        b = build_prompt(assemble_context(doc2, len(before) + 1), qwen_fim, vocab.tokenize, order=order,
                         line_in_middle=in_middle).tokens  # fmt: skip
        common = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        results[name] = len(b) - common
    # Classic PSM re-evaluates the whole suffix window; the cursor line after <|fim_middle|> (and SPM) do not.
    assert results["psm"] <= 3 and results["spm"] <= 3 and results["classic"] > 50, results
