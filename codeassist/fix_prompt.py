"""The one fix prompt and the one extractor: a :class:`~codeassist.fix_target.FixTarget` becomes chat messages, and
a model answer becomes the replacement lines for the target's span.

Why one of each: the editor's quick fix, ``codeassist fix``, batch refactors and the bug-fix benchmark all go
through :class:`~codeassist.fixer.Fixer`; a second prompt or extractor would make the benchmark describe something
users never get.
"""

from __future__ import annotations

import difflib
import re
import textwrap
from collections.abc import Sequence

from codeassist.chat import ChatMessage
from codeassist.context.languages import spec_for_path
from codeassist.fix_target import FixTarget, summarize_failure
from codeassist.pyast import body_after_docstring, functions
from codeassist.verdicts import Verdict

FIX_SYSTEM = (
    "You are an expert {language}programmer fixing a bug. Reply with the complete corrected code in one fenced "
    "code block. Change as little as possible and keep the original names, signature and indentation. No explanation."
)
LINES_SYSTEM = (
    "You fix bugs in code. Reply with only the corrected lines inside one fenced code block, keeping the original "
    "indentation. No explanation."
)
EDIT_SYSTEM = (
    "You are an expert programmer editing code as instructed. Reply with the complete edited code in one fenced "
    "code block. Keep names, behaviour and indentation unless the instruction says otherwise. No explanation."
)

_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:\n```|\Z)", re.S)


def extract_code_block(answer: str) -> str | None:
    """The first fenced code block of a chat answer (an unterminated one counts: generation may stop at a cap), or
    None when there is none."""
    m = _FENCE.search(answer)
    if m is None:
        return None
    return m.group(1).rstrip("\n")


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


def related_definitions(text: str, target: FixTarget, limit: int = 3) -> str:
    """Short same-file functions the target calls, so the model sees the helpers' contracts."""
    code = target.code
    out: list[str] = []
    lines = text.split("\n")
    for name, start, end in functions(text):
        if name == target.symbol or (start >= target.start_line and end <= target.end_line):
            continue
        if re.search(rf"\b{re.escape(name)}\s*\(", code) and end - start < 25:
            out.append("\n".join(lines[start : end + 1]))
        if len(out) >= limit:
            break
    return "\n\n".join(out)


def build_messages(target: FixTarget) -> list[ChatMessage]:
    """The chat for ``target``, in one of three shapes: lines shown with the code around them (a problem outside any
    function: rewrite only these lines); a function or its body with the helpers it calls, the failing test and the
    error; or the code and an instruction."""
    spec = spec_for_path(target.rel)
    lang = spec.name if spec is not None else ""
    if target.context_lines and not target.instruction:
        return _lines_messages(target, lang)
    related = related_definitions(target.text, target)
    parts = [] if target.instruction else [f"File `{target.rel}`."]
    if related:
        parts.append(f"Related definitions:\n```{lang}\n{related}\n```")
    if target.instruction:
        parts.append(f"Code:\n```{lang}\n{target.code}\n```")
        parts.append(f"Instruction: {target.instruction}\nReply with the edited code.")
        return [ChatMessage("system", EDIT_SYSTEM), ChatMessage("user", "\n\n".join(parts))]
    what = "This code has a bug" + (": it fails the test below." if target.kind == "test" else ".")
    parts.append(f"{what}\n```{lang}\n{target.function}\n```")
    if target.tests:
        parts.append(f"Failing test:\n```{lang}\n{target.tests}\n```")
    parts.append(f"Error:\n```\n{target.error.strip()}\n```")
    if target.context_start is not None:
        parts.append(
            f"Fix the bug. Reply with only the corrected body of `{target.symbol}` (the lines after its "
            f"docstring), which currently is:\n```{lang}\n{target.code}\n```"
        )
    else:
        parts.append("Fix the bug. Reply with the corrected code.")
    system = FIX_SYSTEM.format(language=f"{spec.display_name} " if spec is not None else "")
    return [ChatMessage("system", system), ChatMessage("user", "\n\n".join(parts))]


def _lines_messages(target: FixTarget, lang: str) -> list[ChatMessage]:
    """Lines to rewrite, between the code before and after them, with what is wrong there. The target comes last
    and the system prompt asks for those lines only: shown a whole file, a small model otherwise rewrites it all."""
    before, after = target.surrounding()
    start, end = target.start_line + 1, target.end_line + 1
    span = f"line {start}" if start == end else f"lines {start}-{end}"
    user = (
        f"Code before in `{target.rel}`:\n```{lang}\n" + "\n".join(before) + "\n```\n"
        f"Code after:\n```{lang}\n" + "\n".join(after) + "\n```\n"
        f"Problem reported at {span}: {target.error.strip()}\n\n"
        f"Rewrite only these lines so that the problem is fixed:\n```{lang}\n{target.code}\n```"
    )
    return [ChatMessage("system", LINES_SYSTEM), ChatMessage("user", user)]


def extract_replacement(answer: str, target: FixTarget) -> str | None:
    """The replacement lines from a model answer: the code block, cut to the target function when the model added
    extras (example calls, tests), re-indented to the original."""
    code = extract_code_block(answer)
    if code is None or not code.strip():
        return None
    if target.symbol:
        dedented = textwrap.dedent(code)
        for name, start, end in functions(dedented):
            if name == target.symbol:
                if target.context_start is not None:  # the model sent the whole function back: keep its body
                    body = body_after_docstring(dedented, name, start, 1)
                    if body is None:
                        body = start + 1
                    start = body
                code = "\n".join(dedented.split("\n")[start : end + 1])
                break
    before, after = target.surrounding()
    if before or after:  # the model often answers with the surrounding code too: keep the lines asked for
        code = focus_answer(code, target.code, before + after)
    original_lines = target.code.split("\n")
    first = next((ln for ln in original_lines if ln.strip()), "")
    return reindent(code.rstrip(), first)


REPAIR_LIMIT = 900  # characters of failure evidence in a repair prompt: the assertion and the traceback's tail


def failure_text(verdict: Verdict) -> str:
    """What a rejected candidate's check said, narrowed to what helps the next attempt: the baseline comparison's
    findings, pytest's ``E`` lines and locations, or a syntax/compile error, from its last failed tier."""
    failed = [t for t in verdict.tiers if t.status == "failed"]
    if not failed:
        return verdict.reason
    evidence = failed[-1].evidence
    findings = [ln for ln in evidence.split("\n") if ln.startswith(("fails ", "broke "))]
    text = "\n".join([*findings, summarize_failure(evidence, REPAIR_LIMIT)]).strip()
    return text[-REPAIR_LIMIT:] if len(text) > REPAIR_LIMIT else text


def repair_messages(messages: Sequence[ChatMessage], attempt: str, failure: str) -> list[ChatMessage]:
    """The fix chat plus the model's rejected attempt and why it was rejected, asking for another: the self-repair
    loop's prompt. Only the latest attempt is shown (a small model follows one correction better than a history)."""
    user = (
        f"That is still wrong. The checks ran your change and it failed:\n```\n{failure.strip()}\n```\n"
        "Fix the bug differently. Reply with the corrected code in the same shape as before."
    )
    return [*messages, ChatMessage("assistant", f"```\n{attempt}\n```"), ChatMessage("user", user)]
