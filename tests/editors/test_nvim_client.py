"""Real client: headless Neovim 0.11 loads editors/nvim, starts ``codeassist serve`` through the plugin's setup(),
and is driven like a user (tests/editors/nvim/init.lua): type in insert mode → ghost text → <Tab> accepts it; the
"codeassist: Explain" code action → a float that shows the explanation as it streams, then the Markdown; the
"codeassist: Fix" code action → edit applied.
The Lua side writes what it saw as JSON; the assertions live here."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.model

REPO = Path(__file__).resolve().parents[2]
EDITORS = REPO / "editors"
INIT = Path(__file__).parent / "nvim" / "init.lua"

FIXTURE = '''"""Statistics helpers."""


def mean(values: list[float]) -> float:
    """Return the arithmetic mean of values."""
    if not values:
        raise ValueError("mean of empty list")
    return


def add(a: int, b: int) -> int
    return a + b
'''
COMPLETION_LINE = 8  # "    return": the test appends a space, then waits for ghost text
BROKEN = "def add(a: int, b: int) -> int"  # missing ':'
SETTINGS = {
    "max_tokens": 16,
    "debounce_ms": 0,
    "timeout_ms": 60000,
    "verify": "syntax",
    "retention_checks_s": [1, 2],  # 30 s and 2 min by default
}
SCENARIO = {
    "completion": {"line": COMPLETION_LINE, "type": " "},
    "explain": {"line1": 4, "line2": 8},
    "fix": {"text": BROKEN},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, nvim_exe: str, codeassist_exe: str) -> dict[str, Any]:
    ws = tmp_path_factory.mktemp("nvim-ws")
    (ws / "pyproject.toml").write_text('[project]\nname = "fixture"\nversion = "0"\n')
    src = ws / "stats.py"
    src.write_text(FIXTURE)
    out = ws / "result.json"
    env = {
        **os.environ,
        "CODEASSIST_PLUGIN_DIR": str(EDITORS / "nvim"),
        "CODEASSIST_SERVER": codeassist_exe,
        "CODEASSIST_TEST_OUT": str(out),
        "CODEASSIST_TEST_SETTINGS": json.dumps(SETTINGS),
        "CODEASSIST_TEST_SCENARIO": json.dumps(SCENARIO),
        "CODEASSIST_TEST_TIMEOUT_MS": "240000",
        "XDG_STATE_HOME": str(ws / "state"),  # keep Neovim's logs/shada out of the user's home
        "XDG_DATA_HOME": str(ws / "data"),  # the server's acceptance stats
    }
    proc = subprocess.run(
        [nvim_exe, "--headless", "--clean", "-u", str(INIT), str(src)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=560,
        check=False,
    )
    assert out.exists(), f"nvim wrote no result (rc {proc.returncode})\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    result: dict[str, Any] = json.loads(out.read_text())
    result["stats_files"] = [json.loads(p.read_text()) for p in (ws / "data" / "codeassist" / "stats").glob("*.json")]
    assert result.get("error") is None, f"{result.get('error')}\nlog:\n" + "\n".join(result.get("log", []))
    return result


def test_plugin_starts_server_with_init_options(run: dict[str, Any]) -> None:
    assert run["attached"] is True
    assert run["init_options"] == SETTINGS
    assert run["server_capabilities"] == {"inlineCompletionProvider": True, "codeActionProvider": True}
    assert run["state"]["state"] == "ready"
    assert run["state"]["model"]
    assert run["status_text"].startswith("codeassist: ready")


def test_the_plugin_warms_the_prompt_where_the_cursor_rests(run: dict[str, Any]) -> None:
    """``codeassist/warm`` once the model is ready (editors/nvim/lua/codeassist/warm.lua): the server started a
    warm-up job for the cursor's place before the first keystroke."""
    assert run.get("warms", 0) >= 1, run.get("log")


def test_ghost_text_shown_and_accepted_with_tab(run: dict[str, Any]) -> None:
    c = run["steps"]["completion"]
    assert c["line_typed"] == "    return "
    assert c["mode"].startswith("i")
    text = c["item"]["insertText"]
    assert isinstance(text, str) and text.strip(), c["item"]
    assert c["ghost"] == text  # the range starts at the cursor: nothing typed is repeated
    # Drawn as extmark ghost text at the cursor: the first line inline, the rest as virtual lines.
    first, *rest = text.split("\n")
    assert len(c["extmarks"]) == 1
    mark = c["extmarks"][0]
    assert (mark["row"], mark["col"]) == (COMPLETION_LINE - 1, len("    return "))
    if first:
        assert mark["virt_text"] == [first] and mark["virt_text_pos"] == "inline"
    assert (mark.get("virt_lines") or []) == rest
    # <Tab> inserted exactly the suggestion, cleared the ghost text and left the cursor after it.
    assert c["lines_after_accept"] == ("    return " + text).split("\n")
    assert c["ghost_after_accept"] == 0
    last = ("    return " + text).split("\n")[-1]
    assert c["cursor_after_accept"] == [COMPLETION_LINE + len(rest), len(last.encode())]


