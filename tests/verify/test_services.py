"""The completion service end to end (real model, real sandbox): a sandbox-verified completion parses its file
once per candidate, and a verification can be cancelled mid-run."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from codeassist.sandbox import Sandbox
from verify_fixtures import BUGGY_STATS, TEST_STATS, loaded_engine, make_project

from codeassist.completion import CompletionPolicy, CompletionService
from codeassist.context.parsing import PARSES
from codeassist.engine import CompletionRequest, Engine, EngineConfig
from codeassist.verify import CHECK_CANCELLED, LABEL_UNVERIFIED, Change, Verifier

# A function body left open after its loop header: the model completes the loop (several lines) and the project's
# tests judge it.
HOLE = (
    'def count_positive(numbers):\n    """Return how many numbers in the list are greater than zero."""\n'
    "    count = 0\n    for n in numbers:\n        \n    return count\n"
)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    yield from loaded_engine(EngineConfig(time_budget_ms=None, max_tokens=48))


@pytest.mark.model
@pytest.mark.docker
def test_a_sandbox_verified_completion_parses_its_file_once_per_candidate(
    engine: Engine, sandbox: Sandbox, tmp_path: Path
) -> None:
    """Before the services, one sandbox-verified completion parsed the file 9 times (the gate twice, the syntax tier
    with a new parser per call, Python's parser for every AST question). Now: the document once when it is opened
    (as the server's didOpen does), then the candidate once with tree-sitter and once with Python's parser (and
    the test file once, to select its test functions); every later question (the verifier's syntax tier, the
    enclosing function, test selection, doctests) is a cache hit."""
    # a test file no earlier test parsed: its parse is cached by content for the whole process (test_verify.py has
    # the same TEST_STATS), and this test counts the first one
    tests = TEST_STATS + f"\n# {uuid.uuid4().hex}\n"
    root = make_project(tmp_path / "p", {"stats.py": HOLE, "test_stats.py": tests})
    path = str(root / "stats.py")
    engine.document_opened(path, HOLE, "python")
    ts0, py0 = PARSES.tree_sitter, PARSES.python
    service = CompletionService(engine, Verifier(sandbox), CompletionPolicy(verify="sandbox"))
    done = service.complete(CompletionRequest(HOLE, 4, 8, path=path))
    assert done.check is not None and "\n" in done.result.text.strip(), done.result.to_json()
    assert done.result.gate == "ok"  # a truncated candidate is a new candidate: more parses, by design
    assert done.check.verdict.tiers[-1].tier == "tests", done.check.verdict  # the sandbox ran the tests
    # the candidate once with each parser, plus the test file once with Python's (cached by content: test selection
    # names the test functions that exercise the edit)
    assert (PARSES.tree_sitter - ts0, PARSES.python - py0) == (1, 2)
    again = service.complete(CompletionRequest(HOLE, 4, 8, path=path))
    assert again.check is not None and PARSES.python - py0 == 2  # the same candidate again: every parse cached


@pytest.mark.docker
def test_a_verification_is_cancelled_mid_run(sandbox: Sandbox, tmp_path: Path) -> None:
    """The cancel check reaches the sandbox: a test that would sleep for a minute is killed, the verdict says the
    check was cancelled (never "failed", never "verified"), and the verifier serves the next check."""
    slow = "import time\nfrom stats import count_positive\n\n\ndef test_slow():\n    time.sleep(60)\n"
    root = make_project(tmp_path / "p", {"stats.py": BUGGY_STATS, "test_slow.py": slow})
    fixed = BUGGY_STATS.replace("n < 0", "n > 0")
    verifier = Verifier(sandbox)
    flag = threading.Event()
    runs_before = verifier.sandbox_runs

    def cancel_once_the_tests_run() -> None:
        while verifier.sandbox_runs < runs_before + 2:  # compile, then the tests tier started
            time.sleep(0.05)
        time.sleep(1.0)
        flag.set()

    threading.Thread(target=cancel_once_the_tests_run, daemon=True).start()
    t0 = time.monotonic()
    verdict = verifier.verify(Change(str(root), {"stats.py": fixed}, {"stats.py": BUGGY_STATS}), cancel=flag.is_set)
    assert time.monotonic() - t0 < 30
    assert verdict.label == LABEL_UNVERIFIED and verdict.reason == CHECK_CANCELLED and not verdict.rejected, verdict
    assert verifier.cancelled_runs == 1
    # "could not check" is not cached: with the slow test gone the same edit is judged by the real tests
    (root / "test_slow.py").unlink()
    (root / "test_stats.py").write_text(TEST_STATS)
    verifier.forget_workspace(str(root))
    again = verifier.verify(Change(str(root), {"stats.py": fixed}, {"stats.py": BUGGY_STATS}))
    assert again.verified, again
