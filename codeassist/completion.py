"""The completion service: complete -> syntax gate -> verify per policy, one implementation for the editor, the CLI and
the benchmarks.

Why a service over :meth:`Engine.complete`: the engine stops at the syntax gate; whether a completion is then checked
against Python's parser or the project's tests, which project's tests, and what the label says were decided twice
(the server and ``codeassist complete``, with different rules). Here there is one rule, :meth:`CompletionService.check`,
and the one project-root rule (:func:`codeassist.project.project_root`; a file in no project is checked for
syntax only). The only knob callers differ in is
:attr:`CompletionPolicy.single_line_tests`: the editor asks on every keystroke and does not make one-line
completions wait for a test run; a script or a benchmark does.

The pieces are separate methods so the editor can show a completion at once and check it afterwards (#11's
"checking…"): :meth:`generate` then :meth:`check`; :meth:`complete` does both.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from codeassist import midtyping
from codeassist.context.languages import get_spec, language_for_path
from codeassist.documents import clamped_offset
from codeassist.engine import CompletionRequest, CompletionResult, Engine
from codeassist.models.backend import CancelCheck
from codeassist.project import NOT_IN_PROJECT, editor_project
from codeassist.pyast import python_symbols_at
from codeassist.verify import (
    LABEL_CHECKING,
    LABEL_FAILED,
    LABEL_UNVERIFIED,
    Change,
    TierVerdict,
    Verdict,
    Verifier,
    VerifyMode,
    syntax_tier,
)


@dataclass(frozen=True)
class CompletionPolicy:
    """How far completions are checked before they are shown. ``verify``: ``off`` (the gate only), ``syntax`` (the
    gate, then tree-sitter and Python's parser on the whole document), ``sandbox`` (also the tests that exercise the
    completed function). ``single_line_tests``: run tests for one-line completions too."""

    verify: VerifyMode = "syntax"
    single_line_tests: bool = True


@dataclass(frozen=True)
class CompletionCheck:
    """Whether to show a completion, and how it was checked."""

    show: bool
    verdict: Verdict

    def to_json(self) -> dict[str, Any]:
        """The LSP status's ``lastCheck``."""
        return {"label": self.verdict.label, "reason": self.verdict.reason, "shown": self.show}


@dataclass
class Completion:
    """A completion and its check (None when there was nothing to check: no text)."""

    result: CompletionResult
    check: CompletionCheck | None

    @property
    def text(self) -> str:
        """What to show: empty when nothing was generated or the check hid it."""
        return self.result.text if self.check is None or self.check.show else ""

    def status_json(self) -> dict[str, Any] | None:
        """The LSP status's ``lastCheck``: the check, plus the shown text's confidence features (so a benchmark
        through the real server can calibrate the stay-silent gate from what users were shown)."""
        if self.check is None:
            if self.result.gate != "unsure" or self.result.confidence is None:
                return None
            # the stay-silent gate hid it: say so, so an empty answer is not a mystery in the status bar
            why = f"the model was unsure (confidence gate; min_logprob {self.result.confidence.min_logprob:.2f})"
            return {"label": "unsure", "reason": why, "shown": False, "confidence": asdict(self.result.confidence)}
        out = self.check.to_json()
        if self.result.confidence is not None:
            out["confidence"] = asdict(self.result.confidence)
        return out


FAILED_MEMORY = 64  # completions remembered as failed by a background check (a few per document is plenty)


def _spliced_key(request: CompletionRequest, result: CompletionResult) -> tuple[str, str]:
    """The file and a hash of the document a completion leads to: the same document gets the same verdict."""
    text = request.text.replace("\r\n", "\n")
    offset = clamped_offset(text, result.line, result.column)
    spliced = text[:offset] + result.text + text[offset:]
    return request.path or "", hashlib.sha256(spliced.encode("utf-8", "surrogatepass")).hexdigest()


# Alternative candidates are samples at this temperature (0.8: distinct from the greedy text often enough on the
# 0.5B, and still code), at most SAMPLES_PER_CANDIDATE tries for each one wanted: duplicates are common.
ALTERNATIVE_TEMPERATURE = 0.8
SAMPLES_PER_CANDIDATE = 2


def _buffer_name(language: str | None) -> str:
    """A name for an unsaved buffer that keeps its language (the syntax checks go by extension)."""
    spec = get_spec(language)
    return f"<buffer>{spec.extensions[0]}" if spec is not None else "<buffer>"


def _shown(reason: str, *tiers: Any) -> CompletionCheck:
    return CompletionCheck(True, Verdict(LABEL_UNVERIFIED, reason, tuple(tiers)))


