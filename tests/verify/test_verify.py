"""The verification tiers against a real sandbox: labels, evidence, caching, and the never-falsely-verified rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from codeassist.sandbox import Sandbox, SandboxConfig
from verify_fixtures import BUGGY_STATS, TEST_STATS, make_project

from codeassist.completion import CompletionCheck, CompletionPolicy, check_completion
from codeassist.engine import CompletionRequest, CompletionResult
from codeassist.fix_outcome import FixOutcome, RankedFix
from codeassist.fix_target import FixTarget, target_for_problem
from codeassist.pyast import python_callers
from codeassist.syntax import Problem
from codeassist.testfinder import edited_symbols, find_tests, select_tests
from codeassist.verify import (
    LABEL_COMPILES,
    LABEL_FAILED,
    LABEL_TESTS,
    LABEL_UNVERIFIED,
    Change,
    Verifier,
)

FIXED_STATS = BUGGY_STATS.replace("n < 0", "n > 0")
# Valid syntax, compiles, imports -- and still wrong: must never be labelled verified.
WRONG_STATS = BUGGY_STATS.replace("n < 0", "n != 0")


def check(
    doc: str,
    line: int,
    column: int,
    text: str,
    *,
    path: str,
    verifier: Verifier | None,
    mode: str = "sandbox",
    single_line_tests: bool = True,
) -> CompletionCheck:
    """The completion service's rule (``codeassist.completion``) for ``text`` inserted at (line, column)."""
    policy = CompletionPolicy(verify=mode, single_line_tests=single_line_tests)  # type: ignore[arg-type]
    request = CompletionRequest(doc, line, column, path=path)
    return check_completion(request, CompletionResult(text, line, column), policy, verifier)


def change(root: Path, text: str, **kw: object) -> Change:
    return Change(str(root), {"stats.py": text}, {"stats.py": BUGGY_STATS}, **kw)  # type: ignore[arg-type]


def test_syntax_tier_rejects_broken_code(tmp_path: Path) -> None:
    v = Verifier(None)
    verdict = v.verify(change(tmp_path, "def count_positive(numbers:\n    return 0\n"), "syntax")
    assert verdict.rejected and verdict.label == LABEL_FAILED
    assert verdict.tiers[0].tier == "syntax" and "stats.py:1" in verdict.tiers[0].evidence


def test_syntax_mode_is_never_verified(tmp_path: Path) -> None:
    verdict = Verifier(None).verify(change(tmp_path, FIXED_STATS), "syntax")
    assert verdict.label == LABEL_UNVERIFIED and not verdict.verified and not verdict.rejected


def test_find_tests_by_symbol(tmp_path: Path) -> None:
    files = {"test_stats.py": TEST_STATS, "test_other.py": "def test_x():\n    assert 1\n", "stats.py": BUGGY_STATS}
    assert find_tests(files, ["count_positive"], ["stats.py"]) == ["test_stats.py"]
    assert find_tests(files, ["count_positive"], ["stats.py", "test_stats.py"]) == []  # edited tests don't judge
    # Another module's tests that use a function of the same name do not judge an edit of stats.py ...
    files["test_strict.py"] = "from strict import count_positive\n\ndef test_s():\n    count_positive([])\n"
    files["tests/test_pkg.py"] = "from pkg.util import count_positive\n"
    assert find_tests(files, ["count_positive"], ["stats.py"]) == ["test_stats.py"]
    assert find_tests(files, ["count_positive"], ["pkg/util.py"]) == ["tests/test_pkg.py"]
    # ... unless no test names the module at all (re-exports): then every test naming the symbol runs.
    assert find_tests(files, ["count_positive"], ["other.py"]) == [
        "test_stats.py",
        "test_strict.py",
        "tests/test_pkg.py",
    ]


@pytest.mark.docker
def test_fixed_code_is_verified_with_evidence(sandbox: Sandbox, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"stats.py": BUGGY_STATS, "test_stats.py": TEST_STATS})
    v = Verifier(sandbox)
    verdict = v.verify(change(root, FIXED_STATS))
    assert verdict.label == LABEL_TESTS and verdict.verified, verdict
    assert [t.tier for t in verdict.tiers] == ["syntax", "compile", "tests"]
    tests = verdict.tiers[-1]
    assert tests.tests_ran and "test_stats.py::test_count_positive" in tests.command and "1 passed" in tests.evidence
    again = v.verify(change(root, FIXED_STATS))  # cached by content hash: no new sandbox run
    runs = v.sandbox_runs
    assert again.verified and again.tiers[-1].cached and v.sandbox_runs == runs


