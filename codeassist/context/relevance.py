"""Which other files' definitions are about the code at the cursor, and which only share a name with it.

Why: the symbol index maps a bare name to every definition of it in the workspace. Looked up for every identifier
near the cursor, that pulled in a test helper called ``headers`` for a parameter named ``headers``, a ``data``
function from a fuzzing script for a local variable, ``init`` from a JavaScript file in docs/ for a Python method:
on the real-repository suite (bench/RESULTS-repos.md, seed 31) such definitions filled the prompt of more than half
the holes and the suite did better without any. A definition is shown only when

* it is in the same language as the document (a Python file never gets a JavaScript definition);
* it is not in a test, documentation, example or script folder, unless the document is one itself (they define
  fixtures and helpers with the commonest names, and no library code calls them);
* in a language whose imports name what they bring in (Python), the name is one the file imports, or is used as an
  attribute (``obj.name``: a method or field that may be defined anywhere); a bare name the file does not import is
  a local, a parameter, a builtin or its own — never another module's function.

The file's own definitions are the other half (:func:`own_signatures`): a helper it defines out of the window.
"""

from __future__ import annotations

import re

from codeassist.context.current_file import TokenCounter
from codeassist.context.languages import spec_for_path
from codeassist.context.symbols import Symbol, WorkspaceIndex

# Folder names, not ``tools`` or ``utils``: a library's own subpackage is often called that.
_AUX_DIRS = frozenset({
    "test", "tests", "testing", "doc", "docs", "example", "examples", "fuzz", "bench", "benchmarks", "scripts",
})  # fmt: skip

# Languages whose import statements name the things they import (``from x import a, b``); elsewhere (C's
# ``#include``, Go's package imports) an unimported bare name may well be another file's function.
_NAMED_IMPORTS = frozenset({"python"})

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def aux_path(rel: str) -> bool:
    """A test, documentation, example or script file (by its folders or its name)."""
    parts = rel.replace("\\", "/").split("/")
    base = parts[-1]
    if base == "conftest.py" or base.startswith("test_") or base.rsplit(".", 1)[0].endswith("_test"):
        return True
    return any(p.lower() in _AUX_DIRS for p in parts[:-1])


def same_language(path: str, language: str | None) -> bool:
    spec = spec_for_path(path)
    return language is None or (spec is not None and spec.name == language)


def imported_words(imports: list[str]) -> set[str]:
    """Every word in the file's import statements (names, aliases, module paths)."""
    return {w for text in imports for w in _WORD.findall(text)}


# Attribute names every container, string or file has: ``d.clear()`` is a dict's, not some class's ``clear``.
_COMMON_ATTRIBUTES = frozenset({
    "add", "append", "clear", "close", "copy", "count", "decode", "encode", "endswith", "extend", "find", "format",
    "get", "index", "insert", "items", "join", "keys", "lower", "pop", "popitem", "read", "readline", "remove",
    "replace", "reverse", "seek", "setdefault", "sort", "split", "startswith", "strip", "update", "upper", "values",
    "write",
})  # fmt: skip


def referable(name: str, *, language: str | None, imported: set[str], near: str) -> bool:
    """Whether a name near the cursor can refer to another file's definition (see the module docstring)."""
    if language not in _NAMED_IMPORTS or name in imported:
        return True
    return name not in _COMMON_ATTRIBUTES and re.search(rf"\.{re.escape(name)}\b", near) is not None


# Definitions that are called: what ``obj.name`` can mean in another file (a constant there is another thing; a
# ``@property`` is indexed as a method), and the own definitions whose header says how to call them (a class header
# or a constant's first line does not).
_CALLABLE = ("function", "method")


def candidate(path: str, *, current: str | None, language: str | None) -> bool:
    """Whether a definition at ``path`` may be shown to a document at ``current``."""
    if path == current or not same_language(path, language):
        return False
    return (current is not None and aux_path(current)) or not aux_path(path)


def fits(sym: Symbol, *, current: str | None, language: str | None, imported: set[str]) -> bool:
    """Whether another file's definition may be shown for a :func:`referable` name: a :func:`candidate` by its
    path, and, for a name the file uses only as an attribute (not imported), one an attribute can mean."""
    if not candidate(sym.path, current=current, language=language):
        return False
    return language not in _NAMED_IMPORTS or sym.name in imported or sym.kind in _CALLABLE


_DEF_KEYWORDS = r"(?:def|class|function|func|fn|struct|enum|interface|trait|type|impl)"


def defined_in(name: str, text: str) -> bool:
    """``text`` defines ``name`` itself (then same-named definitions elsewhere are not what it means)."""
    return re.search(rf"\b{_DEF_KEYWORDS}\s+{re.escape(name)}\b", text) is not None


_COMMENT_LEADS = ("#", "//", "/*", "*")  # a comment between the header and the body is part of the indexed header


def own_signatures(
    names: list[str],
    index: WorkspaceIndex,
    *,
    current: str | None,
    window: str,
    budget: int,
    max_items: int,
    count: TokenCounter,
) -> list[str]:
    """Signatures of this file's own definitions that the code near the cursor uses but the window does not show.

    Why: in a long module the helpers a function calls (``self._parse``, ``_check_size``) are usually defined far
    from it, out of the window; the model then guesses their arguments. Cross-file definitions skip such names
    (the file's own definition shadows the others), so without this nothing told the model how to call them. Only
    the header line, dedented: a few tokens each, and stable while the user types on one line.
    """
    out: list[str] = []
    used = 0
    for name in names:
        if len(out) >= max_items:
            break
        own = [s for s in index.lookup(name) if s.path == current and s.kind in _CALLABLE and s.signature]
        if not own or defined_in(name, window):
            continue
        sig = min(own, key=lambda s: s.line).signature
        text = "\n".join(ln.strip() for ln in sig.split("\n") if not ln.strip().startswith(_COMMENT_LEADS)).strip()
        if not text or text in window or text in out:
            continue
        cost = count(text)
        if used + cost > budget:
            continue
        used += cost
        out.append(text)
    return out
