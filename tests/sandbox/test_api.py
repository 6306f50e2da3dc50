"""Input checking and recipes: no Docker needed."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from codeassist.sandbox import Limits, Sandbox, SandboxConfig, Snapshot, health, recipes
from codeassist.sandbox.core import _check_command

from codeassist.errors import InputError


@pytest.mark.parametrize("name", ["/etc/passwd", "../x.py", "a/../../x", "", "a\\b", "."])
def test_snapshot_rejects_escaping_names(name: str) -> None:
    with pytest.raises(InputError):
        Snapshot.from_files({name: "x"})


def test_snapshot_packs_files_owned_by_job_uid() -> None:
    snap = Snapshot.from_files({"a/b/c.py": "print(1)", "./d.txt": b"\x00\x01"})
    assert snap.files == 2 and snap.size == 10
    with tarfile.open(fileobj=io.BytesIO(snap.tar)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert set(members) == {"a", "a/b", "a/b/c.py", "d.txt"}
    assert all(m.uid == 65534 for m in members.values())


def test_snapshot_from_dir_skips_git_and_symlinks(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    (tmp_path / "m.py").write_text("x = 1\n")
    (tmp_path / "link").symlink_to("/etc/shadow")
    snap = Snapshot.from_dir(tmp_path)
    with tarfile.open(fileobj=io.BytesIO(snap.tar)) as tar:
        assert tar.getnames() == ["m.py"]


def test_snapshot_size_cap(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="bytes"):
        Snapshot.from_files({"big": b"x" * 100}, max_bytes=10)
    with pytest.raises(InputError, match="not a directory"):
        Snapshot.from_dir(tmp_path / "missing")


@pytest.mark.parametrize("kwargs", [{"timeout_s": 0}, {"memory_mb": -1}, {"pids": 1.5}, {"timeout_s": float("nan")}])
def test_limits_reject_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(InputError):
        Limits(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("command", ["python3 -c 1", [], [""], ["a", 1]])
def test_command_must_be_argv(command: object) -> None:
    with pytest.raises(InputError):
        _check_command(command)  # type: ignore[arg-type]


def test_recipe_tag_is_content_hash_and_commands_expand() -> None:
    recipe = recipes.load("python")
    assert recipe.image == f"codeassist-sandbox-python:{recipe.digest[:12]}"
    assert recipes.load("python").tag == recipe.tag
    assert recipe.command("pytest", "-x")[-1] == "-x"
    with pytest.raises(InputError):
        recipe.command("nope")
    with pytest.raises(InputError):
        recipes.load("../etc")


def test_run_rejects_bad_input_before_docker() -> None:
    sb = Sandbox(SandboxConfig(pool_size=0))
    try:
        with pytest.raises(InputError):
            sb.run({"../x": "1"}, ["true"])
        with pytest.raises(InputError):
            sb.run({}, "true")
    finally:
        sb.close()


def test_health_never_raises_on_bad_config() -> None:
    h = health(SandboxConfig(recipe="no-such-recipe"))
    assert not h.ok and h.reason
