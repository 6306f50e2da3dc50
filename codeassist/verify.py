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

import dataclasses
import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import asdict

from codeassist import syntax
from codeassist.change import Change, syntax_tier
from codeassist.context.languages import language_for_path
from codeassist.pyast import module_name
from codeassist.sandbox import Limits, RunResult, SandboxConfig, SandboxHealth, config_from_env, health
from codeassist.sandbox.multi import AnySandbox, open_sandbox
from codeassist.testfinder import TEST_FILE, callers_of, edited_symbols, select_tests, target_tests
from codeassist.testrun import TestRun, compare, parse_pytest
from codeassist.verdicts import (
    CHECK_CANCELLED,
    LABEL_CHECKING,
    LABEL_COMPILES,
    LABEL_FAILED,
    LABEL_TESTS,
    LABEL_UNVERIFIED,
    VERIFY_MODES,
    CancelCheck,
    TierBudget,
    TierName,
    TierStatus,
    TierVerdict,
    Verdict,
    VerifyMode,
    judge_comparison,
    judge_run,
    tail,
    without_addopts,
)
from codeassist.walk import read_files

__all__ = [
    "CHECK_CANCELLED", "LABEL_CHECKING", "LABEL_COMPILES", "LABEL_FAILED", "LABEL_TESTS", "LABEL_UNVERIFIED",
    "VERIFY_MODES", "CancelCheck", "Change", "TierBudget", "TierName", "TierStatus", "TierVerdict", "Verdict",
    "Verifier", "VerifyMode", "make_sandbox", "sandbox_config", "sandbox_health", "syntax_tier",
]  # fmt: skip


# -- the verifier ---------------------------------------------------------------------------------------------------


