"""Pure builders of LSP result objects from engine results (no I/O, so unit-testable without a server)."""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from codeassist.actions import FixCandidate
from codeassist.syntax import Problem

from .convert import UTF16, Pos, lsp_line_starts, offset_of, position_of, width

AI_LABEL = "codeassist (AI)"
# "~" sorts after letters and digits in every client's string comparison, so language-server items come first.
AI_SORT_TEXT = "~~~codeassist"
EXPLAIN_KIND = "refactor.explain"


def lsp_pos(p: Pos) -> types.Position:
    return types.Position(line=p.line, character=p.character)


def inline_items(
    text: str, insert_at: int, cursor: int, completion: str, encoding: str = UTF16
) -> types.InlineCompletionList:
    """One ghost-text item. The range runs from where the engine inserts to the cursor (empty when they match)."""
    if not completion:
        return types.InlineCompletionList(items=[])
    starts = lsp_line_starts(text)
    a, b = min(insert_at, cursor), cursor
    rng = types.Range(
        lsp_pos(position_of(text, a, encoding, starts=starts)), lsp_pos(position_of(text, b, encoding, starts=starts))
    )
    return types.InlineCompletionList(items=[types.InlineCompletionItem(insert_text=completion, range=rng)])


def _word_start(text: str, cursor: int) -> int:
    i = cursor
    while i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_"):
        i -= 1
    return i


def completion_list(text: str, cursor: int, completion: str, encoding: str = UTF16) -> types.CompletionList:
    """The ``textDocument/completion`` fallback: one clearly labelled AI item whose ``textEdit`` replaces the word
    being typed (so client-side filtering by that word keeps it), sorted after everything else. ``isIncomplete``
    makes the client ask again as the user types: the suggestion depends on the whole prefix."""
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
        detail=AI_LABEL,
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


def fix_edit(uri: str, text: str, candidate: FixCandidate, encoding: str = UTF16) -> types.WorkspaceEdit:
    """Replace whole lines start..end (content only, keeping the last line's terminator) with the candidate,
    written with the document's own line ending."""
    starts = lsp_line_starts(text)
    end_line = min(candidate.end_line, len(starts) - 1)
    end_off = offset_of(text, Pos(end_line, 10**9), encoding, strict=False, starts=starts)
    end_char = width(text[starts[end_line] : end_off], encoding)
    eol = "\r\n" if "\r\n" in text else "\n"
    new_text = candidate.replacement.replace("\r\n", "\n").replace("\n", eol)
    rng = types.Range(
        types.Position(line=candidate.start_line, character=0), types.Position(line=end_line, character=end_char)
    )
    return types.WorkspaceEdit(changes={uri: [types.TextEdit(range=rng, new_text=new_text)]})
