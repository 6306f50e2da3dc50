"""The LSP lifecycle against the real ``codeassist serve`` over stdio: what comes before ``initialize``, after
``shutdown``, twice, or never, and the exit codes the spec asks for (0 after shutdown, 1 without).

No ``initialized`` is sent unless a test needs it, so no model loads: these are about ordering, not inference."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from rawclient import RawServer

NOT_INITIALIZED, INVALID_REQUEST, INVALID_PARAMS = -32002, -32600, -32602
STATS = {"command": "codeassist.debugStats", "arguments": []}


def init_params(root: Path, **extra: Any) -> dict[str, Any]:
    return {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {}, **extra}


def code(reply: dict[str, Any]) -> int:
    return int(reply["error"]["code"]) if "error" in reply else 0


@pytest.fixture
def server(tmp_path: Path) -> Any:
    s = RawServer(str(tmp_path))
    yield s
    s.close()


def test_before_initialize_requests_are_refused_and_initialize_still_works(server: RawServer, tmp_path: Path) -> None:
    uri = (tmp_path / "early.py").as_uri()
    assert code(server.call("workspace/executeCommand", STATS)) == NOT_INITIALIZED
    hover = {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}}
    assert code(server.call("textDocument/hover", hover)) == NOT_INITIALIZED
    assert code(server.call("shutdown")) == NOT_INITIALIZED  # and it must not end the session
    server.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                            "text": "x = 1\n"}})  # fmt: skip  # dropped (spec)
    reply = server.call("initialize", init_params(tmp_path))
    assert reply["result"]["capabilities"]["inlineCompletionProvider"] is not None
    early = server.call("workspace/executeCommand", {"command": "codeassist.debugDocument", "arguments": [uri]})
    assert code(early) == INVALID_PARAMS and "not open" in early["error"]["message"]
    assert code(server.call("initialize", init_params(tmp_path))) == INVALID_REQUEST  # only once
    assert server.shutdown_and_exit() == 0


def test_after_shutdown_only_exit_is_served(server: RawServer, tmp_path: Path) -> None:
    server.call("initialize", init_params(tmp_path))
    assert code(server.call("shutdown")) == 0
    after = server.call("workspace/executeCommand", STATS)
    assert code(after) == INVALID_REQUEST and "shutting down" in after["error"]["message"]
    assert code(server.call("shutdown")) == INVALID_REQUEST
    assert code(server.call("no/such/method")) == INVALID_REQUEST
    server.notify("exit")
    assert server.wait_exit() == 0
    assert "Traceback" not in server.stderr()


def test_exit_without_shutdown_is_code_1(server: RawServer, tmp_path: Path) -> None:
    server.call("initialize", init_params(tmp_path))
    server.notify("exit")
    assert server.wait_exit() == 1


def test_exit_before_initialize_is_code_1(server: RawServer) -> None:
    server.notify("exit")
    assert server.wait_exit() == 1


def test_end_of_input_ends_the_server_quietly(server: RawServer, tmp_path: Path) -> None:
    server.call("initialize", init_params(tmp_path))
    assert server.proc.stdin is not None
    server.proc.stdin.close()
    assert server.wait_exit() == 0
    assert "Traceback" not in server.stderr()


def test_a_rejected_initialize_can_be_retried(server: RawServer, tmp_path: Path) -> None:
    bad = server.call("initialize", {"processId": "x", "capabilities": 5})
    assert code(bad) == INVALID_PARAMS
    assert "result" in server.call("initialize", init_params(tmp_path))
    assert code(server.call("workspace/executeCommand", STATS)) == 0
    assert server.shutdown_and_exit() == 0


def test_a_second_initialized_does_not_reload_the_model(server: RawServer, tmp_path: Path) -> None:
    server.initialize({"max_tokens": 4})
    server.wait_status("ready", timeout=300)
    server.notify("initialized", {})
    stats = server.call("workspace/executeCommand", STATS)["result"]
    assert stats["worker"]["by_kind"].get("load") == 1 and stats["state"] == "ready"
    assert server.shutdown_and_exit() == 0
