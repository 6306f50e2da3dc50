"""The open-loop replay's pure parts: the typing schedule, which answers count, and how many characters they save.

Open loop: keystroke ``k`` is typed on a fixed schedule whatever the assistant does (a typist does not wait for ghost
text): one key every ``interval_ms``, and a pause of ``line_pause_ms`` before the first key of each line (people stop
between lines, which is where a next-line suggestion has time to arrive). A keystroke's answer *counts* only when it
arrives before the next keystroke is typed (for the last keystroke of a span: within one interval): after that the
document has changed, the editor has cancelled or ignores the request, and the user never sees it. An answer to an
earlier keystroke that arrives later is *superseded*: never counted, whatever it says.

Usefulness, **characters accepted**: for each keystroke answered in time, how many characters of what the user is
about to type the suggestion would save, summed over keystrokes. The *target* is the rest of the real line after the
cursor; at the end of a line whose next line is typed too, it is a line break and that whole next line.

- The suggestion is cut to as many lines as the target (later lines are not scored) and compared with it;
- when it is a prefix of the target (all of it correct), all of its characters count (Tab);
- otherwise only the longest run of *whole words* that is correct counts: the user accepts word by word (VS Code's
  accept-next-word, llama.vim's accept-word) and stops before the first wrong word. A word is a run of identifier
  characters or one other non-space character, with the whitespace (line breaks too) before it; a word only partly
  right counts for nothing (``self.vals = 0`` against ``self.value = 1`` saves ``self.``, 5 characters, not 8).

Keystrokes typed in a row can offer the same characters (an answer at key 3 and one at key 4 both cover the line's
end), so the sum is the usefulness *on offer* at the keystrokes, not a session's saving; it is computed the same way
for every target, on the very same keystrokes, so ratios between targets are the figure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bench.replay import Keystroke, percentile

WORD = re.compile(r"\s*(?:\w+|[^\w\s])|\s+$")


def schedule(
    n_keys: int, interval_ms: float, line_starts: Sequence[int] = (), line_pause_ms: float = 0.0
) -> list[float]:
    """Seconds after the start at which each keystroke is typed: one every ``interval_ms``, and ``line_pause_ms`` more
    before each keystroke in ``line_starts`` (the first character of a line: the typist pauses between lines)."""
    starts = set(line_starts)
    out, t = [], 0.0
    for k in range(n_keys):
        if k:
            t += interval_ms / 1000 + (line_pause_ms / 1000 if k in starts else 0.0)
        out.append(t)
    return out


def deadline(times: Sequence[float], k: int, interval_ms: float) -> float:
    """When keystroke ``k``'s answer stops counting: the next keystroke (or one interval after the last one)."""
    return times[k + 1] if k + 1 < len(times) else times[k] + interval_ms / 1000


def accepted_chars(suggestion: str, rest_of_line: str) -> int:
    """Characters of ``rest_of_line`` a user saves with ``suggestion`` shown at the cursor (module docstring)."""
    first = "\n".join(suggestion.split("\n")[: rest_of_line.count("\n") + 1])  # as many lines as the target
    if not first or not rest_of_line:
        return 0
    if rest_of_line.startswith(first):
        return len(first)
    taken = 0
    for m in WORD.finditer(first):
        end = m.end()
        if rest_of_line[taken:end] != first[taken:end]:
            break
        taken = end
    return taken


@dataclass(frozen=True)
class Arrival:
    """An answer that reached the editor: to keystroke ``key``, at ``at`` seconds after the start, showing ``text``
    after the cursor (empty: an answer with nothing to show)."""

    key: int
    at: float
    text: str


@dataclass(frozen=True)
class KeyOutcome:
    key: int
    answered: bool  # an answer to this keystroke arrived before the next keystroke
    latency_ms: float | None  # keystroke -> that answer
    text: str  # what was shown after the cursor ("" when nothing was)
    accepted: int  # characters accepted (accepted_chars against the rest of the real line)


