"""The syntax gate: never show a suggestion that breaks the file's syntax.

Why: none of the anchor tools checks this (anchors §10), and small models often produce a plausible first line followed
by half a statement. Tree-sitter is already loaded and re-parsing costs milliseconds, so we splice the candidate into
the document and compare ERROR/MISSING node counts with the document as it was. A candidate that adds errors is
truncated to its longest prefix (at line, then word boundaries) that does not, or dropped. Counters say how often each
happens, so the gate's effect can be reported.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass

from codeassist import midtyping, syntax
from codeassist.context.languages import LanguageSpec, resolve_spec

_WORD_BOUNDARY = re.compile(r"[\s(){}\[\],;:.]")


@dataclass(frozen=True)
class GateResult:
    text: str
    action: str  # pass | truncated | dropped | skipped (no grammar / empty candidate)
    errors_before: int = 0
    errors_after: int = 0
    parses: int = 0
    ms: float = 0.0


@dataclass
class GateStats:
    passed: int = 0
    truncated: int = 0
    dropped: int = 0
    skipped: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class SyntaxGate:
    """Checks candidates against the document; thread-safe counters."""

    def __init__(self, *, max_parses: int = 24, time_budget_ms: float = 40.0) -> None:
        self.max_parses = max_parses
        self.time_budget_ms = time_budget_ms
        self.stats = GateStats()
        self._lock = threading.Lock()

    def _count(self, action: str) -> None:
        with self._lock:
            setattr(self.stats, action if action != "pass" else "passed",
                    getattr(self.stats, action if action != "pass" else "passed") + 1)  # fmt: skip

    def check(
        self,
        text: str,
        offset: int,
        candidate: str,
        *,
        path: str | None = None,
        language: str | None = None,
        errors_before: int | None = None,
    ) -> GateResult:
        """Splice ``candidate`` at code-point ``offset`` of ``text``; keep, truncate or drop it."""
        spec = resolve_spec(path, language)
        if spec is None or not candidate.strip():
            self._count("skipped")
            return GateResult(candidate, "skipped")
        result = gate(text, offset, candidate, spec, errors_before=errors_before, max_parses=self.max_parses,
                      time_budget_ms=self.time_budget_ms)  # fmt: skip
        self._count(result.action)
        return result


def _cut_points(candidate: str) -> list[int]:
    """Candidate prefix lengths to try, longest first: line ends, then word boundaries within the first line."""
    points: list[int] = []
    pos = len(candidate)
    while True:
        nl = candidate.rfind("\n", 0, pos)
        if nl <= 0:
            break
        points.append(nl)
        pos = nl
    first_end = candidate.find("\n")
    first_end = len(candidate) if first_end < 0 else first_end
    words = [m.start() for m in _WORD_BOUNDARY.finditer(candidate, 0, first_end)] + [
        m.end() for m in _WORD_BOUNDARY.finditer(candidate, 0, first_end)]  # fmt: skip
    points.extend(sorted({w for w in words if 0 < w < first_end}, reverse=True))
    seen: set[int] = set()
    out = []
    for p in points:
        if p not in seen and candidate[:p].strip():
            seen.add(p)
            out.append(p)
    return out


def gate(
    text: str,
    offset: int,
    candidate: str,
    spec: LanguageSpec,
    *,
    errors_before: int | None = None,
    max_parses: int = 24,
    time_budget_ms: float = 40.0,
) -> GateResult:
    """Pure gate logic (no counters). A candidate passes when it adds no errors to the document as it is or, where
    the cursor waits for an operand, to the document with a neutral one there (:mod:`codeassist.midtyping`: mid-typing,
    the document as it is can be valid only by accident)."""
    t0 = time.perf_counter()
    head, tail = text[:offset], text[offset:]
    # through the syntax module's cache: the verifier asks about the same spliced text next
    before = errors_before if errors_before is not None else syntax.error_count(text, spec.name)
    parses = 0 if errors_before is not None else 1

    mid: list[midtyping.MidTyping | None] = []  # found on the first trial that needs it, then kept

    def adds_none(trial: str) -> tuple[bool, int]:
        nonlocal parses
        n = syntax.error_count(head + trial + tail, spec.name)
        parses += 1
        if n <= before:
            return True, n
        if not mid:
            mid.append(midtyping.at(text, offset, spec.name))
            parses += mid[0] is not None  # the neutral document, once: the syntax cache keeps it
        return mid[0] is not None and mid[0].accepts(trial), n

    ok, after = adds_none(candidate)
    if ok:
        return GateResult(candidate, "pass", before, after, parses, (time.perf_counter() - t0) * 1000)
    for cut in _cut_points(candidate):
        if parses >= max_parses or (time.perf_counter() - t0) * 1000 > time_budget_ms:
            break
        trial = candidate[:cut].rstrip()
        ok, n = adds_none(trial)
        if ok:
            return GateResult(trial, "truncated", before, n, parses, (time.perf_counter() - t0) * 1000)
    return GateResult("", "dropped", before, after, parses, (time.perf_counter() - t0) * 1000)