class CompletionService:
    """Completions over one engine, checked by one verifier (None: no sandbox, so at most the syntax checks)."""

    def __init__(
        self, engine: Engine, verifier: Verifier | None = None, policy: CompletionPolicy | None = None
    ) -> None:
        self.engine = engine
        self.verifier = verifier
        self.policy = policy or CompletionPolicy()
        # (file, document with the completion spliced in) -> the check that failed it (finish_check), oldest first
        self._failed: dict[tuple[str, str], CompletionCheck] = {}

    def complete(self, request: CompletionRequest, cancel: CancelCheck | None = None) -> Completion:
        """Generate, then check per the policy. A completion that fails a check comes back with ``show`` False
        (the result keeps the text, for the record; :attr:`Completion.text` is empty)."""
        result = self.generate(request, cancel)
        if not result.text:
            return Completion(result, None)
        return self.complete_checked(request, result, cancel)

    def complete_pending(self, request: CompletionRequest, cancel: CancelCheck | None = None) -> Completion:
        """Generate and run the cheap checks (the syntax gate and parse) now; under a ``sandbox`` policy, return the
        completion labelled "checking…" for :meth:`finish_check` to settle in the background (with the tests that
        exercise it, or "unverified" and why when none would), so the editor shows it at once instead of waiting
        for the sandbox. It goes into the typed-ahead cache at once (the
        user may type through it while the tests run); :meth:`finish_check` forgets it if they fail."""
        result = self.generate(request, cancel)
        if not result.text:
            return Completion(result, None)
        quick = check_completion(request, result, CompletionPolicy("syntax"), None, cancel,
                                 folders=self.engine.config.workspace_folders)  # fmt: skip
        if not quick.show:
            result.gate = "verify_failed"
            return Completion(result, quick)
        if self.policy.verify != "sandbox":
            return self.complete_checked(request, result, cancel)
        failed = self.known_failure(request, result)
        if failed is not None:  # the same document failed its tests a moment ago: do not flash it again
            result.gate = "verify_failed"
            return Completion(result, failed)
        if not result.cached and result.stop_reason != "cancelled" and not (cancel is not None and cancel()):
            self.engine.remember_suggestion(request, result.text)
        pending = Verdict(LABEL_CHECKING, "running the tests that exercise this function", quick.verdict.tiers)
        return Completion(result, CompletionCheck(True, pending))

    def finish_check(
        self, request: CompletionRequest, result: CompletionResult, cancel: CancelCheck | None = None
    ) -> CompletionCheck:
        """The full check of a completion shown as "checking…" (:meth:`complete_pending`); one that fails is
        forgotten by the typed-ahead cache, so it is never offered again."""
        check = self.check(request, result, cancel)
        if not check.show:
            self.engine.forget_suggestion(request)
            self.remember_failure(request, result, check)
        return check

    def known_failure(self, request: CompletionRequest, result: CompletionResult) -> CompletionCheck | None:
        """The check that failed the document ``result`` leads to a moment ago (:meth:`finish_check`), or None."""
        return self._failed.get(_spliced_key(request, result))

    def remember_failure(self, request: CompletionRequest, result: CompletionResult, check: CompletionCheck) -> None:
        """Remember that the document ``result`` leads to failed ``check``: never shown again (the most recent
        ``FAILED_MEMORY`` documents)."""
        self._failed[_spliced_key(request, result)] = check
        while len(self._failed) > FAILED_MEMORY:
            self._failed.pop(next(iter(self._failed)))

    def complete_checked(
        self, request: CompletionRequest, result: CompletionResult, cancel: CancelCheck | None = None
    ) -> Completion:
        """Check a generated completion per the policy and remember it once it passed."""
        check = self.check(request, result, cancel)
        if not check.show:
            result.gate = "verify_failed"
            self.engine.forget_suggestion(request)  # an earlier entry it came from: never offer it again
        elif not result.cached and result.stop_reason != "cancelled" and not (cancel is not None and cancel()):
            # remembered only once its check is done and passed: :meth:`cached` answers without checking
            self.engine.remember_suggestion(request, result.text)
        return Completion(result, check)

    def complete_candidates(
        self, request: CompletionRequest, n: int, cancel: CancelCheck | None = None, *, pending: bool = False
    ) -> list[Completion]:
        """The greedy completion first, whatever its check said (:meth:`complete`), then up to ``n - 1`` distinct
        alternatives that passed the gate and the same check: samples (``ALTERNATIVE_TEMPERATURE``, seeds 1, 2, …),
        at most ``SAMPLES_PER_CANDIDATE`` tries each, none once the request's deadline has passed or it was
        cancelled. Nothing else is tried when the greedy completion is empty (the model, the gate or the cursor said
        "nothing here"); a sample cut by the deadline (partial) is not offered. ``pending`` (the editor's
        ``verify = sandbox``): :meth:`complete_pending` alone — its tests run after the answer, for that one
        suggestion, so alternatives would be shown before any test judged them."""
        if pending:
            return [self.complete_pending(request, cancel)]
        first = self.complete(request, cancel)
        found = [first]
        seen = {first.result.text.rstrip()}
        for seed in range(1, SAMPLES_PER_CANDIDATE * (n - 1) + 1):
            if not first.result.text or len(found) >= n or (cancel is not None and cancel()):
                break
            if request.deadline is not None and time.monotonic() >= request.deadline:
                break
            sample = dataclasses.replace(request, temperature=ALTERNATIVE_TEMPERATURE, seed=seed)
            result = self.generate(sample, cancel)
            if not result.text or result.partial or result.text.rstrip() in seen:
                continue
            seen.add(result.text.rstrip())
            check = self.check(sample, result, cancel)
            if check.show:
                found.append(Completion(result, check))
        return found

    def cached(self, request: CompletionRequest, cursor: int) -> Completion | None:
        """A suggestion for ``request`` without the model: the rest of an earlier one the user is typing, or the
        same one again. O(a window around ``cursor``), so callers answer it before any debounce. It needs no new
        check: the document it leads to is the one the earlier suggestion was checked in, and a suggestion a check
        hid is forgotten (:meth:`complete`)."""
        result = self.engine.cached_suggestion(request, cursor)
        return Completion(result, None) if result is not None else None

    def generate(self, request: CompletionRequest, cancel: CancelCheck | None = None) -> CompletionResult:
        """The engine's completion (context, model, post-processing, syntax gate), unchecked beyond the gate and not
        yet in the typed-ahead cache (:meth:`complete` puts it there once its check passed)."""
        return self.engine.complete(request, cancel=cancel, remember=False)

    def check(
        self, request: CompletionRequest, result: CompletionResult, cancel: CancelCheck | None = None
    ) -> CompletionCheck:
        """The one rule (:func:`check_completion`) under this service's policy and verifier."""
        return check_completion(
            request, result, self.policy, self.verifier, cancel, folders=self.engine.config.workspace_folders
        )


