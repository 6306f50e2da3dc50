"""The explain service: a selection with its context (the enclosing definition, same-file definitions it uses, and its
callers), explained by the model and streamed token by token; the same function for ``codeassist explain`` and the
LSP ``codeassist.explain`` command.

Why context: a 0.5B model explaining three lines in isolation guesses what the names mean; showing the helpers the
selection calls and the places that call it turns guesses into reading. Why streaming: an explanation takes seconds
on a CPU; the first words should appear at once (the CLI prints deltas as they come). Why a word limit and a name
check (:mod:`codeassist.explain_checks`): a short explanation is read, a long one skimmed; and a name the code does
not contain sends the reader searching for something that does not exist, so it is reported with the explanation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from codeassist.chat import ChatMessage
from codeassist.engine import Engine
from codeassist.errors import InputError
from codeassist.explain_checks import DEFAULT_MAX_WORDS, known_names, trim_to_words, unknown_names, word_count
from codeassist.models.backend import CancelCheck, GenerationParams
from codeassist.pyast import python_definitions

EXPLAIN_SYSTEM = (
    "You are a concise senior software engineer. Explain code to a colleague in Markdown: "
    "first one sentence on what it does, then a short bullet list of how it works and anything surprising. "
    "Put code names in backticks and name only identifiers that appear in the code."
)
WORDS_RULE = " Use at most {max_words} words."
MAX_CONTEXT_LINES = 40


@dataclass
class ExplainResult:
    text: str
    path: str
    start_line: int  # 1-based, inclusive
    end_line: int
    symbol: str | None
    context: list[str] = field(default_factory=list)  # what went into the prompt besides the selection
    stop_reason: str = ""
    prompt_tokens: int = 0
    generated_tokens: int = 0
    total_ms: float = 0.0
    model: str = ""  # the model that explained (fixes and explanations may use another tier than completions)
    words: int = 0
    # names in the explanation's `code spans` that the code shown to the model does not contain (invented ones)
    unknown_names: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def gather_context(text: str, start: int, end: int) -> tuple[str | None, list[tuple[str, str]]]:
    """(symbol, [(label, code)]) for a 0-based inclusive selection: the enclosing definition when the selection is
    part of one, same-file definitions the selection calls, and same-file callers of the symbol."""
    lines = text.split("\n")
    defs = python_definitions(text)
    selection = "\n".join(lines[start : end + 1])
    symbol: str | None = None
    pieces: list[tuple[str, str]] = []
    enclosing = [d for d in defs if d[1] <= start and end <= d[2]]
    if enclosing:
        name, s, e = min(enclosing, key=lambda d: d[2] - d[1])
        symbol = name
        if (s, e) != (start, end) and e - s < MAX_CONTEXT_LINES:
            pieces.append((f"enclosing definition `{name}`", "\n".join(lines[s : e + 1])))
    else:
        inside = [d for d in defs if start <= d[1] <= end]
        symbol = inside[0][0] if inside else None
    for name, s, e in defs:
        if name == symbol or (start <= s and e <= end) or e - s >= MAX_CONTEXT_LINES:
            continue
        if re.search(rf"\b{re.escape(name)}\s*\(", selection):
            pieces.append((f"definition of `{name}`", "\n".join(lines[s : e + 1])))
        elif symbol and re.search(rf"\b{re.escape(symbol)}\b", "\n".join(lines[s : e + 1])):
            pieces.append((f"caller `{name}`", "\n".join(lines[s : e + 1])))
        if len(pieces) >= 4:
            break
    return symbol, pieces


def notes(result: ExplainResult) -> list[str]:
    """What the reader should know about an explanation, one line each (the CLI and the editor append them)."""
    out = []
    if result.stop_reason == "word_limit":
        out.append(f"cut at the word limit ({result.words} words shown)")
    if result.unknown_names:
        shown = ", ".join(f"`{n}`" for n in result.unknown_names)
        out.append(f"names not found in the code it was shown: {shown} (check them)")
    return out


def stream_explain(
    engine: Engine,
    text: str,
    start: int,
    end: int,
    *,
    path: str,
    language: str | None,
    on_delta: Callable[[str], None] | None = None,
    max_tokens: int = 256,
    max_words: int = DEFAULT_MAX_WORDS,
    cancel: CancelCheck | None = None,
) -> ExplainResult:
    """Explain lines ``start..end`` (0-based, inclusive) of ``text``, calling ``on_delta`` with each new piece.
    Generation stops once the text passes ``max_words`` (0: no limit) and the result is cut back to the last
    sentence within it (``stop_reason`` "word_limit"); ``unknown_names`` lists the names it mentions that the code
    shown to the model does not contain."""
    lines = text.split("\n")
    if not (0 <= start <= end < len(lines)):
        raise InputError(f"{path}: lines {start + 1}-{end + 1} are outside the file ({len(lines)} lines)")
    symbol, pieces = gather_context(text, start, end)
    lang = language or ""
    selection = "\n".join(lines[start : end + 1]).rstrip()
    parts = [
        f"Context from `{path}` (to read, not to explain):\n"
        + "\n".join(f"{label}:\n```{lang}\n{code}\n```" for label, code in pieces)
    ]
    if not pieces:
        parts = []
    parts.append(
        f"Explain only this {language or 'code'} from `{path}` (lines {start + 1}-{end + 1}):\n"
        f"```{lang}\n{selection}\n```"
    )
    system = EXPLAIN_SYSTEM + (WORDS_RULE.format(max_words=max_words) if max_words > 0 else "")
    messages = [ChatMessage("system", system), ChatMessage("user", "\n\n".join(parts))]
    sent = 0

    def on_text(so_far: str) -> bool:
        nonlocal sent
        within = max_words <= 0 or word_count(so_far) <= max_words
        if within and on_delta is not None and len(so_far) > sent:  # nothing past the limit is shown
            on_delta(so_far[sent:])
            sent = len(so_far)
        return within

    # the engine holds its model lock (callers share it with completions) and refuses a prompt that does not fit
    gen = engine.generate_chat(messages, GenerationParams(max_tokens=max_tokens), on_text=on_text, cancel=cancel)
    explanation, cut = trim_to_words(gen.text.strip(), max_words)
    if on_delta is not None and not cut and len(gen.text) > sent:
        on_delta(gen.text[sent:])
    known = known_names([selection, *(code for _, code in pieces)], path)
    return ExplainResult(
        explanation, path, start + 1, end + 1, symbol, [label for label, _ in pieces],
        "word_limit" if cut else gen.stop_reason, gen.prompt_tokens, len(gen.tokens), gen.total_ms, engine.info.name,
        word_count(explanation), unknown_names(explanation, known),
    )  # fmt: skip
