"""How far a completion looks around its file: FIFOs in the project are skipped, a file in no project is alone.

Real model, real CLI entry point. The symbol index shows up as a ``definition`` piece of the prompt's context (in
``--json``), which is how these tests see what was walked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from clihelp import git_project, run

HELPER = 'def scale_value(v):\n    """Triple v."""\n    return v * 3\n'
MAIN = "from helper import scale_value\n\n\ndef run(x):\n    return \n"
ARGS = ("main.py:5:12", "--max-tokens", "8", "--json", "--threads", "2")


def complete(folder: Path, verify: str = "off") -> dict[str, object]:
    r = run("complete", *ARGS, "--verify", verify, cwd=folder, timeout=300)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    data: dict[str, object] = json.loads(r.stdout)
    return data


def definitions(data: dict[str, object]) -> list[str]:
    pieces = data["context"]
    assert isinstance(pieces, list)
    return [p["source"] for p in pieces if p["kind"] == "definition"]


@pytest.mark.model
def test_a_fifo_named_py_in_the_project_does_not_hang_completion(tmp_path: Path) -> None:
    proj = git_project(tmp_path / "proj", {"helper.py": HELPER, "main.py": MAIN})
    for name in ("zz.py", "sub/fifo.py", ".gitignore"):
        (proj / name).parent.mkdir(exist_ok=True)
        os.mkfifo(proj / name)  # the walk used to open these and wait for a writer forever
    data = complete(proj)
    assert definitions(data) == ["helper.py"]  # the rest of the project was indexed


@pytest.mark.model
def test_a_file_in_no_project_is_a_workspace_of_its_own(tmp_path: Path) -> None:
    """No .git or project file above it: its folder (say, a big shared one) is not walked for the symbol index."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "helper.py").write_text(HELPER)
    (scratch / "main.py").write_text(MAIN)
    alone = complete(scratch, verify="sandbox")
    assert definitions(alone) == []
    verdict = alone["verification"]
    assert isinstance(verdict, dict) and verdict["label"] == "unverified", verdict
    assert "not in a project" in verdict["reason"] and [t["tier"] for t in verdict["tiers"]] == ["syntax"]
    (scratch / "pyproject.toml").write_text("[project]\nname = 'p'\n")  # now it is a project: the folder counts
    assert definitions(complete(scratch)) == ["helper.py"]
