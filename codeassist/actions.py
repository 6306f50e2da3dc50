"""Explain and fix: chat-style generations used by the LSP code actions (plain functions over a model backend).

Why here and not in the server: the CLI, the benchmarks and the LSP server all call these; the server only decides
*when*. Why chat prompts: FIM completes code at a cursor, but "explain this" and "fix this error" are instructions,
which the instruct-tuned GGUFs follow through their chat template.

Prompt safety: the template markup is tokenized with special tokens enabled, the user's code and messages without,
so a literal ``<|im_end|>`` inside a file stays text and cannot end the turn early.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from codeassist.errors import ModelError
from codeassist.models.backend import CancelCheck, GenerationParams, ModelBackend

EXPLAIN_SYSTEM = (
    "You are a concise senior software engineer. Explain code to a colleague in Markdown: "
    "first one sentence on what it does, then a short bullet list of how it works and anything surprising."
)
FIX_SYSTEM = (
    "You fix bugs in code. Reply with only the corrected lines inside one fenced code block, "
    "keeping the original indentation. No explanation."
)

VERIFICATION_UNVERIFIED = "unverified"
_SENTINEL = "\x00codeassist-content-{}\x00"


@dataclass
class ChatMessage:
    role: str  # system | user | assistant
    content: str


@dataclass
class ChatResult:
    text: str
    stop_reason: str
    prompt_tokens: int = 0
    generated_tokens: int = 0
    total_ms: float = 0.0


@dataclass
class Problem:
    """Something to fix: a 0-based, inclusive line span of the document and what is wrong there."""

    start_line: int
    end_line: int
    message: str
    source: str = ""  # the linter or LSP that reported it; "codeassist" for our syntax check


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


# -- chat template ----------------------------------------------------------------------------------------------------


def _chatml(messages: Sequence[ChatMessage]) -> str:
    parts = [f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages]
    return "".join(parts) + "<|im_start|>assistant\n"


def render_chat(messages: Sequence[ChatMessage], chat_template: str | None) -> str:
    """Render ``messages`` with the GGUF's Jinja chat template (sandboxed, as llama.cpp and HF do), ending with the
    assistant's turn opened. Falls back to ChatML, the format of Qwen and most small code models, when the GGUF has no
    template or it does not render."""
    if not chat_template:
        return _chatml(messages)
    try:
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            raise ValueError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        rendered = env.from_string(chat_template).render(
            messages=[{"role": m.role, "content": m.content} for m in messages],
            add_generation_prompt=True,
            bos_token="",
            eos_token="",
        )
    except Exception:
        return _chatml(messages)
    return str(rendered)


def chat_tokens(backend: ModelBackend, messages: Sequence[ChatMessage]) -> list[int]:
    """Token ids for a chat: markup with special tokens parsed, message contents as plain text."""
    placeholders = [ChatMessage(m.role, _SENTINEL.format(i)) for i, m in enumerate(messages)]
    rendered = render_chat(placeholders, backend.info.chat_template)
    special: Callable[[str], list[int]] = getattr(backend, "tokenize_special", backend.tokenize)
    ids: list[int] = []
    pattern = re.compile("\x00codeassist-content-(\\d+)\x00")
    pos = 0
    for m in pattern.finditer(rendered):
        if m.start() > pos:
            ids += special(rendered[pos : m.start()])
        ids += backend.tokenize(messages[int(m.group(1))].content)
        pos = m.end()
    if pos < len(rendered):
        ids += special(rendered[pos:])
    return ids


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


# -- fix --------------------------------------------------------------------------------------------------------------

_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:\n```|\Z)", re.S)


def extract_code_block(answer: str) -> str | None:
    """The first fenced code block of a chat answer (an unterminated one counts: generation may stop at a cap), or
    None when there is none."""
    m = _FENCE.search(answer)
    if m is None:
        return None
    return m.group(1).rstrip("\n")


def _block_closed(text: str) -> bool:
    return text.count("```") >= 2


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def reindent(replacement: str, original_first_line: str) -> str:
    """Shift the model's lines so the first non-blank one has the original's indentation (small models often drop
    the leading indentation of a snippet taken from inside a function)."""
    lines = replacement.split("\n")
    first = next((ln for ln in lines if ln.strip()), None)
    if first is None:
        return replacement
    have, want = _indent_of(first), _indent_of(original_first_line)
    if have == want:
        return replacement
    out = []
    for ln in lines:
        if not ln.strip():
            out.append("")
        elif ln.startswith(have):
            out.append(want + ln[len(have) :])
        else:
            out.append(want + ln.lstrip())
    return "\n".join(out)


def focus_answer(code: str, target: str, context: Sequence[str]) -> str:
    """When the model answers with surrounding context too (it often rewrites the whole function), keep the window
    of lines that best matches the target lines: those are what replaces the problem's span."""
    import difflib

    answer, wanted = code.split("\n"), target.split("\n")
    known = {ln.strip() for ln in context if ln.strip()}
    if len(answer) <= len(wanted) or not any(ln.strip() in known for ln in answer):
        return code
    n = len(wanted)

    def score(i: int) -> float:
        pairs = zip(answer[i : i + n], wanted, strict=True)
        return sum(difflib.SequenceMatcher(None, a.strip(), w.strip()).ratio() for a, w in pairs) / n

    best = max(range(len(answer) - n + 1), key=score)
    return "\n".join(answer[best : best + n]) if score(best) >= 0.5 else code


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


# -- syntax problems (tree-sitter) ------------------------------------------------------------------------------------

_GRAMMARS = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
}


def syntax_problems(text: str, language: str | None, *, limit: int = 20) -> list[Problem]:
    """ERROR and MISSING nodes of a tree-sitter parse, as fixable problems (empty for unknown languages)."""
    if language not in _GRAMMARS:
        return []
    import importlib

    import tree_sitter

    module, attr = _GRAMMARS[language]
    try:
        lang = tree_sitter.Language(getattr(importlib.import_module(module), attr)())
    except (ImportError, AttributeError):
        return []
    tree = tree_sitter.Parser(lang).parse(text.encode("utf-8"))
    problems: list[Problem] = []
    stack = [tree.root_node]
    while stack and len(problems) < limit:
        node = stack.pop()
        if not node.has_error:
            continue
        if node.is_missing:
            problems.append(
                Problem(node.start_point[0], node.end_point[0], f"syntax error: missing {node.type!r}", "codeassist")
            )
            continue
        if node.type == "ERROR":
            problems.append(Problem(node.start_point[0], node.end_point[0], "syntax error", "codeassist"))
            continue
        stack.extend(reversed(node.children))
    return sorted(problems, key=lambda p: (p.start_line, p.end_line))
