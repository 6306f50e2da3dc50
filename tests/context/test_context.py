"""Context sources with the real tree-sitter grammars: parsing, windows, symbol index, snippets, assembly."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from codeassist.context.assemble import ContextBudget, Piece, Workspace, assemble_context, near_identifiers
from codeassist.context.current_file import cursor_windows, enclosing_scopes, file_imports
from codeassist.context.languages import SPECS, detect_indentation, query_for, resolve_spec
from codeassist.context.parsing import Document, count_errors
from codeassist.context.snippets import RecentFiles
from codeassist.context.symbols import WorkspaceIndex, extract_symbols
from codeassist.documents import clamped_offset
from codeassist.syntax_gate import SyntaxGate
from codeassist.typed_ahead import TypedAheadCache
from codeassist.walk import GitIgnore

SAMPLES = {
    "python": ("x.py", "def f(a):\n    return a\n\nclass C:\n    def m(self):\n        pass\n", {"f", "C", "m"}),
    "javascript": (
        "x.js",
        "function f(a) { return a; }\nclass C { m() {} }\nconst g = () => 1;\n",
        {"f", "C", "m", "g"},
    ),
    "typescript": ("x.ts", "interface I { a: number }\nfunction f(a: I): number { return a.a; }\n", {"I", "f"}),
    "tsx": ("x.tsx", "export function App() { return <div/>; }\n", {"App"}),
    "go": ("x.go", "package p\n\ntype T struct{}\n\nfunc F() {}\n\nfunc (t T) M() {}\n", {"T", "F", "M"}),
    "rust": ("x.rs", "struct S;\nimpl S { fn m(&self) {} }\nfn f() {}\ntrait Tr {}\n", {"S", "m", "f", "Tr"}),
    "java": ("X.java", "class X { int m() { return 1; } }\ninterface Y {}\n", {"X", "m", "Y"}),
    "c": ("x.c", "struct s { int a; };\nint f(int x) { return x; }\n#define N 3\n", {"s", "f", "N"}),
    "cpp": ("x.cpp", "namespace n { class K { void m(); }; }\nint K2::g() { return 0; }\n", {"n", "K", "m", "g"}),
}


@pytest.mark.parametrize("lang", sorted(SAMPLES))
def test_every_language_parses_and_tags(lang: str) -> None:
    path, text, names = SAMPLES[lang]
    spec = resolve_spec(path, None)
    assert spec is not None and spec.name == lang
    doc = Document(text, path=path)
    assert doc.tree is not None and count_errors(doc.tree).total == 0
    found = {s.name for s in extract_symbols(spec, path, text.encode())}
    assert names <= found, (lang, found)


def test_all_specs_have_tags_queries() -> None:
    assert all(query_for(spec, "tags") is not None for spec in SPECS)


def test_plain_text_mode_never_crashes() -> None:
    doc = Document("some: yaml\nlist:\n  - a\n", path="conf.yaml")
    assert doc.tree is None and doc.language is None
    doc.update("some: yaml\nlist:\n  - b\n")
    assert enclosing_scopes(doc, 5) == [] and file_imports(doc) == []
    ctx = assemble_context(doc, 5)
    assert ctx.prefix == "some:" and ctx.language is None
    assert SyntaxGate().check(doc.text, 5, " x", path="conf.yaml").action == "skipped"


def test_incremental_reparse_matches_full_parse() -> None:
    text = "def f(a):\n    return a\n\n\ndef g(b):\n    return b * 2\n"
    doc = Document(text, language="python")
    edits = [text.replace("a\n\n", "a + 1\n\n"), "# é ünïcode\n" + text.replace("b * 2", "b * 3"), text]
    for new in edits:
        doc.update(new)
        fresh = Document(new, language="python")
        assert doc.tree is not None and fresh.tree is not None
        assert str(doc.tree.root_node) == str(fresh.tree.root_node)
    assert doc.reparse_count == 3


def test_offset_and_windows_cut_at_line_boundaries() -> None:
    text = "".join(f"line{i} = {i}\n" for i in range(200))
    offset = clamped_offset(text, 120, 4)
    win = cursor_windows(text, offset, prefix_tokens=100, suffix_tokens=40, snap=16)
    assert win.prefix.endswith("line") and win.prefix.startswith("line")
    assert win.prefix_start_line % 16 == 0 and win.prefix_start_line > 0
    assert win.suffix.startswith("120 = 120\n") and win.suffix.endswith("\n")
    # Typing on the cursor line never moves the window start (cache stability).
    typed = text[:offset] + "abcdefghij" * 5 + text[offset:]
    win2 = cursor_windows(typed, offset + 50, prefix_tokens=100, suffix_tokens=40, snap=16)
    assert win2.prefix_start_line == win.prefix_start_line


def test_scope_and_imports_outside_window() -> None:
    body = "".join(f"        x{i} = {i}\n" for i in range(120))
    text = "import os\nfrom sys import argv\n\n\nclass Big:\n    def run(self, n: int) -> int:\n" + body + "        "
    doc = Document(text, language="python")
    ctx = assemble_context(doc, len(text), budget=ContextBudget(prefix_tokens=120))
    kinds = {p.kind: p.text for p in ctx.header}
    assert kinds["imports"] == "import os\nfrom sys import argv"
    assert kinds["scope"] == "class Big:\n    def run(self, n: int) -> int:"


def test_indentation_detection() -> None:
    assert detect_indentation("def f():\n\tif x:\n\t\treturn 1\n").use_tabs
    ind = detect_indentation("function f() {\n  if (x) {\n    return 1;\n  }\n}\n")
    assert not ind.use_tabs and ind.width == 2


def test_gitignore_rules() -> None:
    ig = GitIgnore()
    ig._rules = [("", "*.gen.py", False, False, False), ("", "build", False, True, False),
                 ("", "docs/**/*.py", False, False, True), ("", "keep.gen.py", True, False, False)]  # fmt: skip
    assert ig.ignored("a/b/x.gen.py", False)
    assert not ig.ignored("a/keep.gen.py", False)
    assert ig.ignored("build", True) and not ig.ignored("build", False)
    assert ig.ignored("docs/a/b/c.py", False) and not ig.ignored("src/c.py", False)


def test_symbol_index_cross_file_and_updates(make_workspace: Callable[[dict[str, str]], str]) -> None:
    root = make_workspace({
        "lib/geometry.py": "def area_of_circle(radius: float, *, precise: bool = False) -> float:\n"
                           "    return 3.14159 * radius * radius\n",
        "ignored_dir/secret.py": "def area_of_circle(r): pass\n",
        "big.py": "def huge_function():\n    pass\n" + "#" * 600_000 + "\n",
        ".gitignore": "ignored_dir/\n",
        "app.py": "from lib.geometry import area_of_circle\n\n\ndef report(r):\n    a = area_of_circle(r)\n    return ",
    })  # fmt: skip
    index = WorkspaceIndex(root)
    index.build()
    assert [s.path for s in index.lookup("area_of_circle")] == ["lib/geometry.py"]
    assert index.lookup("huge_function") == [] and index.stats.skipped_large == 1
    app = os.path.join(root, "app.py")
    with open(app, encoding="utf-8") as f:
        text = f.read()
    doc = Document(text, path=app)
    ctx = assemble_context(doc, len(text), index=index)
    defs = [p for p in ctx.files if p.kind == "definition"]
    assert defs and defs[0].path == "lib/geometry.py"
    assert "def area_of_circle(radius: float, *, precise: bool = False) -> float:" in defs[0].text
    # The definition changes on disk/in the editor: the index follows.
    geo = os.path.join(root, "lib/geometry.py")
    index.update_file(geo, "def area_of_circle(diameter: int) -> float:\n    return 0.785 * diameter ** 2\n")
    ctx = assemble_context(doc, len(text), index=index)
    assert "def area_of_circle(diameter: int) -> float:" in ctx.files[0].text
    index.remove_file(geo)
    assert index.lookup("area_of_circle") == []


def test_near_identifiers_skip_cursor_line() -> None:
    text = "alpha = beta(gamma)\nresult = delt"
    names = near_identifiers(text, len(text), before_lines=5, after_lines=2)
    assert names[:3] == ["gamma", "beta", "alpha"] and "delt" not in names and "result" not in names


def test_recent_snippets_rank_and_dedupe() -> None:
    rf = RecentFiles(chunk_lines=4, stride=2)
    rf.note("/a.py", "def load_users(db):\n    rows = db.query_users()\n    return [User(r) for r in rows]\n")
    rf.note("/b.py", "def unrelated():\n    return 42\n")
    rf.note("/cur.py", "users = load_users(db)\n")
    hits = rf.query("users = load_users(db)\nrows = db.query_users()", exclude="/cur.py")
    assert [h.path for h in hits] == ["/a.py"]
    # A chunk already visible in the window is not repeated.
    assert rf.query(hits[0].text + "\n", exclude="/cur.py") == []


def test_workspace_hooks_keep_documents_incremental(make_workspace: Callable[[dict[str, str]], str]) -> None:
    root = make_workspace({"m.py": "def helper_fn(x):\n    return x\n", "n.py": "y = 1\n"})
    ws = Workspace(root)
    n = os.path.join(root, "n.py")
    doc = ws.opened(n, "y = 1\n", "python")
    ws.changed(n, "y = 1\nz = helper_fn(y)\n")
    assert ws.document(n, "y = 1\nz = helper_fn(y)\n") is doc and doc.reparse_count == 1
    ws.changed(os.path.join(root, "m.py"), "def helper_fn(x, y=2):\n    return x + y\n")
    assert ws.index is not None and ws.index.lookup("helper_fn")[0].signature == "def helper_fn(x, y=2):"
    ws.closed(n)


def test_background_index_build_keeps_newer_buffers(make_workspace: Callable[[dict[str, str]], str]) -> None:
    """The server builds the index on a thread; a buffer indexed meanwhile is newer than the disk and must win."""
    files = {f"pkg/mod{i}.py": f"def fn_{i}(x):\n    return x + {i}\n" for i in range(300)}
    files["zz/m.py"] = "def helper_fn(x):\n    return x\n"  # walked last
    root = make_workspace(files)
    ws = Workspace(root, background=True)
    assert ws.index is not None
    ws.changed(os.path.join(root, "zz", "m.py"), "def helper_fn(x, y=2):\n    return x + y\n")  # before the walk
    assert ws.index.built.wait(60)
    assert ws.index.lookup("helper_fn")[0].signature == "def helper_fn(x, y=2):"
    assert ws.index.lookup("fn_299") and ws.index.stats.files == 301


def test_background_index_build_waits_while_paused(make_workspace: Callable[[dict[str, str]], str]) -> None:
    """The engine pauses a background build while the model runs: no file is indexed until the pause lifts."""
    import threading
    import time

    root = make_workspace({f"m{i}.py": f"def fn_{i}():\n    return {i}\n" for i in range(20)})
    model_busy = threading.Event()
    model_busy.set()
    ws = Workspace(root, background=True, pause=model_busy.is_set)
    assert ws.index is not None
    time.sleep(0.3)
    assert ws.index.stats.files == 0 and not ws.index.built.is_set()
    model_busy.clear()
    assert ws.index.built.wait(30) and ws.index.stats.files == 20


def test_syntax_gate_truncates_and_counts() -> None:
    gate = SyntaxGate()
    text = "def f(x):\n    return \n\nprint(f(1))\n"
    off = text.index("return ") + 7
    assert gate.check(text, off, "x + 1", language="python").action == "pass"
    res = gate.check(text, off, "x + 1\n    y = (", language="python")
    assert (res.action, res.text) == ("truncated", "x + 1")
    assert gate.check(text, off, ")))", language="python").action == "dropped"
    assert gate.stats.as_dict() == {"passed": 1, "truncated": 1, "dropped": 1, "skipped": 0}
    # Errors the document already had are not blamed on the candidate.
    broken = "int main() {\n  int x = \n"
    assert gate.check(broken, broken.index("= ") + 2, "1;", language="c").action == "pass"


def test_typed_ahead_lookback() -> None:
    cache = TypedAheadCache()
    cache.put("p", "x = compu", "\n", "te_total(items)")
    hit = cache.get("p", "x = compute_t", "\n")
    assert hit is not None and hit.text == "otal(items)" and hit.typed == "te_t"
    assert cache.get("p", "x = computx", "\n") is None
    assert cache.get("p", "x = compu", "other") is None


def test_near_identifiers_skip_comments_and_strings() -> None:
    """Words in docstrings and comments are prose: they must not pull definitions from other files."""
    from codeassist.context.assemble import near_identifiers
    from codeassist.context.parsing import Document

    src = '"""Run make demo to see it."""\n\n# helper for frobnicate\n'
    src += "def mean(values):\n    total = compute(values)\n    return \n"
    doc = Document(src, path="x.py", language="python")
    offset = src.index("return ") + 7
    names = near_identifiers(src, offset, before_lines=24, after_lines=4, doc=doc)
    assert names == ["values", "compute", "total", "mean"]
    js = "// calls frobnicate\nconst label = 'render widget';\nconst v = compute(x);\nreturn \n"
    jdoc = Document(js, path="x.js", language="javascript")
    got = near_identifiers(js, len(js) - 1, before_lines=24, after_lines=4, doc=jdoc)
    assert "compute" in got and "frobnicate" not in got and "widget" not in got


def test_local_definition_shadows_other_files() -> None:
    from codeassist.context.relevance import defined_in

    assert defined_in("main", "def main() -> None:\n    pass\n")
    assert defined_in("Point", "struct Point { x: i32 }")
    assert not defined_in("main", "main()\nremain = 1\n")


def test_own_signatures_of_helpers_out_of_the_window(make_workspace: Callable[[dict[str, str]], str]) -> None:
    """Helpers this file defines far above the cursor, used near it: their signatures are in the header (dedented,
    nearest use first); a helper defined inside the window is not repeated."""
    filler = "".join(f"        v{i} = {i}\n" for i in range(150))
    text = (
        "class Parser:\n    def _read_header(self, stream, *, strict: bool = True):\n        return stream\n\n"
        "    def _checked(self, value):\n        return value\n\n    def parse(self, stream):\n" + filler
        + "        def local_fn(a):\n            return a\n"
        + "        head = self._read_header(stream, strict=False)\n        x = self._checked(local_fn(head))\n"
        + "        return "
    )  # fmt: skip
    root = make_workspace({"pkg/parser.py": text})
    path = os.path.join(root, "pkg/parser.py")
    index = WorkspaceIndex(root)
    index.build()
    doc = Document(text, path=path)
    ctx = assemble_context(doc, len(text), index=index, budget=ContextBudget(prefix_tokens=200))
    assert [p.kind for p in ctx.header] == ["own", "scope"], ctx.header
    assert ctx.header[0].text == "def _checked(self, value):\ndef _read_header(self, stream, *, strict: bool = True):"
    off = assemble_context(doc, len(text), index=index, budget=ContextBudget(prefix_tokens=200, max_own=0))
    assert [p.kind for p in off.header] == ["scope"]


def test_a_decorated_definition_keeps_its_decorators_in_the_signature() -> None:
    """``@property`` is what says ``self.size`` is read, not called: the header shown to the model keeps it."""
    spec = resolve_spec("box.py", None)
    assert spec is not None
    src = b"class Box:\n    @property\n    def size(self) -> int:\n        return 1\n\n    def grow(self, n): pass"
    syms = {s.name: s for s in extract_symbols(spec, "box.py", src)}
    assert syms["size"].signature == "    @property\n    def size(self) -> int:"
    assert syms["size"].line == 2 and syms["grow"].signature == "    def grow(self, n):"


def test_a_pinned_context_keeps_its_pieces_and_takes_the_cursors_windows(
    make_workspace: Callable[[dict[str, str]], str],
) -> None:
    root = make_workspace({
        "lib/geometry.py": "def area_of_circle(radius: float) -> float:\n    return 3.14159 * radius * radius\n",
        "app.py": "from lib.geometry import area_of_circle\n\n\ndef report(r):\n    a = area_of_circle(r)\n"
                  "    b = 2\n    return a + b\n",
    })  # fmt: skip
    index = WorkspaceIndex(root)
    index.build()
    app = os.path.join(root, "app.py")
    with open(app, encoding="utf-8") as f:
        text = f.read()
    pin = assemble_context(Document(text, path=app), text.index("    return"), index=index)
    pin.files.append(Piece("snippet", "other.py", "# pinned\n", 3))
    assert any(p.kind == "definition" for p in pin.files)
    cut = text.replace("a = area_of_circle(r)", "a = ")
    at = cut.index("a = ") + 4
    fresh = assemble_context(Document(cut, path=app), at, index=index)
    pinned = assemble_context(Document(cut, path=app), at, index=index, pinned=pin)
    assert pinned.files == pin.files and pinned.header == pin.header and pinned.files != fresh.files
    assert (pinned.prefix, pinned.suffix) == (fresh.prefix, fresh.suffix) and pinned.prefix.endswith("    a = ")