def test_explain_code_action_shows_markdown_float(run: dict[str, Any]) -> None:
    e = run["steps"]["explain"]
    assert e["markdown"].strip()
    assert len(e["floats"]) == 1
    assert e["floats"][0]["filetype"] == "markdown"
    assert "\n".join(e["floats"][0]["lines"]).strip() == e["markdown"].strip()


def test_explain_streams_into_the_float(run: dict[str, Any]) -> None:
    """The float opens with a placeholder when the command is sent, shows the explanation so far from each
    ``$/progress`` report of the ``codeassist/explain/N`` token before the command returns, and ends with the
    Markdown the command returned; all in one float, updated in place."""
    e = run["steps"]["explain"]
    final = e["markdown"]
    snaps = e["snapshots"]
    assert snaps, "the plugin fired no User CodeassistExplain"
    states = [s["state"] for s in snaps]
    assert states[0] == "pending" and states[-1] == "done", states
    assert snaps[0]["lines"] == ["codeassist: explaining…"] and snaps[0]["returned"] is False
    win = snaps[0]["win"]
    assert all(s["win"] == win and s.get("floating") and s.get("filetype") == "markdown" for s in snaps), snaps
    assert e["floats"][0]["win"] == win
    # The explanation under the "### codeassist: stats.py, lines 4–8" heading; reports carry the model's text so far.
    heading, _, body = final.partition("\n")
    assert heading.startswith("### codeassist: stats.py")
    body = body.strip()
    partial = ["\n".join(s["lines"]).strip() for s in snaps if s["state"] == "streaming"]
    assert partial, f"no report reached the float before the command returned: {states}"
    assert not any(s["returned"] for s in snaps if s["state"] == "streaming")
    for text in partial:
        assert text and body.startswith(text), (text, body)
    assert any(len(text) < len(body) for text in partial), "only the whole text was ever streamed"
    assert all(b.startswith(a) for a, b in itertools.pairwise(partial)), partial  # each report is the text so far
    done = snaps[-1]
    assert done["returned"] is True
    assert "\n".join(done["lines"]).strip() == final.strip()


def test_explain_progress_still_reaches_neovim(run: dict[str, Any]) -> None:
    """The plugin wraps $/progress for its client only: Neovim's handler still runs (LspProgress, vim.lsp.status()),
    seeing begin/report/end with the title; reports reach it without the explanation as their message."""
    progress = run["steps"]["explain"]["progress"]
    kinds = [p["kind"] for p in progress]
    assert kinds[0] == "begin" and kinds[-1] == "end" and "report" in kinds, kinds
    assert len({p["token"] for p in progress}) == 1
    assert progress[0]["token"].startswith("codeassist/explain/")
    assert all(p["title"] == "codeassist: explaining stats.py" for p in progress)
    reports = [p for p in progress if p["kind"] == "report"]
    assert all(p.get("message") is None for p in reports)
    assert all("codeassist: explaining stats.py" in p["status"] and "\n" not in p["status"] for p in reports)


def test_fix_code_action_edits_the_buffer(run: dict[str, Any]) -> None:
    f = run["steps"]["fix"]
    assert f["titles"], "the server offered no fix for the syntax error"
    assert all(t.startswith("codeassist: Fix") for t in f["titles"])
    # the title says how the fix will be checked (server/PROTOCOL.md, codeAction); older servers said the verdict
    assert f["applied_title"].endswith(
        ("(checked in the sandbox before applying)", "(unverified)", "(compiles)", "(verified: tests pass)")
    )
    after = f["lines_after"]
    line = f["line"]  # 1-based line of BROKEN when the fix was asked for
    accepted = run["steps"]["completion"]["lines_after_accept"]
    assert after[line - 1] != BROKEN
    # Only the broken function changed: everything above it is the buffer as the completion step left it.
    assert after[: COMPLETION_LINE - 1] == FIXTURE.split("\n")[: COMPLETION_LINE - 1]
    assert after[COMPLETION_LINE - 1 : COMPLETION_LINE - 1 + len(accepted)] == accepted
    assert "return a + b" in "\n".join(after[line - 1 :])
    compile("\n".join(after), "stats.py", "exec")  # the fixed buffer parses


def test_range_for_lines_covers_whole_lines(run: dict[str, Any]) -> None:
    assert run["range_for_lines"] == {
        "start": {"line": 0, "character": 0},
        "end": {"line": 1, "character": 0},
    }


