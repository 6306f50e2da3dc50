"""FIM prompt builder: assembled context + the model's FIM format → token ids.

Why token ids rather than a prompt string: control tokens must be the model's real special ids (a literal
``<|fim_prefix|>`` typed in a user's file must stay text), and the KV cache is reused per token, so we build the id
list piece by piece in a fixed, cache-friendly order:

* repo-level layout when the vocabulary has repo/file-separator tokens (Qwen2.5-Coder ``<|repo_name|>``/
  ``<|file_sep|>``, StarCoder2 ``<repo_name>``/``<file_sep>``): other files first, as the model saw them in training;
* otherwise other files as line comments in the current file's language, in front of the prefix (Tabby's layout);
* PSM (prefix, suffix, middle) or SPM (suffix, prefix, middle). Stable material always comes first: repository
  context, then the prefix window, whose start moves only in blocks of lines; the part that changes on a keystroke
  — the text of the cursor line before the cursor — sits as late as possible. Under PSM it is placed *after*
  ``middle`` (llama.vim's layout: the model's middle starts with the line prefix and we generate its continuation),
  so a keystroke re-evaluates a few tokens instead of the whole suffix. Measured with the embedded Qwen2.5-Coder
  (bench/reuse_bench.py): SPM reuses as well but the model was not trained on it (0/10 exact single-line matches vs
  3/10 for PSM, and 10/10 of its candidates failed the syntax gate), so PSM is the default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from codeassist.context.assemble import AssembledContext, Piece
from codeassist.context.languages import comment_prefix, get_spec
from codeassist.healing import heal_split
from codeassist.models.fim import FimFormat

Tokenize = Callable[[str], list[int]]

ORDERS = ("psm", "spm")


@dataclass(frozen=True)
class PromptPart:
    """A span of the prompt, for ``--json`` and for reasoning about reuse."""

    kind: str  # repo | file | imports | scope | definition | snippet | prefix | suffix | control
    source: str
    tokens: int
    start: int  # index of its first token in the prompt


@dataclass
class BuiltPrompt:
    tokens: list[int]
    parts: list[PromptPart] = field(default_factory=list)
    order: str = "psm"
    layout: str = "repo"  # repo | comments
    dropped: list[str] = field(default_factory=list)  # pieces left out to fit the context window
    healed: str = ""  # text cut from the end of the prefix for token healing (codeassist/healing.py)

    def count(self, kind: str) -> int:
        return sum(p.tokens for p in self.parts if p.kind == kind)


def _group_by_file(pieces: list[Piece]) -> list[tuple[str, list[Piece]]]:
    groups: dict[str, list[Piece]] = {}
    for p in pieces:
        groups.setdefault(p.path, []).append(p)
    return list(groups.items())


def _current_file_head(ctx: AssembledContext) -> str:
    """Imports and scope headers that scrolled out of the window, then an elision marker."""
    if not ctx.header:
        return ""
    c = comment_prefix(get_spec(ctx.language), ctx.path)
    return "\n".join(p.text for p in ctx.header) + f"\n{c} ...\n"


def _commented(path: str, pieces: list[Piece], c: str) -> str:
    lines = [f"{c} Path: {path}"]
    for p in pieces:
        lines.extend(f"{c} {line}" if line else c for line in p.text.split("\n"))
    return "\n".join(lines) + "\n"


class _Builder:
    def __init__(self, tokenize: Tokenize) -> None:
        self.tokenize = tokenize
        self.tokens: list[int] = []
        self.parts: list[PromptPart] = []

    def control(self, token: int | None) -> None:
        if token is not None:
            self.tokens.append(token)

    def text(self, kind: str, source: str, text: str, cap: int | None = None, keep_end: bool = False) -> None:
        if not text:
            return
        ids = self.tokenize(text)
        if cap is not None and len(ids) > cap:
            ids = ids[-cap:] if keep_end else ids[:cap]
        self.parts.append(PromptPart(kind, source, len(ids), len(self.tokens)))
        self.tokens.extend(ids)


def build_prompt(
    ctx: AssembledContext,
    fim: FimFormat,
    tokenize: Tokenize,
    *,
    order: str = "psm",
    repo_name: str = "workspace",
    max_prompt_tokens: int = 3800,
    line_in_middle: bool = True,
    heal: bool = False,
) -> BuiltPrompt:
    """Lay out the prompt for ``fim``'s family. ``max_prompt_tokens`` drops other-file pieces (last first) to fit.
    ``heal``: leave the partial chunk before the cursor out of the prompt (``BuiltPrompt.healed``); the generation
    must then start with it (token healing)."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
    files = list(ctx.files)
    dropped: list[str] = []
    while True:
        built = _build(ctx, files, fim, tokenize, order, repo_name, line_in_middle=line_in_middle, heal=heal)
        if len(built.tokens) <= max_prompt_tokens or not files:
            break
        gone = files.pop()
        dropped.append(f"{gone.kind}:{gone.path}:{gone.line}")
    built.dropped = dropped
    if len(built.tokens) > max_prompt_tokens:
        # Still too long with no other files: keep the end of the prefix and the start of the suffix.
        built = _build(
            ctx, [], fim, tokenize, order, repo_name, cap=max_prompt_tokens, line_in_middle=line_in_middle, heal=heal
        )
        built.dropped = dropped
    return built


