"""LSP robustness: 350+ seeded malformed and hostile inputs (framing, envelope, params, positions, encodings) against
the real ``codeassist serve`` over stdio, with the real model loaded.

After each case a probe request must be answered (the server is alive and still in sync with the byte stream), the
case must get what the specs owe it (see ``robust_cases``), nothing may be answered -32603 or carry a traceback, and no
model job may start (garbage must be rejected before model time: the suite's documents have their language disabled,
so any job would be a validation gap). At the end: clean shutdown, exit code 0, no traceback on stderr, and every byte
on stdout a well-formed frame.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest
from rawclient import RawServer
from robust_cases import RESULT, Case, Follow, envelope_cases, framing_cases
from robust_docs import TEXT, encoding_cases, param_cases, position_cases

pytestmark = [pytest.mark.model, pytest.mark.slow]

SEED = 17
SETTINGS = {"languages": ["go"], "max_tokens": 4, "debounce_ms": 0, "timeout_ms": 3000, "verify": "off",
            "verify_actions": "off"}  # fmt: skip
STATS = {"command": "codeassist.debugStats", "arguments": []}


def all_cases(root: str) -> list[Case]:
    rng = random.Random(SEED)
    uri = f"file://{root}/robust.py"
    return [*framing_cases(rng), *envelope_cases(rng), *param_cases(uri, rng), *position_cases(uri, rng),
            *encoding_cases(root)]  # fmt: skip


def code_of(reply: dict[str, Any]) -> int:
    return int(reply["error"]["code"]) if "error" in reply else RESULT


def run_follow(server: RawServer, follow: Follow) -> str | None:
    if not follow.codes:
        server.notify(follow.method, follow.params)
        return None
    reply = server.call(follow.method, follow.params, timeout=60)
    if code_of(reply) not in follow.codes:
        return f"follow-up {follow.method}: got {reply}, wanted {follow.codes}"
    if follow.text is not None and reply["result"]["text"] != follow.text:
        return f"follow-up {follow.method}: text {reply['result']['text']!r}, wanted {follow.text!r}"
    return None


def run_case(server: RawServer, case: Case, n: int) -> list[str]:
    """Send one case and a probe; return what went wrong (empty when all is well)."""
    nulls_before, notes_before = len(server.got.null_id_errors), server.notification_count()
    seen = len(server.replies_to(case.expect.msg_id)) if case.expect.msg_id is not None else 0
    for chunk in case.chunks:
        server.send_bytes(chunk)
        if len(case.chunks) > 1:
            time.sleep(0.002)
    probe = server.call("workspace/executeCommand", STATS, timeout=120)  # raises TimeoutError: a hang
    problems = [] if "result" in probe else [f"probe failed: {probe}"]
    nulls = [code_of(e) for e in server.got.null_id_errors[nulls_before:]]
    expect = case.expect
    if expect.kind == "reply":
        reply = server.wait_new_reply(expect.msg_id, seen, timeout=60)
        if code_of(reply) not in expect.codes:
            problems.append(f"answered {reply}, wanted one of {expect.codes}")
    elif expect.kind == "null_error" and expect.codes[0] not in nulls:
        problems.append(f"wanted an error with id null, code {expect.codes[0]}; null-id errors: {nulls}")
    elif expect.kind == "answered" and not nulls:
        reply = server.wait_new_reply(expect.msg_id, seen, timeout=60)
        if code_of(reply) not in expect.codes:
            problems.append(f"answered {reply}, wanted one of {expect.codes}")
    if expect.kind in ("reply", "silent") and nulls:
        problems.append(f"unexpected errors with id null: {nulls}")
    for follow in case.after:
        if (problem := run_follow(server, follow)) is not None:
            problems.append(problem)
    if case.notice is not None:
        deadline = time.monotonic() + 30
        while not any(case.notice in json.dumps(m) for m in server.got.notifications[notes_before:]):
            if time.monotonic() > deadline:
                problems.append(f"no window/showMessage saying {case.notice!r}")
                break
            time.sleep(0.02)
    return [f"#{n} {case.category}: {case.name}: {p}" for p in problems]


def test_hostile_inputs_keep_the_server_serving(tmp_path: Path) -> None:
    root = str(tmp_path)
    cases = all_cases(root)
    assert len(cases) >= 300
    server = RawServer(root)
    try:
        init = server.initialize(SETTINGS)
        assert "result" in init, init
        server.wait_status("ready", timeout=300)  # the real model: garbage must be refused before model time
        doc = {"uri": f"file://{root}/robust.py", "languageId": "python", "version": 1, "text": TEXT}
        server.notify("textDocument/didOpen", {"textDocument": doc})
        before = server.call("workspace/executeCommand", STATS)["result"]["worker"]
        failures: list[str] = []
        for n, case in enumerate(cases):
            failures += run_case(server, case, n)
        after = server.call("workspace/executeCommand", STATS)["result"]["worker"]
        answers = [r for rs in server.got.replies.values() for r in rs] + server.got.null_id_errors
        internal = [r for r in answers if code_of(r) == -32603 or "data" in r.get("error", {})]
        assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n" + "\n".join(failures[:30])
        assert not internal, f"internal errors / tracebacks sent to the client: {internal[:5]}"
        assert after["submitted"] == before["submitted"], "a hostile request started a model job"
        assert server.shutdown_and_exit() == 0
        assert not server.got.protocol_errors, server.got.protocol_errors[:5]
        assert "Traceback" not in server.stderr(), server.stderr()[-3000:]
        by_category: dict[str, int] = {}
        for case in cases:
            by_category[case.category] = by_category.get(case.category, 0) + 1
        print(f"robustness: {len(cases)} cases passed {by_category}")
    finally:
        server.close()
