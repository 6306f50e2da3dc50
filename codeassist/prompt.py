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

Family details (``models/families.py``) are honoured exactly: BOS when the vocabulary adds it, CodeLlama's spacing
(SentencePiece's leading space on the prefix only) and its own SPM order, StarCoder2's repository layout. The same
layout renders as text (``build_prompt_text``) for servers that tokenize themselves (OpenAI-compatible endpoints).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from codeassist.context.assemble import AssembledContext, Piece
from codeassist.context.current_file import estimate_tokens
from codeassist.context.languages import comment_prefix, get_spec
from codeassist.healing import heal_split
from codeassist.models.families import BY_NAME, FamilySpec
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
    text: str = ""  # the prompt as text (``build_prompt_text`` only; token counts in ``parts`` are then estimates)
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


def bare_tokenizer(tokenize: Tokenize) -> Tokenize:
    """``tokenize`` without SentencePiece's leading space. llama.cpp puts a space before every text it tokenizes for
    vocabularies with ``add_space_prefix``; CodeLlama's suffix and middle must not have it (Meta's
    ``encode_infilling``). Tokenizing after a newline and dropping the newline's tokens gives the bare pieces (the
    same trick as Hugging Face's non-legacy Llama tokenizer); if the vocabulary merges across the newline, the text
    is tokenized as is."""
    marker = tokenize("\n")

    def bare(text: str) -> list[int]:
        ids = tokenize("\n" + text)
        return ids[len(marker) :] if ids[: len(marker)] == marker else tokenize(text)

    return bare


class _Builder:
    """Emits token ids: controls are the model's special ids, texts go through the model's tokenizer."""

    def __init__(self, fim: FimFormat, tokenize: Tokenize) -> None:
        self.fim = fim
        self.tokenize = tokenize
        self.tokenize_bare = bare_tokenizer(tokenize) if fim.space_prefix else tokenize
        self.tokens: list[int] = []
        self.parts: list[PromptPart] = []

    def control(self, role: str) -> None:
        token: int | None = getattr(self.fim, role)
        if token is not None:
            self.tokens.append(token)

    def text(
        self, kind: str, source: str, text: str, cap: int | None = None, keep_end: bool = False, lead: bool = False
    ) -> None:
        """``lead``: this text takes the vocabulary's leading space (the text right after CodeLlama's <PRE>)."""
        if not text:
            return
        ids = self.tokenize(text) if lead else self.tokenize_bare(text)
        if cap is not None and len(ids) > cap:
            ids = ids[-cap:] if keep_end else ids[:cap]
        self.parts.append(PromptPart(kind, source, len(ids), len(self.tokens)))
        self.tokens.extend(ids)

    def result(self, order: str, layout: str) -> BuiltPrompt:
        return BuiltPrompt(self.tokens, self.parts, order, layout)


class _TextBuilder:
    """Emits text for servers that tokenize (special-token text is parsed there): controls are the family's marker
    texts; BOS is left to the server, which adds it when its vocabulary wants one. Token counts are estimates."""

    def __init__(self, spec: FamilySpec) -> None:
        self.spec = spec
        self.chunks: list[str] = []
        self.parts: list[PromptPart] = []
        self.estimate = 0

    def control(self, role: str) -> None:
        marker = None if role == "bos" else getattr(self.spec, role)
        if marker:
            self.chunks.append(marker)
            self.estimate += 1

    def text(
        self, kind: str, source: str, text: str, cap: int | None = None, keep_end: bool = False, lead: bool = False
    ) -> None:
        if not text:
            return
        if cap is not None and estimate_tokens(text) > cap:
            keep = max(0, cap * 3 - 2)
            text = text[-keep:] if keep_end else text[:keep]
        n = estimate_tokens(text)
        self.parts.append(PromptPart(kind, source, n, self.estimate))
        self.chunks.append(text)
        self.estimate += n

    def result(self, order: str, layout: str) -> BuiltPrompt:
        return BuiltPrompt([], self.parts, order, layout, text="".join(self.chunks))


_AnyBuilder = _Builder | _TextBuilder


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
    return _fit(ctx, lambda: _Builder(fim, tokenize), fim.has_repo_tokens, fim.repo_layout, fim.spm_layout,
                order, repo_name, max_prompt_tokens, line_in_middle, heal)  # fmt: skip


def build_prompt_text(
    ctx: AssembledContext,
    family: str | FamilySpec,
    *,
    order: str = "psm",
    repo_name: str = "workspace",
    max_prompt_tokens: int = 3800,
    line_in_middle: bool = False,
) -> BuiltPrompt:
    """The same layout as ``build_prompt``, as text with the family's marker texts (``BuiltPrompt.text``), for
    OpenAI-compatible ``/v1/completions``: the server's tokenizer turns the markers into its special tokens."""
    spec = BY_NAME[family] if isinstance(family, str) else family
    has_repo = spec.repo is not None and spec.file_sep is not None
    return _fit(ctx, lambda: _TextBuilder(spec), has_repo, spec.repo_layout, spec.spm_layout,
                order, repo_name, max_prompt_tokens, line_in_middle)  # fmt: skip


def _fit(
    ctx: AssembledContext,
    new: Callable[[], _AnyBuilder],
    has_repo: bool,
    repo_layout: str,
    spm_layout: str,
    order: str,
    repo_name: str,
    max_prompt_tokens: int,
    line_in_middle: bool,
    heal: bool = False,
) -> BuiltPrompt:
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
    files = list(ctx.files)
    dropped: list[str] = []
    layout = _Layout(has_repo, repo_layout, spm_layout, order, repo_name, line_in_middle, heal)

    def size(b: BuiltPrompt) -> int:
        return len(b.tokens) if not b.text else sum(p.tokens for p in b.parts) + 8

    while True:
        built = layout.build(new(), ctx, files)
        if size(built) <= max_prompt_tokens or not files:
            break
        gone = files.pop()
        dropped.append(f"{gone.kind}:{gone.path}:{gone.line}")
    built.dropped = dropped
    if size(built) > max_prompt_tokens:
        # Still too long with no other files: keep the end of the prefix and the start of the suffix.
        built = layout.build(new(), ctx, [], cap=max_prompt_tokens)
        built.dropped = dropped
    return built


@dataclass(frozen=True)
class _Layout:
    has_repo: bool
    repo_layout: str
    spm_layout: str
    order: str
    repo_name: str
    line_in_middle: bool
    heal: bool = False

    def build(self, b: _AnyBuilder, ctx: AssembledContext, files: list[Piece], cap: int | None = None) -> BuiltPrompt:
        source = ctx.path or "<buffer>"
        head = _current_file_head(ctx)
        # The repo-level layout only when there are other files to show: with nothing but the current file, the bare
        # header made the 0.5B model's answers flip on the repo name and path (measured on the demo and test fixtures).
        repo = self.has_repo and bool(files)
        starcoder2 = repo and self.repo_layout == "starcoder2"
        b.control("bos")
        comments = ""
        if repo:
            self._repo_header(b, files, source, starcoder2)
        else:
            c = comment_prefix(get_spec(ctx.language), ctx.path)
            comments = "".join(_commented(path, pieces, c) for path, pieces in _group_by_file(files))
        pre_cap = suf_cap = None
        if cap is not None:
            suf_cap = cap // 4
            pre_cap = cap - suf_cap - (len(b.tokens) if isinstance(b, _Builder) else b.estimate) - 4
        # StarCoder2 puts the FIM file's path inside the prefix: <fim_prefix>path\nprefix
        prefix_text = (f"{source}\n" if starcoder2 else "") + comments + head + ctx.prefix
        layout = "repo" if repo else "comments"
        healed = ""
        if self.heal:
            prefix_text, healed = heal_split(prefix_text)
        if self.order == "spm":
            if self.spm_layout == "codellama":  # <PRE><SUF>suffix<MID> prefix (Meta's suffix-first format)
                b.control("prefix")
                b.control("suffix")
                b.text("suffix", source, ctx.suffix, suf_cap)
                b.control("middle")
                b.text("prefix", source, prefix_text, pre_cap, keep_end=True, lead=True)
                return _healed(b.result(self.order, layout), healed)
            b.control("suffix")
            b.text("suffix", source, ctx.suffix, suf_cap)
            b.control("prefix")
            b.text("prefix", source, prefix_text, pre_cap, keep_end=True, lead=True)
            b.control("middle")
            return _healed(b.result(self.order, layout), healed)
        line = ""
        if self.line_in_middle:
            nl = prefix_text.rfind("\n")
            prefix_text, line = prefix_text[: nl + 1], prefix_text[nl + 1 :]
        b.control("prefix")
        b.text("prefix", source, prefix_text, pre_cap, keep_end=True, lead=True)
        b.control("suffix")
        b.text("suffix", source, ctx.suffix, suf_cap)
        b.control("middle")
        b.text("line_prefix", source, line)
        return _healed(b.result(self.order, layout), healed)

    def _repo_header(self, b: _AnyBuilder, files: list[Piece], source: str, starcoder2: bool) -> None:
        """Other files in the family's repository layout; ends with the separator before the current file."""
        nl = "" if starcoder2 else "\n"  # StarCoder2: no newline after the repo name or after each file's code
        b.control("repo")
        b.text("repo", self.repo_name, f"{self.repo_name}{nl}")
        for path, pieces in _group_by_file(files):
            b.control("file_sep")
            kind = pieces[0].kind if len({p.kind for p in pieces}) == 1 else "file"
            b.text(kind, path, path + "\n" + "\n\n".join(p.text for p in pieces) + nl)
        b.control("file_sep")
        if not starcoder2:
            b.text("file", source, source + "\n")


def _healed(built: BuiltPrompt, healed: str) -> BuiltPrompt:
    built.healed = healed
    return built


@dataclass
class FimJob:
    """One completion's prompt material, for backends that lay the prompt out themselves: a remote server that
    tokenizes (text), a llama-server slot (its ``/infill`` fields or our token ids), or the local fallback."""

    ctx: AssembledContext
    order: str = "psm"
    repo_name: str = "workspace"
    max_prompt_tokens: int = 3800
    line_in_middle: bool = False
    key: str = ""  # the document: requests for one document go to one server slot (its KV cache)
    heal: bool = False  # token healing (local token prompts only: a server tokenizes the text itself)

    def tokens(self, fim: FimFormat, tokenize: Tokenize) -> BuiltPrompt:
        return build_prompt(self.ctx, fim, tokenize, order=self.order, repo_name=self.repo_name,
                            max_prompt_tokens=self.max_prompt_tokens, line_in_middle=self.line_in_middle,
                            heal=self.heal)  # fmt: skip

    def text(self, family: str | FamilySpec) -> BuiltPrompt:
        return build_prompt_text(
            self.ctx, family, order=self.order, repo_name=self.repo_name, max_prompt_tokens=self.max_prompt_tokens,
            line_in_middle=self.line_in_middle,
        )  # fmt: skip

    def infill_fields(self) -> tuple[str, str, str, list[tuple[str, str]]]:
        """(prefix, suffix, line prefix, other files) as llama-server's ``/infill`` takes them: the server lays out
        the other files itself (``input_extra``) and puts ``prompt`` (the cursor line) after its FIM middle token."""
        prefix = _current_file_head(self.ctx) + self.ctx.prefix
        line = ""
        if self.line_in_middle:
            nl = prefix.rfind("\n")
            prefix, line = prefix[: nl + 1], prefix[nl + 1 :]
        extra = [(path, "\n\n".join(p.text for p in pieces) + "\n") for path, pieces in _group_by_file(self.ctx.files)]
        return prefix, self.ctx.suffix, line, extra
