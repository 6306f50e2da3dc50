"""`codeassist bench repo` end to end on a small fixture repository: the real CLI, the real `codeassist serve` over
stdio with the embedded model, the real sandbox running the fixture's pytest suite. A first run is SIGKILLed half
way; the tree is untouched and `--resume` finishes the job without redoing finished holes."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "minirepo"
LLAMA_SERVER = Path(__file__).resolve().parents[2] / "build" / "llama.cpp" / "bin" / "llama-server"

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.model]


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _bench(repo: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "codeassist.cli", "bench", "repo", str(repo), "--out", str(out),
            "--holes", "3", "--kind", "line", "--kind", "token", "--timeout-ms", "60000", "--jobs", "1",
            "--cache-dir", str(out.parent / "cache"), *extra]  # fmt: skip


def _rows(out: Path) -> list[dict[str, Any]]:
    path = out / "rows.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_bench_repo_killed_then_resumed(tmp_path: Path) -> None:
    repo, out = tmp_path / "minirepo", tmp_path / "out"
    shutil.copytree(FIXTURE, repo)
    before = _tree_digest(repo)
    first = subprocess.Popen(_bench(repo, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and first.poll() is None and len(_rows(out)) < 2:
        time.sleep(0.2)
    if first.poll() is None:
        first.send_signal(signal.SIGKILL)
    first.wait(30)
    killed_rows = _rows(out)
    assert killed_rows, (first.stderr.read() if first.stderr else b"").decode()[-2000:]
    assert _tree_digest(repo) == before  # the user's tree is never written, even by a killed run

    done = subprocess.run([*_bench(repo, out, "--resume", "--json")], capture_output=True, text=True, timeout=900,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert _tree_digest(repo) == before
    summary = json.loads(done.stdout)
    rows = _rows(out)
    assert len(rows) == 6 == summary["holes"]  # 3 line + 3 token holes, none redone, none missing
    assert {r["hole"]["id"] for r in rows} == set(summary["meta"]["hole_ids"])
    assert rows[: len(killed_rows)] == killed_rows
    judging = json.loads((out / "judging.json").read_text())
    for r in rows:
        hole, sel, verdict = r["hole"], r["selection"], r["verdict"]
        assert r["fill"]["latency_ms"] > 0
        # unused_helper has no test; every other function of the fixture is run by a passing test.
        assert sel["judgeable"] == (hole["func_name"] != "unused_helper")
        if sel["judgeable"]:
            assert judging[hole["id"]]["baseline"]["status"] == "pass"
        if sel["judgeable"] and r["score"]["shown"]:
            assert verdict is not None and verdict["status"] in ("pass", "fail")
        else:
            assert verdict is None
    m = summary["systems"]["codeassist"]
    assert m["holes"] == 6 and m["judged"] == sum(1 for r in rows if r["selection"]["judgeable"])
    assert m["labels"] and m["latency_p50_ms"] > 0
    report = (out / "report.md").read_text()
    assert "| codeassist | 6 |" in report and "precision of shown" in report


@pytest.mark.skipif(not LLAMA_SERVER.exists(), reason="llama-server is not built (bench/build_llama_cpp.sh)")
def test_bench_repo_against_llama_server(tmp_path: Path, model_path: str) -> None:
    """`--against URL` puts a llama-server /infill row (llama.vim-shaped requests) beside ours, on the same holes."""
    from bench.replay import llama_server

    repo = tmp_path / "minirepo"
    shutil.copytree(FIXTURE, repo)
    with llama_server(str(LLAMA_SERVER), model_path, threads=2, n_ctx=2048, n_batch=1024) as url:
        cmd = [sys.executable, "-m", "codeassist.cli", "bench", "repo", str(repo), "--out", str(tmp_path / "out"),
               "--holes", "2", "--against", url, "--timeout-ms", "60000", "--no-tests", "--json",
               "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert set(summary["systems"]) == {"codeassist", "llama-server"}
    rows = _rows(tmp_path / "out")
    assert len(rows) == 4 and {r["system"] for r in rows} == {"codeassist", "llama-server"}
    anchor = [r for r in rows if r["system"] == "llama-server"]
    assert all(r["fill"]["error"] is None and r["fill"]["info"].get("predicted_n") is not None for r in anchor)