@pytest.mark.docker
def test_candidate_passing_syntax_but_failing_tests_is_never_verified(sandbox: Sandbox, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"stats.py": BUGGY_STATS, "test_stats.py": TEST_STATS})
    v = Verifier(sandbox)
    verdict = v.verify(change(root, WRONG_STATS))
    assert verdict.tiers[0].status == "passed" and verdict.tiers[1].status == "passed"
    assert verdict.rejected and not verdict.verified and verdict.label == LABEL_FAILED
    assert "assert" in verdict.tiers[-1].evidence
    # ... and the pipeline never offers it: a failed candidate is not a "best" fix even when it is the only one.
    target = FixTarget(str(root), "stats.py", BUGGY_STATS, 0, 6, "tests fail", "test", "count_positive")
    wrong = RankedFix(0, 0.0, "", WRONG_STATS, "", 1, verdict)
    assert FixOutcome(target, [wrong]).best is None


@pytest.mark.docker
def test_import_error_fails_compile_tier(sandbox: Sandbox, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"stats.py": BUGGY_STATS, "test_stats.py": TEST_STATS})
    verdict = Verifier(sandbox).verify(change(root, "import no_such_module_xyz\n" + FIXED_STATS))
    assert (
        verdict.rejected and verdict.tiers[-1].tier == "compile" and "no_such_module_xyz" in verdict.tiers[-1].evidence
    )


@pytest.mark.docker
def test_no_tests_means_compiles_not_verified(sandbox: Sandbox, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"stats.py": BUGGY_STATS})
    verdict = Verifier(sandbox).verify(change(root, FIXED_STATS))
    assert verdict.label == LABEL_COMPILES and not verdict.verified
    assert "no tests reference count_positive" in verdict.reason


@pytest.mark.docker
def test_doctests_in_the_docstring_count_as_tests(sandbox: Sandbox, tmp_path: Path) -> None:
    with_doc = FIXED_STATS.replace('zero."""', 'zero.\n\n    >>> count_positive([1, -2, 3])\n    2\n    """')
    root = make_project(tmp_path / "p", {"stats.py": with_doc.replace("n > 0", "n < 0")})
    v = Verifier(sandbox)
    good = v.verify(Change(str(root), {"stats.py": with_doc}, {"stats.py": with_doc.replace("n > 0", "n < 0")}))
    assert good.verified, good
    bad = v.verify(Change(str(root), {"stats.py": with_doc.replace("n > 0", "n != 0")}, {"stats.py": with_doc}))
    assert bad.rejected


@pytest.mark.docker
def test_configured_test_command(sandbox: Sandbox, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"stats.py": BUGGY_STATS, "check.py": "from stats import *\n"
                                         "assert count_positive([5]) == 1\n"})  # fmt: skip
    v = Verifier(sandbox)
    assert v.verify(change(root, FIXED_STATS, test_command=("python3", "check.py"))).verified
    assert v.verify(change(root, WRONG_STATS.replace("!= 0", "> 9"), test_command=("python3", "check.py"))).rejected


def test_sandbox_unavailable_is_unverified_not_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    root = make_project(tmp_path / "p", {"stats.py": BUGGY_STATS, "test_stats.py": TEST_STATS})
    sb = Sandbox(SandboxConfig(pool_size=1, docker_timeout_s=1.0))
    try:
        verdict = Verifier(sb).verify(change(root, FIXED_STATS))
    finally:
        sb.close()
    assert verdict.label == LABEL_UNVERIFIED and not verdict.rejected and not verdict.verified
    assert "sandbox unavailable" in verdict.display


@pytest.mark.docker
def test_completion_hook(sandbox: Sandbox, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"stats.py": BUGGY_STATS, "test_stats.py": TEST_STATS})
    head = 'def count_positive(numbers):\n    """Return how many numbers are greater than zero."""\n    '
    doc = head + "\n"
    v = Verifier(sandbox)
    path = str(root / "stats.py")
    good = "count = 0\n    for n in numbers:\n        if n > 0:\n            count += 1\n    return count"
    bad = good.replace("n > 0", "n < 0")
    assert check(doc, 2, 4, good, path=path, verifier=v).verdict.verified
    found = check(doc, 2, 4, bad, path=path, verifier=v)
    assert not found.show and found.verdict.rejected
    syntax_only = check(doc, 2, 4, bad, path=path, verifier=v, mode="syntax")
    assert syntax_only.show and syntax_only.verdict.label == LABEL_UNVERIFIED
    assert not check(doc, 2, 4, "if (:\n", path=path, verifier=v, mode="syntax").show


HELPER_SRC = """def _is_pos(n):
    return n > 0


def count_positive(numbers):
    return sum(1 for n in numbers if _is_pos(n))


def unrelated():
    return 1
"""


def test_python_callers_are_transitive() -> None:
    src = HELPER_SRC + "\n\ndef report(xs):\n    return f'{count_positive(xs)} positive'\n"
    assert python_callers(src, ["_is_pos"]) == ["count_positive", "report"]
    assert python_callers(src, ["_is_pos"], depth=1) == ["count_positive"]
    assert python_callers("def broken(:\n", ["x"]) == []


