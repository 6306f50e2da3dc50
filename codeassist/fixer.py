"""The fix service: target -> the one fix prompt -> k candidates -> concurrent verification -> ranked fixes.

Used unchanged by the editor's quick fix (``server/code_actions.py``: :meth:`FixConfig.for_editor`, a few
candidates, stopping at the first one no check rejects), ``codeassist fix`` (k = 5), batch refactors and the bug-fix
benchmark (``bench/bugfix_bench.py``), so the benchmark measures what users get.

Why k candidates: a 0.5B model often gets a fix right on the second or fourth sample but not greedily. Sampling a
few and *running the tests* on each turns a weak generator into a useful fixer, and the label tells the user which
suggestions were actually checked. Candidates are generated one at a time (one model, behind the engine's lock so the
LSP server's completions can interleave) while earlier ones are verified concurrently on the sandbox's warm pool.

What is asked: with ``focus`` (opt-in) and tests to run, the failing tests first run once under a line
collector (:mod:`codeassist.localize`), and the first candidates answer narrow questions -- "the tests point at this
statement; here is the assertion; rewrite the statement" -- one per suspicious statement, before the whole-function
prompt (:mod:`codeassist.fix_focus`); the plans are asked greedily in turn, then sampled in the same order.

Cloze candidates come first (``cloze``; tests in the sandbox only): each one-line statement cut and filled by the
model as a completion, never as it stands (:mod:`codeassist.fix_cloze`); the most suspicious answers are checked.

Ranking: verified first (tests ran and passed), then "compiles", then "unverified"; candidates that failed a check
are never offered as fixes. Among equals the smaller diff wins, then the earlier (greedy first) candidate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from codeassist.alternatives import REPEAT_TEMPERATURE_STEP
from codeassist.completion import SAMPLES_PER_CANDIDATE
from codeassist.edits import diff_size, unified_diff
from codeassist.engine import Engine
from codeassist.errors import InputError
from codeassist.fix_cloze import Cloze, cloze, cloze_lines
from codeassist.fix_focus import PromptPlan, plan_prompts
from codeassist.fix_outcome import FixOutcome, RankedFix
from codeassist.fix_prompt import build_messages, failure_text, repair_messages
from codeassist.fix_target import FixTarget
from codeassist.localize import Localization, localize
from codeassist.models.backend import CancelCheck, GenerationParams
from codeassist.verify import LABEL_UNVERIFIED, Change, Verdict, Verifier, VerifyMode

# Samples hotter than this stop being fixes of the code shown (0.5B and 1.5B both drift into rewrites past ~1.1).
MAX_FIX_TEMPERATURE = 1.1


@dataclass
class FixConfig:
    """Knobs of the pipeline. ``budget_s`` is the latency budget: once a candidate is verified and this much time
    has passed, no more candidates are generated. ``deadline_s`` stops generation whatever happened.
    ``k`` counts distinct candidates: an answer seen before (or the code unchanged) is not checked again and does
    not use up one of the k -- at most ``SAMPLES_PER_CANDIDATE`` generations per candidate wanted; on the realistic
    bug set the 1.5B's greedy answer and samples often repeat each other or echo the bug.
    ``stop_at_first_verified`` stops at the first candidate verified by tests; ``stop_at_first_ok`` already at the
    first one that no check rejected (the editor's rule: with tests that is the first verified one, without tests
    or with syntax-only checks there is nothing better to wait for).

    ``deadline_s`` is the wall-clock budget of the whole loop: it is polled between tokens and during sandbox runs,
    so a generation or check in flight stops too, and the outcome says ``stopped = "deadline"``. ``repair`` (opt-in):
    the self-repair loop -- a rejected candidate's failure (the assertion, the traceback's tail) and its code go into
    the next candidate's prompt; the loop then waits for each check before generating the next candidate."""

    k: int = 5
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int = 0
    max_tokens: int | None = None  # None: sized from the target's length
    budget_s: float = 20.0
    deadline_s: float | None = 300.0  # the editor's is fix_budget_ms (20 s by default)
    repair: bool = False  # off by default: on the mutation set it lost 3 of 4 fixes (see bench --repair)
    localize: bool = False  # rank the target file's lines by Ochiai first (evidence in the JSON; one sandbox run)
    # opt-in: ask narrow questions first -- the localisation's top statements, one prompt each, before the
    # whole-function prompt (fix_focus.py; runs the localisation, about 1 s, for test targets checked in the
    # sandbox). Off by default: with the localisation working on real suites, on the 23 realistic bugs it singles out
    # it verified 14, as many as the whole prompt (3 won, 3 lost), sooner where both did (median 13.8 s vs 19.0 s)
    # but at more time on the bugs it did not fix; see bench/RESULTS-verify.md
    focus: bool = False
    # cloze answers checked before the chat prompts (fix_cloze.py), with sandbox verification only: forced off the line
    # as it stands, only tests can tell them apart; 0: none
    cloze: int = 3
    cloze_share: float = 1.0  # of ``deadline_s`` the cloze lines may take (the editor's quick fix: half)
    stop_at_first_verified: bool = False
    stop_at_first_ok: bool = False
    verify: VerifyMode = "sandbox"
    workers: int = 2
    test_command: tuple[str, ...] | None = None

    @classmethod
    def for_editor(cls, verify: VerifyMode, *, k: int = 3, deadline_s: float | None = None) -> FixConfig:
        """The quick fix: the user waits, so a few candidates (greedy first), stopping at the first good one."""
        return cls(
            k=k, temperature=0.7, verify=verify, stop_at_first_ok=True, budget_s=0.0, deadline_s=deadline_s, workers=1,
            cloze_share=0.5,
        )  # fmt: skip


