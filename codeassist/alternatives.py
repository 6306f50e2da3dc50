"""A verified replacement for a suggestion its tests rejected (issue 11's "right more often, because we check").

Why: with ``verify = "sandbox"`` the editor shows a completion at once ("checking…") and its tests run afterwards
(:meth:`codeassist.completion.CompletionService.finish_check`). When they fail, the suggestion is withdrawn — and
until now nothing took its place, although the model often has a right answer one sample away. Here, off the
request path (the caller runs it as background work that a new completion cancels), up to ``n`` distinct samples
are drawn (seeds 1, 2, …, at most ``SAMPLES_PER_CANDIDATE`` draws per alternative wanted), each through the syntax
gate and the static checks (:meth:`CompletionService.generate`) and the same test check; the first whose tests pass
is the replacement, labelled "verified: tests pass" and put into the typed-ahead cache for the request, so asking
again at the same place answers it at once. Only a pass counts: a sample the check could not run ("unverified") is
never offered in place of one that failed, and a sample that fails is remembered as failed like the first one.

Two choices make the draws count (measured in bench/RESULTS-verify.md: before them, 0 of 24 draws on real
repositories was ever tested — 14 repeated the failed text, 10 were hidden by the confidence gate):
- the stay-silent confidence gate is off for these samples (``CompletionRequest.confidence_gate``): nothing is shown
  unless its tests pass, a stronger judge than a threshold calibrated on greedy answers (sampled tokens score lower);
- every draw is told the texts already seen (the failed one and every alternative tried: a repeat would be
  discarded anyway) and never finishes one of them (``CompletionRequest.avoid``, ``ban``): it branches off where
  the model had an alternative, not at a fixed token — a failed text often shares a correct prefix with the right
  one (codeassist/models/avoid.py says how the step is chosen). Before it, about half the draws of the 1.5B repeated
  the failed text at any temperature: top-p keeps a ≳98% token as the whole nucleus;
- a draw that still repeats a text already seen (a backend that cannot steer, or a text that post-processing turns
  into a seen one) raises the temperature of the next draws by ``REPEAT_TEMPERATURE_STEP``, up to
  ``MAX_ALTERNATIVE_TEMPERATURE``: a repeat says the distribution is concentrated on seen texts.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from codeassist.completion import (
    ALTERNATIVE_TEMPERATURE,
    SAMPLES_PER_CANDIDATE,
    Completion,
    CompletionCheck,
    CompletionService,
)
from codeassist.documents import offset_at
from codeassist.engine import CompletionRequest, CompletionResult
from codeassist.models.backend import CancelCheck

# A draw that repeats a seen text raises the next draws' temperature by this much (0.8 -> 1.05 -> 1.3): top-p 0.95
# keeps the samples code at 1.3, and the tests, not the temperature, decide what is shown.
REPEAT_TEMPERATURE_STEP = 0.25
MAX_ALTERNATIVE_TEMPERATURE = 1.3


@dataclass
class AlternativeSearch:
    """What the search found (None: nothing verified) and what it cost. ``stopped``: "found", "exhausted" (every
    draw spent), "cancelled" (the caller gave up: a newer completion of the document) or "deadline"."""

    found: Completion | None
    tried: int = 0  # distinct alternatives whose tests ran (or were known to fail)
    samples: int = 0  # draws from the model
    stopped: str = "exhausted"
    failed_texts: tuple[str, ...] = ()  # alternatives whose tests failed too
    # draws that were no alternative: the confidence gate hid them ("unsure"; never, since the gate is off for
    # alternatives — kept so the record says so), nothing or a cut text came back, or the text was one already seen
    gated: int = 0
    empty: int = 0
    duplicates: int = 0
    temperature: float = ALTERNATIVE_TEMPERATURE  # of the last draw (raised by repeats)
    # draws turned off a seen text by the ban (token level, codeassist/models/avoid.py); None: the ban was off, or
    # the backend could not apply it (a remote server)
    steered: int | None = None

    def to_json(self) -> dict[str, object]:
        """For the status's ``lastCheck`` and logs (no code: only counts and how it ended)."""
        return {"tried": self.tried, "samples": self.samples, "stopped": self.stopped, "gated": self.gated,
                "empty": self.empty, "duplicates": self.duplicates,
                "temperature": round(self.temperature, 2), "steered": self.steered}  # fmt: skip


