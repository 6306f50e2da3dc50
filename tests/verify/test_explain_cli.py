"""``codeassist explain PATH:LINE[-LINE]``: a streamed explanation with the selection's context."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from verify_fixtures import CliRun

from codeassist.cli.explain_cmd import parse_span
from codeassist.errors import InputError
from codeassist.explain_checks import known_names, mentioned_names, word_count
from codeassist.explainer import gather_context

SOURCE = '''def helper(x):
    return x * 2


def total(values):
    """Sum of doubled values."""
    out = 0
    for v in values:
        out += helper(v)
    return out


def report(values):
    return f"total={total(values)}"
'''


def test_parse_span() -> None:
    assert parse_span("a/b.py:3") == ("a/b.py", 2, 2)
    assert parse_span("c:/x.py:3-7") == ("c:/x.py", 2, 6)
    with pytest.raises(InputError):
        parse_span("a.py:7-3")
    with pytest.raises(InputError):
        parse_span("a.py")


def test_context_has_enclosing_definition_helpers_and_callers() -> None:
    symbol, pieces = gather_context(SOURCE, 7, 8)  # the loop inside total()
    labels = [label for label, _ in pieces]
    assert symbol == "total"
    assert labels == ["enclosing definition `total`", "definition of `helper`", "caller `report`"]


@pytest.mark.model
def test_explain_streams_and_reports_json(tmp_path: Path, run_cli_env: CliRun) -> None:
    path = tmp_path / "m.py"
    path.write_text(SOURCE)
    r = run_cli_env("explain", f"{path}:5-10", "--json", "--max-tokens", "40", "--threads", "2")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["symbol"] == "total" and data["text"].strip() and data["start_line"] == 5 and data["end_line"] == 10
    assert "definition of `helper`" in data["context"]
    streamed = run_cli_env("explain", f"{path}:9", "--max-tokens", "24", "--threads", "2")
    assert streamed.returncode == 0 and streamed.stdout.strip()
    bad = run_cli_env("explain", f"{path}:99")
    assert bad.returncode == 2 and "past the end" in bad.stderr


@pytest.mark.model
def test_explain_keeps_to_the_word_limit_and_reports_names_the_code_lacks(tmp_path: Path, run_cli_env: CliRun) -> None:
    """Whatever the model says: at most --max-words words, and ``unknown_names`` is exactly the names in its code
    spans that the code does not contain (the context shown is part of this file)."""
    path = tmp_path / "m.py"
    path.write_text(SOURCE)
    r = run_cli_env("explain", f"{path}:5-10", "--json", "--max-tokens", "80", "--max-words", "12", "--threads", "2")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["words"] == word_count(data["text"]) <= 12
    assert data["stop_reason"] in ("word_limit", "eot", "max_tokens")
    known = known_names([SOURCE], str(path))
    assert not set(data["unknown_names"]) & known
    assert set(mentioned_names(data["text"])) - set(data["unknown_names"]) <= known
    bad = run_cli_env("explain", f"{path}:5", "--max-words", "-1")
    assert bad.returncode == 2
