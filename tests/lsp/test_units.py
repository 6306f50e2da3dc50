"""Fast tests of the server's plain functions: position conversion, sync edits, settings, worker, result builders."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from codeassist.server import items
from codeassist.server.config import Settings, merge, section_of, workspace_file_settings
from codeassist.server.convert import UTF8, UTF16, UTF32, Pos, apply_change, lsp_line_starts, offset_of, position_of
from codeassist.server.worker import JobCancelled, Worker
from lsprotocol import types

from codeassist.api import CACHE_REUSE
from codeassist.errors import InputError

# -- convert ----------------------------------------------------------------------------------------------------------


def test_utf16_columns_count_surrogate_pairs() -> None:
    text = "a😀b漢c\n"
    assert offset_of(text, Pos(0, 1)) == 1
    assert offset_of(text, Pos(0, 3)) == 2  # after the emoji (2 units)
    assert offset_of(text, Pos(0, 4)) == 3  # after "b"
    assert offset_of(text, Pos(0, 5)) == 4  # after 漢 (1 unit in UTF-16)
    assert position_of(text, 3) == Pos(0, 4)
    with pytest.raises(InputError, match="splits a character"):
        offset_of(text, Pos(0, 2))


def test_other_encodings() -> None:
    text = "😀漢x"
    assert offset_of(text, Pos(0, 4 + 3), UTF8) == 2
    assert offset_of(text, Pos(0, 2), UTF32) == 2
    assert position_of(text, 3, UTF8) == Pos(0, 8)


def test_lsp_line_rules_crlf_cr_and_not_formfeed() -> None:
    text = "a\r\nb\rc\nd\x0ce\u2028f"
    assert lsp_line_starts(text) == [0, 3, 5, 7]
    assert offset_of(text, Pos(3, 5)) == len(text)
    assert offset_of(text, Pos(0, 1)) == 1
    with pytest.raises(InputError, match="past the end of line 0"):
        offset_of(text, Pos(0, 2))  # the \r\n is not part of the line's content
    with pytest.raises(InputError, match="line 4 is past the end"):
        offset_of(text, Pos(4, 0))


def test_incremental_edits() -> None:
    text = "x = 1\r\ny = '😀'\r\n"
    text = apply_change(text, Pos(1, 5), Pos(1, 7), "🙂🙂")
    assert text == "x = 1\r\ny = '🙂🙂'\r\n"
    text = apply_change(text, Pos(0, 0), Pos(1, 0), "")
    assert text == "y = '🙂🙂'\r\n"
    # out-of-range ends clamp (the spec's rule for didChange)
    assert apply_change("ab\n", Pos(0, 99), Pos(0, 99), "!") == "ab!\n"
    assert apply_change("ab\n", Pos(9, 0), Pos(9, 0), "z") == "ab\nz"


# -- config -----------------------------------------------------------------------------------------------------------


def test_settings_validation_keeps_good_values() -> None:
    s, errors = merge(Settings(), {"max_tokens": 32, "debounceMs": 10, "verify": "always", "threads": 0}, "test")
    assert s.max_tokens == 32 and s.debounce_ms == 10
    assert s.verify == "syntax" and s.threads is None
    assert len(errors) == 2 and any("verify must be one of" in e for e in errors)
    s2, errors = merge(s, {"languages": ["python", "cobol"], "bogus": 1}, "test")
    assert s2.languages is None and len(errors) == 2
    _, errors = merge(s, ["not", "a", "dict"], "test")
    assert errors == ["test: settings must be an object, got list"]
    assert section_of({"codeassist": {"model": "x"}}) == {"model": "x"}
    s3, errors = merge(Settings(), {"confidenceGate": "min_logprob:-2"}, "test")
    assert s3.confidence_gate == "min_logprob:-2" and not errors
    s4, errors = merge(s3, {"confidence_gate": "sometimes"}, "test")
    assert s4.confidence_gate == "min_logprob:-2" and len(errors) == 1 and "confidence_gate must be" in errors[0]


def test_workspace_files(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.codeassist]\nmax_tokens = 20\nverify = "off"\n')
    (tmp_path / ".codeassist.toml").write_text("debounce_ms = 5\n")
    found, errors = workspace_file_settings(str(tmp_path))
    assert not errors and [t for _, t in found] == [{"max_tokens": 20, "verify": "off"}, {"debounce_ms": 5}]
    (tmp_path / "pyproject.toml").write_text("[tool.codeassist\n")
    _, errors = workspace_file_settings(str(tmp_path))
    assert errors and "cannot read" in errors[0]


# -- worker -----------------------------------------------------------------------------------------------------------


def test_worker_newest_wins_and_debounce() -> None:
    worker = Worker(name="codeassist-inference-test")
    try:
        ran: list[int] = []
        jobs = [
            worker.submit(lambda c, i=i: ran.append(i) or i, kind="completion", key="doc", debounce_s=0.05)
            for i in range(50)
        ]
        assert jobs[-1].future.result(5) == 49
        assert ran == [49]
        for job in jobs[:-1]:
            with pytest.raises(JobCancelled):
                job.future.result(0)
        assert worker.stats.cancelled_pending == 49 and worker.stats.started == 1
    finally:
        worker.stop()
    assert not worker.alive


def test_worker_cancels_running_job_and_survives_cancelled_futures() -> None:
    worker = Worker(name="codeassist-inference-test")
    try:
        started = threading.Event()

        def slow(cancel: object) -> str:
            started.set()
            while not cancel():  # type: ignore[operator]
                time.sleep(0.005)
            return "stopped"

        first = worker.submit(slow, kind="completion", key="doc")
        assert started.wait(5)
        second = worker.submit(lambda c: "second", kind="completion", key="doc")
        assert second.future.result(5) == "second"
        with pytest.raises(JobCancelled):
            first.future.result(0)
        assert worker.stats.cancelled_running == 1

        # a caller cancelling the future itself (asyncio.wrap_future does this) stops the job, not the worker
        started.clear()
        third = worker.submit(slow, kind="explain")
        assert started.wait(5)
        third.future.cancel()
        assert worker.submit(lambda c: 42, kind="explain").future.result(5) == 42
        assert worker.alive
    finally:
        worker.stop()


def test_worker_timeout_cap() -> None:
    worker = Worker(name="codeassist-inference-test")
    try:

        def forever(cancel: object) -> str:
            while not cancel():  # type: ignore[operator]
                time.sleep(0.005)
            return "capped"

        assert worker.submit(forever, kind="completion", timeout_s=0.1).future.result(5) == "capped"
        assert worker.stats.timed_out == 1
    finally:
        worker.stop()


def test_wrap_future_cancellation() -> None:
    async def main() -> None:
        worker = Worker(name="codeassist-inference-test")
        try:
            job = worker.submit(lambda c: time.sleep(0.05) or "x", kind="completion", key="k", debounce_s=0.2)
            task = asyncio.ensure_future(asyncio.wrap_future(job.future))
            await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.3)
            assert worker.stats.cancelled_pending == 1 and worker.stats.started == 0
        finally:
            worker.stop()

    asyncio.run(main())


# -- items ------------------------------------------------------------------------------------------------------------


def test_completion_item_replaces_typed_word_and_sorts_last() -> None:
    text = "def f():\n    ret\n"
    cursor = text.index("ret") + 3
    result = items.completion_list(text, cursor, "urn 1")
    (item,) = result.items
    assert isinstance(item.text_edit, types.TextEdit)
    assert item.text_edit.new_text == "return 1"
    assert item.text_edit.range == types.Range(types.Position(1, 4), types.Position(1, 7))
    assert item.sort_text and item.sort_text > "zzzz" and item.detail == items.AI_LABEL
    assert items.completion_list(text, cursor, "").items == []


def test_inline_item_range_in_utf16() -> None:
    text = "s = '😀'\n"
    cursor = len("s = '😀")
    result = items.inline_items(text, cursor, cursor, "'")
    assert result.items[0].range == types.Range(types.Position(0, 7), types.Position(0, 7))


def test_fix_edit_is_the_changed_lines_with_the_documents_line_endings() -> None:
    text = "def f(x):\r\n    for y in x\r\n        pass\r\n    return x\r\n"
    new = "def f(x):\n    for y in x:\n        pass\n    return x\n"
    edit = items.fix_edit("file:///a.py", text, new, UTF16)
    assert edit.changes is not None
    (change,) = edit.changes["file:///a.py"]
    # only line 1 changed: the edit replaces it (with its CRLF) and nothing else
    assert change.range == types.Range(types.Position(1, 0), types.Position(2, 0))
    assert change.new_text == "    for y in x:\r\n"
    # a change that reaches the last line (no terminator) replaces up to its end, and can add lines
    (change,) = items.fix_edit("file:///a.py", "a\nb", "a\nc\nd", UTF16).changes["file:///a.py"]  # type: ignore[index]
    assert change.range == types.Range(types.Position(1, 0), types.Position(1, 1)) and change.new_text == "c\nd"


def test_inline_candidates_share_one_range_and_carry_their_own_ids() -> None:
    text = "x = ab\n"
    result = items.inline_candidates(text, 4, 6, [("abs(y)", "s1"), ("abc", "s2"), ("abe", None)])
    assert [i.insert_text for i in result.items] == ["abs(y)", "abc", "abe"]  # in order: the editor shows the first
    assert {(i.range.start.character, i.range.end.character) for i in result.items if i.range} == {(4, 6)}
    ids = [i.command.arguments[0]["id"] if i.command and i.command.arguments else None for i in result.items]
    assert ids == ["s1", "s2", None]
    assert items.inline_candidates(text, 6, 6, []).items == []
    assert items.inline_items(text, 6, 6, "").items == []  # the one-candidate form: nothing for an empty text


def test_candidates_setting_is_validated() -> None:
    assert Settings().candidates == 3
    assert merge(Settings(), {"candidates": 5}, "test")[0].candidates == 5
    kept, errors = merge(Settings(), {"candidates": 0}, "test")
    assert kept.candidates == 3 and len(errors) == 1 and "candidates" in errors[0], errors


def test_cache_reuse_setting_is_validated_and_reloads_the_model() -> None:
    assert Settings().cache_reuse == CACHE_REUSE == 0  # off: moved cells change answers (engine_config.py)
    merged = merge(Settings(), {"cacheReuse": 32}, "test")[0]
    assert merged.cache_reuse == 32 and merged.engine_key() != Settings().engine_key()  # a new context: a reload
    kept, errors = merge(Settings(), {"cache_reuse": -1}, "test")
    assert kept.cache_reuse == CACHE_REUSE and len(errors) == 1 and "cache_reuse" in errors[0], errors
