"""Which other files' definitions reach the prompt (codeassist/context/relevance.py), through assemble_context."""

from __future__ import annotations

import os
from collections.abc import Callable

from codeassist.context.assemble import assemble_context
from codeassist.context.parsing import Document
from codeassist.context.relevance import aux_path, referable
from codeassist.context.symbols import WorkspaceIndex

APP = """from lib.geometry import area

def report(shape, headers, data):
    total = area(shape)
    headers.update(data)
    rows = shape.corners()
    print(len(rows))
    return """


def _definitions(root: str, rel: str) -> list[tuple[str, str]]:
    index = WorkspaceIndex(root)
    index.build()
    path = os.path.join(root, rel)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    ctx = assemble_context(Document(text, path=path), len(text), index=index)
    return [(p.path, p.name) for p in ctx.files if p.kind == "definition"]


def test_only_imported_names_and_methods_of_the_same_language_outside_tests(
    make_workspace: Callable[[dict[str, str]], str],
) -> None:
    """An imported function and a method used as an attribute are shown; a test helper named like a parameter, a
    script's function named like a local, a JavaScript function, a dict method's namesake and a constant used as an
    attribute are not."""
    root = make_workspace({
        "lib/geometry.py": "def area(shape):\n    return 1\n\n\nclass Square:\n    def corners(self): return []",
        "tests/test_app.py": "def headers():\n    return {}\n",
        "scripts/fetch.py": "def data():\n    return 1\n",
        "docs/static/box.js": "function print(x) { return x; }\n",
        "lib/store.py": "class Store:\n    def update(self, other):\n        pass\n",
        "lib/consts.py": "corners = 4\n",
        "app.py": APP,
    })  # fmt: skip
    assert _definitions(root, "app.py") == [("lib/geometry.py", "area"), ("lib/geometry.py", "corners")]


def test_a_test_file_sees_test_helpers(make_workspace: Callable[[dict[str, str]], str]) -> None:
    root = make_workspace({
        "tests/helpers.py": "def make_shape(n):\n    return n\n",
        "tests/test_shapes.py": "from helpers import make_shape\n\n\ndef test_it():\n    s = make_shape(3)\n    ",
    })  # fmt: skip
    assert _definitions(root, "tests/test_shapes.py") == [("tests/helpers.py", "make_shape")]


def test_aux_paths_and_referable_names() -> None:
    assert aux_path("tests/test_x.py") and aux_path("pkg/conftest.py") and aux_path("docs/source/conf.py")
    assert aux_path("src/x_test.go") and not aux_path("src/pkg/testing_utils.py") and not aux_path("pkg/tools/run.py")
    near = "x = obj.render(1)\ny = d.get(2)\n"
    assert referable("render", language="python", imported=set(), near=near)
    assert not referable("get", language="python", imported=set(), near=near)  # every dict has one
    assert not referable("helper", language="python", imported=set(), near=near)
    assert referable("helper", language="python", imported={"helper"}, near=near)
    assert referable("helper", language="c", imported=set(), near=near)  # no named imports there: any may be
