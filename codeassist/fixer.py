"""The fix pipeline: problem -> chat prompt -> k candidates -> concurrent sandbox verification -> ranked fixes.

Why k candidates: a 0.5B model often gets a fix right on the second or fourth sample but not greedily. Sampling a
few and *running the tests* on each turns a weak generator into a useful fixer, and the label tells the user which
suggestions were actually checked. Candidates are generated one at a time (one model, serialised through the
engine's lock so the LSP server's completions can interleave) while earlier ones are verified concurrently on the
sandbox's warm pool.

Ranking: verified first (tests ran and passed), then "compiles", then "unverified"; candidates that failed a check
are never offered as fixes. Among equals the smaller diff wins, then the earlier (greedy first) candidate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from codeassist.chat import chat_tokens
from codeassist.edits import diff_size, unified_diff
from codeassist.engine import Engine
from codeassist.errors import InputError
from codeassist.fix_prompt import build_messages, extract_replacement
from codeassist.fix_target import FixTarget
from codeassist.models.backend import CancelCheck, GenerationParams
from codeassist.verify import LABEL_UNVERIFIED, Change, Verdict, Verifier, VerifyMode


@dataclass
class FixConfig:
    """Knobs of the pipeline. ``budget_s`` is the latency budget: once a candidate is verified and this much time
    has passed, no more candidates are generated. ``deadline_s`` stops generation whatever happened."""

    k: int = 5
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int = 0
    max_tokens: int | None = None  # None: sized from the target's length
    budget_s: float = 20.0
    deadline_s: float | None = 300.0
    stop_at_first_verified: bool = False
    verify: VerifyMode = "sandbox"
    workers: int = 2
    test_command: tuple[str, ...] | None = None


@dataclass
class RankedFix:
    """One de-duplicated candidate with its verdict."""

    index: int
    temperature: float
    replacement: str
    new_text: str
    diff: str
    diff_lines: int
    verdict: Verdict
    generation_ms: float = 0.0

    def sort_key(self) -> tuple[int, int, int]:
        return (self.verdict.rank, self.diff_lines, self.index)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "temperature": self.temperature, "diff": self.diff, "diff_lines": self.diff_lines,
            "label": self.verdict.display, "verdict": self.verdict.to_json(),
            "generation_ms": round(self.generation_ms, 1),
        }  # fmt: skip


@dataclass
class FixOutcome:
    target: FixTarget
    candidates: list[RankedFix] = field(default_factory=list)
    generated: int = 0
    duplicates: int = 0
    unusable: int = 0
    elapsed_s: float = 0.0
    time_to_verified_s: float | None = None
    stopped: str = "k"  # k | budget | deadline | first_verified | cancelled

    @property
    def best(self) -> RankedFix | None:
        """The best offerable candidate (never one that failed a check)."""
        ok = [c for c in self.candidates if not c.verdict.rejected]
        return min(ok, key=RankedFix.sort_key) if ok else None

    def to_json(self) -> dict[str, Any]:
        best = self.best
        return {
            "path": self.target.rel, "root": self.target.root, "kind": self.target.kind, "symbol": self.target.symbol,
            "lines": [self.target.start_line + 1, self.target.end_line + 1], "error": self.target.error,
            "best": best.to_json() if best else None, "label": best.verdict.display if best else None,
            "verified": bool(best and best.verdict.verified), "candidates": [c.to_json() for c in self.candidates],
            "generated": self.generated, "duplicates": self.duplicates, "unusable": self.unusable,
            "elapsed_s": round(self.elapsed_s, 2), "time_to_verified_s": self.time_to_verified_s,
            "stopped": self.stopped,
        }  # fmt: skip


# -- the pipeline ---------------------------------------------------------------------------------------------------


class Fixer:
    """Generates and verifies fixes with one engine and one verifier (both shared, both thread-safe)."""

    def __init__(self, engine: Engine, verifier: Verifier, config: FixConfig | None = None) -> None:
        self.engine = engine
        self.verifier = verifier
        self.config = config or FixConfig()

    def _generate(
        self, prompt: list[int], index: int, max_tokens: int, cancel: CancelCheck | None, max_lines: int = 200
    ) -> tuple[str, float]:
        cfg = self.config
        temperature = 0.0 if index == 0 else cfg.temperature
        params = GenerationParams(
            max_tokens=max_tokens, temperature=temperature, top_p=cfg.top_p, seed=cfg.seed + index
        )

        def keep_going(text: str) -> bool:
            return text.count("```") < 2 and text.count("\n") <= max_lines

        t0 = time.perf_counter()
        with self.engine.model_lock:  # the server shares this engine: never interleave with its completions
            gen = self.engine.backend.generate(prompt, params, on_text=keep_going, cancel=cancel)
        return gen.text, (time.perf_counter() - t0) * 1000

    def candidates_for(
        self,
        target: FixTarget,
        *,
        cancel: CancelCheck | None = None,
        on_candidate: Callable[[RankedFix], None] | None = None,
    ) -> FixOutcome:
        """Run the pipeline on ``target``; candidates come back ranked (best first)."""
        cfg = self.config
        started = time.monotonic()
        outcome = FixOutcome(target)
        backend = self.engine.backend
        messages = build_messages(target)
        with self.engine.model_lock:
            prompt = chat_tokens(backend, messages)
        code_tokens = len(backend.tokenize(target.code))
        # a fix rewrites about as much as it got; an instruction (docstrings, type hints) may add more
        slack = code_tokens * 2 + 96 if target.instruction else code_tokens * 3 // 2 + 32
        max_tokens = cfg.max_tokens or min(1024, slack)
        room = backend.info.n_ctx - len(prompt) - 1
        if room < 32:
            raise InputError(f"{target.rel}: the code and error are too long for the model context")
        max_tokens = min(max_tokens, room)
        max_lines = target.code.count("\n") * 2 + 12  # an answer much longer than the target has gone off the rails
        seen: set[str] = {_norm(target.code)}
        lines = target.text.split("\n")
        futures: list[Future[RankedFix]] = []
        first_verified: list[float] = []
        lock_v = threading.Lock()

        def check(rf: RankedFix) -> RankedFix:
            change = Change(
                target.root, {target.rel: rf.new_text}, {target.rel: target.text},
                (target.symbol,) if target.symbol else (), cfg.test_command,
            )  # fmt: skip
            rf.verdict = self.verifier.verify(change, cfg.verify)
            if rf.verdict.verified:
                with lock_v:
                    first_verified.append(time.monotonic() - started)
            if on_candidate is not None:
                on_candidate(rf)
            return rf

        with ThreadPoolExecutor(max_workers=max(1, cfg.workers), thread_name_prefix="codeassist-verify") as pool:
            for index in range(cfg.k):
                elapsed = time.monotonic() - started
                if cancel is not None and cancel():
                    outcome.stopped = "cancelled"
                    break
                if first_verified and (cfg.stop_at_first_verified or elapsed >= cfg.budget_s):
                    outcome.stopped = "first_verified" if cfg.stop_at_first_verified else "budget"
                    break
                if cfg.deadline_s is not None and elapsed >= cfg.deadline_s:
                    outcome.stopped = "deadline"
                    break
                answer, gen_ms = self._generate(prompt, index, max_tokens, cancel, max_lines)
                outcome.generated += 1
                replacement = extract_replacement(answer, target)
                if replacement is None:
                    outcome.unusable += 1
                    continue
                key = _norm(replacement)
                if key in seen:
                    outcome.duplicates += 1
                    continue
                seen.add(key)
                new_text = "\n".join([*lines[: target.start_line], replacement, *lines[target.end_line + 1 :]])
                if target.text.endswith("\n") and not new_text.endswith("\n"):
                    new_text += "\n"  # a whole-file rewrite keeps the final newline
                rf = RankedFix(
                    index=index, temperature=0.0 if index == 0 else cfg.temperature, replacement=replacement,
                    new_text=new_text, diff=unified_diff(target.rel, target.text, new_text),
                    diff_lines=diff_size(target.text, new_text), verdict=Verdict(LABEL_UNVERIFIED, "not checked yet"),
                    generation_ms=gen_ms,
                )  # fmt: skip
                futures.append(pool.submit(check, rf))
                if cfg.stop_at_first_verified:
                    # the greedy-first candidate is cheap to wait for and often right: check before sampling more
                    futures[-1].result()
            outcome.candidates = sorted((f.result() for f in futures), key=RankedFix.sort_key)
        outcome.elapsed_s = time.monotonic() - started
        outcome.time_to_verified_s = round(min(first_verified), 2) if first_verified else None
        return outcome


def _norm(code: str) -> str:
    return "\n".join(ln.rstrip() for ln in code.strip("\n").split("\n"))