def banned_texts(request: CompletionRequest, seen: set[str]) -> tuple[str, ...]:
    """What a draw must not finish: every seen text, and each followed by the rest of the cursor's line when there
    is one (the model often types it again, e.g. a closing bracket; post-processing cuts that overlap, so such a
    draw would come back as the seen text)."""
    offset = offset_at(request.text, request.line, request.column, where=request.path or "document")
    rest = request.text[offset:].split("\n", 1)[0].strip()
    return tuple(sorted(seen | ({t + rest for t in seen} if rest else set())))


def is_test_failure(check: CompletionCheck) -> bool:
    """The check ran the tests and they failed — not "unverified" (nothing judged it, the sandbox was unavailable,
    the run was cancelled), which says nothing about the code, and not a syntax rejection (never shown at all)."""
    return not check.show and check.verdict.rejected and check.verdict.reason == "tests fail"


def find_verified_alternative(
    service: CompletionService,
    request: CompletionRequest,
    failed: CompletionResult,
    n: int,
    cancel: CancelCheck | None = None,
    *,
    deadline: float | None = None,
    ban: bool = True,
) -> AlternativeSearch:
    """Up to ``n`` distinct alternatives to ``failed`` (a completion for ``request`` whose tests failed), each gated
    and checked by ``service``; stop at the first whose tests pass. ``cancel`` is polled between samples and handed
    to the model and the sandbox (a cancelled run kills the test job); ``deadline`` (``time.monotonic``) bounds the
    whole search, polled the same way. A passing alternative is remembered in the typed-ahead cache for
    ``request``; a failing one in the service's failed memory. ``ban``: steer each draw off the texts seen so far
    (False: sample without it, as before; kept for measuring the ban against its absence)."""
    search = AlternativeSearch(None)
    if n <= 0:
        return search

    def stop() -> bool:
        return (cancel is not None and cancel()) or (deadline is not None and time.monotonic() >= deadline)

    seen = {failed.text.rstrip()}
    failures: list[str] = []
    for seed in range(1, SAMPLES_PER_CANDIDATE * n + 1):
        if search.tried >= n:
            break
        if stop():
            search.stopped = "cancelled" if cancel is not None and cancel() else "deadline"
            break
        search.temperature = min(
            ALTERNATIVE_TEMPERATURE + REPEAT_TEMPERATURE_STEP * search.duplicates, MAX_ALTERNATIVE_TEMPERATURE
        )
        avoid = banned_texts(request, seen) if ban else ()
        sample = dataclasses.replace(
            request, temperature=search.temperature, seed=seed, confidence_gate=False, avoid=avoid
        )
        result = service.generate(sample, stop)
        search.samples += 1
        if result.branched is not None:
            search.steered = (search.steered or 0) + int(result.branched > 0)
        key = result.text.rstrip()
        if not result.text or result.partial or result.stop_reason == "cancelled" or key in seen:
            search.gated += int(result.gate == "unsure")
            search.empty += int(result.gate != "unsure" and (not result.text or result.partial))
            search.duplicates += int(bool(result.text) and not result.partial and key in seen)
            continue
        seen.add(key)
        search.tried += 1
        if service.known_failure(sample, result) is not None:
            continue  # failed a moment ago (the same document): never offered again
        check = service.check(sample, result, stop)
        if check.show and check.verdict.verified and not (cancel is not None and cancel()):
            service.engine.remember_suggestion(request, result.text)
            search.found, search.stopped = Completion(result, check), "found"
            break
        if is_test_failure(check):
            service.remember_failure(sample, result, check)
            failures.append(result.text)
    search.failed_texts = tuple(failures)
    return search