# -- the pipeline ---------------------------------------------------------------------------------------------------


class Fixer:
    """Generates and verifies fixes with one engine and one verifier (both shared, both thread-safe)."""

    def __init__(self, engine: Engine, verifier: Verifier, config: FixConfig | None = None) -> None:
        self.engine = engine
        self.verifier = verifier
        self.config = config or FixConfig()

    def candidates_for(
        self,
        target: FixTarget,
        *,
        cancel: CancelCheck | None = None,
        on_candidate: Callable[[RankedFix], None] | None = None,
    ) -> FixOutcome:
        """Run the pipeline on ``target``; candidates come back ranked (best first). ``cancel`` stops generation and
        the sandbox checks in flight (what was finished is still ranked and returned)."""
        started = time.monotonic()
        localization = None
        cfg = self.config
        if (cfg.localize or cfg.focus or cfg.cloze) and cfg.verify == "sandbox" and target.kind == "test":
            localization = self.localize(target, _deadline_cancel(cancel, started, cfg.deadline_s))
        run = _Run(self, target, cancel, on_candidate, started, localization)
        with ThreadPoolExecutor(
            max_workers=max(1, self.config.workers), thread_name_prefix="codeassist-verify"
        ) as pool:
            distinct = 0
            first_stop = run.clozes(pool) if cfg.cloze and target.kind == "test" and cfg.verify == "sandbox" else None
            for index in range(self.config.k * SAMPLES_PER_CANDIDATE):
                stop = first_stop or (run.stop_reason() if distinct < self.config.k else "k")
                if stop is not None:
                    run.outcome.stopped = stop
                    break
                candidate = run.generate(index)
                if candidate is None:
                    continue
                distinct += 1
                run.futures.append(pool.submit(run.check, candidate))
                if self.config.stop_at_first_verified or self.config.stop_at_first_ok or self.config.repair:
                    # the greedy-first candidate is cheap to wait for and often right: check before sampling more
                    run.futures[-1].result()
            run.outcome.candidates = sorted((f.result() for f in run.futures), key=RankedFix.sort_key)
        if run.outcome.stopped in ("k", "cancelled") and run.past_deadline():
            run.outcome.stopped = "deadline"  # the budget cut what was in flight
        run.outcome.elapsed_s = time.monotonic() - run.started
        run.outcome.time_to_verified_s = round(min(run.first_verified), 2) if run.first_verified else None
        return run.outcome

    def localize(self, target: FixTarget, cancel: CancelCheck | None = None) -> Localization:
        """Fault localisation over the tests that judge ``target`` (:mod:`codeassist.localize`)."""
        change = Change(target.root, {target.rel: target.text}, {target.rel: target.text},
                        (target.symbol,) if target.symbol else (), self.config.test_command)  # fmt: skip
        files = self.verifier.snapshot_files(change)
        argv, why = self.verifier.test_command(change, files)
        if argv is None or "pytest" not in argv:
            return Localization(error=f"no pytest run to localise with ({why})")

        def run(fs: Mapping[str, bytes], cmd: tuple[str, ...]) -> tuple[str, str]:
            res = self.verifier.run_files(fs, cmd, self.verifier.budget.tests_s, cancel)
            return res.status, res.stdout + res.stderr

        return localize(run, files, target.rel, argv)


