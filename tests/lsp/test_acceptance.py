"""Local acceptance stats through the real server over stdio (real model): every inline item carries its
``codeassist.didAccept`` command; ``codeassist/didShow``, ``codeassist/didAccept`` (full, partial) and
``codeassist/didDismiss`` are counted in ``$XDG_DATA_HOME/codeassist/stats/`` (a temporary folder here); the
retention checks (1 s and 4 s here, 30 s and 2 min by default) count the characters still in the document; nothing
of the code is stored; ``codeassist stats`` prints the counts and ``--delete`` removes them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsphelp import (
    SERVER_COMMAND,
    command,
    edit,
    inline_params,
    make_client,
    open_doc,
    start,
    statuses,
)
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

WORKSPACE = Path(tempfile.mkdtemp(prefix="codeassist-accept-"))
# a project, as an editor's workspace is: a file in no project is alone (no workspace index of its folder)
(WORKSPACE / "pyproject.toml").write_text('[project]\nname = "accept"\n')
DATA = Path(tempfile.mkdtemp(prefix="codeassist-data-"))
ENV = {**os.environ, "XDG_DATA_HOME": str(DATA)}
CONFIG = ClientServerConfig(server_command=SERVER_COMMAND, client_factory=make_client, server_env=ENV)
SETTINGS = {"max_tokens": 12, "debounce_ms": 0, "timeout_ms": 60000, "retention_checks_s": [1, 4]}
CODE = "def add(a, b):\n    return \n"


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient) -> Any:
    await start(lsp_client, WORKSPACE, SETTINGS)
    yield
    await lsp_client.shutdown_session()


def stats_file() -> dict[str, Any]:
    files = list((DATA / "codeassist" / "stats").glob("*.json"))
    assert len(files) == 1, files
    data: dict[str, Any] = json.loads(files[0].read_text())
    return data


def today(data: dict[str, Any] | None = None) -> dict[str, Any]:
    days = (data or stats_file())["days"]
    assert len(days) == 1, days
    return next(iter(days.values()))  # type: ignore[no-any-return]


async def until(what: str, predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (AssertionError, FileNotFoundError, KeyError, StopIteration):
            value = None
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def suggest(client: LanguageClient, name: str, code: str = CODE) -> tuple[str, str, str]:
    """Open ``name`` with ``code`` and ask at the end of line 2: (uri, insertText, suggestion id)."""
    u = (WORKSPACE / name).as_uri()
    open_doc(client, u, code)
    result = await client.text_document_inline_completion_async(inline_params(u, (1, 11), invoked=False))
    assert result is not None and len(result.items) == 1, result
    item = result.items[0]
    text = str(item.insert_text)
    assert len(text) >= 3, f"the model suggested too little to test with: {text!r}"
    assert item.command is not None and item.command.command == "codeassist.didAccept", item
    sid = item.command.arguments[0]["id"]  # type: ignore[index]
    assert isinstance(sid, str) and sid
    return u, text, sid


def notify(client: LanguageClient, method: str, params: dict[str, Any]) -> None:
    client.protocol.notify(method, params)


async def test_full_accept_through_the_item_command_and_retention(client: LanguageClient) -> None:
    u, text, sid = await suggest(client, "full.py")
    notify(client, "codeassist/didShow", {"id": sid})
    notify(client, "codeassist/didShow", {"id": sid})  # shown again (the editor asked again): counted once
    edit(client, u, 2, (1, 11), (1, 11), text)  # what the editor inserts on Tab
    await command(client, "codeassist.didAccept", {"id": sid})  # the item's command, as the editor runs it
    day = await until("the accepted suggestion's 4s retention check", lambda: "4s" in today()["retained"] and today())
    assert (day["shown"], day["accepted"], day["accepted_full"], day["accepted_partial"]) == (1, 1, 1, 0), day
    assert day["chars_shown"] == len(text) and day["chars_accepted"] == len(text), day
    for label in ("1s", "4s"):
        assert day["retained"][label] == {"checks": 1, "chars_accepted": len(text), "chars_present": len(text)}, day
    raw = next((DATA / "codeassist" / "stats").glob("*.json")).read_text()
    assert text.strip() not in raw and "return" not in raw and "add" not in raw, raw  # counts only, no code
    assert stats_file()["workspace"] == str(WORKSPACE)
    status = statuses(client)[-1]
    assert status["acceptance"]["accepted"] == 1 and status["acceptance"]["charsAccepted"] == len(text), status


async def test_partial_accept_then_the_text_is_deleted(client: LanguageClient) -> None:
    before = today()
    u, text, sid = await suggest(client, "partial.py")
    notify(client, "codeassist/didShow", {"id": sid})
    part = text[:2]
    edit(client, u, 2, (1, 11), (1, 11), part)  # accept-next-word: the first characters only
    notify(client, "codeassist/didAccept", {"id": sid, "acceptedLength": len(part)})
    day = await until("the partial acceptance", lambda: today()["accepted_partial"] == 1 and today())
    assert day["accepted"] == before["accepted"] + 1 and day["accepted_full"] == before["accepted_full"]
    assert day["chars_accepted"] == before["chars_accepted"] + len(part)
    day = await until("the 1s check", lambda: today()["retained"]["1s"]["checks"] == 2 and today())
    assert day["retained"]["1s"]["chars_present"] == before["retained"]["1s"]["chars_present"] + len(part)
    edit(client, u, 3, (1, 11), (1, 11 + len(part)), "")  # the user deletes what was accepted
    day = await until("the 4s check", lambda: today()["retained"]["4s"]["checks"] == 2 and today())
    assert day["retained"]["4s"]["chars_accepted"] == before["retained"]["4s"]["chars_accepted"] + len(part)
    assert day["retained"]["4s"]["chars_present"] == before["retained"]["4s"]["chars_present"], day


async def test_dismissed_explicitly_and_by_the_next_suggestion(client: LanguageClient) -> None:
    before = today()
    _u, _text, first = await suggest(client, "dismiss.py")
    notify(client, "codeassist/didShow", {"id": first})
    notify(client, "codeassist/didDismiss", {"id": first})  # Escape
    await until("the explicit dismissal", lambda: today()["dismissed"] == before["dismissed"] + 1)
    _u, _text, second = await suggest(client, "ignored.py")
    notify(client, "codeassist/didShow", {"id": second})
    _u, _text, third = await suggest(client, "ignored.py", "def sub(a, b):\n    return \n")
    notify(client, "codeassist/didShow", {"id": third})  # the second was neither accepted nor dismissed
    day = await until("the implicit dismissal", lambda: today()["dismissed"] == before["dismissed"] + 2 and today())
    assert day["shown"] == before["shown"] + 3 and day["accepted"] == before["accepted"], day
    notify(client, "codeassist/didAccept", {"id": "no-such-id"})  # unknown ids are ignored
    notify(client, "codeassist/didShow", {"nothing": 1})
    summary = await command(client, "codeassist.stats")
    assert summary["today"]["shown"] == day["shown"] and summary["today"]["rates"]["acceptance"] == pytest.approx(
        day["accepted"] / day["shown"]
    )


async def test_cli_prints_and_deletes_the_stats(client: LanguageClient) -> None:
    exe = [sys.executable, "-m", "codeassist"]
    out = subprocess.run([*exe, "stats", "--json"], env=ENV, capture_output=True, text=True, check=True, timeout=60)
    found = json.loads(out.stdout)["workspaces"]
    assert [w["workspace"] for w in found] == [str(WORKSPACE)]
    assert found[0]["today"]["accepted"] == 2 and found[0]["total"]["accepted"] == 2
    text = subprocess.run([*exe, "stats"], env=ENV, capture_output=True, text=True, check=True, timeout=60).stdout
    assert str(WORKSPACE) in text and "2 accepted" in text and "still there after 4s" in text, text
    gone = subprocess.run([*exe, "stats", "--delete"], env=ENV, capture_output=True, text=True, check=True, timeout=60)
    assert "deleted 1 stats file" in gone.stdout, gone.stdout
    assert not list((DATA / "codeassist").glob("stats/*.json"))
    out = subprocess.run([*exe, "stats", "--json"], env=ENV, capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(out.stdout)["workspaces"] == []


async def test_delete_command_removes_this_workspace_stats(client: LanguageClient) -> None:
    _u, _text, sid = await suggest(client, "again.py")
    notify(client, "codeassist/didShow", {"id": sid})
    await until("a new stats file", lambda: today()["shown"] == 1)
    deleted = await command(client, "codeassist.deleteStats")
    assert len(deleted["deleted"]) == 1 and not Path(deleted["deleted"][0]).exists(), deleted
    await until("a status with the counts reset", lambda: statuses(client)[-1]["acceptance"]["shown"] == 0)


async def test_a_closed_document_is_checked_against_the_saved_file(client: LanguageClient) -> None:
    path = WORKSPACE / "closed.py"
    path.write_text(CODE)
    u, text, sid = await suggest(client, "closed.py")
    edit(client, u, 2, (1, 11), (1, 11), text)
    await command(client, "codeassist.didAccept", {"id": sid})
    path.write_text(CODE.replace("return ", "return " + text))  # saved, then closed by the editor
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=u)))
    day = await until("the 1s check of the closed document", lambda: "1s" in today()["retained"] and today())
    assert day["retained"]["1s"] == {"checks": 1, "chars_accepted": len(text), "chars_present": len(text)}, day
