"""Score one answer against the text that was removed: splice, exact match, edit similarity, syntax.

Definitions (the same for every system, so rows compare):

- the *spliced* file is the holed file with the answer's range replaced by its text (what Tab-accepting gives);
- **exact match**: the spliced file equals the original, ignoring trailing whitespace on each line and trailing
  blank lines (an answer that completes the line and then adds a line is not exact);
- **exact line**: the answer's first line equals the expected text's first line (trailing whitespace ignored);
- **edit similarity**: 1 − Levenshtein / max length between the answer and the expected text (what the original
  has over the replaced range), trailing whitespace ignored; 0 for an empty answer;
- **syntax ok**: the spliced file parses (Python's own parser).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from codeassist.repobench.fill import Fill
from codeassist.repobench.holes import Hole
from codeassist.syntax import parse_python


@dataclass(frozen=True)
class Score:
    shown: bool
    exact: bool
    exact_line: bool
    edit_sim: float
    syntax_ok: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def edit_similarity(a: str, b: str) -> float:
    a, b = a.rstrip(), b.rstrip()
    if not a and not b:
        return 1.0
    return 1.0 - levenshtein(a, b) / max(len(a), len(b))


def _normalize(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip().split("\n"))


def splice(original: str, hole: Hole, fill: Fill) -> str:
    holed = hole.holed(original)
    return holed[: fill.start] + fill.text + holed[fill.end :]


def expected_text(original: str, hole: Hole, fill: Fill) -> str:
    """What the original has where the answer goes: the holed range ``[start, end)`` mapped back to the original."""
    # The holed text equals the original before the cursor and the original shifted by the hole after it.
    shift = hole.end - hole.start
    a = fill.start if fill.start <= hole.start else fill.start + shift
    b = fill.end if fill.end < hole.start else fill.end + shift
    return original[a:b]


def score(original: str, hole: Hole, fill: Fill) -> tuple[Score, str]:
    """The score and the spliced file."""
    spliced = splice(original, hole, fill)
    if not fill.text.strip():
        return Score(False, False, False, 0.0, True), spliced
    expected = expected_text(original, hole, fill)
    exact = _normalize(spliced) == _normalize(original)
    first_line = fill.text.split("\n", 1)[0].rstrip()
    exact_line = first_line == expected.split("\n", 1)[0].rstrip() and bool(first_line.strip())
    try:
        parse_python(spliced)
        syntax_ok = True
    except (SyntaxError, ValueError):
        syntax_ok = False
    return Score(True, exact, exact_line, round(edit_similarity(fill.text, expected), 4), syntax_ok), spliced
