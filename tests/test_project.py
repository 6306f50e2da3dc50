"""The one project-root rule (codeassist.project) and what it means for a completion's check: a file in no project
is alone (no index walk, syntax checks only), a file in a project is checked against that project. No model: the
completion service's check runs on a given result."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeassist.completion import CompletionPolicy, check_completion
from codeassist.engine import CompletionRequest, CompletionResult, Engine, EngineConfig
from codeassist.project import NOT_IN_PROJECT, find_root, project_root

HOLE = "def double(x):\n    return \n"


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    folder = tmp_path / "scratch"
    (folder / "sub").mkdir(parents=True)
    if project_root(folder) is not None:
        pytest.skip(f"{tmp_path} lies inside a project ({project_root(folder)}): no project-less folder to test")
    return folder


def test_the_nearest_marker_wins_and_no_marker_means_no_project(scratch: Path) -> None:
    path = scratch / "sub" / "m.py"
    path.write_text(HOLE)
    assert project_root(path) is None and find_root(path) == path.parent  # state still has a home
    (scratch / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    assert project_root(path) == find_root(path) == scratch
    (scratch / "sub" / ".git").mkdir()
    assert project_root(path) == scratch / "sub"


def test_a_completion_in_a_file_in_no_project_is_checked_for_syntax_only(scratch: Path) -> None:
    path = scratch / "m.py"
    path.write_text(HOLE)
    request = CompletionRequest(HOLE, 1, 11, path=str(path))
    result = CompletionResult("x * 2", 1, 11)
    check = check_completion(request, result, CompletionPolicy(verify="sandbox"), verifier=None)
    assert check.show and check.verdict.reason == NOT_IN_PROJECT
    assert [t.tier for t in check.verdict.tiers] == ["syntax"]
    broken = check_completion(request, CompletionResult("x *", 1, 11), CompletionPolicy(verify="sandbox"), None)
    assert not broken.show  # the syntax check still applies
    (scratch / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    in_project = check_completion(request, result, CompletionPolicy(verify="sandbox"), verifier=None)
    assert in_project.verdict.reason == "no sandbox: syntax checked only"


def test_the_engine_indexes_no_folder_for_a_file_in_no_project(scratch: Path) -> None:
    path = scratch / "m.py"
    path.write_text(HOLE)
    engine = Engine(EngineConfig(index_workspace=False))
    assert engine.workspace_for(str(path)).root is None
    (scratch / "setup.cfg").write_text("")
    assert Engine(EngineConfig(index_workspace=False)).workspace_for(str(path)).root == str(scratch)
