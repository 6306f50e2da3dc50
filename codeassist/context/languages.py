"""The language registry: every language we understand with tree-sitter, and the per-language facts the rest of the
code needs (file extensions, LSP language ids, grammar, comment syntax, scope/import node types, top-level stop
words), plus the cached grammars, parsers and queries.

Why one table: file detection (the CLI, the server's documents), parsing, the symbol index, prompt comments, stop
patterns, the syntax checks and the server's ``languages`` setting all need to agree on what "Python" means. Every
other table is derived from :data:`SPECS` (``tests/test_invariants.py`` checks that no other module keeps one).
Anything not in the table is *plain text*: every feature that needs a tree quietly switches off, nothing crashes.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from tree_sitter import Language, Parser, Query


@dataclass(frozen=True)
class LanguageSpec:
    """Static facts about one language."""

    name: str  # our canonical id (matches the LSP languageId for the common case)
    module: str  # grammar wheel module
    entry: str  # function in that module returning the language pointer
    extensions: tuple[str, ...]
    line_comment: str
    # Node types that open a scope whose header is worth showing (function/class/impl…).
    scope_types: frozenset[str]
    # Node types that are imports / includes / uses.
    import_types: frozenset[str]
    # Node types in which a completion should stay on one line (strings, comments).
    single_line_types: frozenset[str]
    # Keywords that start a new top-level item; a multi-line completion stops before the next one at column 0.
    top_level_keywords: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    lsp_ids: tuple[str, ...] = ()  # LSP ``languageId`` values (untitled buffers say nothing through an extension)
    display_name: str = ""  # how prompts name it ("C++")
    indent_blocks: bool = False  # Python: blocks are defined by indentation, not braces


_STRINGS_COMMENTS = frozenset({
    "comment", "line_comment", "block_comment", "string", "string_content", "template_string", "raw_string_literal",
    "string_literal", "char_literal", "interpreted_string_literal", "raw_string_literal_content", "string_fragment",
})  # fmt: skip

SPECS: tuple[LanguageSpec, ...] = (
    LanguageSpec(
        "python", "tree_sitter_python", "language", (".py", ".pyi", ".pyw"), "#",
        frozenset({"function_definition", "class_definition", "decorated_definition"}),
        frozenset({"import_statement", "import_from_statement", "future_import_statement"}),
        _STRINGS_COMMENTS, ("def ", "class ", "async def ", "if __name__", "import ", "from ", "@"),
        aliases=("py", "python3"), lsp_ids=("python",), display_name="Python", indent_blocks=True,
    ),
    LanguageSpec(
        "javascript", "tree_sitter_javascript", "language", (".js", ".mjs", ".cjs", ".jsx"), "//",
        frozenset({"function_declaration", "class_declaration", "method_definition", "arrow_function",
                   "function_expression", "generator_function_declaration"}),
        frozenset({"import_statement"}),
        _STRINGS_COMMENTS, ("function ", "class ", "export ", "import ", "const ", "let ", "var ", "async function "),
        aliases=("js", "javascriptreact", "jsx"), lsp_ids=("javascript", "javascriptreact"), display_name="JavaScript",
    ),
    LanguageSpec(
        "typescript", "tree_sitter_typescript", "language_typescript", (".ts", ".mts", ".cts"), "//",
        frozenset({"function_declaration", "class_declaration", "method_definition", "arrow_function",
                   "function_expression", "interface_declaration", "abstract_class_declaration",
                   "generator_function_declaration"}),
        frozenset({"import_statement"}),
        _STRINGS_COMMENTS, ("function ", "class ", "export ", "import ", "interface ", "type ", "const ",
                            "let ", "async function ", "enum "),
        aliases=("ts",), lsp_ids=("typescript",), display_name="TypeScript",
    ),
    LanguageSpec(
        "tsx", "tree_sitter_typescript", "language_tsx", (".tsx",), "//",
        frozenset({"function_declaration", "class_declaration", "method_definition", "arrow_function",
                   "function_expression", "interface_declaration", "abstract_class_declaration"}),
        frozenset({"import_statement"}),
        _STRINGS_COMMENTS, ("function ", "class ", "export ", "import ", "interface ", "type ", "const ",
                            "let ", "async function ", "enum "),
        aliases=("typescriptreact",), lsp_ids=("typescriptreact",), display_name="TypeScript (TSX)",
    ),
    LanguageSpec(
        "go", "tree_sitter_go", "language", (".go",), "//",
        frozenset({"function_declaration", "method_declaration", "type_declaration", "func_literal"}),
        frozenset({"import_declaration", "package_clause"}),
        _STRINGS_COMMENTS, ("func ", "type ", "var ", "const ", "import ", "package "),
        aliases=("golang",), lsp_ids=("go",), display_name="Go",
    ),
    LanguageSpec(
        "rust", "tree_sitter_rust", "language", (".rs",), "//",
        frozenset({"function_item", "impl_item", "trait_item", "struct_item", "enum_item", "mod_item",
                   "closure_expression"}),
        frozenset({"use_declaration", "extern_crate_declaration"}),
        _STRINGS_COMMENTS, ("fn ", "pub ", "impl ", "struct ", "enum ", "trait ", "mod ", "use ", "#[", "const ",
                            "static ", "type "),
        aliases=("rs",), lsp_ids=("rust",), display_name="Rust",
    ),
    LanguageSpec(
        "java", "tree_sitter_java", "language", (".java",), "//",
        frozenset({"class_declaration", "interface_declaration", "method_declaration", "constructor_declaration",
                   "enum_declaration", "record_declaration", "lambda_expression"}),
        frozenset({"import_declaration", "package_declaration"}),
        _STRINGS_COMMENTS, ("public ", "private ", "protected ", "class ", "interface ", "import ", "package ",
                            "@"),
        lsp_ids=("java",), display_name="Java",
    ),
    LanguageSpec(
        "c", "tree_sitter_c", "language", (".c", ".h"), "//",
        frozenset({"function_definition", "struct_specifier", "enum_specifier", "union_specifier"}),
        frozenset({"preproc_include"}),
        _STRINGS_COMMENTS | {"system_lib_string"}, ("#include", "#define", "static ", "struct ", "typedef ",
                                                    "int ", "void ", "char ", "unsigned ", "const "),
        lsp_ids=("c",), display_name="C",
    ),
    LanguageSpec(
        "cpp", "tree_sitter_cpp", "language", (".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx", ".h++", ".c++"), "//",
        frozenset({"function_definition", "class_specifier", "struct_specifier", "namespace_definition",
                   "enum_specifier", "lambda_expression", "template_declaration"}),
        frozenset({"preproc_include", "using_declaration"}),
        _STRINGS_COMMENTS | {"system_lib_string", "raw_string_literal"},
        ("#include", "#define", "class ", "struct ", "namespace ", "template", "static ", "typedef ", "using ",
         "int ", "void "),
        aliases=("c++", "cxx"), lsp_ids=("cpp",), display_name="C++",
    ),
)  # fmt: skip

_BY_NAME: dict[str, LanguageSpec] = {}
for _spec in SPECS:
    _BY_NAME[_spec.name] = _spec
    for _alias in _spec.aliases:
        _BY_NAME[_alias] = _spec
_BY_EXT: dict[str, LanguageSpec] = {ext: spec for spec in SPECS for ext in spec.extensions}
_BY_LSP_ID: dict[str, LanguageSpec] = {lsp_id: spec for spec in SPECS for lsp_id in spec.lsp_ids}
# Our canonical language names: what the server's ``languages`` setting accepts.
LANGUAGE_NAMES: tuple[str, ...] = tuple(sorted(spec.name for spec in SPECS))

# Line-comment markers for languages we cannot parse but can still comment snippets for.
PLAIN_COMMENTS: dict[str, str] = {
    ".rb": "#", ".sh": "#", ".bash": "#", ".yaml": "#", ".yml": "#", ".toml": "#", ".pl": "#", ".r": "#",
    ".lua": "--", ".sql": "--", ".hs": "--", ".kt": "//", ".kts": "//", ".swift": "//", ".scala": "//",
    ".cs": "//", ".php": "//", ".dart": "//", ".zig": "//", ".m": "//",
}  # fmt: skip


def get_spec(name: str | None) -> LanguageSpec | None:
    """Spec for a language id or alias (case-insensitive); None when unknown (plain-text mode)."""
    if not name:
        return None
    return _BY_NAME.get(name.lower())


def spec_for_path(path: str | None) -> LanguageSpec | None:
    """Spec chosen by file extension; None for anything we cannot parse."""
    if not path:
        return None
    return _BY_EXT.get(os.path.splitext(path)[1].lower())


def language_for_path(path: str | None) -> str | None:
    """Our language name for a file, by its extension; None for plain text."""
    spec = spec_for_path(path)
    return spec.name if spec is not None else None


def language_of(path: str | None, lsp_id: str | None = None) -> str | None:
    """An editor document's language: its extension first, else its LSP ``languageId`` (untitled buffers)."""
    spec = spec_for_path(path) or (_BY_LSP_ID.get(lsp_id) if lsp_id else None)
    return spec.name if spec is not None else None


