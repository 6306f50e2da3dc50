"""Which tests judge an edit: the workspace test files that name an edited symbol (preferring those that name its
module), the doctests of edited symbols, or else the tests of the same-file functions that call it.

Why a module of its own: the verifier runs whatever this selects, and the completion service asks it first whether
any test would judge a completion at all (no test: no sandbox run is paid for).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from codeassist.pyast import (
    changed_lines,
    has_doctests,
    module_name,
    python_callers,
    python_symbols_at,
    top_level_names,
)

TEST_FILE = re.compile(r"(^|/)(test_[^/]*\.py|[^/]*_test\.py|conftest\.py)$")


def _word_pattern(names: Sequence[str]) -> re.Pattern[str] | None:
    names = sorted({n for n in names if n and n.isidentifier()})
    return re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b") if names else None


def find_tests(files: Mapping[str, bytes | str], symbols: Sequence[str], edited: Sequence[str]) -> list[str]:
    """Test files (pytest naming) that mention an edited symbol as a whole word. Edited test files themselves are
    excluded: a candidate must not be judged by tests it rewrote.

    When some of those files also name an edited module (any part of its dotted name, as ``from pkg.stats import``
    or ``import stats`` do), only those count: a common function name (``parse``, ``main``) is mentioned by tests of
    other modules too, and running them would judge the edit by unrelated (possibly broken) code."""
    pattern = _word_pattern(symbols)
    if pattern is None:
        return []
    modules = _word_pattern([part for rel in edited for part in (module_name(rel) or "").split(".")])
    hits: list[str] = []
    importing: list[str] = []
    for rel, content in files.items():
        if rel in edited or not TEST_FILE.search(rel) or rel.endswith("conftest.py"):
            continue
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
        if pattern.search(text):
            hits.append(rel)
            if modules is not None and modules.search(text):
                importing.append(rel)
    return sorted(importing or hits)


def select_tests(
    edited_files: Mapping[str, str],
    original: Mapping[str, str],
    files: Mapping[str, bytes],
    *,
    symbols: Sequence[str] = (),
    command: Sequence[str] | None = None,
    test_args: Sequence[str] = (),
) -> tuple[tuple[str, ...] | None, str]:
    """The argv of the tests tier for an edit (the new contents of ``edited_files``, their ``original`` contents, the
    edited ``symbols`` when known) over the workspace ``files``, and a description; None when there is nothing to
    run. A configured ``command`` replaces discovery."""
    if command:
        return tuple(command), "configured test command"
    symbols = list(symbols)
    if not symbols:
        for rel, text in edited_files.items():
            if rel.endswith(".py"):
                found = python_symbols_at(text, changed_lines(original.get(rel, ""), text))
                # a module-level edit (imports, constants, a module docstring) can affect every definition in it
                symbols += found or [*top_level_names(text), *(module_name(rel) or "").split(".")[-1:]]
    edited = list(edited_files)
    tests = find_tests(files, symbols, edited)
    doctest_files = [rel for rel, text in edited_files.items() if rel.endswith(".py") and has_doctests(text, symbols)]
    via = ""
    if not tests and not doctest_files and symbols:
        # no test names the edited helper: run the tests of the same-file functions that call it
        callers = [
            c for rel, text in edited_files.items() if rel.endswith(".py") for c in python_callers(text, symbols)
        ]
        tests = find_tests(files, callers, edited)
        doctest_files = [
            rel for rel, text in edited_files.items() if rel.endswith(".py") and has_doctests(text, callers)
        ]
        via = f" (through callers: {', '.join(callers)})" if tests or doctest_files else ""
    if not tests and not doctest_files:
        names = ", ".join(symbols) or "the edited code"
        return None, f"no tests reference {names}"
    args = [*tests, *doctest_files]
    if doctest_files:
        args.append("--doctest-modules")
    # -v: pytest names each test before running it, so the output kept from a run cut by the time limit says
    # which test hung (the sandbox returns the output so far on a timeout)
    argv = ("python3", "-B", "-m", "pytest", "-v", "-p", "no:cacheprovider", *test_args, *args)
    return argv, f"{len(tests)} test file(s), {len(doctest_files)} doctest module(s){via}"
