"""Explain and fix: chat-style generations used by the LSP code actions (plain functions over a model backend).

Why here and not in the server: the CLI, the benchmarks and the LSP server all call these; the server only decides
*when*. Why chat prompts: FIM completes code at a cursor, but "explain this" and "fix this error" are instructions,
which the instruct-tuned GGUFs follow through their chat template.

Prompt safety: the template markup is tokenized with special tokens enabled, the user's code and messages without,
so a literal ``<|im_end|>`` inside a file stays text and cannot end the turn early.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from codeassist.chat import ChatMessage, chat_tokens
from codeassist.errors import ModelError
from codeassist.fix_prompt import extract_code_block, focus_answer, reindent
from codeassist.models.backend import CancelCheck, GenerationParams, ModelBackend
from codeassist.syntax import Problem

FIX_SYSTEM = (
    "You fix bugs in code. Reply with only the corrected lines inside one fenced code block, "
    "keeping the original indentation. No explanation."
)

VERIFICATION_UNVERIFIED = "unverified"


@dataclass
class ChatResult:
    text: str
    stop_reason: str
    prompt_tokens: int = 0
    generated_tokens: int = 0
    total_ms: float = 0.0


@dataclass
class FixCandidate:
    """Replacement for lines ``start_line``..``end_line`` (0-based, inclusive) of the document."""

    start_line: int
    end_line: int
    replacement: str  # full text of the new lines, without the final newline
    verification: str = VERIFICATION_UNVERIFIED
    raw: str = ""
    stop_reason: str = ""
    notes: list[str] = field(default_factory=list)


def chat(
    backend: ModelBackend,
    messages: Sequence[ChatMessage],
    *,
    max_tokens: int = 256,
    cancel: CancelCheck | None = None,
    stop: Callable[[str], bool] | None = None,
    time_budget_ms: float | None = None,
    temperature: float = 0.0,
    seed: int = 0,
) -> ChatResult:
    """One chat turn (greedy unless ``temperature`` > 0). ``stop(text)`` returning True ends generation early (e.g.
    once a code block closed)."""
    prompt = chat_tokens(backend, messages)
    room = backend.info.n_ctx - max_tokens - 1
    if len(prompt) > room:
        raise ModelError(f"the selection is too long for the model context ({len(prompt)} tokens, room for {room})")
    params = GenerationParams(max_tokens=max_tokens, time_budget_ms=time_budget_ms, temperature=temperature, seed=seed)
    on_text = (lambda text: not stop(text)) if stop is not None else None
    gen = backend.generate(prompt, params, on_text=on_text, cancel=cancel)
    return ChatResult(gen.text, gen.stop_reason, gen.prompt_tokens, len(gen.tokens), gen.total_ms)


def _block_closed(text: str) -> bool:
    return text.count("```") >= 2


def fix(
    backend: ModelBackend,
    text: str,
    problem: Problem,
    *,
    language: str | None = None,
    path: str | None = None,
    context_lines: int = 12,
    max_tokens: int = 128,
    cancel: CancelCheck | None = None,
    time_budget_ms: float | None = None,
    attempts: int = 3,
) -> FixCandidate | None:
    """Ask the model for replacement lines for ``problem``; None when no answer holds usable code that changes
    something. The first attempt is greedy; small models often echo the broken line back, so later attempts sample
    (temperature 0.7, fixed seeds: reproducible). The candidate is *unverified*: checking it is the caller's job."""
    lines = text.split("\n")
    start = max(0, min(problem.start_line, len(lines) - 1))
    end = max(start, min(problem.end_line, len(lines) - 1))
    lo, hi = max(0, start - context_lines), min(len(lines), end + 1 + context_lines)
    before = "\n".join(lines[lo:start])
    target = "\n".join(lines[start : end + 1])
    after = "\n".join(lines[end + 1 : hi])
    lang = language or ""
    where = f" in `{path}`" if path else ""
    span = f"line {start + 1}" if start == end else f"lines {start + 1}-{end + 1}"
    user = (
        f"Code before{where}:\n```{lang}\n{before}\n```\n"
        f"Code after:\n```{lang}\n{after}\n```\n"
        f"Problem reported at {span}: {problem.message}\n\n"
        f"Rewrite only these lines so that the problem is fixed:\n```{lang}\n{target}\n```"
    )
    messages = [ChatMessage("system", FIX_SYSTEM), ChatMessage("user", user)]
    # Small models often answer with the whole surrounding code, not just the lines asked for: the budget must fit
    # that echo, or the answer is cut before the fixed line and the fix is lost.
    max_tokens = max(max_tokens, min(1024, len(backend.tokenize("\n".join(lines[lo:hi]))) + 32))
    for attempt in range(max(1, attempts)):
        result = chat(
            backend, messages, max_tokens=max_tokens, cancel=cancel, stop=_block_closed, time_budget_ms=time_budget_ms,
            temperature=0.0 if attempt == 0 else 0.7, seed=attempt,
        )  # fmt: skip
        if result.stop_reason == "cancelled":
            return None
        code = extract_code_block(result.text)
        if code is None or not code.strip():
            continue
        code = reindent(focus_answer(code, target, lines[lo:start] + lines[end + 1 : hi]), lines[start])
        if code.strip() != target.strip():
            return FixCandidate(start, end, code, raw=result.text, stop_reason=result.stop_reason)
    return None
