"""``codeassist refactor``: verified diffs, atomic apply, undo byte for byte, resume after a kill, git safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from codeassist.sandbox import Sandbox
from verify_fixtures import REPO, CliRun, make_project

from codeassist.edits import atomic_write
from codeassist.verify import Change, Verifier

INSTRUCTION = "Add a short docstring inside the function."
FILES = {
    "calc.py": "def add(a, b):\n    return a + b\n",
    "mul.py": "def mul(a, b):\n    return a * b\n",
    "sub.py": "def sub(a, b):\n    return a - b\n",
    "test_ops.py": (
        "from calc import add\nfrom mul import mul\nfrom sub import sub\n\n\n"
        "def test_add():\n    assert add(2, 3) == 5\n\n\n"
        "def test_mul():\n    assert mul(2, 3) == 6\n\n\n"
        "def test_sub():\n    assert sub(5, 3) == 2\n"
    ),
}
SOURCES = ["calc.py", "mul.py", "sub.py"]


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts
    }


def suite_passes(sandbox: Sandbox, root: Path) -> bool:
    cmd = ("python3", "-m", "pytest", "-q", "test_ops.py")
    return Verifier(sandbox).check_tests(Change(str(root), {}, {}, test_command=cmd)).status == "passed"


def no_temp_files(root: Path) -> bool:
    return not [p for p in root.rglob("*") if p.name.endswith(".codeassist-tmp")]


def test_atomic_write_is_never_half_written(tmp_path: Path) -> None:
    """Kill a process that keeps replacing a large file: the file is always wholly old or wholly new."""
    target = tmp_path / "big.txt"
    a, b = b"a" * (8 << 20), b"b" * (8 << 20)
    target.write_bytes(a)
    code = (
        "import sys\nfrom codeassist.edits import atomic_write\n"
        "while True:\n"
        f"    atomic_write({str(target)!r}, b'b' * (8 << 20))\n"
        f"    atomic_write({str(target)!r}, b'a' * (8 << 20))\n"
    )
    for delay in (0.3, 0.55, 0.8):
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert target.read_bytes() in (a, b)
    atomic_write(target, b"x")
    assert target.read_bytes() == b"x"


@pytest.mark.model
@pytest.mark.docker
def test_refactor_diff_apply_resume_and_undo(tmp_path: Path, run_cli_env: CliRun, sandbox: Sandbox) -> None:
    root = make_project(tmp_path / "proj", FILES)
    before = snapshot(root)
    args = ["refactor", "-i", INSTRUCTION, *[str(root / f) for f in SOURCES], "--threads", "2", "-k", "2", "-j", "1"]

    # 1. Start with --apply and kill it after the first file is journalled: nothing is written yet, nothing torn.
    proc = subprocess.Popen(
        [sys.executable, "-m", "codeassist.cli", *args, "--apply"], cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    journal_dir = root / ".codeassist" / "refactor"
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and proc.poll() is None:
        journals = list(journal_dir.glob("journal-*.jsonl")) if journal_dir.is_dir() else []
        if journals and journals[0].read_text().count("\n") >= 1:
            break
        time.sleep(0.2)
    assert proc.poll() is None, f"finished before it could be interrupted: {proc.communicate()}"
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    after_kill = snapshot(root)
    assert {k: v for k, v in after_kill.items() if not k.startswith(".codeassist")} == before
    assert no_temp_files(root)

    # 2. Re-run: the journalled file is not redone, the rest is processed, verified edits are applied.
    r = run_cli_env(*args, "--apply", "--json")
    assert r.returncode in (0, 1), r.stderr
    report = json.loads(r.stdout)
    resumed = [f for f in report["files"] if f["resumed"]]
    assert len(resumed) >= 1 and "(resumed)" not in r.stdout
    statuses = {f["rel"]: f["status"] for f in report["files"]}
    assert set(statuses) == set(SOURCES)
    verified = [rel for rel, s in statuses.items() if s == "verified"]
    assert verified, report  # the 0.5B model adds a docstring to at least one of three one-liners
    assert sorted(report["applied"]) == sorted(verified)
    for f in report["files"]:
        if f["status"] == "verified":
            assert f["diff"].startswith(f"--- a/{f['rel']}\n+++ b/{f['rel']}\n")
    for rel in SOURCES:
        changed = (root / rel).read_bytes() != before[rel]
        assert changed == (rel in verified), rel
    assert suite_passes(sandbox, root)
    assert no_temp_files(root)
    # our state is ignored by git: the working tree shows only the applied edits
    status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True)
    assert sorted(line[3:] for line in status.stdout.splitlines()) == sorted(verified)

    # 3. The same command again recognises its own applied batch (its writes are not "uncommitted changes"):
    #    nothing is proposed or written, and there is still one undo record.
    r2 = run_cli_env(*args, "--apply", "--json")
    data = json.loads(r2.stdout)
    assert data["undo_id"] == report["undo_id"] and sorted(data["applied"]) == sorted(verified), data
    assert all(f["resumed"] for f in data["files"]) and r2.returncode == r.returncode
    assert len(list((root / ".codeassist" / "refactor" / "undo").glob("*.json"))) == 1

    # 4. --undo restores every file byte for byte.
    r3 = run_cli_env("refactor", "--undo", str(root), "--json")
    assert r3.returncode == 0, r3.stderr
    assert sorted(json.loads(r3.stdout)["restored"]) == sorted(verified)
    assert {k: v for k, v in snapshot(root).items() if not k.startswith(".codeassist")} == before
    r4 = run_cli_env("refactor", "--undo", str(root))
    assert r4.returncode == 1 and "nothing to undo" in r4.stderr


@pytest.mark.model
@pytest.mark.docker
def test_refactor_without_apply_only_prints_a_diff(tmp_path: Path, run_cli_env: CliRun) -> None:
    root = make_project(tmp_path / "proj", {k: FILES[k] for k in ("calc.py", "test_ops.py")} | {
        "test_ops.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"})  # fmt: skip
    before = snapshot(root)
    r = run_cli_env("refactor", "-i", INSTRUCTION, str(root / "calc.py"), "--threads", "2", "-k", "2")
    assert r.returncode in (0, 1), r.stderr
    assert "calc.py" in r.stderr and "verified" in r.stderr and "ETA" in r.stderr
    if "calc.py                                  verified" in r.stderr:
        assert r.stdout.startswith("--- a/calc.py\n+++ b/calc.py\n")
    assert {k: v for k, v in snapshot(root).items() if not k.startswith(".codeassist")} == before
    assert os.listdir(root / ".codeassist")  # the journal lives in the workspace state dir