@pytest.mark.docker
def test_helper_is_verified_through_its_callers_tests(sandbox: Sandbox, tmp_path: Path) -> None:
    """No test names ``_is_pos``; the tests of ``count_positive`` (its caller) exercise it and judge the edit."""
    root = make_project(tmp_path / "p", {"stats.py": HELPER_SRC, "test_stats.py": TEST_STATS})
    v = Verifier(sandbox)
    wrong = Change(str(root), {"stats.py": HELPER_SRC.replace("n > 0", "n < 0")}, {"stats.py": HELPER_SRC})
    verdict = v.verify(wrong)
    assert verdict.rejected and verdict.tiers[-1].tier == "tests", verdict
    right = Change(str(root), {"stats.py": HELPER_SRC.replace("n > 0", "0 < n")}, {"stats.py": HELPER_SRC})
    verdict = v.verify(right)
    assert verdict.verified and "through callers: count_positive" in verdict.tiers[-1].evidence, verdict


CACHE_SRC = """class Cache:
    def __init__(self):
        self.data = {}

    def __setitem__(self, key, value):
        self.data[key] = value

    def __getitem__(self, key):
        return self.data[key]
"""
CACHE_TEST = """from cache import Cache


def test_cache():
    c = Cache()
    c["a"] = 1
    assert c["a"] == 1
"""
PARSER_SRC = """def sign(text):
    return -1 if text.startswith("-") else 1


class Parser:
    def __init__(self, text):
        self.value = sign(text) * int(text.lstrip("+-"))


def parse(text):
    return Parser(text).value
"""
PARSER_TEST = """from parser import parse


def test_negative():
    assert parse("-3") == -3
"""


def test_special_methods_select_their_class_tests() -> None:
    """Tests call ``c[k]`` and ``parse(...)``, never ``__getitem__`` or ``Parser.__init__``: the class stands in for
    a special method, also in a chain of callers, and the chain goes on from the class to the functions using it."""
    files = {"cache.py": CACHE_SRC.encode(), "test_cache.py": CACHE_TEST.encode()}
    argv, why = select_tests({"cache.py": CACHE_SRC}, {"cache.py": CACHE_SRC}, files, symbols=("__getitem__",))
    assert argv is not None and "test_cache.py::test_cache" in argv, why
    assert edited_symbols({"cache.py": CACHE_SRC}, {}, ("__getitem__",)) == ["__getitem__", "Cache"]
    assert edited_symbols({"cache.py": CACHE_SRC}, {}, ("helper",)) == ["helper"]  # a plain name brings nothing
    files = {"parser.py": PARSER_SRC.encode(), "test_parser.py": PARSER_TEST.encode()}
    argv, why = select_tests({"parser.py": PARSER_SRC}, {"parser.py": PARSER_SRC}, files, symbols=("sign",))
    # sign <- Parser.__init__ -> the class Parser <- parse(), which the test calls
    assert argv is not None and "test_parser.py::test_negative" in argv and "Parser, parse" in why, why


@pytest.mark.docker
def test_a_special_method_fix_is_verified_by_its_class_tests(sandbox: Sandbox, tmp_path: Path) -> None:
    """A fix of ``__getitem__`` is judged by the tests that index the cache: a wrong one is rejected, a right one
    verified (before, no test was selected and the best a fix could get was "compiles")."""
    buggy = CACHE_SRC.replace("return self.data[key]", "return self.data.get(key.upper())")
    root = make_project(tmp_path / "c", {"cache.py": buggy, "test_cache.py": CACHE_TEST})
    v = Verifier(sandbox)
    wrong = Change(
        str(root), {"cache.py": buggy.replace("key.upper()", "key + key")}, {"cache.py": buggy}, ("__getitem__",)
    )
    assert v.verify(wrong).rejected
    right = Change(str(root), {"cache.py": CACHE_SRC}, {"cache.py": buggy}, ("__getitem__",))
    verdict = v.verify(right)
    assert verdict.verified, verdict


