"""Verify before suggest: cheap-to-expensive checks of a proposed edit, each returning a typed verdict with evidence.

Tiers, cheapest first:

1. **syntax** — tree-sitter parse of every edited file (host, no execution, ~1 ms).
2. **compile** — ``py_compile`` and an import of each edited module, *in the sandbox* (importing runs top-level
   code, which must never happen on the host).
3. **tests** — the user's configured test command, or else the workspace test files that mention an edited symbol
   plus the doctests of the edited modules, run with pytest in the sandbox.

Why a label and not a boolean: the user must be able to tell "the tests ran and passed" from "it compiles" from "we
could not check". The rule this module enforces is that :data:`LABEL_TESTS` ("verified: tests pass") is only ever
produced from a sandbox run whose status is ``passed`` *and* whose output shows that tests actually ran. Docker
trouble (sandbox status ``error``) is never a pass; it yields :data:`LABEL_UNVERIFIED` with the reason.

Results are cached by a hash of the tier, the command and the exact file contents shipped to the sandbox, so
re-verifying the same candidate (de-duplicated candidates, a retried refactor) costs nothing.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from codeassist.actions import syntax_problems
from codeassist.documents import language_for_path

if TYPE_CHECKING:
    from codeassist.sandbox import Limits, RunResult, Sandbox

LABEL_TESTS = "verified: tests pass"
LABEL_COMPILES = "compiles"
LABEL_UNVERIFIED = "unverified"
LABEL_FAILED = "failed"

VerifyMode = Literal["off", "syntax", "sandbox"]
VERIFY_MODES: tuple[VerifyMode, ...] = ("off", "syntax", "sandbox")
TierName = Literal["syntax", "compile", "tests"]
# passed: checked and fine; failed: checked and wrong; skipped: nothing to check (e.g. no tests found);
# error: could not check (sandbox unavailable, timeout of the checker itself) -- never counts as a pass.
TierStatus = Literal["passed", "failed", "skipped", "error"]

# Directories never shipped to the sandbox: VCS data, environments, caches, our own state.
SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", ".venv", "venv", "env", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache",
     ".pytest_cache", ".tox", ".codeassist", "build", "dist", ".eggs"}
)  # fmt: skip
MAX_FILE_BYTES = 512 << 10
MAX_WORKSPACE_BYTES = 24 << 20
MAX_WORKSPACE_FILES = 20_000  # with the byte cap, bounds the walk of a huge tree
TEST_FILE = re.compile(r"(^|/)(test_[^/]*\.py|[^/]*_test\.py|conftest\.py)$")


@dataclass(frozen=True)
class TierVerdict:
    """The outcome of one tier, with what it ran and the evidence (error output tail or reason)."""

    tier: TierName
    status: TierStatus
    evidence: str = ""
    command: tuple[str, ...] = ()
    wall_s: float = 0.0
    cached: bool = False
    tests_ran: bool = False  # only for the tests tier: the run shows at least one test executed

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    """All tiers run for one candidate, and the label to show. ``rejected`` means a check ran and failed."""

    label: str
    reason: str
    tiers: tuple[TierVerdict, ...] = ()
    rejected: bool = False

    @property
    def verified(self) -> bool:
        """True only when tests ran and passed in the sandbox."""
        return self.label == LABEL_TESTS

    @property
    def display(self) -> str:
        """The label with its reason when it is not a full pass, e.g. ``unverified (sandbox unavailable: …)``."""
        if self.label == LABEL_TESTS or not self.reason:
            return self.label
        return f"{self.label} ({self.reason})"

    @property
    def rank(self) -> int:
        """Lower is better: verified < compiles < unverified < failed."""
        return {LABEL_TESTS: 0, LABEL_COMPILES: 1, LABEL_UNVERIFIED: 2}.get(self.label, 3)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label, "reason": self.reason, "verified": self.verified, "rejected": self.rejected,
            "tiers": [t.to_json() for t in self.tiers],
        }  # fmt: skip


@dataclass(frozen=True)
class TierBudget:
    """Per-tier wall-clock limits (seconds) for the sandbox runs."""

    compile_s: float = 15.0
    tests_s: float = 60.0


@dataclass
class Change:
    """A proposed edit of a workspace: the new full contents of the edited files (paths relative to ``root``).

    ``symbols`` are the edited functions/classes (found from the diff when empty); ``test_command`` is the user's
    configured test command (argv run in the workspace root inside the sandbox), which replaces test discovery.
    """

    root: str
    files: dict[str, str]
    original: dict[str, str] = field(default_factory=dict)
    symbols: tuple[str, ...] = ()
    test_command: tuple[str, ...] | None = None


# -- workspace scanning ---------------------------------------------------------------------------------------------


def workspace_files(root: str | os.PathLike[str]) -> dict[str, bytes]:
    """The workspace files shipped to the sandbox: every regular file under ``root`` outside VCS/env/cache dirs,
    skipping files over :data:`MAX_FILE_BYTES`; stops at :data:`MAX_WORKSPACE_BYTES` or :data:`MAX_WORKSPACE_FILES`."""
    base = Path(root)
    out: dict[str, bytes] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            if not path.is_file() or path.is_symlink() or st.st_size > MAX_FILE_BYTES:
                continue
            if total + st.st_size > MAX_WORKSPACE_BYTES or len(out) >= MAX_WORKSPACE_FILES:
                return out
            try:
                data = path.read_bytes()
            except OSError:
                continue  # unreadable (permissions, vanished): the tests cannot use it either
            total += len(data)
            out[path.relative_to(base).as_posix()] = data
    return out


def changed_lines(old: str, new: str) -> set[int]:
    """0-based lines of ``new`` that differ from ``old`` (insertions and replacements)."""
    import difflib

    a, b = old.split("\n"), new.split("\n")
    lines: set[int] = set()
    for tag, _i1, _i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal":
            lines.update(range(j1, max(j2, j1 + 1)))
    return lines


def python_definitions(text: str, *, classes: bool = True) -> list[tuple[str, int, int]]:
    """(name, start, end), 0-based inclusive with decorators, of every function (and class) in ``text``, outermost
    first. Parses with :mod:`ast` (parsing never executes anything); empty when the text does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    out: list[tuple[str, int, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and (
            classes or not isinstance(node, ast.ClassDef)
        ):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            out.append((node.name, start, (node.end_lineno or node.lineno) - 1))
    return out


def python_symbols_at(text: str, lines: set[int]) -> list[str]:
    """Names of the functions/classes (and their enclosing classes) whose span covers any of ``lines``."""
    found: list[str] = []
    for name, start, end in python_definitions(text):
        if any(start <= ln <= end for ln in lines) and name not in found:
            found.append(name)
    return found


def python_callers(text: str, names: Sequence[str], depth: int = 3) -> list[str]:
    """Functions of ``text`` that call (or otherwise name) any of ``names``, transitively up to ``depth`` levels,
    excluding ``names`` themselves. Why: a private helper is rarely named by a test, but the tests of the public
    function that calls it exercise it; verifying an edit of the helper runs those."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    uses: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            used = uses.setdefault(node.name, set())
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name):
                    used.add(sub.id)
                elif isinstance(sub, ast.Attribute):
                    used.add(sub.attr)
    known = set(names)
    found: list[str] = []
    frontier = set(names)
    for _ in range(depth):
        new = [fn for fn, used in uses.items() if fn not in known and used & frontier]
        if not new:
            break
        found += new
        known.update(new)
        frontier = set(new)
    return found


def _python_parse_error(text: str) -> str | None:
    """``LINE: message`` of Python's parser on ``text``, or None when it parses (``ast.parse`` runs nothing)."""
    try:
        ast.parse(text)
    except SyntaxError as exc:
        return f"{exc.lineno or 0}: {exc.msg}"
    except ValueError as exc:  # e.g. NUL bytes
        return f"0: {exc}"
    return None


def top_level_names(text: str) -> list[str]:
    """Names of the module-level functions and classes of ``text`` (empty when it does not parse)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def module_name(rel_path: str) -> str | None:
    """Dotted module name of a workspace-relative ``.py`` path (``pkg/mod.py`` -> ``pkg.mod``)."""
    if not rel_path.endswith(".py"):
        return None
    parts = rel_path[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts)


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


def has_doctests(text: str, symbols: Sequence[str]) -> bool:
    """True when a docstring of an edited symbol holds a ``>>>`` example."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in symbols:
            doc = ast.get_docstring(node) or ""
            if ">>>" in doc:
                return True
    return False


# -- the verifier ---------------------------------------------------------------------------------------------------

_PYTEST_RAN = re.compile(r"\b(\d+) passed\b")
_PYTEST_FAILED = re.compile(r"\b(\d+) (failed|error|errors)\b")


def _tail(text: str, n: int = 2000) -> str:
    return text if len(text) <= n else "…" + text[-n:]


class Verifier:
    """Runs the tiers for :class:`Change` s. Thread-safe; one instance is shared by concurrent candidate checks.

    ``sandbox`` None means no sandbox was configured: every sandbox tier reports ``error`` and candidates are at best
    "unverified". The verifier does not own the sandbox (the caller closes it).
    """

    def __init__(
        self,
        sandbox: Sandbox | None,
        *,
        budget: TierBudget | None = None,
        cache_size: int = 512,
        test_args: Sequence[str] = (),
    ) -> None:
        self.sandbox = sandbox
        self.budget = budget or TierBudget()
        self.test_args = tuple(test_args)
        self._cache: OrderedDict[str, TierVerdict] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._base: dict[str, dict[str, bytes]] = {}
        self.sandbox_runs = 0

    # -- cache ------------------------------------------------------------------------------------------------------

    def _cached(self, key: str) -> TierVerdict | None:
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return TierVerdict(**{**asdict(hit), "cached": True})
            return None

    def _store(self, key: str, verdict: TierVerdict) -> None:
        if verdict.status == "error":
            return  # "could not check" is not a fact about the code: try again next time
        with self._lock:
            self._cache[key] = verdict
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    @staticmethod
    def _key(tier: str, command: Sequence[str], files: Mapping[str, bytes]) -> str:
        digest = hashlib.sha256(tier.encode() + b"\0" + "\0".join(command).encode() + b"\0\0")
        for name in sorted(files):
            digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
        return digest.hexdigest()

    # -- files ------------------------------------------------------------------------------------------------------

    def snapshot_files(self, change: Change) -> dict[str, bytes]:
        """The workspace as it would be after ``change`` (base scan cached per root)."""
        with self._lock:
            base = self._base.get(change.root)
        if base is None:
            base = workspace_files(change.root)
            with self._lock:
                self._base[change.root] = base
        files = dict(base)
        for rel, text in change.files.items():
            files[rel] = text.encode("utf-8")
        return files

    def forget_workspace(self, root: str) -> None:
        """Drop the cached scan of ``root`` (after files were written there)."""
        with self._lock:
            self._base.pop(root, None)

    def _run(self, files: Mapping[str, bytes], argv: Sequence[str], timeout_s: float) -> RunResult:
        from codeassist.sandbox import RunResult

        if self.sandbox is None:
            return RunResult("error", None, "", "", 0.0, reason="no sandbox configured")
        limits: Limits = self.sandbox.config.limits
        if limits.timeout_s != timeout_s:
            import dataclasses

            limits = dataclasses.replace(limits, timeout_s=timeout_s)  # timeout is per run: the pool is still used
        with self._lock:
            self.sandbox_runs += 1
        return self.sandbox.run(dict(files), list(argv), limits)

    # -- tiers ------------------------------------------------------------------------------------------------------

    def check_syntax(self, change: Change) -> TierVerdict:
        """Tier 1: tree-sitter ERROR/MISSING nodes in any edited file (only new ones, when the original is known)."""
        start = time.monotonic()
        problems: list[str] = []
        for rel, text in change.files.items():
            language = language_for_path(rel)
            found = syntax_problems(text, language)
            before = len(syntax_problems(change.original[rel], language)) if rel in change.original else 0
            if len(found) > before:  # only errors the edit added count (a buffer being typed may have others)
                problems += [f"{rel}:{p.start_line + 1}: {p.message}" for p in found]
            elif (
                rel.endswith(".py")
                and (err := _python_parse_error(text))
                and (rel not in change.original or _python_parse_error(change.original[rel]) is None)
            ):
                # tree-sitter is lenient with indentation (an ``if`` with no body, a stray indent); Python's own
                # parser is not, and parsing never executes anything, so this needs no sandbox
                problems.append(f"{rel}:{err}")
        wall = round(time.monotonic() - start, 4)
        if problems:
            return TierVerdict("syntax", "failed", "\n".join(problems[:10]), wall_s=wall)
        return TierVerdict("syntax", "passed", f"{len(change.files)} file(s) parse cleanly", wall_s=wall)

    def check_compile(self, change: Change, files: Mapping[str, bytes] | None = None) -> TierVerdict:
        """Tier 2: byte-compile and import every edited Python module in the sandbox."""
        files = files if files is not None else self.snapshot_files(change)
        py = sorted(rel for rel in change.files if rel.endswith(".py"))
        if not py:
            return TierVerdict("compile", "skipped", "no Python files edited")
        modules = [m for rel in py if not TEST_FILE.search(rel) and (m := module_name(rel)) is not None]
        script = (
            "import importlib, py_compile, sys\n"
            "sys.path.insert(0, '.')\n"
            f"for f in {py!r}:\n"
            "    py_compile.compile(f, cfile='/tmp/_ca.pyc', doraise=True)\n"
            f"for m in {modules!r}:\n"
            "    importlib.import_module(m)\n"
        )
        argv = ("python3", "-B", "-c", script)
        key = self._key("compile", argv, files)
        hit = self._cached(key)
        if hit is not None:
            return hit
        res = self._run(files, argv, self.budget.compile_s)
        if res.status == "error":
            return TierVerdict("compile", "error", f"sandbox unavailable: {res.reason}", argv, res.wall_s)
        if res.status == "passed":
            verdict = TierVerdict("compile", "passed", f"compiled {len(py)}, imported {len(modules)}", argv, res.wall_s)
        else:
            why = res.reason or res.status
            verdict = TierVerdict("compile", "failed", _tail(f"{why}\n{res.stdout}{res.stderr}"), argv, res.wall_s)
        self._store(key, verdict)
        return verdict

    def test_command(self, change: Change, files: Mapping[str, bytes]) -> tuple[tuple[str, ...] | None, str]:
        """The argv of the tests tier and a description; None when there is nothing to run."""
        if change.test_command:
            return tuple(change.test_command), "configured test command"
        symbols = list(change.symbols)
        if not symbols:
            for rel, text in change.files.items():
                if rel.endswith(".py"):
                    found = python_symbols_at(text, changed_lines(change.original.get(rel, ""), text))
                    # a module-level edit (imports, constants, a module docstring) can affect every definition in it
                    symbols += found or [*top_level_names(text), *(module_name(rel) or "").split(".")[-1:]]
        edited = list(change.files)
        tests = find_tests(files, symbols, edited)
        doctest_files = [
            rel for rel, text in change.files.items() if rel.endswith(".py") and has_doctests(text, symbols)
        ]
        via = ""
        if not tests and not doctest_files and symbols:
            # no test names the edited helper: run the tests of the same-file functions that call it
            callers = [
                c for rel, text in change.files.items() if rel.endswith(".py") for c in python_callers(text, symbols)
            ]
            tests = find_tests(files, callers, edited)
            doctest_files = [
                rel for rel, text in change.files.items() if rel.endswith(".py") and has_doctests(text, callers)
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
        argv = ("python3", "-B", "-m", "pytest", "-v", "-p", "no:cacheprovider", *self.test_args, *args)
        return argv, f"{len(tests)} test file(s), {len(doctest_files)} doctest module(s){via}"

    def check_tests(self, change: Change, files: Mapping[str, bytes] | None = None) -> TierVerdict:
        """Tier 3: the tests that exercise the edit, in the sandbox. ``passed`` requires that tests actually ran."""
        files = files if files is not None else self.snapshot_files(change)
        argv, what = self.test_command(change, files)
        if argv is None:
            return TierVerdict("tests", "skipped", what)
        key = self._key("tests", argv, files)
        hit = self._cached(key)
        if hit is not None:
            return hit
        res = self._run(files, argv, self.budget.tests_s)
        output = res.stdout + res.stderr
        if res.status == "error":
            return TierVerdict("tests", "error", f"sandbox unavailable: {res.reason}", argv, res.wall_s)
        is_pytest = "pytest" in argv
        if res.status == "passed":
            ran = bool(_PYTEST_RAN.search(output)) if is_pytest else True
            if not ran:
                verdict = TierVerdict("tests", "skipped", _tail(f"no test ran ({what})\n{output}"), argv, res.wall_s)
            else:
                verdict = TierVerdict(
                    "tests", "passed", _tail(f"{what}: {output}", 600), argv, res.wall_s, tests_ran=True
                )
        elif is_pytest and res.exit_code == 5:
            verdict = TierVerdict("tests", "skipped", _tail(f"no tests collected ({what})\n{output}"), argv, res.wall_s)
        else:
            why = res.reason or f"exit code {res.exit_code}"
            verdict = TierVerdict("tests", "failed", _tail(f"{why}\n{output}"), argv, res.wall_s, tests_ran=True)
        self._store(key, verdict)
        return verdict

    # -- all tiers --------------------------------------------------------------------------------------------------

    def verify(self, change: Change, mode: VerifyMode = "sandbox", files: Mapping[str, bytes] | None = None) -> Verdict:
        """Run the tiers allowed by ``mode``, cheapest first, stopping at the first failure. ``files``: the
        workspace snapshot of ``change`` when the caller already took it (:meth:`snapshot_files`)."""
        if mode == "off":
            return Verdict(LABEL_UNVERIFIED, "verification is off")
        tiers: list[TierVerdict] = []
        syntax = self.check_syntax(change)
        tiers.append(syntax)
        if syntax.status == "failed":
            return Verdict(LABEL_FAILED, "syntax error", tuple(tiers), rejected=True)
        if mode == "syntax":
            return Verdict(LABEL_UNVERIFIED, "syntax checked only", tuple(tiers))
        broken = [rel for rel, text in change.files.items() if syntax_problems(text, language_for_path(rel))]
        if broken:
            # Errors the edit did not add (the user is mid-edit elsewhere in the file) make compiling and testing
            # meaningless: a failure would not be the candidate's fault, and a pass is impossible. Say so.
            reason = f"{broken[0]} has other syntax errors; compile and tests not run"
            return Verdict(LABEL_UNVERIFIED, reason, tuple(tiers))
        files = files if files is not None else self.snapshot_files(change)
        comp = self.check_compile(change, files)
        tiers.append(comp)
        if comp.status == "failed":
            return Verdict(LABEL_FAILED, "does not compile/import", tuple(tiers), rejected=True)
        if comp.status == "error":
            return Verdict(LABEL_UNVERIFIED, comp.evidence, tuple(tiers))
        tests = self.check_tests(change, files)
        tiers.append(tests)
        if tests.status == "failed":
            return Verdict(LABEL_FAILED, "tests fail", tuple(tiers), rejected=True)
        if tests.status == "error":
            return Verdict(LABEL_UNVERIFIED, tests.evidence, tuple(tiers))
        if tests.status == "passed" and tests.tests_ran:
            return Verdict(LABEL_TESTS, "", tuple(tiers))
        return Verdict(LABEL_COMPILES, tests.evidence.split("\n", 1)[0], tuple(tiers))


def make_sandbox(*, image: str | None = None, pool_size: int = 2) -> Sandbox:
    """A sandbox from the environment (``CODEASSIST_SANDBOX_IMAGE`` …) sized for concurrent candidate checks."""
    from codeassist.sandbox import Sandbox, SandboxConfig, config_from_env

    cfg = config_from_env(SandboxConfig(pool_size=pool_size))
    if image:
        import dataclasses

        cfg = dataclasses.replace(cfg, image=image)
    return Sandbox(cfg)


# -- completion verification hook -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompletionCheck:
    """Whether to show a completion, and how it was checked."""

    show: bool
    verdict: Verdict


def verify_completion(
    text: str,
    line: int,
    column: int,
    completion: str,
    *,
    path: str | None,
    root: str | None,
    mode: VerifyMode = "syntax",
    verifier: Verifier | None = None,
    multi_line_only: bool = True,
) -> CompletionCheck:
    """Check a completion before it is shown (the engine/server call this; they stay unchanged otherwise).

    ``syntax``: hide completions that add tree-sitter errors to the document. ``sandbox``: additionally, when a
    multi-line completion lands inside a Python function and workspace tests reference that function (or a same-file
    caller of it), run them and hide the completion if they fail. Nothing is hidden because the sandbox is
    unavailable: that is "unverified". ``multi_line_only=False`` runs the tests for one-line completions too (what
    ``bench/verify_infill.py`` measures; the server keeps the per-keystroke cost off single lines).
    """
    if mode == "off" or not completion:
        return CompletionCheck(True, Verdict(LABEL_UNVERIFIED, "verification is off"))
    lines = text.split("\n")
    if line >= len(lines):
        return CompletionCheck(True, Verdict(LABEL_UNVERIFIED, "position past the end of the document"))
    offset = sum(len(ln) + 1 for ln in lines[:line]) + min(column, len(lines[line]))
    new_text = text[:offset] + completion + text[offset:]
    rel = os.path.relpath(path, root) if path and root else (path or "<buffer>")
    change = Change(root=root or "", files={rel: new_text}, original={rel: text})
    v = verifier or Verifier(None)
    syntax = v.check_syntax(change)
    if syntax.status == "failed":
        return CompletionCheck(False, Verdict(LABEL_FAILED, "syntax error", (syntax,), rejected=True))
    multi_line = "\n" in completion.strip("\n")
    if (
        mode == "syntax"
        or (multi_line_only and not multi_line)
        or root is None
        or verifier is None
        or not rel.endswith(".py")
    ):
        return CompletionCheck(True, Verdict(LABEL_UNVERIFIED, "syntax checked only", (syntax,)))
    # A completion that breaks Python's parse never gets here (the syntax tier above rejects it when the document
    # parsed before); when the document did not parse either, no function can be found and it stays unverified.
    symbols = python_symbols_at(new_text, set(range(line, line + completion.count("\n") + 1)))
    if not symbols:
        return CompletionCheck(True, Verdict(LABEL_UNVERIFIED, "not inside a function", (syntax,)))
    change.symbols = tuple(symbols)
    files = verifier.snapshot_files(change)
    argv, why = verifier.test_command(change, files)
    if argv is None:
        # Nothing would judge it: a sandbox compile/import alone costs a container run per completion and adds
        # little to the parse checks above, so say so instead of paying for it.
        return CompletionCheck(True, Verdict(LABEL_UNVERIFIED, why, (syntax,)))
    verdict = verifier.verify(change, "sandbox", files)
    return CompletionCheck(not verdict.rejected, verdict)


# -- code-action hook -----------------------------------------------------------------------------------------------

_shared: dict[str | None, Verifier] = {}
_shared_lock = threading.Lock()


def shared_verifier(image: str | None = None) -> Verifier:
    """One verifier (and warm sandbox pool) per image for the life of the process: the LSP server's fix actions
    share it, so repeated checks hit the warm pool and the content-hash cache."""
    with _shared_lock:
        if image not in _shared:
            _shared[image] = Verifier(make_sandbox(image=image))
        return _shared[image]


def verify_line_fix(
    path: str,
    text: str,
    start_line: int,
    end_line: int,
    replacement: str,
    *,
    mode: VerifyMode = "sandbox",
    verifier: Verifier | None = None,
) -> Verdict:
    """Verify replacing lines ``start_line..end_line`` (0-based, inclusive) of the buffer ``text`` of ``path`` with
    ``replacement`` — the shape of :class:`codeassist.actions.FixCandidate` — against the file's workspace.

    The LSP server calls this when resolving a fix action and shows ``verdict.display`` in the action's title; it
    blocks (run it off the event loop)."""
    from codeassist.edits import find_root

    root = find_root(path)
    rel = Path(path).resolve().relative_to(root).as_posix()
    lines = text.split("\n")
    new_text = "\n".join([*lines[:start_line], replacement, *lines[end_line + 1 :]])
    change = Change(str(root), {rel: new_text}, {rel: text})
    v = verifier or (shared_verifier() if mode == "sandbox" else Verifier(None))
    return v.verify(change, mode)