def resolve_spec(path: str | None, language: str | None) -> LanguageSpec | None:
    """An explicit language id wins over the extension (editors know better, e.g. for untitled buffers)."""
    return get_spec(language) or spec_for_path(path)


def comment_prefix(spec: LanguageSpec | None, path: str | None = None) -> str:
    """The line-comment marker used to show snippets as comments; '#' when nothing better is known."""
    if spec is not None:
        return spec.line_comment
    if path:
        return PLAIN_COMMENTS.get(os.path.splitext(path)[1].lower(), "#")
    return "#"


_lock = threading.RLock()
_languages: dict[str, Language] = {}
_queries: dict[tuple[str, str], Query | None] = {}
_local = threading.local()


def ts_language(spec: LanguageSpec) -> Language:
    """The loaded grammar (cached; loading is ~free after the first call)."""
    lang = _languages.get(spec.name)
    if lang is None:
        with _lock:
            lang = _languages.get(spec.name)
            if lang is None:
                module: Any = importlib.import_module(spec.module)
                entry: Callable[[], object] = getattr(module, spec.entry)
                lang = Language(entry())
                _languages[spec.name] = lang
    return lang


def parser_for(spec: LanguageSpec) -> Parser:
    """A parser for this thread. Parsers are not thread-safe and the LSP server parses from several threads."""
    parsers: dict[str, Parser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = {}
        _local.parsers = parsers
    parser = parsers.get(spec.name)
    if parser is None:
        parser = Parser(ts_language(spec))
        parsers[spec.name] = parser
    return parser


# TSX's grammar is TypeScript's plus JSX: the same query source compiles for both.
_QUERY_FILE_OF = {"tsx": "typescript"}


def query_for(spec: LanguageSpec, kind: str) -> Query | None:
    """Our own query file ``queries/<lang>-<kind>.scm`` compiled for the grammar, or None if there is none.

    Why our own tags queries rather than the ones shipped in the wheels: the shipped ones differ per grammar
    (TypeScript's only covers TS-specific nodes, Go's has untagged patterns and custom predicates), while the index
    needs one consistent set of captures: ``@name`` plus ``@definition.<kind>``.
    """
    key = (spec.name, kind)
    if key in _queries:
        return _queries[key]
    with _lock:
        if key in _queries:
            return _queries[key]
        fname = f"{_QUERY_FILE_OF.get(spec.name, spec.name)}-{kind}.scm"
        try:
            source = resources.files("codeassist.context").joinpath("queries", fname).read_text("utf-8")
        except (FileNotFoundError, OSError):
            _queries[key] = None
            return None
        query = Query(ts_language(spec), source)
        _queries[key] = query
        return query


@dataclass
class Indentation:
    """A file's indentation style, detected from its lines."""

    use_tabs: bool = False
    width: int = 4  # spaces per level (when not using tabs)
    unit: str = field(default="    ")


def detect_indentation(text: str, *, max_lines: int = 2000) -> Indentation:
    """Tabs or spaces, and how many spaces per level: the most common positive change in indentation wins."""
    tabs = spaces = 0
    deltas: dict[int, int] = {}
    prev = 0
    for i, line in enumerate(text.split("\n")):
        if i >= max_lines:
            break
        if not line.strip():
            continue
        if line.startswith("\t"):
            tabs += 1
            continue
        n = len(line) - len(line.lstrip(" "))
        if n:
            spaces += 1
        if n > prev:
            deltas[n - prev] = deltas.get(n - prev, 0) + 1
        prev = n
    if tabs > spaces:
        return Indentation(use_tabs=True, width=4, unit="\t")
    width = 4
    if deltas:
        width = max(deltas.items(), key=lambda kv: (kv[1], -kv[0]))[0]
        if width not in (2, 3, 4, 8):
            width = 4
    return Indentation(use_tabs=False, width=width, unit=" " * width)