class Verifier:
    """Runs the tiers for :class:`Change` s. Thread-safe; one instance is shared by concurrent candidate checks.

    ``sandbox`` None means no sandbox was configured: every sandbox tier reports ``error`` and candidates are at best
    "unverified". The verifier does not own the sandbox (the caller closes it).
    """

    def __init__(
        self,
        sandbox: AnySandbox | None,
        *,
        budget: TierBudget | None = None,
        cache_size: int = 512,
        test_args: Sequence[str] = (),
        scan_max_age_s: float | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.budget = budget or TierBudget()
        self.test_args = tuple(test_args)
        self._cache: OrderedDict[str, TierVerdict] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._base: dict[str, tuple[float, dict[str, bytes]]] = {}
        self._baselines: dict[str, TestRun] = {}
        self.scan_max_age_s = scan_max_age_s
        self.sandbox_runs = 0
        self.cancelled_runs = 0

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
        """The workspace as it would be after ``change``. The scan of the root is cached; with ``scan_max_age_s``
        (a long-lived verifier, the editor's) it is redone once that old, so files saved since are seen."""
        with self._lock:
            cached = self._base.get(change.root)
        now = time.monotonic()
        if cached is None or (self.scan_max_age_s is not None and now - cached[0] > self.scan_max_age_s):
            base = read_files(change.root)
            with self._lock:
                self._base[change.root] = (now, base)
        else:
            base = cached[1]
        files = dict(base)
        for rel, text in change.files.items():
            files[rel] = text.encode("utf-8")
        return files

    def forget_workspace(self, root: str) -> None:
        """Drop the cached scan of ``root`` (after files were written there)."""
        with self._lock:
            self._base.pop(root, None)

    def file_touched(self, path: str, *, saved: bool) -> None:
        """A file was saved (``saved``) or opened in the editor: drop each cached scan it makes stale — every scan
        holding it when it was saved, a scan missing it when it is new — so a test file written a moment ago is
        among the tests the next check selects, not only after ``scan_max_age_s``."""
        with self._lock:
            for root, (_, base) in list(self._base.items()):
                rel = os.path.relpath(path, root)
                if not rel.startswith(".." + os.sep) and rel != ".." and (saved or rel not in base):
                    del self._base[root]

    def _run(
        self, files: Mapping[str, bytes], argv: Sequence[str], timeout_s: float, cancel: CancelCheck | None
    ) -> RunResult:
        if self.sandbox is None:
            return RunResult("error", None, "", "", 0.0, reason="no sandbox configured")
        limits: Limits = self.sandbox.config.limits
        if limits.timeout_s != timeout_s:
            limits = dataclasses.replace(limits, timeout_s=timeout_s)  # timeout is per run: the pool is still used
        with self._lock:
            self.sandbox_runs += 1
        result = self.sandbox.run(dict(files), list(argv), limits, cancel=cancel)
        if cancel is not None and result.status == "error" and cancel():
            with self._lock:
                self.cancelled_runs += 1
        return result

    def run_files(
        self, files: Mapping[str, bytes], argv: Sequence[str], timeout_s: float, cancel: CancelCheck | None = None
    ) -> RunResult:
        """One sandbox run of ``argv`` over ``files`` (fault localisation's coverage run); status error: not run."""
        return self._run(files, argv, timeout_s, cancel)

    @staticmethod
    def _unchecked(tier: TierName, res: RunResult, argv: tuple[str, ...], cancel: CancelCheck | None) -> TierVerdict:
        """The verdict of a sandbox run that checked nothing (status error): cancelled, or the sandbox failed."""
        if cancel is not None and cancel():
            return TierVerdict(tier, "error", CHECK_CANCELLED, argv, res.wall_s)
        return TierVerdict(tier, "error", f"sandbox unavailable: {res.reason}", argv, res.wall_s)

    # -- tiers ------------------------------------------------------------------------------------------------------

    def check_syntax(self, change: Change) -> TierVerdict:
        """Tier 1 (:func:`syntax_tier`)."""
        return syntax_tier(change)

    def check_compile(
        self, change: Change, files: Mapping[str, bytes] | None = None, cancel: CancelCheck | None = None
    ) -> TierVerdict:
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
        res = self._run(files, argv, self.budget.compile_s, cancel)
        if res.status == "error":
            return self._unchecked("compile", res, argv, cancel)
        if res.status == "passed":
            verdict = TierVerdict("compile", "passed", f"compiled {len(py)}, imported {len(modules)}", argv, res.wall_s)
        else:
            why = res.reason or res.status
            verdict = TierVerdict("compile", "failed", tail(f"{why}\n{res.stdout}{res.stderr}"), argv, res.wall_s)
        self._store(key, verdict)
        return verdict

    def test_command(self, change: Change, files: Mapping[str, bytes]) -> tuple[tuple[str, ...] | None, str]:
        """The argv of the tests tier and a description; None when nothing would run (:mod:`codeassist.testfinder`)."""
        return select_tests(
            change.files, change.original, files, symbols=change.symbols, command=change.test_command,
            test_args=self.test_args,
        )  # fmt: skip

    def check_tests(
        self, change: Change, files: Mapping[str, bytes] | None = None, cancel: CancelCheck | None = None
    ) -> TierVerdict:
        """Tier 3: the tests that exercise the edit, in the sandbox. ``passed`` requires that tests actually ran; a
        pytest run with failures is judged against the same tests on the unmodified code (:mod:`codeassist.testrun`)."""
        files = files if files is not None else self.snapshot_files(change)
        argv, what = self.test_command(change, files)
        if argv is None:
            return TierVerdict("tests", "skipped", what)
        before = {rel: files[rel] for rel in change.files if rel in files}
        for rel in change.files:
            before[rel] = change.original[rel].encode("utf-8") if rel in change.original else b"\0(absent)"
        key = self._key("tests", argv, {**files, **{f"\0before/{k}": v for k, v in before.items()}})
        hit = self._cached(key)
        if hit is not None:
            return hit
        res = self._run(files, argv, self.budget.tests_s, cancel)
        if (retry := without_addopts(argv, res)) is not None:  # the project's addopts stopped pytest from starting
            argv, res = retry, self._run(files, retry, self.budget.tests_s, cancel)
        if res.status == "error":
            return self._unchecked("tests", res, argv, cancel)
        verdict = judge_run(res, argv, what)
        if verdict.status == "failed" and "pytest" in argv and res.exit_code in (1, 2) and self._edits(change):
            verdict = self._against_baseline(change, files, argv, what, res, cancel) or verdict
        self._store(key, verdict)
        return verdict

    @staticmethod
    def _edits(change: Change) -> bool:
        return any(change.original.get(rel) != text for rel, text in change.files.items())

    def _against_baseline(
        self,
        change: Change,
        files: Mapping[str, bytes],
        argv: tuple[str, ...],
        what: str,
        res: RunResult,
        cancel: CancelCheck | None,
    ) -> TierVerdict | None:
        """Re-judge a failed run against the unmodified snapshot's run of the same tests (cached by content hash);
        None when the baseline could not run (the failure then stands). The unmodified snapshot is the document
        before the edit; when its run does not complete (a completion's document is mid-edit: with the line being
        typed missing it can loop until the memory limit, as more-itertools' ``distinct_permutations`` did, and the
        tests after that point never ran, so a doctest that fails on the project's own code was blamed on a correct
        suggestion), or when it does not parse (the line being typed was a block's only line), the files as saved
        are the baseline instead."""
        with self._lock:  # the scan: the edited files as saved
            scan = self._base.get(change.root, (0.0, {}))[1]
            saved = {rel: scan[rel] for rel in change.files if rel in scan}
        base, as_saved = self._unmodified(change, files, {}), self._unmodified(change, files, saved)
        if any(rel.endswith(".py") and syntax.python_error(change.original.get(rel, "")) for rel in change.files):
            base, as_saved = as_saved, base  # a module that does not parse fails every test importing it
        before = self._baseline(base, argv, cancel)
        if before is None and as_saved != base:
            before = self._baseline(as_saved, argv, cancel)
        if before is None:
            return None
        after = parse_pytest(res.stdout + res.stderr)
        symbols = edited_symbols(change.files, change.original, change.symbols)
        symbols += callers_of(change.files, symbols)
        found = compare(after, before, target_tests(files, symbols, list(change.files)))
        return judge_comparison(found, after, argv, what, res)

    @staticmethod
    def _unmodified(change: Change, files: Mapping[str, bytes], saved: Mapping[str, bytes]) -> dict[str, bytes]:
        """``files`` without ``change``: each edited file as ``saved`` has it, else as it was before the edit."""
        base = dict(files)
        for rel in change.files:
            if rel in saved:
                base[rel] = saved[rel]
            elif rel in change.original:
                base[rel] = change.original[rel].encode("utf-8")
            else:
                base.pop(rel, None)
        return base

    def _baseline(self, base: dict[str, bytes], argv: tuple[str, ...], cancel: CancelCheck | None) -> TestRun | None:
        """The tests' outcomes on ``base`` (cached by content); None when the run did not complete."""
        key = self._key("baseline", argv, base)
        with self._lock:
            before = self._baselines.get(key)
        if before is None:
            base_res = self._run(base, argv, self.budget.tests_s, cancel)
            if base_res.status not in ("passed", "failed"):  # error, timeout, oom: tests after the stop never ran
                return None
            before = parse_pytest(base_res.stdout + base_res.stderr)
            with self._lock:
                self._baselines[key] = before
        return before

    # -- all tiers --------------------------------------------------------------------------------------------------

    def verify(
        self,
        change: Change,
        mode: VerifyMode = "sandbox",
        files: Mapping[str, bytes] | None = None,
        *,
        cancel: CancelCheck | None = None,
    ) -> Verdict:
        """Run the tiers allowed by ``mode``, cheapest first, stopping at the first failure. ``files``: the
        workspace snapshot of ``change`` when the caller already took it (:meth:`snapshot_files`). ``cancel`` is
        polled between tiers and during sandbox runs, which it kills: a cancelled check is "unverified"."""
        if mode == "off":
            return Verdict(LABEL_UNVERIFIED, "verification is off")
        tiers: list[TierVerdict] = [self.check_syntax(change)]
        if tiers[0].status == "failed":
            return Verdict(LABEL_FAILED, "syntax error", tuple(tiers), rejected=True)
        if mode == "syntax":
            return Verdict(LABEL_UNVERIFIED, "syntax checked only", tuple(tiers))
        broken = [rel for rel, text in change.files.items() if syntax.problems(text, language_for_path(rel))]
        if broken:
            # Errors the edit did not add (the user is mid-edit elsewhere in the file) make compiling and testing
            # meaningless: a failure would not be the candidate's fault, and a pass is impossible. Say so.
            reason = f"{broken[0]} has other syntax errors; compile and tests not run"
            return Verdict(LABEL_UNVERIFIED, reason, tuple(tiers))
        files = files if files is not None else self.snapshot_files(change)
        for tier in (self.check_compile, self.check_tests):
            if cancel is not None and cancel():
                return Verdict(LABEL_UNVERIFIED, CHECK_CANCELLED, tuple(tiers))
            found = tier(change, files, cancel)
            tiers.append(found)
            if found.status == "failed":
                why = "does not compile/import" if found.tier == "compile" else "tests fail"
                return Verdict(LABEL_FAILED, why, tuple(tiers), rejected=True)
            if found.status == "error":
                return Verdict(LABEL_UNVERIFIED, found.evidence, tuple(tiers))
        tests = tiers[-1]
        if tests.status == "passed" and tests.tests_ran:
            known = tests.pre_existing
            note = (
                f"{len(known)} pre-existing failure(s), not caused by this change: {', '.join(known)}" if known else ""
            )
            return Verdict(LABEL_TESTS, note, tuple(tiers))
        return Verdict(LABEL_COMPILES, tests.evidence.split("\n", 1)[0], tuple(tiers))


def sandbox_config(*, image: str | None = None, pool_size: int = 2) -> SandboxConfig:
    """The sandbox configuration from the environment (``CODEASSIST_SANDBOX_IMAGE`` …), sized for concurrent
    candidate checks, with ``image`` (a setting, a CLI flag) winning."""
    cfg = config_from_env(SandboxConfig(pool_size=pool_size))
    return dataclasses.replace(cfg, image=image) if image else cfg


def make_sandbox(
    *, image: str | None = None, pool_size: int = 2, docker_hosts: Sequence[str] = (), tls_dir: str | None = None
) -> AnySandbox:
    """A sandbox for a verifier (on the Docker engines named, if any); its creator closes it."""
    return open_sandbox(sandbox_config(image=image, pool_size=pool_size), docker_hosts, tls_dir)


def sandbox_health(*, image: str | None = None) -> SandboxHealth:
    """Whether the sandbox can run checks now (daemon reachable, image present); bounded and never raises."""
    return health(sandbox_config(image=image))
