"""Cloze fix candidates: each one-line statement of the target is cut out and written again by the model as a
completion -- the line hole the editor's completion path fills -- never as the line stands.

Why: filling a hole between a prefix and a suffix is what a code model is trained on, and on real repositories the
1.5B writes a cut line exactly about 60% of the time (bench/RESULTS-repos.md); asked in a chat to "fix this
function" it mostly echoes the function back or rewrites a line that was right. A one-line bug is a line the model,
reading the code around it, would not have written. So every candidate line is cut and filled greedily with the
line as it stands forbidden (``CompletionRequest.avoid``: the draw branches off it where the model had a real
alternative), which gives one candidate per line, and the answers rank the lines:

- a line the model would not have written in the first place (the draw never headed for it: ``branched == 0``) is
  the most suspicious; a line it was about to write again is the least (its candidate is only the runner-up);
- among equals, the surer answer (higher least token log-probability) first.

The tests judge every candidate (:mod:`codeassist.fixer` verifies them like any other); nothing here is a rule-based
mutation: what a line becomes is the model's answer. Multi-line statements are left to the chat prompts.
"""

from __future__ import annotations

import ast
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from codeassist.context.assemble import AssembledContext
from codeassist.engine import CompletionRequest, CompletionResult, Engine
from codeassist.fix_target import FixTarget
from codeassist.localize import Localization
from codeassist.models.backend import CancelCheck
from codeassist.pyast import statement_spans

MAX_CLOZE_LINES = 16  # lines cut per fix: each is a completion (well under a second with the cache on short code)
CLOZE_TOKENS = 48  # one line
_FIRST_WORD = re.compile(r"[ \t]*[A-Za-z_]\w* ")  # a line's first word and the space after it (``if ``, ``x ``)


@dataclass(frozen=True)
class Cloze:
    """The model's line for 0-based ``line`` of the target file, with how it ranks as a suspect."""

    line: int
    text: str  # the whole new line, indentation included
    natural: bool  # the model was about to write the line as it stands (the draw had to branch off it)
    score: float  # least token log-probability of the answer (-inf when unscored)

    def rank(self) -> tuple[bool, float, int]:
        return (self.natural, -self.score, self.line)


def one_line_statements(text: str, start: int, end: int) -> list[int]:
    """0-based lines in ``start..end`` (inclusive) holding a whole simple statement or a compound statement's
    one-line header; definitions, docstrings, comments and the continuation lines of longer statements are not
    cut. Python only (the text must parse)."""
    return sorted(
        {
            first
            for node, first, last in statement_spans(text)
            if first == last and start <= first <= end and not _bare_string(node)
        }
    )


def _bare_string(node: ast.stmt) -> bool:
    """A docstring, or a string standing alone as a statement."""
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def statement_kind(text: str, line: int) -> str | None:
    """The kind of the statement (not a definition: none is ever cut) starting on 0-based ``line`` (``Assign``,
    ``If``, ``Return``...; the outermost where several start there), None when the text does not parse or no
    statement starts there."""
    return next((type(node).__name__ for node, first, _ in statement_spans(text) if first == line), None)


def cloze_lines(target: FixTarget, localization: Localization | None, limit: int = MAX_CLOZE_LINES) -> list[int]:
    """The lines to cut: the target's one-line statements; where a localisation ran, only the lines its failing
    tests ran, best-ranked first (a line no failing test reached cannot be the fault)."""
    if not target.rel.endswith(".py") or target.instruction:
        return []
    lines = one_line_statements(target.text, target.start_line, target.end_line)
    if localization is not None and localization.lines:
        score = {s.line - 1: s.score for s in localization.lines if s.score > 0}
        lines = sorted((ln for ln in lines if ln in score), key=lambda ln: (-score[ln], ln))
    return lines[:limit]


