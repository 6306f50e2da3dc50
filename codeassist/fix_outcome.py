"""What the fix service (:mod:`codeassist.fixer`) answers: the ranked candidates and how the search ended, for the
CLI's JSON, the editor's code actions and the benchmarks alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codeassist.fix_target import FixTarget
from codeassist.localize import Localization
from codeassist.verify import Verdict


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
    source: str = "chat"  # chat | cloze (fix_cloze.py)

    def sort_key(self) -> tuple[int, int, int]:
        return (self.verdict.rank, self.diff_lines, self.index)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "temperature": self.temperature, "diff": self.diff, "diff_lines": self.diff_lines,
            "label": self.verdict.display, "verdict": self.verdict.to_json(),
            "generation_ms": round(self.generation_ms, 1), "source": self.source,
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
    stopped: str = "k"  # k | budget | deadline | first_verified | first_ok | cancelled
    prompts: list[str] = field(default_factory=list)  # the last user message of each generation (repair feedback)
    localization: Localization | None = None
    deadline_s: float | None = None
    cloze_lines: int = 0  # lines cut and filled for cloze candidates (fix_cloze.py)

    @property
    def message(self) -> str:
        """One line saying why the loop stopped, for the CLI and the editor."""
        if self.stopped == "deadline":
            return f"stopped at the {self.deadline_s:g} s budget after {self.generated} candidate(s)"
        return f"stopped ({self.stopped}) after {self.generated} candidate(s)"

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
            "stopped": self.stopped, "message": self.message,
            "localization": self.localization.to_json() if self.localization else None,
            "cloze_lines": self.cloze_lines,
        }  # fmt: skip
