"""The verify = "sandbox" scenario shared by the LSP test (tests/lsp/test_verify_alternatives.py) and the real
VS Code test (tests/editors/test_vscode_e2e.py): a function whose test rejects exactly what the server answered in a
probe project of the same layout, so the suggestion shown fails its tests whatever the model's greedy text was.

Why one copy: both tests must reject the same things for the same reasons; the model's answer itself is never
asserted (CI's CPU gives different greedy outputs).
"""

from __future__ import annotations

import base64

# an open question (any text summary will do): the model's samples differ from its greedy answer and each other
BODY = 'def summarize(values):\n    """Return a short text summary of the values."""\n    text = \n    return text\n'
LINE, CHARACTER = 2, 11  # 0-based: after "    text = "
# the plain listings most of the model's answers here produce: rejected too, so the real answer fails even when it
# is not exactly the probe's text (a different context flips near ties: ', '.join(map(str, …)) vs a generator)
COMMON = ["1, 2, 3", "1,2,3", "1 2 3", "123", "[1, 2, 3]", "1\n2\n3"]


def rejecting_test(module: str, rejected: list[str], *, sleep_s: float = 0.0) -> str:
    """Rejects at once a function whose source holds any of ``rejected`` (base64-encoded, so they never reach the
    model's context through the workspace index) or whose summary of ``[1, 2, 3]`` is one of the plain listings
    (``COMMON``: what the model's answers here mostly produce); otherwise, after ``sleep_s``, passes."""
    codes = [base64.b64encode(r.strip().encode()).decode() for r in rejected]
    return (
        f"import base64\nimport inspect\nimport time\n\nfrom {module} import summarize\n\n\ndef test_summary():\n"
        f"    for code in {codes!r}:\n"
        "        assert base64.b64decode(code).decode() not in inspect.getsource(summarize)\n"
        "    summary = summarize([1, 2, 3])\n"
        f"    assert isinstance(summary, str) and summary.strip() not in {COMMON!r}\n"
        f"    time.sleep({sleep_s})\n"
    )
