"""Test ids with spaces (parametrized ids such as ``test_x[a b]``, issue 13): pytest prints them as they are, in the
``-v`` lines and in the short summary. A parser that stops an id at the first space loses that test's outcome, and a
failure it loses cannot count against an edit: the edit below, which breaks only the ``[a b]`` case, was "verified".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from codeassist.sandbox import Sandbox
from verify_fixtures import make_project

from codeassist.testrun import parse_pytest
from codeassist.verify import Change, Verifier

JOIN = "def join(a, b):\n    return a + ' ' + b\n"
BROKEN = "def join(a, b):\n    return a + ' ' + b if a != 'a' else 'oops'\n"
TESTS = """import pytest
from words import join


@pytest.mark.parametrize("a, b", [("a", "b"), ("c", "d"), ("1 - 2", "x")], ids=["a b", "c d", "1 - 2"])
def test_join(a, b):
    assert join(a, b) == a + " " + b


@pytest.mark.skip(reason="not today")
def test_later():
    pass
"""
VERBOSE = ("python3", "-m", "pytest", "-v", "-p", "no:cacheprovider", "test_words.py")


def test_ids_with_spaces_are_parsed_from_both_kinds_of_line() -> None:
    run = parse_pytest(
        "t.py::test_x[a b] PASSED    [ 33%]\nt.py::test_x[1 - 2] FAILED    [ 66%]\n"
        "t.py::TestC::test_s SKIPPED (why)    [100%]\n"
        "FAILED t.py::test_x[1 - 2] - assert l[0] - 1 == 2\nERROR t2.py - ImportError: no\nERROR t3.py\n"
    )
    assert run.outcomes == {
        "t.py::test_x[a b]": "passed", "t.py::test_x[1 - 2]": "failed", "t.py::TestC::test_s": "skipped",
        "t2.py": "failed", "t3.py": "failed",
    }  # fmt: skip
    assert run.messages["t.py::test_x[1 - 2]"] == "assert l[0] - 1 == 2" and run.messages["t3.py"] == ""


@pytest.mark.docker
def test_a_real_pytest_run_names_each_parametrized_case(sandbox: Sandbox, tmp_path: Path) -> None:
    res = sandbox.run({"words.py": BROKEN, "test_words.py": TESTS}, list(VERBOSE))
    assert res.status == "failed", res
    run = parse_pytest(res.stdout + res.stderr)
    assert run.outcomes == {
        "test_words.py::test_join[a b]": "failed", "test_words.py::test_join[c d]": "passed",
        "test_words.py::test_join[1 - 2]": "passed", "test_words.py::test_later": "skipped",
    }, res.stdout  # fmt: skip
    assert "assert" in run.messages["test_words.py::test_join[a b]"], res.stdout


@pytest.mark.docker
def test_an_edit_that_breaks_one_case_with_a_space_in_its_id_is_not_verified(sandbox: Sandbox, tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj", {"words.py": JOIN, "test_words.py": TESTS})
    verifier = Verifier(sandbox)
    broken = verifier.verify(Change(str(root), {"words.py": BROKEN}, {"words.py": JOIN}, test_command=VERBOSE))
    assert not broken.verified, broken.to_json()
    assert "test_join[a b]" in str(broken.to_json()), broken.to_json()
    fine = verifier.verify(Change(str(root), {"words.py": JOIN + "\n"}, {"words.py": JOIN}, test_command=VERBOSE))
    assert fine.verified, fine.to_json()
