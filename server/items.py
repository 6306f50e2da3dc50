"""Pure builders of LSP result objects from engine results (no I/O, so unit-testable without a server)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lsprotocol import types

from codeassist.api import Problem

from .convert import UTF16, Pos, lsp_line_starts, offset_of, position_of, width

AI_LABEL = "codeassist (AI)"
# "~" sorts after letters and digits in every client's string comparison, so language-server items come first.
AI_SORT_TEXT = "~~~codeassist"
EXPLAIN_KIND = "refactor.explain"
ACCEPT_COMMAND = "codeassist.didAccept"  # an inline item's command: the editor runs it when the item is accepted


def lsp_pos(p: Pos) -> types.Position:
    return types.Position(line=p.line, character=p.character)


def inline_items(
    text: str, insert_at: int, cursor: int, completion: str, encoding: str = UTF16, suggestion_id: str | None = None
) -> types.InlineCompletionList:
    """One ghost-text item (none for an empty completion): :func:`inline_candidates` with one candidate."""
    return inline_candidates(text, insert_at, cursor, [(completion, suggestion_id)] if completion else [], encoding)


def inline_candidates(
    text: str, insert_at: int, cursor: int, candidates: Sequence[tuple[str, str | None]], encoding: str = UTF16
) -> types.InlineCompletionList:
    """Ghost-text items, in order (the editor shows the first and cycles through the rest with its own keys), all
    over one range: from where the engine inserts to the cursor (empty when they match). An item with a suggestion
    id carries the ``codeassist.didAccept`` command an editor runs when it is accepted."""
    starts = lsp_line_starts(text)
    a, b = min(insert_at, cursor), cursor
    rng = types.Range(
        lsp_pos(position_of(text, a, encoding, starts=starts)), lsp_pos(position_of(text, b, encoding, starts=starts))
    )
    items = []
    for completion, suggestion_id in candidates:
        command = None
        if suggestion_id is not None:
            args: list[Any] = [{"id": suggestion_id}]
            command = types.Command(title="codeassist: accepted", command=ACCEPT_COMMAND, arguments=args)
        items.append(types.InlineCompletionItem(insert_text=completion, range=rng, command=command))
    return types.InlineCompletionList(items=items)


def _word_start(text: str, cursor: int) -> int:
    i = cursor
    while i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_"):
        i -= 1
    return i


def completion_list(
    text: str, cursor: int, completion: str, encoding: str = UTF16, *, partial: bool = False
) -> types.CompletionList:
    """The ``textDocument/completion`` fallback: one clearly labelled AI item whose ``textEdit`` replaces the word
    being typed (so client-side filtering by that word keeps it), sorted after everything else. ``isIncomplete``
    makes the client ask again as the user types: the suggestion depends on the whole prefix. A ``partial``
    suggestion (cut by the time cap) says so in its detail."""
    if not completion:
        return types.CompletionList(is_incomplete=True, items=[])
    start = _word_start(text, cursor)
    typed = text[start:cursor]
    starts = lsp_line_starts(text)
    rng = types.Range(
        lsp_pos(position_of(text, start, encoding, starts=starts)),
        lsp_pos(position_of(text, cursor, encoding, starts=starts)),
    )
    first_line = completion.split("\n", 1)[0].strip() or completion.strip().split("\n", 1)[0]
    label = (typed + first_line) if first_line else typed + "…"
    item = types.CompletionItem(
        label=label if len(label) <= 60 else label[:59] + "…",
        label_details=types.CompletionItemLabelDetails(description=AI_LABEL),
        kind=types.CompletionItemKind.Snippet,
        detail=f"{AI_LABEL}, partial: time cap" if partial else AI_LABEL,
        documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=f"```\n{typed + completion}\n```"),
        sort_text=AI_SORT_TEXT,
        filter_text=typed + completion,
        insert_text_format=types.InsertTextFormat.PlainText,
        text_edit=types.TextEdit(range=rng, new_text=typed + completion),
    )
    return types.CompletionList(is_incomplete=True, items=[item])


def explain_command(uri: str, rng: types.Range) -> types.Command:
    return types.Command(title="codeassist: Explain", command="codeassist.explain", arguments=[uri, _range_json(rng)])


def explain_action(uri: str, rng: types.Range, resolvable: bool) -> types.CodeAction:
    """The Explain action. With resolve support the command is filled in by ``codeAction/resolve``: some client
    libraries (lsprotocol's converter among them) mistake a CodeAction that carries ``command`` for a bare Command."""
    if resolvable:
        return types.CodeAction(
            title="codeassist: Explain", kind=EXPLAIN_KIND, data={"explain": {"uri": uri, "range": _range_json(rng)}}
        )
    return types.CodeAction(title="codeassist: Explain", kind=EXPLAIN_KIND, command=explain_command(uri, rng))


def _range_json(rng: types.Range) -> dict[str, Any]:
    return {
        "start": {"line": rng.start.line, "character": rng.start.character},
        "end": {"line": rng.end.line, "character": rng.end.character},
    }


def fix_title(problem: Problem, verification: str) -> str:
    message = " ".join(problem.message.split())
    if len(message) > 60:
        message = message[:59] + "…"
    return f"codeassist: Fix “{message}” ({verification})"


def fix_edit(uri: str, text: str, new_text: str, encoding: str = UTF16) -> types.WorkspaceEdit:
    """The smallest whole-line edit turning ``text`` (the document, any line endings) into ``new_text`` (``\n``
    line endings, as the services produce): the changed lines only, written with the document's own line ending."""
    eol = "\r\n" if "\r\n" in text else "\n"
    old_lines, new_lines = text.replace("\r\n", "\n").split("\n"), new_text.split("\n")
    head = 0
    while head < min(len(old_lines), len(new_lines)) and old_lines[head] == new_lines[head]:
        head += 1
    tail = 0
    limit = min(len(old_lines), len(new_lines)) - head
    while tail < limit and old_lines[-1 - tail] == new_lines[-1 - tail]:
        tail += 1
    old_end, middle = len(old_lines) - tail, new_lines[head : len(new_lines) - tail]
    starts = lsp_line_starts(text)
    if old_end < len(old_lines):  # replace lines head..old_end-1 with their terminators
        end = types.Position(line=old_end, character=0)
        replacement = "".join(line + eol for line in middle)
    else:  # the change reaches the last line, which has no terminator
        last = len(starts) - 1
        end_off = offset_of(text, Pos(last, 10**9), encoding, strict=False, starts=starts)
        end = types.Position(line=last, character=width(text[starts[last] : end_off], encoding))
        replacement = eol.join(middle)
    rng = types.Range(types.Position(line=head, character=0), end)
    return types.WorkspaceEdit(changes={uri: [types.TextEdit(range=rng, new_text=replacement)]})
