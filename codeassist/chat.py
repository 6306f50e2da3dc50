"""Chat prompts: messages rendered with the GGUF's own chat template, then tokenized so that user text can never
become control tokens.

Why here and not in the services: explain and fix both speak to the instruct-tuned model through its chat template,
and the engine tokenizes them under its model lock (:meth:`codeassist.engine.Engine.generate_chat`).

Prompt safety: the template markup is tokenized with special tokens enabled, the user's code and messages without,
so a literal ``<|im_end|>`` inside a file stays text and cannot end the turn early.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from codeassist.models.backend import ModelBackend

_SENTINEL = "\x00codeassist-content-{}\x00"


@dataclass
class ChatMessage:
    role: str  # system | user | assistant
    content: str


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
        # jinja2 costs ~30 ms to import; only chat turns (explain, fix) render templates
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
