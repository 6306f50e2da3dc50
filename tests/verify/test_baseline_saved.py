"""A completion's check tells the project's own failing tests from the suggestion's: when the document before the
suggestion (mid-edit: the line being typed is missing) cannot complete a test run, the files as saved are the
baseline. Seen on more-itertools: without the typed line a loop filled the memory limit, the baseline stopped there,
and a doctest that fails on the project's own code was blamed on a correct suggestion, which was withdrawn."""

from __future__ import annotations

from pathlib import Path

import pytest
from codeassist.sandbox import Sandbox
from verify_fixtures import make_project

from codeassist.completion import CompletionPolicy, check_completion
from codeassist.engine import CompletionRequest, CompletionResult
from codeassist.verify import LABEL_FAILED, LABEL_TESTS, Verifier

pytestmark = pytest.mark.docker

# without the line being typed: the loop fills the memory limit (the run stops there), or the module does not parse
LOOPS = """def grow(n):
    items, seen = [], []
    while len(items) < n:
        seen.append([len(items)] * 100_000)
        items.append(len(items))
    return items
"""
UNPARSED = """def grow(n):
    items = []
    while len(items) < n:
        items.append(len(items))
    return items
"""
# unittest style, as more-itertools': the file is run whole, its other tests with it
TEST_GROW = """import unittest

import grow as g


class GrowTests(unittest.TestCase):
    def test_grow(self):
        self.assertEqual(g.grow(3), [0, 1, 2])


def test_legacy():
    assert "legacy" == "old", "fails on the project's own code"
"""
LINE = "        items.append(len(items))"


def check(root: Path, verifier: Verifier, text: str) -> tuple[str, str]:
    saved = (root / "grow.py").read_text()
    line = saved.splitlines().index(LINE)
    doc = saved.replace(LINE, "        ", 1)  # the user is typing this line: without it the loop never ends
    request = CompletionRequest(doc, line, 8, path=str(root / "grow.py"))
    done = check_completion(request, CompletionResult(text, line, 8), CompletionPolicy(verify="sandbox"), verifier)
    assert done.verdict.tiers[-1].tier == "tests", done.verdict
    return done.verdict.label, done.verdict.reason


@pytest.mark.parametrize("module", [LOOPS, UNPARSED], ids=["loops", "unparsed"])
def test_a_correct_line_is_verified_though_the_mid_edit_document_cannot_be_the_baseline(
    sandbox: Sandbox, tmp_path: Path, module: str
) -> None:
    root = make_project(tmp_path / "p", {"grow.py": module, "test_grow.py": TEST_GROW})
    label, reason = check(root, Verifier(sandbox), "items.append(len(items))")
    assert label == LABEL_TESTS, reason
    # the unrelated failing test is never blamed: run with the file and excused as pre-existing by the saved
    # baseline, or not selected at all (the finder narrows to the unittest class that exercises grow)
    assert "test_legacy" not in reason or "pre-existing" in reason, reason


@pytest.mark.parametrize("module", [LOOPS, UNPARSED], ids=["loops", "unparsed"])
def test_a_wrong_line_still_fails(sandbox: Sandbox, tmp_path: Path, module: str) -> None:
    """The saved baseline absolves only what fails there the same way and does not exercise the edit."""
    root = make_project(tmp_path / "p", {"grow.py": module, "test_grow.py": TEST_GROW})
    label, reason = check(root, Verifier(sandbox), "items.append(len(items) + 1)")
    assert label == LABEL_FAILED, reason
