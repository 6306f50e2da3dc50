"""Golden post-processing cases: input document (cursor marked) + raw model output → expected suggestion.

The raw outputs are fixed strings shaped like what small FIM models really emit (run-ons, re-typed suffix lines,
duplicated closers, leaked control tokens, tab/space mix-ups). The multi-line decision uses the real tree-sitter
grammars. Each case is also replayed token-by-token through the streaming filter, which must never stop before the
text that the batch result keeps.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from codeassist.context.parsing import Document
from codeassist.line_policy import decide_multiline
from codeassist.postprocess import StreamFilter, make_situation, postprocess

HERE = os.path.dirname(os.path.abspath(__file__))


def _load() -> list[Any]:
    params = []
    for name in sorted(os.listdir(HERE)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(HERE, name), encoding="utf-8") as f:
            data = json.load(f)
        for case in data["cases"]:
            params.append(pytest.param(data["cursor"], case, id=f"{case['language']}-{case['name']}"))
    return params


CASES = _load()


def _situation(cursor: str, case: dict[str, str]) -> Any:
    doc = case["document"]
    offset = doc.index(cursor)
    text = doc.replace(cursor, "")
    document = Document(text, language=case["language"])
    return make_situation(text[:offset], text[offset:], language=case["language"],
                          multiline=decide_multiline(document, offset))  # fmt: skip


@pytest.mark.parametrize(("cursor", "case"), CASES)
def test_golden(cursor: str, case: dict[str, str]) -> None:
    situation = _situation(cursor, case)
    assert postprocess(situation, case["raw"]).text == case["expected"]


@pytest.mark.parametrize(("cursor", "case"), CASES)
def test_streaming_agrees(cursor: str, case: dict[str, str]) -> None:
    """Feeding the raw output a few characters at a time: if the filter stops early, finishing on the text seen so
    far gives the same suggestion as the whole output."""
    situation = _situation(cursor, case)
    raw = case["raw"]
    flt = StreamFilter(situation)
    seen = raw
    for end in range(1, len(raw) + 1, 3):
        if not flt(raw[:end]):
            seen = raw[:end]
            break
    assert flt.finish(seen).text == case["expected"]


def test_enough_cases_and_languages() -> None:
    langs = {p.values[1]["language"] for p in CASES}
    assert len(CASES) >= 60
    assert len(langs) >= 3
    kinds = " ".join(p.values[1]["name"] for p in CASES)
    for needed in ("suffix_overlap", "closing", "indentation_exit", "repetition", "tabs"):
        assert needed in kinds, needed
