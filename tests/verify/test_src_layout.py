"""A ``src/`` layout project (the package under ``src/``, not installed in the sandbox): its tests import the package,
so the tests tier puts ``src`` on ``PYTHONPATH``. Before, every test errored at import and a correct edit read as
failing — with ``verify = sandbox`` correct suggestions were withdrawn (cachetools on the repository suite)."""

from __future__ import annotations

from pathlib import Path

import pytest
from codeassist.sandbox import Sandbox
from verify_fixtures import make_project

from codeassist.testfinder import src_layout_env
from codeassist.verify import Change, Verifier

ORIGINAL = "def double(x):\n    return x * 2\n"
TESTS = "from shapes.calc import double\n\n\ndef test_double():\n    assert double(3) == 6\n"


def test_only_a_package_under_src_counts() -> None:
    assert src_layout_env({"src/shapes/__init__.py": b"", "tests/test_a.py": b""}) == ("env", "PYTHONPATH=src")
    assert src_layout_env({"shapes/__init__.py": b"", "docs/src/x/y/__init__.py": b""}) == ()


@pytest.mark.docker
def test_a_correct_edit_in_a_src_layout_is_verified_and_a_wrong_one_is_not(sandbox: Sandbox, tmp_path: Path) -> None:
    files = {"src/shapes/__init__.py": "", "src/shapes/calc.py": ORIGINAL, "tests/test_calc.py": TESTS}
    root = make_project(tmp_path / "proj", files)
    verifier = Verifier(sandbox)
    rel = "src/shapes/calc.py"
    fine = verifier.verify(Change(str(root), {rel: "def double(x):\n    return x + x\n"}, {rel: ORIGINAL}))
    assert fine.verified, fine.to_json()
    wrong = verifier.verify(Change(str(root), {rel: "def double(x):\n    return x * 3\n"}, {rel: ORIGINAL}))
    assert not wrong.verified and "test_double" in str(wrong.to_json()), wrong.to_json()
