"""The architecture's named invariants (ARCHITECTURE.md, "Invariants"), checked over the source with ``ast``: no
imports are executed, so a violation is found even in code no other test runs."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# folder -> the package it installs as (setup.py maps server/ and sandbox/ into codeassist)
PACKAGES = {"codeassist": "codeassist", "server": "codeassist.server", "sandbox": "codeassist.sandbox"}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def modules() -> Iterator[tuple[str, Path, ast.Module]]:
    for folder, package in PACKAGES.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO / folder).with_suffix("")
            if rel.name == "__main__":
                continue  # ``python -m`` entry points: they start the CLI, they are not part of any layer
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            if folder == "codeassist" and parts[:1] in (["server"], ["sandbox"]):
                continue  # the editable install's links, if any
            yield name, path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of imports under ``if TYPE_CHECKING:`` (they never run)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    lines.add(sub.lineno)
    return lines


def imports(name: str, path: Path, tree: ast.Module, *, runtime_only: bool = False) -> set[str]:
    """The ``codeassist`` modules ``name`` imports (relative imports resolved, ``from pkg import mod`` counted as
    ``pkg.mod`` when that is a module)."""
    is_package = path.name == "__init__.py"
    skip = _type_checking_only(tree) if runtime_only else set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if node.lineno in skip if isinstance(node, (ast.Import, ast.ImportFrom)) else True:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)
    return {m for m in found if m == "codeassist" or m.startswith("codeassist.")}


ALL = list(modules())
KNOWN = {name for name, _p, _t in ALL}


def known(found: set[str]) -> set[str]:
    return {m for m in found if m in KNOWN}


def test_the_engine_is_an_api_boundary_the_server_never_imports_past_it() -> None:
    """server/ uses the engine only through codeassist.api (plus the leaf codeassist.errors and the version)."""
    allowed = {"codeassist", "codeassist.api", "codeassist.errors"}
    for name, path, tree in ALL:
        if name.startswith("codeassist.server"):
            past = {m for m in known(imports(name, path, tree)) if m not in allowed}
            past = {m for m in past if not m.startswith("codeassist.server")}
            assert not past, f"{path}: imports {sorted(past)} past the engine's API (add it to codeassist/api.py)"


def test_the_engine_never_imports_its_callers() -> None:
    for name, path, tree in ALL:
        if name.startswith(("codeassist.server", "codeassist.sandbox", "codeassist.cli")):
            continue
        callers = {m for m in imports(name, path, tree) if m.startswith(("codeassist.server", "codeassist.cli"))}
        assert not callers, f"{path}: the engine imports its callers {sorted(callers)}"


def test_the_sandbox_knows_nothing_of_models() -> None:
    """sandbox/ imports of codeassist are its own modules and two leaves: errors and the workspace walker."""
    for name, path, tree in ALL:
        if name.startswith("codeassist.sandbox"):
            outside = {m for m in known(imports(name, path, tree)) if not m.startswith("codeassist.sandbox")}
            assert outside <= {"codeassist.errors", "codeassist.walk"}, f"{path}: imports {sorted(outside)}"


def test_the_module_graph_has_no_cycles() -> None:
    graph = {name: known(imports(name, path, tree, runtime_only=True)) - {name} for name, path, tree in ALL}
    graph = {k: {m for m in v if not k.startswith(m + ".")} for k, v in graph.items()}  # a package's own parents
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep) :], dep]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_no_module_over_400_lines_and_no_function_over_80() -> None:
    long_modules, long_functions = [], []
    for _name, path, tree in ALL:
        lines = path.read_text(encoding="utf-8").count("\n")
        if lines > MAX_MODULE_LINES:
            long_modules.append(f"{path.relative_to(REPO)} ({lines})")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    long_functions.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({size})")
    assert not long_modules, f"modules over {MAX_MODULE_LINES} lines: {long_modules}"
    assert not long_functions, f"functions over {MAX_FUNCTION_LINES} lines: {long_functions}"


def test_nothing_outside_the_engine_touches_the_model() -> None:
    """The engine owns the model and its lock: every model call is an Engine method that takes the lock itself."""
    for name, path, tree in ALL:
        if name == "codeassist.engine" or name.startswith("codeassist.models"):
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("backend", "_backend", "_lock")
                and ("engine" in ast.unparse(node.value).lower())
            ):
                pytest.fail(f"{path}:{node.lineno}: {ast.unparse(node)} reaches past the engine")


def test_function_local_imports_say_why() -> None:
    """An import inside a function breaks a real cost (a heavy or optional dependency, the CLI's start-up); the
    comment on it, or just above it, says which."""
    for _name, path, tree in ALL:
        source = path.read_text(encoding="utf-8").split("\n")
        skip = _type_checking_only(tree)
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno not in skip:
                    i = node.lineno - 1  # walk up over the group of imports (and a ``try:``) to the comment above
                    while i > fn.lineno and source[i - 1].strip().startswith(("import ", "from ", "try:")):
                        i -= 1
                    said = "#" in source[node.lineno - 1] or source[i - 1].strip().startswith("#")
                    assert said, f"{path.relative_to(REPO)}:{node.lineno}: function-local import without a reason"


def test_one_language_registry() -> None:
    """File extensions are mapped to languages in context/languages.py only: every other table derives from it."""
    extensions = {".py", ".js", ".ts", ".go", ".rs", ".java", ".c", ".cpp", ".h", ".hxx", ".pyw", ".tsx"}
    for name, path, tree in ALL:
        if name == "codeassist.context.languages":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
                assert len(keys & extensions) < 2, f"{path}:{node.lineno}: a language table outside the registry"


def test_every_model_or_sandbox_call_in_the_server_runs_on_the_worker() -> None:
    """In server/, the engine's blocking calls (generation, verification, the model load, the sandbox probe) are
    only made from a function handed to the worker (a lambda or a nested function), never directly in a handler on
    the event loop. Awaited calls are the server's own async adapters, which submit to the worker themselves."""
    blocking = {"complete", "candidates_for", "stream_explain", "sandbox_health", "load", "verify", "generate_chat"}
    receivers = ("engine", "service", "fixer", "verifier")
    for name, path, tree in ALL:
        if not name.startswith("codeassist.server"):
            continue
        parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or isinstance(parents.get(node), ast.Await):
                continue
            func = node.func
            if isinstance(func, ast.Attribute):
                engine_call = func.attr in blocking and any(r in ast.unparse(func.value).lower() for r in receivers)
            else:
                engine_call = isinstance(func, ast.Name) and func.id in blocking
            if not engine_call:
                continue
            scope = _scope(node, parents)
            on_worker = isinstance(scope, ast.Lambda) or (scope is not None and _scope(scope, parents) is not None)
            assert on_worker, f"{path}:{node.lineno}: {ast.unparse(node)[:60]} would block the event loop"


def _scope(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.AST | None:
    """The nearest function or lambda enclosing ``node`` (a method's class does not count), None at module level."""
    current = parents.get(node)
    while current is not None and not isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        current = parents.get(current)
    return current
