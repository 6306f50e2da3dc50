"""The narrow fix question: fault localisation names the suspicious statement, and the model is asked to rewrite just
that statement, with the failing assertion and its values in front of it.

Why: a 0.5B model asked to "fix this function" mostly echoes it back or changes the wrong line; asked "this line is
the suspect, here is what the test saw, what should it be?" it has one small decision to make. The localisation
(:mod:`codeassist.localize`: Ochiai over the tests' line coverage plus the traceback's frames) only chooses *which*
statement the question is about; what the statement becomes is the model's answer (no rule-based mutation search).

:func:`plan_prompts` is the fixer's schedule: one narrow question per suspicious statement (best first), then the
whole-function prompt, so a wrong localisation costs one candidate, not the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import textwrap
from dataclasses import dataclass

from codeassist.chat import ChatMessage
from codeassist.context.languages import spec_for_path
from codeassist.fix_prompt import build_messages, extract_code_block, extract_replacement, reindent, related_definitions
from codeassist.fix_target import CONTEXT_LINES, FixTarget
from codeassist.localize import LineScore, Localization
from codeassist.pyast import statement_spans

FOCUS_SYSTEM = (
    "You fix bugs in code. The failing tests point at one statement. Reply with only that statement, corrected, "
    "inside one fenced code block, keeping the original indentation. No explanation."
)
MAX_FOCUS = 2  # narrow questions before the whole-function prompt
MAX_STATEMENT_LINES = 8  # a longer "statement" (a big literal) is not a narrow question
# A body longer than this is rewritten whole only once (greedy); the samples go to the narrow questions. Why: the
# whole answer costs about a token per character of the body -- over 20 lines that is more than 20 s with the 1.5B
# on 2 cores, the editor's whole fix budget -- and parse-pm-hours (85 lines) spent its 600 s on whole rewrites
# while samples of the one-line question were a second each.
LONG_BODY_LINES = 20


@dataclass(frozen=True)
class PromptPlan:
    """One way of asking: the chat, and the target whose span the answer replaces. ``focus`` is the localisation
    line (1-based) the question is about, None for the whole-function prompt."""

    messages: list[ChatMessage]
    target: FixTarget
    focus: LineScore | None = None
    scope: tuple[int, int] | None = None  # the function the question showed (0-based inclusive), for the answer
    sampled: bool = True  # False: asked greedily once, never sampled (the whole prompt of a long body)

    def extract(self, answer: str) -> str | None:
        """The replacement for this plan's span: for a narrow question, the statement even when the model echoed
        the whole function (aligned by position with the function shown, not by likeness: ``return "A"`` and
        ``return "C"`` look alike)."""
        if self.scope is None:
            return extract_replacement(answer, self.target)
        code = extract_code_block(answer)
        if code is None or not code.strip():
            return None
        lines = self.target.text.split("\n")
        shown = [ln.strip() for ln in lines[self.scope[0] : self.scope[1] + 1]]
        got = textwrap.dedent(code).rstrip("\n").split("\n")
        start, end = self.target.start_line - self.scope[0], self.target.end_line - self.scope[0] + 1
        if len(got) > end - start and sum(ln.strip() in shown for ln in got) >= 2:
            got = got[slice(*_aligned(shown, [ln.strip() for ln in got], start, end))]
            if not any(ln.strip() for ln in got):
                return None
        first = next((ln for ln in lines[self.target.start_line : self.target.end_line + 1] if ln.strip()), "")
        return reindent("\n".join(got).rstrip(), first)


def _aligned(a: list[str], b: list[str], start: int, end: int) -> tuple[int, int]:
    """The slice of ``b`` that an alignment of ``a`` with ``b`` puts where ``a[start:end]`` is."""
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    j_start = next((j1 + (start - i1) if tag == "equal" else j1 for tag, i1, i2, j1, _ in ops if i1 <= start < i2), 0)
    j_end = next((j1 + (end - i1) if tag == "equal" else j2 for tag, i1, i2, j1, j2 in ops if i1 < end <= i2), len(b))
    return j_start, max(j_start, j_end)


def statement_span(text: str, line: int) -> tuple[int, int] | None:
    """The smallest statement containing 0-based ``line``, as a 0-based inclusive span (a compound statement's
    header only: :func:`codeassist.pyast.statement_spans`). None when the text does not parse or no statement holds
    the line."""
    best: tuple[int, int] | None = None
    for _node, start, end in statement_spans(text):
        if start <= line <= end and (best is None or end - start < best[1] - best[0]):
            best = (start, end)
    return best


def suspects(target: FixTarget, loc: Localization | None, limit: int = MAX_FOCUS) -> list[tuple[LineScore, int, int]]:
    """The best-ranked distinct statements inside the target's span: (score, start, end), 0-based inclusive; none
    when the ranking does not single any out. With no passing test every line the failing tests ran scores the same
    (Ochiai 1.0): only a traceback frame inside the target says more. When more than ``limit`` statements tie for the
    top score, a narrow question would be about an arbitrary one of them (on the mutation set that was the first
    line of the body, and the whole-function prompt lost the greedy candidate to it)."""
    if loc is None or not loc.lines or not target.rel.endswith(".py"):
        return []
    lo = target.start_line if target.context_start is None else target.context_start
    ranked: list[tuple[LineScore, int, int]] = []
    for score in loc.lines:
        line = score.line - 1
        if score.score <= 0 or not lo <= line <= target.end_line:
            continue
        span = statement_span(target.text, line)
        if span is None or span[1] - span[0] >= MAX_STATEMENT_LINES or span[0] < target.start_line:
            continue
        if not any(s == span[0] for _x, s, _e in ranked):
            ranked.append((score, *span))
    if not ranked or (loc.passing_tests == 0 and not ranked[0][0].in_traceback):
        return []

    def ties(r: tuple[LineScore, int, int]) -> int:  # statements ranked at least as high as r
        return sum(o[0].score >= r[0].score - 1e-9 for o in ranked)

    return [r for r in ranked[:limit] if ties(r) <= limit]


def focus_messages(target: FixTarget, score: LineScore, start: int, end: int) -> list[ChatMessage]:
    """The narrow question: the function for context, the failing test and error, and the one statement to rewrite."""
    spec = spec_for_path(target.rel)
    lang = spec.name if spec is not None else ""
    lines = target.text.split("\n")
    statement = "\n".join(lines[start : end + 1])
    parts = [f"File `{target.rel}`."]
    related = related_definitions(target.text, target)
    if related:
        parts.append(f"Related definitions:\n```{lang}\n{related}\n```")
    parts.append(f"This code fails its tests:\n```{lang}\n{target.function}\n```")
    if target.tests:
        parts.append(f"Failing test:\n```{lang}\n{target.tests}\n```")
    parts.append(f"Error:\n```\n{target.error.strip()}\n```")
    why = f"{score.failed} failing test(s) run it" + (f", {score.passed} passing" if score.passed else ", no passing")
    if score.in_traceback:
        why += "; it is in the traceback"
    where = f"line {start + 1}" if start == end else f"lines {start + 1}-{end + 1}"
    parts.append(
        f"Fault localisation points at {where} ({why}):\n```{lang}\n{statement}\n```\n"
        "Rewrite this statement so that the failing test passes. Reply with only the corrected statement."
    )
    return [ChatMessage("system", FOCUS_SYSTEM), ChatMessage("user", "\n\n".join(parts))]


def plan_prompts(target: FixTarget, loc: Localization | None) -> list[PromptPlan]:
    """The fixer's questions, in order: one narrow question per suspicious statement, then the whole prompt (not
    sampled when the body is long and there are narrow questions: :data:`LONG_BODY_LINES`)."""
    plans: list[PromptPlan] = []
    for score, start, end in suspects(target, loc):
        narrow = dataclasses.replace(
            target, start_line=start, end_line=end, context_start=None, context_lines=CONTEXT_LINES
        )
        scope = (target.start_line if target.context_start is None else target.context_start, target.end_line)
        plans.append(PromptPlan(focus_messages(target, score, start, end), narrow, score, scope))
    long_body = target.end_line - target.start_line + 1 > LONG_BODY_LINES
    plans.append(PromptPlan(build_messages(target), target, sampled=not (plans and long_body)))
    return plans