def _build(
    ctx: AssembledContext,
    files: list[Piece],
    fim: FimFormat,
    tokenize: Tokenize,
    order: str,
    repo_name: str,
    cap: int | None = None,
    line_in_middle: bool = True,
    heal: bool = False,
) -> BuiltPrompt:
    b = _Builder(tokenize)
    source = ctx.path or "<buffer>"
    head = _current_file_head(ctx)
    # The repo-level layout only when there are other files to show: with nothing but the current file, the bare
    # header made the 0.5B model's answers flip on the repo name and path (measured on the demo and test fixtures).
    repo = fim.has_repo_tokens and bool(files)
    c = comment_prefix(get_spec(ctx.language), ctx.path)
    if repo:
        b.control(fim.repo)
        b.text("repo", repo_name, f"{repo_name}\n")
        for path, pieces in _group_by_file(files):
            b.control(fim.file_sep)
            kind = pieces[0].kind if len({p.kind for p in pieces}) == 1 else "file"
            b.text(kind, path, path + "\n" + "\n\n".join(p.text for p in pieces) + "\n")
        b.control(fim.file_sep)
        b.text("file", source, source + "\n")
        comments = ""
    else:
        comments = "".join(_commented(path, pieces, c) for path, pieces in _group_by_file(files))
    pre_cap = suf_cap = None
    if cap is not None:
        suf_cap = cap // 4
        pre_cap = cap - suf_cap - len(b.tokens) - 4
    prefix_text = comments + head + ctx.prefix
    healed = ""
    if heal:
        prefix_text, healed = heal_split(prefix_text)
    layout = "repo" if repo else "comments"
    if order == "psm":
        line = ""
        if line_in_middle:
            nl = prefix_text.rfind("\n")
            prefix_text, line = prefix_text[: nl + 1], prefix_text[nl + 1 :]
        b.control(fim.prefix)
        b.text("prefix", source, prefix_text, pre_cap, keep_end=True)
        b.control(fim.suffix)
        b.text("suffix", source, ctx.suffix, suf_cap)
        b.control(fim.middle)
        b.text("line_prefix", source, line)
        return BuiltPrompt(b.tokens, b.parts, order, layout, healed=healed)
    b.control(fim.suffix)
    b.text("suffix", source, ctx.suffix, suf_cap)
    b.control(fim.prefix)
    b.text("prefix", source, prefix_text, pre_cap, keep_end=True)
    b.control(fim.middle)
    return BuiltPrompt(b.tokens, b.parts, order, layout, healed=healed)
