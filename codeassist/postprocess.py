"""Post-processing of raw FIM output: the rules that turn "what the model said" into "what we show".

Why these rules (anchors §4): small models run on, repeat themselves, re-type the code after the cursor, close
brackets the editor already closed, and leave the block they were asked to fill. Every generated token costs ~50 ms on
a 2-core CPU, so the same rules also run *while streaming* (:class:`StreamFilter`) and stop generation as soon as
the rest could only be thrown away.

Design: one pure function, :func:`postprocess`, maps (situation, raw text) to the suggestion. The streaming filter
calls it on the complete lines seen so far and stops when any rule has already cut something; every rule is
monotone on complete lines (more text never un-cuts a line), so streaming and batch results agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from codeassist import line_policy
from codeassist.brackets import closable_brackets, scan_start
from codeassist.context.languages import Indentation, LanguageSpec, detect_indentation, get_spec
from codeassist.line_policy import decide_multiline
from codeassist.line_rules import LineRules, indent_width, significant

__all__ = ["Processed", "Situation", "StreamFilter", "decide_multiline", "make_situation", "postprocess"]

# Text a model may emit as plain text when its control tokens leak (or when it imitates training data).
GENERIC_STOP_TEXTS: tuple[str, ...] = (
    "<|endoftext|>", "<|file_sep|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_pad|>",
    "<|repo_name|>", "<|im_end|>", "<|im_start|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>",
    "<repo_name>", "<|file_separator|>", "<｜fim▁", "<EOT>", "\n```", "\ndiff --git",
)  # fmt: skip


@dataclass(frozen=True)
class Situation:
    """Everything about the cursor that the rules need, computed once per request."""

    prefix: str  # text before the cursor (at least the current line; a window is fine)
    suffix: str  # text after the cursor
    language: str | None = None
    multiline: bool = True
    indentation: Indentation = field(default_factory=Indentation)
    stop_texts: tuple[str, ...] = ()
    max_lines: int = 40
    # Mid-line (code left of the cursor): the rest of the line only, unless it opens a block or a bracket that the
    # suggestion closes (codeassist/line_policy.py). False = the previous behaviour (multi-line wherever allowed).
    rest_of_line: bool = True

    @property
    def spec(self) -> LanguageSpec | None:
        return get_spec(self.language)

    @property
    def line_prefix(self) -> str:
        return self.prefix[self.prefix.rfind("\n") + 1 :]

    @property
    def line_suffix(self) -> str:
        nl = self.suffix.find("\n")
        return self.suffix if nl < 0 else self.suffix[:nl]


@dataclass(frozen=True)
class Processed:
    """The suggestion and which rule shaped it (``reason`` None = passed through untouched except whitespace)."""

    text: str
    reason: str | None = None
    cut: bool = False  # a rule removed generated content (streaming can stop)


def make_situation(
    prefix: str,
    suffix: str,
    *,
    language: str | None,
    multiline: bool | None = None,
    indentation: Indentation | None = None,
    stop_texts: tuple[str, ...] = (),
    max_lines: int = 40,
    rest_of_line: bool = True,
) -> Situation:
    """Build a :class:`Situation`; multi-line is decided from text when no tree-sitter decision is given."""
    if multiline is None:
        multiline = line_policy.multiline_from_text(prefix, suffix)
    if indentation is None:
        indentation = detect_indentation(prefix[-20000:] + suffix[:20000])
    return Situation(prefix, suffix, language, multiline, indentation, stop_texts, max_lines, rest_of_line)


def _leading_ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


@dataclass
class _Prepared:
    situation: Situation
    spec: LanguageSpec | None
    line_prefix: str
    line_suffix: str
    ref_indent: int
    block_opener: bool
    blank_line: bool
    closable: list[tuple[str, bool]]
    next_suffix_line: str | None
    all_stops: tuple[str, ...]


def prepare(situation: Situation) -> _Prepared:
    """Precompute the per-request facts (bracket state, reference indentation, the next line below)."""
    spec = situation.spec
    lp, ls = situation.line_prefix, situation.line_suffix
    tab = situation.indentation.width
    stripped = lp.rstrip()
    blank = not lp.strip()
    opener = bool(stripped) and (stripped.endswith(("{", "(", "[")) or (
        spec is not None and spec.indent_blocks and stripped.endswith(":")))  # fmt: skip
    rest = situation.suffix[len(ls) + 1 :] if "\n" in situation.suffix else ""
    next_line = None
    for line in rest.split("\n")[:50]:
        if line.strip():
            next_line = line
            break
    return _Prepared(
        situation=situation, spec=spec, line_prefix=lp, line_suffix=ls,
        ref_indent=indent_width(lp + ls, tab) if not blank else indent_width(lp, tab),
        block_opener=opener, blank_line=blank,
        closable=closable_brackets(situation.prefix[scan_start(situation.prefix, spec) :], situation.suffix, spec),
        next_suffix_line=next_line, all_stops=tuple(situation.stop_texts) + GENERIC_STOP_TEXTS,
    )  # fmt: skip


def _normalize_indentation(lines: list[str], prep: _Prepared) -> list[str]:
    """Match the file's style: tabs ↔ spaces in leading whitespace (the first line only at a line start)."""
    ind = prep.situation.indentation
    out = []
    # The model's own unit: 4 when every space indent is a multiple of 4, else 2 (CPU models rarely use 3 or 8).
    counts = [len(_leading_ws(x)) for x in lines[1:] if x.strip() and "\t" not in _leading_ws(x)]
    model_unit = 4 if all(c % 4 == 0 for c in counts) else 2
    for i, line in enumerate(lines):
        if i == 0 and not prep.blank_line:
            out.append(line)
            continue
        lead = _leading_ws(line)
        body = line[len(lead) :]
        if ind.use_tabs and " " in lead:
            spaces = lead.count(" ") + lead.count("\t") * model_unit
            lead = "\t" * (spaces // model_unit) + " " * (spaces % model_unit)
        elif not ind.use_tabs and "\t" in lead:
            lead = lead.replace("\t", " " * ind.width)
        out.append(lead + body)
    return out


_LINE_END_REPEAT = re.compile(r"(.{1,12}?)\1{5,}\s*$")


def _repetition_cut(lines: list[str]) -> int | None:
    """Where to cut a repeated block of k=1..4 lines: one line needs 3 copies (short loops legitimately repeat a
    line twice), longer blocks 2. One copy is kept."""
    n = len(lines)
    for i in range(1, n):
        for k in range(1, 5):
            if i - k < 0 or i + k > n:
                continue
            block = lines[i : i + k]
            if not any(significant(x) for x in block):
                continue
            if [x.strip() for x in block] != [x.strip() for x in lines[i - k : i]]:
                continue
            if k == 1:
                if i - 2 >= 0 and lines[i - 2].strip() == block[0].strip():
                    return i - 1  # keep one copy
                continue
            return i
    return None


def _body_below(p: _Prepared, first: str = "") -> bool:
    """The first non-blank line below the cursor's line is indented deeper than it (with the suggestion's ``first``
    line typed, which sets the indentation on a blank line): a block body is already there."""
    below = p.next_suffix_line
    if below is None:
        return False
    tab = p.situation.indentation.width
    return indent_width(below, tab) > indent_width(p.line_prefix + first, tab)


def _new_line_over_body(text: str, p: _Prepared, final: bool) -> tuple[str, bool, str | None]:
    """On a blank line above code indented deeper than the suggestion's first line, that code can only be the body of
    what the first line opens (a header or call typed over an existing body): a new body would sit in front of it,
    as :func:`_body_below` says for a line typed mid-way. The first line only, when it opens something."""
    first, sep, _ = text.partition("\n")
    if not first.strip() or not _body_below(p, first):
        return text, False, None
    if line_policy.first_line_opens(p.line_prefix, first, p.line_suffix, p.spec).kind == "line":
        return text, False, None
    return first, False, "body_below" if sep or not final else None


def _rest_of_line(text: str, p: _Prepared, final: bool) -> tuple[str, bool, str | None]:
    """The mid-line policy. Returns the text, whether the scope rules should treat the first line as a block opener
    (lines back at the cursor line's indentation end the suggestion), and the rule's name when it cut."""
    s = p.situation
    if p.blank_line and s.multiline and p.next_suffix_line is not None:
        return _new_line_over_body(text, p, final)
    if not s.multiline or not s.rest_of_line or p.blank_line or p.block_opener:
        return text, p.block_opener, None
    # Streaming passes complete lines only and a final text is complete: the first line is always complete here.
    first, sep, rest = text.partition("\n")
    opens = line_policy.first_line_opens(p.line_prefix, first, p.line_suffix, p.spec)
    if opens.kind == "line":
        return first, False, "rest_of_line" if sep or not final else None
    if _body_below(p):
        # The block or bracket the line opens already has its body below the cursor (editing an existing ``if``/
        # ``with`` header or call): a new body would sit in front of it, duplicated or contradicting it.
        return first, False, "body_below" if sep or not final else None
    if opens.kind == "block":
        return text, True, None
    later = rest.split("\n") if sep else []
    end = line_policy.bracket_close_line(later, opens, p.spec)
    if end is None or (final and end == len(later) - 1):
        return text, False, None
    return "\n".join([first, *later[: end + 1]]), False, "rest_of_line"


def postprocess(situation: Situation, raw: str, *, prep: _Prepared | None = None, final: bool = True) -> Processed:
    """Apply every rule to ``raw`` and return the suggestion. ``final=False`` (streaming) skips the whitespace
    clean-up and the first-line suffix-overlap rule, which need the finished text."""
    p = prep or prepare(situation)
    reason: str | None = None
    cut = False
    text = raw

    # 1. Leaked control tokens / fences / per-family stop texts.
    first_stop = min((i for s in p.all_stops if (i := text.find(s)) >= 0), default=-1)
    if first_stop >= 0:
        text, reason, cut = text[:first_stop], "stop_text", True

    # 2. Single-line mode: the first line only.
    if not situation.multiline:
        nl = text.find("\n")
        if nl >= 0:
            text, reason, cut = text[:nl], "single_line", True

    # 2b. Mid-line: the rest of the line, and more only for a block or a bracket that line opens.
    text, opener, rule = _rest_of_line(text, p, final)
    if rule:
        reason, cut = rule, True

    # 3. The first line re-types the rest of the current line (``foo(█)`` → ``a)``): drop the duplicate tail. Only
    # once the first line is complete, so streaming and batch agree.
    ls = p.line_suffix.strip()
    if ls and (final or "\n" in text):
        first, sep, rest = text.partition("\n")
        if first.rstrip().endswith(ls):
            text = first.rstrip()[: -len(ls)] + sep + rest
            reason = "suffix_overlap"
        elif (at := line_policy.retyped_suffix_at(first, p.line_suffix)) is not None:
            text = first[:at] + sep + rest
            reason = "suffix_overlap"

    lines = _normalize_indentation(text.split("\n"), p)

    # 4. Line rules: brackets, scope by indentation, top-level items, suffix overlap, stop patterns.
    rules = LineRules(situation, p, opener)
    lines = rules.run(lines)
    if rules.reason is not None:
        reason, cut = rules.reason, True

    # 5. Repetition: repeated blocks of lines, and lines that end in a repeated pattern.
    rep = _repetition_cut(lines)
    if rep is not None:
        lines, reason, cut = lines[:rep], "repetition", True
    for i, line in enumerate(lines):
        m = _LINE_END_REPEAT.search(line)
        if m and any(c.isalnum() for c in m.group(1)) and (final or i < len(lines) - 1):
            # A line that ends in a run (``0, 0, 0, 0, 0, 0``) is the model looping until max_tokens: drop it.
            lines, reason, cut = lines[:i], "repetition", True
            break

    text = "\n".join(lines)
    if not final:
        return Processed(text, reason, cut)

    if ls and text.strip() == ls:
        text, reason = "", "suffix_overlap"

    # 6. Whitespace: no trailing spaces, no trailing blank lines; nothing but whitespace means no suggestion.
    out = [x.rstrip() for x in text.split("\n")]
    while len(out) > 1 and not out[-1].strip():
        out.pop()
    text = "\n".join(out)
    if not text.strip():
        return Processed("", reason or "empty", cut)
    if not situation.multiline and p.line_suffix.strip() == "" and text != text.rstrip():
        text = text.rstrip()
    return Processed(text, reason, cut)


# Spaces on the cursor's line past which a generation stops: with the cursor after a line's indentation, the models
# sometimes go on emitting spaces up to the token cap (3 of 27 cut lines in a HumanEval function, 4-5 s each with
# the 0.5B), and trailing whitespace is stripped from what is shown anyway. From column 0 a completion may start
# with deep indentation, so the run allowed there is longer.
BLANK_RUN = 16
BLANK_RUN_AT_LINE_START = 64


class StreamFilter:
    """``on_text`` callback for :meth:`ModelBackend.generate`: returns False once the rest can only be cut."""

    def __init__(self, situation: Situation) -> None:
        self.situation = situation
        self.prep = prepare(situation)
        self.stopped_reason: str | None = None
        self.calls = 0
        at_line_start = situation.prefix.endswith("\n") or not situation.prefix
        self.blank_run = BLANK_RUN_AT_LINE_START if at_line_start else BLANK_RUN

    @property
    def server_stops(self) -> tuple[str, ...]:
        """Where this filter is certain to stop, for a server to stop by itself (``GenerationParams.stop``): a
        single-line completion's first newline. Cuts that depend on the text (multi-line rules) stay ours."""
        return () if self.situation.multiline else ("\n",)

    def __call__(self, text_so_far: str) -> bool:
        self.calls += 1
        if any(s in text_so_far for s in self.prep.all_stops):
            self.stopped_reason = "stop_text"
            return False
        nl = text_so_far.rfind("\n")
        if nl < 0:
            if len(text_so_far) >= self.blank_run and not text_so_far.strip():
                self.stopped_reason = "blank"  # a run of spaces on the cursor's line: only ever cut to nothing
                return False
            return True
        if not self.situation.multiline:
            self.stopped_reason = "single_line"
            return False
        result = postprocess(self.situation, text_so_far[:nl], prep=self.prep, final=False)
        if result.cut:
            self.stopped_reason = result.reason
            return False
        return True

    def finish(self, raw: str) -> Processed:
        return postprocess(self.situation, raw, prep=self.prep)
