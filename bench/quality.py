"""Quality on HumanEval infilling through our engine: exact match, edit similarity, pass@1 (sandbox), syntax errors.

The editor situation we reproduce: the masked lines are replaced by one empty line and the cursor sits at column 0 of
it (the user is on a blank line inside a function). The engine decides how much to generate; for single-line tasks
the scored completion is its first non-empty line (Qwen fim-bench / SantaCoder-FIM convention), for multi-line tasks
the whole completion. Raw model outputs are kept in the JSON so scoring can be audited.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.scoring import Executor, edit_similarity, exact_match, exact_match_lines, first_line, pass_at_1
from bench.tasks import InfillTask, program_with
from codeassist.engine import CompletionRequest, CompletionResult, Engine


@dataclass
class TaskOutcome:
    task_id: str
    completion: str  # what is scored (first non-empty line for single-line tasks)
    shown: str  # the engine's result text (after post-processing and the syntax gate)
    raw: str  # the model's raw output
    gate: str
    stop_reason: str
    exact: bool
    edit_sim: float
    passed: bool | None  # None = not executed (sandbox unavailable)
    syntax_ok_raw: bool | None  # the raw model output inserted at the cursor compiles; None = nothing generated
    syntax_ok_shown: bool | None  # the suggestion as shown (after post-processing + gate) compiles; None = none
    total_ms: float
    prompt_tokens: int
    evaluated_tokens: int
    generated_tokens: int


@dataclass
class QualitySummary:
    name: str
    n: int
    exact_match: float
    edit_similarity: float
    pass_at_1: float | None
    executed: int
    shown_rate: float  # fraction of tasks where a non-empty suggestion was shown
    syntax_error_raw: float | None  # among non-empty raw outputs: inserting them breaks the file
    syntax_error_shown: float | None  # among shown suggestions
    gate_counts: dict[str, int]
    median_ms: float
    median_prompt_tokens: float
    seconds: float
    outcomes: list[TaskOutcome] = field(default_factory=list)

    def to_json(self, with_outcomes: bool = True) -> dict[str, Any]:
        data = asdict(self)
        if not with_outcomes:
            data.pop("outcomes")
        return data


def request_for(task: InfillTask, max_tokens: int) -> CompletionRequest:
    text = task.prefix + "\n" + task.suffix
    line = task.prefix.count("\n")
    return CompletionRequest(text=text, line=line, column=0, path="humaneval.py", max_tokens=max_tokens)


def syntax_ok(task: InfillTask, completion: str) -> bool:
    """Whether the file with the hole filled compiles (``compile`` only: nothing runs)."""
    try:
        compile(program_with(task, completion), task.task_id, "exec")
    except (SyntaxError, ValueError):
        return False
    return True


def run_quality(
    name: str,
    engine: Engine,
    tasks: Sequence[InfillTask],
    *,
    multi_line: bool,
    max_tokens: int,
    executor: Executor | None,
    progress: Callable[[str], None] | None = None,
) -> QualitySummary:
    started = time.perf_counter()
    results: list[CompletionResult] = []
    # Quality must not depend on how loaded the machine is: no wall-clock cap on generation here; and it measures the
    # model + post-processing, so the typed-ahead cache (which would replay an earlier run's answer) is off.
    budget, engine.config.time_budget_ms = engine.config.time_budget_ms, None
    typed_ahead = getattr(engine.config, "typed_ahead", None)
    if typed_ahead is not None:
        engine.config.typed_ahead = False
    try:
        for i, task in enumerate(tasks):
            results.append(engine.complete(request_for(task, max_tokens)))
            if progress is not None and (i + 1) % 25 == 0:
                progress(f"{name}: {i + 1}/{len(tasks)} tasks, {time.perf_counter() - started:.0f} s")
    finally:
        engine.config.time_budget_ms = budget
        if typed_ahead is not None:
            engine.config.typed_ahead = typed_ahead
    scored = [r.text if multi_line else first_line_keep_indent(r.text) for r in results]
    executed: dict[str, bool] = {}
    if executor is not None:
        runs = pass_at_1(executor, tasks, scored)
        executed = {k: v.passed for k, v in runs.items() if v.status != "error"}
    outcomes: list[TaskOutcome] = []
    for task, res, comp in zip(tasks, results, scored, strict=True):
        exact = exact_match_lines(comp, task.middle) if multi_line else exact_match(comp, task.middle)
        ref = task.middle.strip("\n") if multi_line else first_line(task.middle)
        hyp = comp.strip("\n") if multi_line else first_line(comp)
        outcomes.append(
            TaskOutcome(
                task_id=task.task_id,
                completion=comp,
                shown=res.text,
                raw=res.raw_text,
                gate=res.gate,
                stop_reason=res.stop_reason,
                exact=exact,
                edit_sim=edit_similarity(hyp, ref),
                passed=executed.get(task.task_id),
                syntax_ok_raw=syntax_ok(task, res.raw_text) if res.raw_text.strip() else None,
                syntax_ok_shown=syntax_ok(task, res.text) if res.text.strip() else None,
                total_ms=res.timings.total_ms,
                prompt_tokens=res.timings.prompt_tokens,
                evaluated_tokens=res.timings.evaluated_tokens,
                generated_tokens=res.timings.generated_tokens,
            )
        )
    return summarise(name, outcomes, time.perf_counter() - started)


def first_line_keep_indent(text: str) -> str:
    """The first non-empty line with its indentation (what a single-line hole receives)."""
    for line in text.split("\n"):
        if line.strip():
            return line.rstrip()
    return ""


def _rate(values: Sequence[bool | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(1 for v in known if not v) / len(known) if known else None


def summarise(name: str, outcomes: list[TaskOutcome], seconds: float) -> QualitySummary:
    n = len(outcomes)
    executed = [o.passed for o in outcomes if o.passed is not None]
    gates: dict[str, int] = {}
    for o in outcomes:
        gates[o.gate] = gates.get(o.gate, 0) + 1
    return QualitySummary(
        name=name, n=n, exact_match=sum(o.exact for o in outcomes) / max(n, 1),
        edit_similarity=statistics.fmean(o.edit_sim for o in outcomes) if outcomes else 0.0,
        pass_at_1=(sum(executed) / len(executed)) if executed and len(executed) == n else None,
        executed=len(executed), shown_rate=sum(1 for o in outcomes if o.completion.strip()) / max(n, 1),
        syntax_error_raw=_rate([o.syntax_ok_raw for o in outcomes]),
        syntax_error_shown=_rate([o.syntax_ok_shown for o in outcomes]), gate_counts=gates,
        median_ms=statistics.median(o.total_ms for o in outcomes) if outcomes else 0.0,
        median_prompt_tokens=statistics.median(o.prompt_tokens for o in outcomes) if outcomes else 0.0,
        seconds=seconds, outcomes=outcomes,
    )  # fmt: skip
