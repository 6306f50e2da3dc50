"""The search for a verified replacement of a completion its tests rejected (codeassist/alternatives.py), over the
real engine (the embedded model) and the real sandbox.

The scenario does not depend on what the model's greedy answer is (CI's CPU gives different greedy outputs): the
greedy completion is generated first, and the project's test is then written to reject exactly that text while
asking for the function's specified behaviour, so the greedy one fails whatever it is. The assertions are about
honesty: a replacement, when one is found, differs from the failed text, passes its tests when they are run again
from scratch, answers from the typed-ahead cache, and the failed text is never offered again; the search stops when
cancelled, and never tries more than it was asked to.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from codeassist.sandbox import Sandbox
from verify_fixtures import CliRun, loaded_engine, make_project

from codeassist.alternatives import MAX_ALTERNATIVE_TEMPERATURE, find_verified_alternative, is_test_failure
from codeassist.completion import (
    ALTERNATIVE_TEMPERATURE,
    SAMPLES_PER_CANDIDATE,
    CompletionPolicy,
    CompletionService,
)
from codeassist.engine import CompletionRequest, CompletionResult, Engine, EngineConfig
from codeassist.verify import LABEL_TESTS, Verifier

pytestmark = [pytest.mark.model, pytest.mark.docker]

# An open question (any text summary will do), so samples differ from the greedy answer and from each other.
HOLE = 'def summarize(values):\n    """Return a short text summary of the values."""\n    text = \n    return text\n'
CURSOR = (2, 11)


def rejecting_test(greedy: str, *, sleep_s: float = 0.0) -> str:
    """A test that rejects the function whose source holds ``greedy`` at once, then (after ``sleep_s``: a slow
    test, for the cancellation) asks for the documented behaviour."""
    return (
        "import inspect\nimport time\n\nfrom stats import summarize\n\n\ndef test_summary():\n"
        f"    assert {greedy.strip()!r} not in inspect.getsource(summarize)\n"
        f"    time.sleep({sleep_s})\n"
        "    assert isinstance(summarize([1, 2, 3]), str)\n"
    )


def cursor_offset() -> int:
    """The code-point offset of ``CURSOR`` in ``HOLE``."""
    return len("\n".join(HOLE.split("\n")[: CURSOR[0]])) + 1 + CURSOR[1]


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    yield from loaded_engine(EngineConfig(time_budget_ms=None, max_tokens=48))


def setup(engine: Engine, sandbox: Sandbox, root: Path, *, sleep_s: float = 0.0) -> tuple[
    CompletionService, CompletionRequest, CompletionResult
]:  # fmt: skip
    """The project, the service, and the greedy completion after its tests failed (as the editor's background
    check leaves it: :meth:`CompletionService.finish_check`)."""
    make_project(root, {"stats.py": HOLE})
    path = str(root / "stats.py")
    engine.document_opened(path, HOLE, "python")
    service = CompletionService(engine, Verifier(sandbox), CompletionPolicy(verify="sandbox"))
    request = CompletionRequest(HOLE, *CURSOR, path=path)
    pending = service.complete_pending(request)
    greedy = pending.result
    assert greedy.text.strip(), "the model left the line empty"
    (root / "test_stats.py").write_text(rejecting_test(greedy.text, sleep_s=sleep_s))
    check = service.finish_check(request, greedy)
    assert is_test_failure(check), check.verdict
    return service, request, greedy


def test_a_replacement_is_verified_distinct_and_cached_and_the_failed_text_never_returns(
    engine: Engine, sandbox: Sandbox, tmp_path: Path
) -> None:
    service, request, greedy = setup(engine, sandbox, tmp_path / "p")
    search = find_verified_alternative(service, request, greedy, 3)
    assert search.tried <= 3 and search.samples <= 3 * SAMPLES_PER_CANDIDATE, search
    # every draw is accounted for: an alternative tried, or gated, empty or a duplicate
    assert search.samples == search.tried + search.gated + search.empty + search.duplicates, search
    cursor = cursor_offset()
    if search.found is not None:
        found = search.found
        assert search.stopped == "found"
        assert found.result.text.rstrip() != greedy.text.rstrip()
        assert found.check is not None and found.check.show and found.check.verdict.label == LABEL_TESTS
        # its tests pass when run again from scratch (a new verifier: no verdict cache)
        rerun = CompletionService(engine, Verifier(sandbox), CompletionPolicy(verify="sandbox"))
        again = rerun.check(request, found.result)
        assert again.show and again.verdict.label == LABEL_TESTS, again.verdict
        # asking again at the same place answers the replacement from the typed-ahead cache
        hit = service.cached(request, cursor)
        assert hit is not None and hit.text == found.result.text
    else:
        assert search.stopped == "exhausted" and service.cached(request, cursor) is None, search
    # every alternative that failed is remembered as failed, like the greedy one, and none is the greedy text
    for text in search.failed_texts:
        assert text.rstrip() != greedy.text.rstrip()
    # the failed greedy text is never offered again: the model's same answer is hidden without flashing it
    repeat = service.complete_pending(request)
    if repeat.result.text == greedy.text:
        assert repeat.check is not None and not repeat.check.show and repeat.text == ""


def test_the_confidence_gate_hides_no_alternative_and_repeats_are_never_tested(
    engine: Engine, sandbox: Sandbox, tmp_path: Path
) -> None:
    """With a confidence gate that hides every suggestion, alternatives are still drawn and tested: only their
    tests decide (none is counted "gated"). No alternative tested repeats the failed text or another one tested,
    and the temperature rises only after a repeat, within its bound."""
    service, request, greedy = setup(engine, sandbox, tmp_path / "p")
    saved = engine.config.confidence_gate
    engine.config.confidence_gate = ("first_margin", 1e9)  # hides anything the model says
    try:
        assert service.generate(request).gate == "unsure"  # the gate is on for everything else
        search = find_verified_alternative(service, request, greedy, 3)
    finally:
        engine.config.confidence_gate = saved
    assert search.gated == 0 and search.samples == search.tried + search.empty + search.duplicates, search
    assert ALTERNATIVE_TEMPERATURE <= search.temperature <= MAX_ALTERNATIVE_TEMPERATURE, search
    if search.duplicates == 0:
        assert search.temperature == ALTERNATIVE_TEMPERATURE, search
    tested = [greedy.text.rstrip(), *(text.rstrip() for text in search.failed_texts)]
    if search.found is not None:
        assert search.found.check is not None and search.found.check.verdict.label == LABEL_TESTS
        tested.append(search.found.result.text.rstrip())
    assert len(set(tested)) == len(tested), tested  # nothing was tested twice, the failed text least of all
    if search.tried == 0:
        pytest.skip(f"every one of {search.samples} samples repeated the failed text or came back empty")


def test_the_search_stops_when_cancelled_or_out_of_time(engine: Engine, sandbox: Sandbox, tmp_path: Path) -> None:
    """Cancelled before it starts: no sample drawn. A deadline already passed: the same. Cancelled while an
    alternative's (slow) test runs: the sandbox run is killed, nothing is remembered, no further sample is drawn."""
    service, request, greedy = setup(engine, sandbox, tmp_path / "p", sleep_s=60)
    assert find_verified_alternative(service, request, greedy, 3, lambda: True).samples == 0
    late = find_verified_alternative(service, request, greedy, 3, deadline=time.monotonic() - 1)
    assert (late.samples, late.stopped, late.found) == (0, "deadline", None)
    assert find_verified_alternative(service, request, greedy, 0).samples == 0
    verifier = service.verifier
    assert verifier is not None
    flag = threading.Event()
    runs = verifier.sandbox_runs

    def cancel_once_an_alternative_is_tested() -> None:
        deadline = time.monotonic() + 600
        while verifier.sandbox_runs < runs + 2 and time.monotonic() < deadline:  # compile, then the sleeping test
            time.sleep(0.05)
        time.sleep(1.0)
        flag.set()

    threading.Thread(target=cancel_once_an_alternative_is_tested, daemon=True).start()
    t0 = time.monotonic()
    search = find_verified_alternative(service, request, greedy, 3, flag.is_set)
    if search.tried == 0:
        pytest.skip(f"no distinct alternative in {search.samples} samples: nothing was tested to cancel")
    # the 60 s test was killed, and nothing was tried after it
    assert search.stopped == "cancelled" and search.found is None and time.monotonic() - t0 < 60, search
    assert service.cached(request, cursor_offset()) is None