class _Run:
    """One :meth:`Fixer.candidates_for` call: the prompt, what was seen, and the stopping rules."""

    def __init__(
        self,
        fixer: Fixer,
        target: FixTarget,
        cancel: CancelCheck | None,
        on_candidate: Callable[[RankedFix], None] | None,
        started: float,
        localization: Localization | None,
    ) -> None:
        self.fixer, self.cfg, self.target = fixer, fixer.config, target
        self.user_cancel, self.on_candidate = cancel, on_candidate
        self.started = started
        self.outcome = FixOutcome(target, deadline_s=self.cfg.deadline_s, localization=localization)
        whole = PromptPlan(build_messages(target), target)
        self.plans = plan_prompts(target, localization) if self.cfg.focus else [whole]
        self.feedback: RankedFix | None = None  # the latest rejected candidate, for the next prompt
        engine = fixer.engine
        prompt_tokens = max(engine.chat_prompt_tokens(p.messages) for p in self.plans)
        # A fix rewrites about as much as it got; an instruction (docstrings, type hints) may add more. Small models
        # often answer with everything they were shown (the whole function around a body target, the lines around a
        # line target): the budget must fit that echo, or the answer is cut before the fixed line and lost.
        before, after = target.surrounding()
        shown = "\n".join([*before, target.function, *after])
        code_tokens = engine.count_tokens(shown)
        slack = code_tokens * 2 + 96 if target.instruction else code_tokens * 3 // 2 + 32
        room = engine.info.n_ctx - prompt_tokens - 1
        if room < 32:
            raise InputError(f"{target.rel}: the code and error are too long for the model context")
        self.max_tokens = min(self.cfg.max_tokens or min(1024, slack), room)
        self.max_lines = shown.count("\n") * 2 + 12  # an answer much longer than what it was shown went off the rails
        self.seen: set[str] = {_norm(target.text)}
        self.lines = target.text.split("\n")
        self.futures: list[Future[RankedFix]] = []
        self.first_verified: list[float] = []
        self.good: list[float] = []  # candidates no check rejected
        self._lock = threading.Lock()

    def past_deadline(self) -> bool:
        return self.cfg.deadline_s is not None and time.monotonic() - self.started >= self.cfg.deadline_s

    def cancel(self) -> bool:
        """The caller's cancel, or the loop's wall-clock budget (polled by generation and the sandbox runs)."""
        return (self.user_cancel is not None and self.user_cancel()) or self.past_deadline()

    def stop_reason(self) -> str | None:
        cfg, elapsed = self.cfg, time.monotonic() - self.started
        if self.user_cancel is not None and self.user_cancel():
            return "cancelled"
        if self.first_verified and (cfg.stop_at_first_verified or elapsed >= cfg.budget_s):
            return "first_verified" if cfg.stop_at_first_verified else "budget"
        if self.good and cfg.stop_at_first_ok:
            return "first_ok"
        if cfg.deadline_s is not None and elapsed >= cfg.deadline_s:
            return "deadline"
        return None

    def generate(self, index: int) -> RankedFix | None:
        """Candidate ``index``, or None when the answer was unusable or seen before. The plans (the narrow questions,
        then the whole prompt) are asked greedily in turn, then the sampled ones (:attr:`PromptPlan.sampled`) in
        the same order."""
        cfg, greedy = self.cfg, index < len(self.plans)
        sampled = [p for p in self.plans if p.sampled] or self.plans
        plan = self.plans[index] if greedy else sampled[(index - len(self.plans)) % len(sampled)]
        target = plan.target
        # a repeat (or an echo of the code as it is) says the samples are concentrated on what was seen: the next
        # draws spread wider, as for the editor's alternatives
        spread = REPEAT_TEMPERATURE_STEP * self.outcome.duplicates
        temperature = 0.0 if greedy else min(cfg.temperature + spread, MAX_FIX_TEMPERATURE)
        params = GenerationParams(
            max_tokens=self.max_tokens, temperature=temperature, top_p=cfg.top_p, seed=cfg.seed + index
        )
        messages = plan.messages
        if self.cfg.repair and self.feedback is not None:
            messages = repair_messages(plan.messages, self.feedback.replacement, failure_text(self.feedback.verdict))
            room = self.fixer.engine.info.n_ctx - self.fixer.engine.chat_prompt_tokens(messages) - 1
            if room < min(self.max_tokens, 64):
                messages = plan.messages  # no room for the feedback: ask afresh
            else:
                params.max_tokens = min(self.max_tokens, room)
        self.outcome.prompts.append(messages[-1].content)
        t0 = time.perf_counter()
        gen = self.fixer.engine.generate_chat(messages, params, on_text=self._keep_going, cancel=self.cancel)
        gen_ms = (time.perf_counter() - t0) * 1000
        self.outcome.generated += 1
        replacement = plan.extract(gen.text)
        if replacement is None:
            self.outcome.unusable += 1
            return None
        new_text = "\n".join([*self.lines[: target.start_line], replacement, *self.lines[target.end_line + 1 :]])
        return self._ranked(index, temperature, replacement, new_text, gen_ms)

    def _ranked(self, index: int, temperature: float, replacement: str, new_text: str, gen_ms: float,
                source: str = "chat") -> RankedFix | None:  # fmt: skip
        """A candidate for ``new_text``, or None when that file was seen before (a repeat, or the code unchanged)."""
        target = self.target
        if target.text.endswith("\n") and not new_text.endswith("\n"):
            new_text += "\n"  # a whole-file rewrite keeps the final newline
        key = _norm(new_text)  # plans replace different spans: compare whole files
        if key in self.seen:
            self.outcome.duplicates += 1
            return None
        self.seen.add(key)
        return RankedFix(
            index=index, temperature=temperature, replacement=replacement, new_text=new_text,
            diff=unified_diff(target.rel, target.text, new_text), diff_lines=diff_size(target.text, new_text),
            verdict=Verdict(LABEL_UNVERIFIED, "not checked yet"), generation_ms=gen_ms, source=source,
        )  # fmt: skip

    def clozes(self, pool: ThreadPoolExecutor) -> str | None:
        """The cloze candidates (fix_cloze.py), before any chat prompt. An answer the model would not have written
        as the line stands (the most suspicious kind) is checked as soon as it comes, while the next lines are asked
        (up to ``cfg.cloze`` of them), and a verified one ends the asking: the localisation's best-ranked lines come
        first, so the fault is often among the first few, and a line of real code costs seconds of the 1.5B. Then
        the ``cfg.cloze`` best-ranked answers not checked yet, concurrently. The stop reason when they settle the
        fix (the first verified one, the deadline), else None."""
        lines = cloze_lines(self.target, self.outcome.localization)
        deadline = None if self.cfg.deadline_s is None else self.started + self.cfg.deadline_s * self.cfg.cloze_share
        t0, asked, checked = time.perf_counter(), 0, set[int]()

        def submit(answer: Cloze) -> Future[RankedFix] | None:
            rows = list(self.lines)
            rows[answer.line] = answer.text
            checked.add(answer.line)
            each_ms = (time.perf_counter() - t0) * 1000 / max(1, asked)
            rf = self._ranked(len(checked) - 1, 0.0, answer.text, "\n".join(rows), each_ms, source="cloze")
            if rf is None:
                return None
            self.futures.append(pool.submit(self.check, rf))
            return self.futures[-1]

        def settled() -> bool:  # a check verified (or the budget ran out): the line being asked is not needed
            return self.cancel() or self.stop_reason() is not None

        def at_once(answer: Cloze) -> bool:
            nonlocal asked
            asked += 1
            if not answer.natural and len(checked) < self.cfg.cloze:
                submit(answer)  # checked while the next lines are asked
            return settled()

        found = cloze(self.fixer.engine, self.target, lines, deadline=deadline, cancel=settled, on_answer=at_once)
        self.outcome.cloze_lines = len(lines)
        early = list(self.futures)
        rest = [f for a in found[: self.cfg.cloze] if a.line not in checked and (f := submit(a)) is not None]
        for future in early + rest:  # best suspect first; once one settles the fix, the checks not started are dropped
            future.result()
            if self.stop_reason() is not None:
                self.futures = [f for f in self.futures if not f.cancel()]
                break
        return self.stop_reason()

    def _keep_going(self, text: str) -> bool:
        return text.count("```") < 2 and text.count("\n") <= self.max_lines

    def check(self, rf: RankedFix) -> RankedFix:
        target = self.target
        change = Change(
            target.root, {target.rel: rf.new_text}, {target.rel: target.text},
            (target.symbol,) if target.symbol else (), self.cfg.test_command,
        )  # fmt: skip
        rf.verdict = self.fixer.verifier.verify(change, self.cfg.verify, cancel=self.cancel)
        with self._lock:
            if rf.verdict.rejected:
                self.feedback = rf
            if rf.verdict.verified:
                self.first_verified.append(time.monotonic() - self.started)
            if not rf.verdict.rejected:
                self.good.append(time.monotonic() - self.started)
        if self.on_candidate is not None:
            self.on_candidate(rf)
        return rf


def _deadline_cancel(cancel: CancelCheck | None, started: float, deadline_s: float | None) -> CancelCheck:
    """The caller's cancel or the loop's budget, for work before the loop (the localisation run)."""
    return lambda: (
        (cancel is not None and cancel()) or (deadline_s is not None and time.monotonic() - started >= deadline_s)
    )


def _norm(code: str) -> str:
    return "\n".join(ln.rstrip() for ln in code.strip("\n").split("\n"))