def check_completion(
    request: CompletionRequest,
    result: CompletionResult,
    policy: CompletionPolicy,
    verifier: Verifier | None,
    cancel: CancelCheck | None = None,
    *,
    folders: tuple[str, ...] = (),
) -> CompletionCheck:
    """The one rule. ``syntax``: hide a completion that adds tree-sitter errors or breaks Python's parse of a
    document that parsed. ``sandbox``: additionally, when the completion lands inside a Python function that
    workspace tests (or a same-file caller's tests) exercise, run them in the project of the file and hide the
    completion if they fail. Nothing is hidden because the sandbox is unavailable or the check was cut: that
    is "unverified", with the reason. ``folders``: the editor's workspace folders (a file in no project inside one
    takes it as its project; :func:`codeassist.project.editor_project`)."""
    mode = policy.verify
    if mode == "off" or not result.text:
        return _shown("verification is off")
    text = request.text.replace("\r\n", "\n")
    offset = clamped_offset(text, result.line, result.column)
    new_text = text[:offset] + result.text + text[offset:]
    path = os.path.abspath(request.path) if request.path else None
    project = editor_project(path, folders) if path else None
    # a file in no project is alone: its folder is neither searched for tests nor shipped to the sandbox
    root = str(project) if project is not None else os.path.dirname(path) if path else None
    rel = os.path.relpath(path, root) if path and root else _buffer_name(request.language)
    change = Change(root=root or "", files={rel: new_text}, original={rel: text})
    parsed = syntax_tier(change)
    mid = midtyping.at(text, offset, language_for_path(rel)) if parsed.status == "failed" else None
    if mid is not None and mid.accepts(result.text):
        # mid-typing the document can be valid only by accident: no worse than any operand there is acceptable
        parsed = syntax_tier(dataclasses.replace(change, original={rel: mid.neutral}))
    if parsed.status == "failed":
        return CompletionCheck(False, Verdict(LABEL_FAILED, "syntax error", (parsed,), rejected=True))
    multi_line = "\n" in result.text.strip("\n")
    if mode == "syntax":
        return _shown("syntax checked only", parsed)
    if path is not None and project is None:
        return _shown(NOT_IN_PROJECT, parsed)
    if not rel.endswith(".py"):
        return _shown("syntax checked only", parsed)
    if path is None:
        return _shown("unsaved buffer: syntax only", parsed)
    if not multi_line and not policy.single_line_tests:
        return _shown("one-line completion: syntax checked only", parsed)
    if verifier is None:
        return _shown("no sandbox: syntax checked only", parsed)
    return _run_tests(verifier, change, result, new_text, parsed, cancel)


def _run_tests(
    verifier: Verifier,
    change: Change,
    result: CompletionResult,
    new_text: str,
    parsed: TierVerdict,
    cancel: CancelCheck | None,
) -> CompletionCheck:
    # A completion that breaks Python's parse never gets here (the syntax tier rejects it when the document
    # parsed before); when the document did not parse either, no function can be found and it stays unverified.
    symbols = python_symbols_at(new_text, set(range(result.line, result.line + result.text.count("\n") + 1)))
    if not symbols:
        return _shown("not inside a function", parsed)
    change.symbols = tuple(symbols)
    files = verifier.snapshot_files(change)
    argv, why = verifier.test_command(change, files)
    if argv is None:
        # Nothing would judge it: a sandbox compile/import alone costs a container run per completion and adds
        # little to the parse checks above, so say so instead of paying for it.
        return _shown(why, parsed)
    verdict = verifier.verify(change, "sandbox", files, cancel=cancel)
    return CompletionCheck(not verdict.rejected, verdict)