def test_acceptance_reaches_the_local_stats(run: dict[str, Any]) -> None:
    """<Tab> took the first suggestion whole (counted, its characters still there at the 1 s and 2 s checks); the
    second was dismissed with <C-]>; :CodeassistStats reads the same counts from the server."""
    files = run["stats_files"]
    assert len(files) == 1, files
    (day,) = files[0]["days"].values()
    accepted = run["steps"]["completion"]["ghost"]
    assert day["shown"] >= 2 and day["accepted"] == day["accepted_full"] == 1, day
    assert day["chars_accepted"] == len(run["steps"]["completion"]["text"]), day
    assert day["dismissed"] >= 1, day
    for label in ("1s", "2s"):
        r = day["retained"][label]
        assert r["checks"] == 1 and r["chars_present"] == r["chars_accepted"] > 0, day
    assert accepted.strip() not in json.dumps(files), "the stats file holds code"
    fb = run["steps"]["feedback"]
    assert fb.get("stats_error") is None and fb["stats"]["today"]["accepted_full"] == 1, fb


def test_candidates_cycle_with_alt_brackets(run: dict[str, Any]) -> None:
    """<M-]> on a suggestion shown while typing (one candidate) asks again as an explicit request: the server sends
    several distinct candidates (its ``candidates`` setting), the greedy one first, and the second shows; <M-[> goes
    back to the first."""
    cycle = run["steps"]["feedback"]["cycle"]
    assert cycle["first_count"] == 1, cycle  # typing: one candidate
    texts = cycle["texts"]
    assert 2 <= len(texts) <= 3 and len(set(texts)) == len(texts), cycle
    assert texts[0] == cycle["first"], cycle  # the greedy suggestion typing showed comes first
    assert cycle["next_index"] == 2 and cycle["next"] == texts[1], cycle
    assert cycle["prev_index"] == 1 and cycle["prev"] == texts[0], cycle


def test_switches_log_and_builtin_detection(run: dict[str, Any]) -> None:
    fb = run["steps"]["feedback"]
    assert fb["enabled_after_toggle"] is False
    assert fb["off_global"] == {"requests": 0, "ghost": False}, fb  # typing sent nothing while off
    assert fb["disabled_filetypes"] == ["python"] and fb["off_filetype"] == {"requests": 0, "ghost": False}, fb
    assert fb["disabled_after"] == []
    assert fb["log"]["name"] == "codeassist://log" and fb["log"]["lines"] > 1, fb["log"]
    # Neovim 0.11 has no vim.lsp.inline_completion: the plugin's own ghost text is used (the 0.12 path is guarded)
    assert fb["builtin"] == {"present": False, "used": False}, fb["builtin"]


def test_benchmark_command_runs_and_opens_report(tmp_path: Path, nvim_exe: str, codeassist_exe: str) -> None:
    """:CodeassistBenchmark 1 runs a real ``codeassist bench repo --holes 1`` on a two-function repository (the
    model fills the hole, its own tests judge it in the sandbox: seconds), reports progress as messages and opens the
    report.md the CLI wrote in a new tab."""
    repo = tmp_path / "tiny"
    repo.mkdir()
    (repo / "pyproject.toml").write_text('[project]\nname = "tiny"\nversion = "0"\n')
    (repo / "calc.py").write_text(
        "def add(a, b):\n    total = a + b\n    return total\n\n\n"
        "def mul(a, b):\n    product = a * b\n    return product\n"
    )
    (repo / "test_calc.py").write_text(
        "from calc import add, mul\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\n"
        "def test_mul():\n    assert mul(2, 3) == 6\n"
    )
    out, bench_out = tmp_path / "result.json", tmp_path / "bench-out"
    env = {
        **os.environ,
        "CODEASSIST_PLUGIN_DIR": str(EDITORS / "nvim"),
        "CODEASSIST_SERVER": codeassist_exe,
        "CODEASSIST_TEST_OUT": str(out),
        "CODEASSIST_BENCH_OUT": str(bench_out),
        "CODEASSIST_TEST_TIMEOUT_MS": "300000",
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    proc = subprocess.run(
        [nvim_exe, "--headless", "--clean", "-u", str(INIT.parent / "bench.lua"), str(repo / "calc.py")],
        cwd=repo, env=env, capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip
    assert out.exists(), f"nvim wrote no result (rc {proc.returncode})\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    r = json.loads(out.read_text())
    assert r.get("error") is None, r
    assert r["command_exists"] is True
    assert r["job_id"] and r["job_id"] > 0, r
    # the plugin's server settings go along (--set), so the benchmark measures what this editor gets
    assert r["argv"] == [
        codeassist_exe, "bench", "repo", "--holes", "1", "--set", "max_tokens=16", "--out", str(bench_out), str(repo)
    ]  # fmt: skip
    assert r["ended"] is True, r["messages"]
    done = r["events"][-1]
    assert done["code"] == 0 and done["report"] == str(bench_out / "report.md"), r
    assert r["buffer"] == str(bench_out / "report.md") and r["tabs"] == 2, r
    assert r["buffer_head"].startswith("# codeassist bench repo: tiny"), r["buffer_head"]
    msgs = [m["msg"] for m in r["messages"]]
    assert any(m.startswith("codeassist: benchmarking ") for m in msgs), msgs
    assert any("1/1" in m for m in msgs), msgs  # the CLI's progress lines arrive as messages
    assert any(m.startswith("codeassist: benchmark of ") and "done" in m for m in msgs), msgs
