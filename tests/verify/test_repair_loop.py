"""The self-repair loop (issue 13, item 4) with the real model and sandbox: a rejected candidate's failure goes into
the next prompt, the loop stops at the first verified candidate, and the wall-clock budget stops it and says so.

The fixture's test can never pass (it expects 99), so every candidate is rejected with an assertion that names the
value: what the loop must feed forward."""

from __future__ import annotations

import time
from pathlib import Path

from codeassist.sandbox import Sandbox
from verify_fixtures import BUGGY_STATS, make_project

from codeassist.engine import Engine
from codeassist.fix_prompt import failure_text
from codeassist.fix_target import locate
from codeassist.fixer import FixConfig, Fixer
from codeassist.verify import Verifier

IMPOSSIBLE = """from stats import count_positive


def test_count_positive():
    assert count_positive([1, -2, 3]) == 99, "expected ninety-nine"
"""


def test_a_rejected_candidates_failure_is_in_the_next_prompt(engine: Engine, sandbox: Sandbox, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"stats.py": BUGGY_STATS, "test_stats.py": IMPOSSIBLE})
    verifier = Verifier(sandbox)
    target = locate(str(root / "stats.py"), verifier=verifier, root=str(root))
    config = FixConfig(k=3, deadline_s=None, max_tokens=96, repair=True, cloze=0)
    outcome = Fixer(engine, verifier, config).candidates_for(target)
    assert not any(c.verdict.verified for c in outcome.candidates)
    rejected = [c for c in outcome.candidates if c.verdict.rejected]
    assert rejected, outcome.to_json()
    assert len(outcome.prompts) >= 2
    assert "That is still wrong" not in outcome.prompts[0]  # the first prompt: the bug only
    later = outcome.prompts[1:]
    assert any("That is still wrong" in p and "expected ninety-nine" in p for p in later), later
    first = min(rejected, key=lambda c: c.index)
    assert any(failure_text(first.verdict) in p for p in later)  # that candidate's own check, fed forward


def test_the_budget_stops_the_loop_and_says_so(engine: Engine, sandbox: Sandbox, tmp_path: Path) -> None:
    root = make_project(tmp_path / "b", {"stats.py": BUGGY_STATS, "test_stats.py": IMPOSSIBLE})
    verifier = Verifier(sandbox)
    target = locate(str(root / "stats.py"), verifier=verifier, root=str(root))
    budget = 3.0
    started = time.monotonic()
    outcome = Fixer(engine, verifier, FixConfig(k=50, deadline_s=budget, cloze=0)).candidates_for(target)
    wall = time.monotonic() - started
    assert outcome.stopped == "deadline" and outcome.generated < 50
    assert outcome.message.startswith("stopped at the 3 s budget"), outcome.message
    assert outcome.to_json()["message"] == outcome.message
    # the budget is polled between tokens and during sandbox runs: what was in flight stops too (slack for a loaded
    # machine's container teardown, not for another candidate)
    assert wall < budget + 15, wall


def test_k_counts_distinct_candidates(engine: Engine, sandbox: Sandbox, tmp_path: Path) -> None:
    """A repeat or an echo of the bug is not checked again and does not use up one of the k: the loop draws on (at
    most two generations per candidate wanted), each repeat drawing hotter, until k distinct candidates were checked."""
    root = make_project(tmp_path / "d", {"stats.py": BUGGY_STATS, "test_stats.py": IMPOSSIBLE})
    verifier = Verifier(sandbox)
    target = locate(str(root / "stats.py"), verifier=verifier, root=str(root))
    outcome = Fixer(engine, verifier, FixConfig(k=3, deadline_s=None, max_tokens=96, cloze=0)).candidates_for(target)
    report = outcome.to_json()
    assert outcome.generated == len(outcome.candidates) + outcome.duplicates + outcome.unusable, report
    assert outcome.generated <= 6 and outcome.stopped == "k", report
    if outcome.generated < 6:  # the cap was not reached: k distinct candidates were checked
        assert len(outcome.candidates) == 3, report
    assert len({c.new_text for c in outcome.candidates}) == len(outcome.candidates)
    assert all(c.verdict.rejected for c in outcome.candidates)  # every one of them ran the tests
    samples = sorted((c for c in outcome.candidates if c.index > 0), key=lambda c: c.index)
    for c in samples:  # a draw after a repeat is hotter than the configured temperature (capped)
        assert 0.8 <= c.temperature <= 1.1, report
