"""The incremental line index and the document store built on it, against a plain reference implementation."""

from __future__ import annotations

import random
from typing import Any

import pytest
from codeassist.server import chunked, lineindex
from codeassist.server.chunked import ChunkedText
from codeassist.server.convert import UTF8, UTF32, Pos, apply_edit, lsp_line_starts, offset_of, position_of
from codeassist.server.documents import DocumentOutOfSync, DocumentStore, clean
from codeassist.server.lineindex import LineIndex
from lsprotocol import types

ALPHABET = ["a", "b", " ", "\n", "\r", "\r\n", "é", "漢", "😀", "\x0c", "\u2028"]


def reference_starts(text: str) -> list[int]:
    """LSP line starts the obvious way (the implementation before the index)."""
    starts, i = [0], 0
    while i < len(text):
        if text[i] == "\n":
            starts.append(i + 1)
        elif text[i] == "\r":
            if i + 1 < len(text) and text[i + 1] == "\n":
                i += 1
            starts.append(i + 1)
        i += 1
    return starts


def random_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(n))


@pytest.mark.parametrize("block", [2, 5, 1024])
def test_random_edits_match_a_full_rescan(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small blocks make every edit cross block boundaries; \\r and \\n inserted next to each other join and split
    \\r\\n pairs across the edit's edges."""
    monkeypatch.setattr(lineindex, "BLOCK", block)
    rng = random.Random(block)
    for _ in range(300):
        text = random_text(rng, rng.randint(0, 60))
        index = LineIndex.of(text)
        assert list(index) == reference_starts(text)
        for _ in range(8):
            a = rng.randint(0, len(text))
            b = rng.randint(a, len(text))
            inserted = random_text(rng, rng.randint(0, 5))
            text = text[:a] + inserted + text[b:]
            index = index.edited(text, a, b, len(inserted))
            assert list(index) == reference_starts(text), repr(text)
            for offset in (0, len(text) // 2, len(text)):
                assert index.line_of(offset) == max(i for i, s in enumerate(reference_starts(text)) if s <= offset)


def test_apply_edit_agrees_with_positions_in_every_encoding() -> None:
    rng = random.Random(7)
    text = random_text(rng, 400)
    index = LineIndex.of(text)
    for encoding in (UTF8, "utf-16", UTF32):
        for _ in range(100):
            offset = rng.randint(0, len(text))
            if text[offset - 1 : offset + 1] == "\r\n":
                continue  # between the two characters of one line break: no LSP position
            pos = position_of(text, offset, encoding, starts=index)
            back = offset_of(text, pos, encoding, starts=index)
            assert back == offset
            new_body, new_index = apply_edit(ChunkedText.of(text), index, pos, pos, "x\r\n", encoding)
            new = str(new_body)
            assert new == text[:offset] + "x\r\n" + text[offset:]
            assert list(new_index) == reference_starts(new)


def test_sequence_behaviour() -> None:
    index = LineIndex.of("a\nb\r\nc\rd")
    assert index == [0, 2, 5, 7] and len(index) == 4 and index[-1] == 7 and index[1:3] == [2, 5]
    with pytest.raises(IndexError):
        index[4]
    assert lsp_line_starts("x\ny") == [0, 2]


def test_long_lines_convert_columns_within_the_line_only() -> None:
    line = "x" * 2_000_000
    text = f"{line}\n{line}😀y\n"
    index = LineIndex.of(text)
    assert offset_of(text, Pos(1, 2_000_002), starts=index) == len(line) + 1 + 2_000_001
    assert position_of(text, len(text) - 2, starts=index) == Pos(1, 2_000_002)


# -- the store --------------------------------------------------------------------------------------------------------


def reference_offset(text: str, line: int, character: int) -> int:
    """UTF-16 position -> offset, clamped like didChange wants, computed the slow obvious way."""
    starts = reference_starts(text)
    if line >= len(starts):
        return len(text)
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    while end > starts[line] and text[end - 1] in "\r\n":
        end -= 1
    i, units = starts[line], 0
    while i < end and units + (2 if ord(text[i]) > 0xFFFF else 1) <= character:
        units += 2 if ord(text[i]) > 0xFFFF else 1
        i += 1
    return i


def test_store_edits_match_a_plain_string_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny chunks and blocks, so edits cross chunk and block boundaries all the time."""
    monkeypatch.setattr(chunked, "CHUNK", 4)
    monkeypatch.setattr(lineindex, "BLOCK", 3)
    rng = random.Random(11)
    store = DocumentStore()
    for doc_no in range(40):
        text = random_text(rng, rng.randint(0, 80))
        uri = f"file:///m{doc_no}.py"
        doc = store.open(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text))
        for version in range(2, 30):
            lines = reference_starts(text)
            l1 = rng.randint(0, len(lines))
            l2 = rng.randint(l1, len(lines))
            c1, c2 = rng.randint(0, 6), rng.randint(0, 6)
            new = random_text(rng, rng.randint(0, 4))
            a, b = reference_offset(text, l1, c1), reference_offset(text, l2, c2)
            a, b = min(a, b), max(a, b)
            if text[a - 1 : a + 1] == "\r\n" or text[b - 1 : b + 1] == "\r\n" or (
                any(0xDC00 <= ord(ch) <= 0xDFFF for ch in new)):  # fmt: skip
                continue
            text = text[:a] + new + text[b:]
            store.change(change(uri, version, ((l1, c1, l2, c2), new)))
            assert doc.text == text and list(doc.lines) == reference_starts(text)


def change(uri: str, version: int, *edits: tuple[tuple[int, int, int, int] | None, str]) -> Any:
    changes: list[types.TextDocumentContentChangeEvent] = []
    for rng, text in edits:
        if rng is None:
            changes.append(types.TextDocumentContentChangeWholeDocument(text=text))
        else:
            r = types.Range(types.Position(rng[0], rng[1]), types.Position(rng[2], rng[3]))
            changes.append(types.TextDocumentContentChangePartial(range=r, text=text))
    return types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version), content_changes=changes
    )


def test_store_keeps_text_and_index_together_and_registers_snapshots() -> None:
    store = DocumentStore()
    doc = store.open(types.TextDocumentItem(uri="file:///a.py", language_id="python", version=1, text="ab\ncd\n"))
    assert store.change(change(doc.uri, 2, ((1, 1, 1, 1), "X\r"), ((0, 0, 0, 0), "\n"))) is doc
    assert doc.text == "\nab\ncX\rd\n" and doc.version == 2
    assert list(doc.lines) == reference_starts(doc.text)
    assert lsp_line_starts(doc.text) is doc.lines  # a request's snapshot costs no rescan


def test_lone_surrogates_become_replacement_characters_of_the_same_width() -> None:
    assert clean("a\ud800b\udfff") == "a\ufffdb\ufffd" and clean("😀") == "😀"
    store = DocumentStore()
    doc = store.open(types.TextDocumentItem(uri="file:///s.py", language_id="python", version=1, text="x\ud800y\n"))
    store.change(change(doc.uri, 2, ((0, 2, 0, 2), "\udc00")))
    assert doc.text == "x\ufffd\ufffdy\n"
    doc.text.encode("utf-8")  # the engine can use it
    assert offset_of(doc.text, Pos(0, 3), starts=doc.lines) == 3  # one unit each, as the client counts them


def test_out_of_sync_documents_refuse_requests_until_the_full_text_comes() -> None:
    store = DocumentStore()
    doc = store.open(types.TextDocumentItem(uri="file:///o.py", language_id="python", version=1, text="abc\n"))
    assert store.mark_stale(doc.uri, 2, "didChange carried bytes that are not UTF-8")
    assert not store.mark_stale(doc.uri, 2, "again")  # already out of sync: the user was told
    with pytest.raises(DocumentOutOfSync, match="out of sync"):
        store.get(doc.uri)
    assert store.change(change(doc.uri, 3, ((0, 0, 0, 0), "z"))) is None  # cannot apply to a text we lack
    with pytest.raises(DocumentOutOfSync):
        store.get(doc.uri)
    assert store.change(change(doc.uri, 4, (None, "fresh\n"))) is doc
    assert store.get(doc.uri).text == "fresh\n" and doc.version == 4 and doc.lines == [0, 6]
    assert store.mark_stale("file:///never-opened.py", 1, "didOpen was not UTF-8")
    with pytest.raises(DocumentOutOfSync):
        store.get("file:///never-opened.py")
