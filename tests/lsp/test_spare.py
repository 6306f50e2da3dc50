"""A generation the user only typed on from finishes into the typed-ahead cache (server/completion.py ``complete``):
the worker's rules for sparing it and for a job that outlives its caller (unit tests on the real worker), the state
comparison, and the whole path over stdio with the real model: VS Code cancels the older request at each keystroke,
and the generation still finishes instead of being thrown away."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_lsp
from codeassist.server.completion import SPARE_TYPED_MAX, Prepared, Typed, debounce_ms
from codeassist.server.config import Settings
from codeassist.server.debounce import AdaptiveDebounce
from codeassist.server.status import Status
from codeassist.server.worker import CancelCheck, Job, JobCancelled, Worker
from lsphelp import CONFIG, debug_stats, edit, open_doc, send_raw, start, statuses, wait_stats, worker_idle
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

# -- the state comparison -------------------------------------------------------------------------------------------


U = "file:///w/f.py"


def test_typed_on_from_extends() -> None:
    old = Typed(U, "def f(x):\n    return \n", 21)
    assert Typed(U, "def f(x):\n    return x\n", 22).extends(old)
    assert Typed(U, "def f(x):\n    return x + \n", 25).extends(old)
    assert Typed(U, old.text, old.cursor).extends(old)  # asked again at the same place


def test_not_typed_on_from() -> None:
    old = Typed(U, "def f(x):\n    return \n", 21)
    assert not Typed(U, "def f(x):\n    retur\n", 20).extends(old)  # a deletion
    assert not Typed(U, "def g(x):\n    return x\n", 22).extends(old)  # an edit before the cursor
    assert not Typed(U, "def f(x):\n    return x)\n", 22).extends(old)  # the suffix changed (an auto-closed bracket)
    assert not Typed(U, "def f(x):\n    return \n    \n", 26).extends(old)  # a line break typed
    assert not Typed(U, "def f(x):\n    return 1\n", 21).extends(old)  # the cursor did not move with the text
    assert not Typed("file:///w/g.py", old.text, old.cursor).extends(old)  # another document
    long = "x" * (SPARE_TYPED_MAX + 1)
    assert not Typed(U, old.text[:21] + long + old.text[21:], 21 + len(long)).extends(old)


def test_a_spared_generations_check_is_reported_by_the_hit_that_serves_it() -> None:
    """A spared generation's request was cancelled, so nobody reported its check: the first typed-ahead hit of its
    answer does (once); a hit of another suggestion keeps the status's last check; an answered generation drops only
    itself, not a newer one of the same key."""
    status = Status.__new__(Status)  # only the bookkeeping: no server behind it
    check = {"label": "compiles", "shown": True}
    spared: Any = SimpleNamespace(text="um(values) / len(values)", status_json=lambda: check)
    status.unreported = {"k": spared}
    assert status.take_unreported("k", "(values) / len(values)") == check
    assert status.take_unreported("k", "(values) / len(values)") is None  # reported once
    status.unreported["k"] = spared
    assert status.take_unreported("k", "max(values)") is None  # not its answer
    assert status.take_unreported("other", "x") is None
    older: Any = SimpleNamespace(text="x", status_json=lambda: check)
    status.unreported["k"] = spared
    status.reported("k", older)  # an older generation answered after this one finished
    assert status.unreported["k"] is spared
    status.reported("k", spared)
    assert "k" not in status.unreported


# -- the worker -----------------------------------------------------------------------------------------------------


def _slow(started: threading.Event, release: threading.Event) -> Any:
    def fn(cancel: CancelCheck) -> str:
        started.set()
        while not release.is_set():
            if cancel():
                return "stopped"
            time.sleep(0.005)
        return "finished"

    return fn


def test_a_spared_job_finishes_and_the_newer_one_runs_after_it() -> None:
    worker = Worker(name="codeassist-inference-test")
    try:
        started, release = threading.Event(), threading.Event()
        first = worker.submit(_slow(started, release), kind="completion", key="doc", tag="a", outlive_caller=True)
        assert started.wait(5)
        first.future.cancel()  # the editor cancelled the older request ($/cancelRequest)
        second = worker.submit(lambda c: "second", kind="completion", key="doc", spare=lambda old: old.tag == "a")
        assert not first.cancelled.is_set() and worker.busy
        release.set()
        assert second.future.result(5) == "second"
        assert worker.stats.completed == 2 and worker.stats.cancelled_running == 0
    finally:
        worker.stop()


def test_a_job_not_spared_is_cancelled_and_an_orphan_yields_to_other_work() -> None:
    worker = Worker(name="codeassist-inference-test")
    try:
        started, release = threading.Event(), threading.Event()
        first = worker.submit(_slow(started, release), kind="completion", key="doc", outlive_caller=True)
        assert started.wait(5)
        second = worker.submit(lambda c: "second", kind="completion", key="doc", spare=lambda old: False)
        assert second.future.result(5) == "second"
        with pytest.raises(JobCancelled):
            first.future.result(0)

        # abandoned by its caller and not spared by anyone: the next real job of another key stops it
        started.clear()
        third = worker.submit(_slow(started, release := threading.Event()), kind="completion", key="doc",
                              outlive_caller=True)  # fmt: skip
        assert started.wait(5)
        third.future.cancel()
        time.sleep(0.05)
        assert not third.cancelled.is_set()  # running on for the cache
        assert worker.submit(lambda c: "other", kind="explain", key="other").future.result(5) == "other"
        assert third.cancelled.is_set()

        # a job that does not outlive its caller stops when the caller gives up
        started.clear()
        fourth = worker.submit(_slow(started, threading.Event()), kind="completion", key="doc")
        assert started.wait(5)
        fourth.future.cancel()
        deadline = time.monotonic() + 5
        while worker.busy and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not worker.busy and fourth.cancelled.is_set()
    finally:
        release.set()
        worker.stop()


# -- the debounce ----------------------------------------------------------------------------------------------------


def test_the_adaptive_debounce_applies_only_where_a_running_generation_would_be_cancelled() -> None:
    """A rhythm of 0.3 s between keys adapts the debounce up to 0.375-0.6 s; a request that cancels nothing (the worker
    is idle, or runs the generation this request spares) waits the configured debounce_ms alone."""
    settings = Settings(debounce_ms=20, debounce_max_ms=2000)
    debounce, worker = AdaptiveDebounce(), Worker(name="codeassist-inference-test")
    for i in range(8):
        debounce.observe(100.0 + 0.3 * i)
    ls: Any = SimpleNamespace(settings=settings, worker=worker, debounce=debounce)
    old = Typed(U, "x = \n", 4)
    prep = Prepared(doc=None, text="x = a\n", cursor=5, line=0, column=5)  # type: ignore[arg-type]
    typed_on = Typed(U, prep.text, prep.cursor)

    def spare(job: Job) -> bool:
        return isinstance(job.tag, Typed) and typed_on.extends(job.tag)

    try:
        assert debounce_ms(ls, prep) >= 0.3 * 1000  # no sparing asked for (verify = sandbox): adapted
        assert debounce_ms(ls, prep, spare) == 20  # idle worker
        started, release = threading.Event(), threading.Event()
        worker.submit(_slow(started, release), kind="completion", key="doc", tag=old)
        assert started.wait(5)
        assert debounce_ms(ls, prep, spare) == 20  # it spares the running generation
        assert debounce_ms(ls, prep, lambda job: False) >= 0.3 * 1000  # it would cancel it: adapted
        release.set()
    finally:
        worker.stop()


# -- over stdio, the real model ---------------------------------------------------------------------------------------

WORKSPACE = Path(tempfile.mkdtemp(prefix="codeassist-spare-"))
SETTINGS: dict[str, Any] = {"max_tokens": 96, "debounce_ms": 0, "timeout_ms": 60000, "verify": "syntax",
                            "prefetch": False}  # fmt: skip
DOC = 'def bubble_sort(items):\n    """Sort a list in place with bubble sort and return it."""\n    \n'


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient) -> Any:
    await start(lsp_client, WORKSPACE, SETTINGS)
    yield
    await lsp_client.shutdown_session()


def _request(uri: str, line: int, character: int) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character},
            "context": {"triggerKind": 2}}  # fmt: skip


@pytest.mark.model
@pytest.mark.asyncio(loop_scope="module")
async def test_typing_on_does_not_throw_the_running_generation_away(client: LanguageClient) -> None:
    """VS Code's sequence at a keystroke: didChange, $/cancelRequest for the outstanding request, a new request. The
    generation running for the older request is not stopped: it finishes (counted as completed, not cancelled), and
    the newer request is answered after it."""
    u = (WORKSPACE / "sort.py").as_uri()
    open_doc(client, u, DOC)
    before = await debug_stats(client)
    ran = before["worker"]["by_kind"].get("completion", 0)
    first_id, first = send_raw(client, "textDocument/inlineCompletion", _request(u, 2, 4))
    running = await wait_stats(
        client, lambda s: s["worker"]["by_kind"].get("completion", 0) > ran and s["workerBusy"], 60, 0.02
    )
    edit(client, u, 2, (2, 4), (2, 4), "n")  # typed at the cursor: the state the generation runs for, typed on
    client.protocol.notify("$/cancelRequest", types.CancelParams(id=first_id))
    _, second = send_raw(client, "textDocument/inlineCompletion", _request(u, 2, 5))
    with pytest.raises(JsonRpcException) as err:
        await asyncio.wait_for(first, 120)
    assert err.value.code == -32800  # the editor's request is cancelled; its generation is not
    await asyncio.wait_for(second, 120)  # answered (possibly with nothing: the model's text may not start with "n")
    after = await wait_stats(client, worker_idle, 120)
    w0, w1 = running["worker"], after["worker"]
    assert w1["cancelled_running"] == w0["cancelled_running"], (w0, w1)
    assert w1["completed"] >= w0["completed"] + 1, (w0, w1)


@pytest.mark.model
@pytest.mark.asyncio(loop_scope="module")
async def test_the_status_reports_the_check_of_a_spared_generation(client: LanguageClient) -> None:
    """Asked again at the same place while the generation of a cancelled request runs: the newer request waits for
    it and answers from the typed-ahead cache — and the status reports that generation's check (before, an editor
    whose requests were all spared saw latencies and never a check: the real VS Code test caught it)."""
    u = (WORKSPACE / "again.py").as_uri()
    open_doc(client, u, DOC)
    ran = (await debug_stats(client))["worker"]["by_kind"].get("completion", 0)
    first_id, first = send_raw(client, "textDocument/inlineCompletion", _request(u, 2, 4))
    await wait_stats(client, lambda s: s["worker"]["by_kind"].get("completion", 0) > ran and s["workerBusy"], 60, 0.02)
    client.protocol.notify("$/cancelRequest", types.CancelParams(id=first_id))
    since = len(statuses(client))
    _, second = send_raw(client, "textDocument/inlineCompletion", _request(u, 2, 4))
    with pytest.raises(JsonRpcException):
        await asyncio.wait_for(first, 120)
    raw = await asyncio.wait_for(second, 120)  # raw JSON (a list object or a bare list), or null
    answer = raw["items"] if isinstance(raw, dict) else getattr(raw, "items", raw)
    answered = [s for s in statuses(client)[since:] if s.get("answered")]
    assert answered, "no status after the answer"
    if answer:  # the model may have nothing to say here (then there is no check to report)
        assert answered[-1]["lastCheck"] is not None, answered[-1]
        assert answered[-1]["lastCheckAnswer"] == answered[-1]["answered"], answered[-1]