def _pin(engine: Engine, path: str, rows: list[str], lines: list[int]) -> AssembledContext | None:
    """One context for every cut line: header, other files' pieces and the prefix window's first line, as at the
    end of the lowest line to cut in the function as it stands (every other cut is above it: its window fits the
    budget). Why: assembled per cut, the context moved with the cursor -- the header with the names near it, the
    window's start in 16-line steps, up as well as down in rank order -- and every move above the window made the
    whole prompt be evaluated again (600-750 tokens for the 1.5B on real code, 13-19 s on two cores, against about
    150 from the cut line down)."""
    if not lines:
        return None
    anchor = max(lines)
    return engine.context_at(CompletionRequest(text="\n".join(rows), line=anchor, column=len(rows[anchor]), path=path))


def _fill(engine: Engine, path: str, rows: list[str], line: int, cut: str, avoid: str, deadline: float | None,
          cancel: CancelCheck | None, pinned: AssembledContext | None) -> CompletionResult:  # fmt: skip
    """The model's completion of ``line`` cut down to ``cut`` (the cursor at its end), never finishing ``avoid``."""
    req = CompletionRequest(
        text="\n".join([*rows[:line], cut, *rows[line + 1 :]]), line=line, column=len(cut), path=path,
        max_tokens=CLOZE_TOKENS, deadline=deadline, confidence_gate=False, avoid=(avoid,), multiline=False,
        pinned=pinned,
    )  # fmt: skip
    return engine.complete(req, cancel, remember=False)


def cloze(
    engine: Engine,
    target: FixTarget,
    lines: list[int],
    *,
    deadline: float | None,
    cancel: CancelCheck | None,
    on_answer: Callable[[Cloze], bool] | None = None,
) -> list[Cloze]:
    """The model's line for each of ``lines``, asked in the order given (position order, or the localisation's
    rank), ranked best suspect first; lines it could only fill with the line as it stands, with nothing, or with code
    that does not parse or is another kind of statement, are left out. ``on_answer`` gets each answer as it comes;
    True stops the asking (a check it ran settled the fix).

    The model sees the file down to the end of the target, not past it: the rest of the function is the suffix that
    bears on one of its lines, and the suffix is evaluated again for every line (the prompt cache keeps only what
    comes before the cut), so the next function's lines only cost time."""
    rows = target.text.split("\n")
    shown = [*rows[: target.end_line + 1], ""]
    path = os.path.join(target.root, target.rel)
    out: list[Cloze] = []
    pinned = _pin(engine, path, shown, lines)
    for line in lines:
        if (cancel is not None and cancel()) or (deadline is not None and time.monotonic() >= deadline):
            break
        original = rows[line]
        indent = original[: len(original) - len(original.lstrip())]
        res = _fill(engine, path, shown, line, indent, original.strip(), deadline, cancel, pinned)
        new = res.text.split("\n")[0]
        word = _FIRST_WORD.match(original)
        if not new.strip() and res.stop_reason != "cancelled" and word is not None:
            # Above a deeper-indented block (an ``if`` header cut out) the models answer a cursor right after the
            # indentation with a run of spaces. Keeping the header's first word (``if ``) gets the header written.
            kept = word.group(0)
            res = _fill(engine, path, shown, line, kept, original[len(kept) :].strip(), deadline, cancel, pinned)
            new = kept[len(indent) :] + res.text.split("\n")[0] if res.text.strip() else ""
        if not new.strip() or new.strip() == original.strip() or res.stop_reason == "cancelled":
            continue
        kind = statement_kind("\n".join([*rows[:line], indent + new.strip(), *rows[line + 1 :]]), line)
        if kind is None or kind != statement_kind(target.text, line):
            # does not parse (cut short by the branch off the line as it stands, a header without its colon), or
            # another kind of statement: ``count = 0`` answered with ``return sum(...)`` passed the tests and left
            # the rest of the function dead; a one-line fix edits a statement, it does not change what it is
            continue
        score = res.confidence.min_logprob if res.confidence is not None else float("-inf")
        out.append(Cloze(line, indent + new.strip(), bool(res.branched), score))
        if on_answer is not None and on_answer(out[-1]):
            break
    return sorted(out, key=Cloze.rank)