@pytest.mark.docker
def test_single_line_completion_runs_tests_only_when_asked(sandbox: Sandbox, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"stats.py": BUGGY_STATS, "test_stats.py": TEST_STATS})
    lines = FIXED_STATS.split("\n")
    hole = next(i for i, ln in enumerate(lines) if "n > 0" in ln)
    doc = "\n".join([*lines[:hole], "", *lines[hole + 1 :]])
    indent = lines[hole][: len(lines[hole]) - len(lines[hole].lstrip())]
    v = Verifier(sandbox)
    path = str(root / "stats.py")
    good, bad, broken = lines[hole], indent + "if n < 0:", indent + "    if n > 0:"
    editor = check(doc, hole, 0, bad, path=path, verifier=v, single_line_tests=False)  # the editor's policy
    assert editor.show and editor.verdict.label == LABEL_UNVERIFIED and "one-line" in editor.verdict.reason
    assert check(doc, hole, 0, good, path=path, verifier=v).verdict.verified
    found = check(doc, hole, 0, bad, path=path, verifier=v)
    assert not found.show and found.verdict.rejected and found.verdict.tiers[-1].tier == "tests"
    # A line that tree-sitter accepts but Python's parser does not (a stray indent) is rejected without a sandbox run.
    runs = v.sandbox_runs
    found = check(doc, hole, 0, broken, path=path, verifier=v)
    assert not found.show and found.verdict.rejected and found.verdict.tiers[-1].tier == "syntax", found.verdict
    assert "indent" in found.verdict.tiers[-1].evidence and v.sandbox_runs == runs


@pytest.mark.docker
def test_completion_without_tests_costs_no_sandbox_run(sandbox: Sandbox, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"stats.py": BUGGY_STATS})  # no test file at all
    v = Verifier(sandbox)
    doc = 'def count_positive(numbers):\n    """Return how many numbers are greater than zero."""\n    \n'
    body = "count = 0\n    for n in numbers:\n        count += n > 0\n    return count"
    found = check(doc, 2, 4, body, path=str(root / "stats.py"), verifier=v)
    assert found.show and found.verdict.label == LABEL_UNVERIFIED
    assert "no tests reference count_positive" in found.verdict.reason
    assert v.sandbox_runs == 0


@pytest.mark.docker
def test_a_hanging_test_fails_and_names_the_test(sandbox: Sandbox, tmp_path: Path) -> None:
    from codeassist.verify import TierBudget

    hang = "import time\nfrom stats import count_positive\n\n\ndef test_slow():\n    time.sleep(600)\n"
    root = make_project(tmp_path / "p", {"stats.py": BUGGY_STATS, "test_stats.py": TEST_STATS, "test_hang.py": hang})
    verdict = Verifier(sandbox, budget=TierBudget(tests_s=8)).verify(change(root, FIXED_STATS))
    assert verdict.rejected and verdict.tiers[-1].tier == "tests", verdict
    assert "test_hang.py::test_slow" in verdict.tiers[-1].evidence, verdict.tiers[-1].evidence


@pytest.mark.docker
def test_a_diagnostic_targets_its_function_and_the_fix_is_judged_by_its_tests(sandbox: Sandbox, tmp_path: Path) -> None:
    """The editor's fix target (a diagnostic on line 5): the enclosing function, named line in the error; a fix of
    that span is verified by the function's tests, a wrong one fails them."""
    root = make_project(tmp_path / "p", {"stats.py": BUGGY_STATS, "test_stats.py": TEST_STATS})
    target = target_for_problem(str(root), "stats.py", BUGGY_STATS, Problem(4, 4, "counts the wrong numbers"))
    assert (target.symbol, target.start_line, target.end_line) == ("count_positive", 0, 6)
    assert target.error == "line 5: counts the wrong numbers" and target.context_lines == 0
    v = Verifier(sandbox)
    good = v.verify(Change(str(root), {"stats.py": FIXED_STATS}, {"stats.py": BUGGY_STATS}, ("count_positive",)))
    assert good.verified and good.display == LABEL_TESTS
    bad = v.verify(Change(str(root), {"stats.py": WRONG_STATS}, {"stats.py": BUGGY_STATS}, ("count_positive",)))
    assert bad.rejected and not bad.verified
    # outside any function (or in another language) the target is the problem's lines, shown with the code around
    text = "import os\nprint(os.sep +)\nx = 1\n"
    lines = target_for_problem(str(root), "run.py", text, Problem(1, 1, "syntax error"))
    assert (lines.start_line, lines.end_line, lines.symbol) == (1, 1, None)
    assert lines.surrounding() == (["import os"], ["x = 1", ""])


@pytest.mark.docker
def test_other_syntax_errors_in_the_file_leave_the_fix_unverified(sandbox: Sandbox, tmp_path: Path) -> None:
    """A file the user is mid-edit elsewhere cannot compile whatever the fix is: neither "failed" nor "verified"."""
    broken_elsewhere = "def unfinished(:\n    pass\n\n"
    root = make_project(tmp_path / "p", {"stats.py": broken_elsewhere + BUGGY_STATS, "test_stats.py": TEST_STATS})
    ch = Change(str(root), {"stats.py": broken_elsewhere + FIXED_STATS}, {"stats.py": broken_elsewhere + BUGGY_STATS})
    verdict = Verifier(sandbox).verify(ch)
    assert verdict.label == LABEL_UNVERIFIED and not verdict.rejected and not verdict.verified
    assert "other syntax errors" in verdict.reason