def outcomes(
    times: Sequence[float], arrivals: Sequence[Arrival], rests: Sequence[str], interval_ms: float
) -> list[KeyOutcome]:
    """Per keystroke: the first answer to it that arrived in time (later ones and superseded ones are dropped)."""
    first: dict[int, Arrival] = {}
    for a in sorted(arrivals, key=lambda a: a.at):
        if a.key in first or not 0 <= a.key < len(times):
            continue
        if times[a.key] <= a.at < deadline(times, a.key, interval_ms):
            first[a.key] = a
    out = []
    for k in range(len(times)):
        got = first.get(k)
        if got is None:
            out.append(KeyOutcome(k, False, None, "", 0))
        else:
            ms = (got.at - times[k]) * 1000
            out.append(KeyOutcome(k, True, ms, got.text, accepted_chars(got.text, rests[k])))
    return out


@dataclass
class Score:
    target: str
    keys: int
    answered: int  # answers (possibly empty) that arrived in time
    shown: int  # in time and non-empty
    accepted_chars: int
    keys_with_accept: int  # keystrokes whose answer saved at least one character
    late: int  # answers that arrived after the next keystroke (superseded: not counted)
    p50_ms: float  # keystroke -> answer, over the answers in time (so never above the time to the next key)
    p95_ms: float
    late_p50_ms: float  # over the late answers (a cancelled request never answers: none through the LSP)
    offered_chars: int  # sum over keystrokes of the rest of the line: what a perfect, instant assistant would offer

    @property
    def answered_rate(self) -> float:
        return self.answered / max(self.keys, 1)


def score(target: str, rows: Sequence[KeyOutcome], late_ms: Sequence[float], rests: Sequence[str]) -> Score:
    """The totals of one target over its keystrokes; ``late_ms`` are the latencies of answers that came too late."""
    lat = [r.latency_ms for r in rows if r.latency_ms is not None]
    return Score(
        target=target, keys=len(rows), answered=sum(r.answered for r in rows), shown=sum(bool(r.text) for r in rows),
        accepted_chars=sum(r.accepted for r in rows), keys_with_accept=sum(r.accepted > 0 for r in rows),
        late=len(late_ms), p50_ms=percentile(lat, 50), p95_ms=percentile(lat, 95),
        late_p50_ms=percentile(late_ms, 50), offered_chars=sum(map(len, rests)),
    )  # fmt: skip


def late_latencies(times: Sequence[float], arrivals: Sequence[Arrival], interval_ms: float) -> list[float]:
    """Latencies (ms) of the answers that arrived after their keystroke's deadline."""
    return [
        (a.at - times[a.key]) * 1000
        for a in arrivals
        if 0 <= a.key < len(times) and a.at >= deadline(times, a.key, interval_ms)
    ]


def visible_text(insert: str, replaced: str) -> str:
    """What a ghost text adds after the cursor when it replaces ``replaced`` (the document text from its range's
    start to the cursor) by ``insert``: nothing when ``insert`` does not start with ``replaced`` (VS Code does not
    show such an item inline)."""
    return insert[len(replaced) :] if insert.startswith(replaced) else ""


def rests_of_lines(source: str, strokes: Sequence[Keystroke]) -> list[str]:
    """For each keystroke, what the user is about to type: the rest of the real line after the cursor, or at the end
    of a line whose next line is typed too, a line break and that whole line (indentation included: a suggestion
    there proposes the next line)."""
    lines = source.split("\n")
    typed_lines = {ks.line for ks in strokes}
    out = []
    for ks in strokes:
        rest = lines[ks.line][ks.column :]
        if not rest and ks.line + 1 in typed_lines:
            rest = "\n" + lines[ks.line + 1]
        out.append(rest)
    return out


def line_starts(strokes: Sequence[Keystroke]) -> list[int]:
    """Indices of the keystrokes that type the first character of a line."""
    return [k for k, ks in enumerate(strokes) if k == 0 or ks.line != strokes[k - 1].line]


def typed_since(prev: Keystroke | None, ks: Keystroke) -> str:
    """The text keystroke ``ks`` adds after the previous one's cursor: its character, or at the first key of the next
    line, the line break and that line up to the cursor (the editor's Enter and auto-indent, then the character)."""
    if prev is None or prev.line == ks.line:
        return ks.char
    return "\n" + ks.text.split("\n")[ks.line][: ks.column]


def typed_through(ghost: str, typed: str) -> str:
    """What stays on screen when the user types ``typed`` over the ghost text ``ghost``: its rest when it starts with
    what was typed (VS Code keeps an inline suggestion the user is typing through), else nothing."""
    return ghost[len(typed) :] if typed and ghost.startswith(typed) else ""
