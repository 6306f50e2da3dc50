"""No reply is ever lost: 3,000+ requests over real stdio while the real model loads (cold start) and reloads twice
(settings changes), then after it is ready.

Why this shape: llama-cpp-python used to point fd 1 — the LSP channel — at /dev/null during every load, so replies
written in that window vanished (522 of 4,500 across 15 cold starts) and the editor waited forever. The requests are
cheap ones (commands, code actions, completions capped at a few tokens and ``timeout_ms``, errors by design) so the
count fits in a minute or two; each must come back exactly once with a result or the JSON-RPC error it deserves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rawclient import RawServer

pytestmark = [pytest.mark.model, pytest.mark.slow]

SETTINGS = {"max_tokens": 2, "debounce_ms": 20, "timeout_ms": 300, "verify": "off", "verify_actions": "off"}
PER_PHASE = 1050
CODE = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return \n"
OK, INVALID_PARAMS, METHOD_NOT_FOUND = 0, -32602, -32601


def request_mix(uri: str) -> list[tuple[str, Any, tuple[int, ...]]]:
    """(method, params, acceptable codes; 0 = a result)."""
    pos = {"line": 5, "character": 11}
    doc = {"uri": uri}
    span = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 3}}
    past_end = {"line": 99, "character": 0}
    return [
        ("workspace/executeCommand", {"command": "codeassist.debugStats", "arguments": []}, (OK,)),
        ("textDocument/inlineCompletion", {"textDocument": doc, "position": pos, "context": {"triggerKind": 2}}, (OK,)),
        ("workspace/executeCommand", {"command": "codeassist.debugDocument", "arguments": [uri]}, (OK,)),
        ("textDocument/completion", {"textDocument": doc, "position": pos}, (OK,)),
        ("textDocument/codeAction", {"textDocument": doc, "range": span, "context": {"diagnostics": []}}, (OK,)),
        (
            "textDocument/inlineCompletion",
            {"textDocument": doc, "position": past_end, "context": {"triggerKind": 2}},
            (INVALID_PARAMS,),
        ),
        ("textDocument/hover", {"textDocument": doc, "position": pos}, (METHOD_NOT_FOUND,)),
        ("codeassist/noSuchRequest", {}, (METHOD_NOT_FOUND,)),
    ]


class Ledger:
    """Every request sent, with what it may be answered."""

    def __init__(self, server: RawServer) -> None:
        self.server = server
        self.sent: dict[int, tuple[str, tuple[int, ...]]] = {}

    def send(self, method: str, params: Any, codes: tuple[int, ...]) -> None:
        self.sent[self.server.request(method, params)] = (method, codes)

    def problems(self, timeout: float) -> tuple[list[str], int]:
        """Wait for every reply; return (problems, lost)."""
        deadline, problems, lost = time.monotonic() + timeout, [], 0
        for msg_id, (method, codes) in self.sent.items():
            try:
                reply = self.server.wait_reply(msg_id, timeout=max(0.05, deadline - time.monotonic()))
            except TimeoutError:
                lost += 1
                continue
            replies = self.server.replies_to(msg_id)
            code = int(reply["error"]["code"]) if "error" in reply else OK
            if len(replies) != 1 or code not in codes:
                problems.append(f"{method} #{msg_id}: {replies}")
        return problems, lost


def send_phase(ledger: Ledger, mix: list[tuple[str, Any, tuple[int, ...]]], loaded: Callable[[], bool]) -> int:
    """Send the mix round-robin in small bursts until the phase's load is over and PER_PHASE requests went out."""
    sent = 0
    while sent < PER_PHASE or not loaded():
        for method, params, codes in mix:
            ledger.send(method, params, codes)
        sent += len(mix)
        time.sleep(0.02 if sent < PER_PHASE else 0.2)
    return sent


def test_no_reply_is_lost_across_a_cold_start_and_two_reloads(tmp_path: Path) -> None:
    server = RawServer(str(tmp_path))
    uri = (tmp_path / "calc.py").as_uri()
    (tmp_path / "calc.py").write_text(CODE)
    ledger = Ledger(server)
    mix = request_mix(uri)
    try:
        params = {"processId": None, "rootUri": tmp_path.as_uri(), "initializationOptions": SETTINGS,
                  "capabilities": {"window": {"workDoneProgress": True}}}  # fmt: skip
        assert "result" in server.call("initialize", params)
        server.notify("initialized", {})
        item = {"uri": uri, "languageId": "python", "version": 1, "text": CODE}
        server.notify("textDocument/didOpen", {"textDocument": item})
        counts, ready_at = [], 0
        for phase, n_ctx in enumerate([None, 2048, 3072]):
            mark = server.notification_count()
            if n_ctx is not None:  # a settings change that reloads the model
                changed = {"settings": {"codeassist": {**SETTINGS, "n_ctx": n_ctx}}}
                server.notify("workspace/didChangeConfiguration", changed)
                server.wait_status("loading", timeout=60, after=mark)

            def loaded(mark: int = mark) -> bool:
                try:
                    server.wait_status("ready", timeout=0.001, after=mark)
                except TimeoutError:
                    return False
                return True

            counts.append(send_phase(ledger, mix, loaded))
            ready_at = server.notification_count()
            assert phase == 0 or server.wait_status("ready", timeout=1, after=mark)
        problems, lost = ledger.problems(timeout=180)
        stats = server.call("workspace/executeCommand", {"command": "codeassist.debugStats", "arguments": []})
        assert lost == 0, f"{lost} of {len(ledger.sent)} requests never answered"
        assert not problems, f"{len(problems)} wrong answers:\n" + "\n".join(problems[:20])
        assert stats["result"]["worker"]["by_kind"]["load"] == 3 and stats["result"]["state"] == "ready"
        assert server.shutdown_and_exit() == 0
        assert not server.got.protocol_errors, server.got.protocol_errors[:5]
        assert "Traceback" not in server.stderr(), server.stderr()[-3000:]
        assert len(ledger.sent) >= 3000 and ready_at > 0
        print(f"stress: {len(ledger.sent)} requests (per phase {counts}), 0 lost, 0 wrong, 3 loads")
    finally:
        server.close()