def test_the_cli_prints_a_verified_alternative_or_nothing(tmp_path: Path, cli: CliRun) -> None:
    """``codeassist complete`` under ``--verify sandbox``: the same search. The project's test rejects what the CLI
    answers without checks (``--verify off``); with ``--alternatives 0`` nothing is printed (exit 1); with the
    default, either a different, verified completion is printed with what it replaces, or nothing."""
    root = make_project(tmp_path / "p", {"stats.py": HOLE})
    where = f"{root / 'stats.py'}:{CURSOR[0] + 1}:{CURSOR[1] + 1}"
    plain = cli("complete", where, "--verify", "off", "--json", timeout=300)
    assert plain.returncode == 0, plain.stderr
    greedy = json.loads(plain.stdout)["text"]
    if not greedy.strip():
        pytest.skip("the model left the line empty")
    (root / "test_stats.py").write_text(rejecting_test(greedy))
    off = cli("complete", where, "--alternatives", "0", "--json", timeout=300)
    if json.loads(off.stdout).get("hidden_text") != greedy:
        pytest.skip(f"the checked run answered differently from the unchecked one: {off.stdout[:300]}")
    assert off.returncode == 1 and json.loads(off.stdout)["text"] == "", off.stdout
    got = cli("complete", where, "--json", timeout=600)
    data = json.loads(got.stdout)
    search = data["alternatives"]
    assert search["tried"] <= 3 and search["samples"] <= 3 * SAMPLES_PER_CANDIDATE, search
    if search["stopped"] == "found":
        assert got.returncode == 0 and data["text"].rstrip() != greedy.rstrip() and search["replaces"] == greedy
        assert data["verification"]["label"] == LABEL_TESTS and data["verification"]["shown"] is True, data
    else:
        assert got.returncode == 1 and data["text"] == "" and search["replaces"] is None, data
