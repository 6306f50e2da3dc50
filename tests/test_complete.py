"""First real completions with the embedded model, through the engine and through the CLI."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import tree_sitter_python
from tree_sitter import Language, Parser

from codeassist.engine import CompletionRequest, Engine
from codeassist.models.llama_backend import LlamaBackend

Cli = Callable[..., subprocess.CompletedProcess[str]]
SPECIAL = ("<|", "|>", "<fim", "<PRE>", "<MID>", "<SUF>")

FIXTURE = "".join(
    [
        "import math\n",
        "\n",
        "\n",
        "def circle_area(radius: float) -> float:\n",
        '    """Area of a circle with the given radius."""\n',
        "    return \n",  # the cursor goes after "return "
        "\n",
        "\n",
        "def main() -> None:\n",
        "    print(circle_area(2.0))\n",
    ]
)


def _has_error(source: str) -> bool:
    tree = Parser(Language(tree_sitter_python.language())).parse(source.encode())
    return tree.root_node.has_error


@pytest.mark.model
def test_fim_hole_in_python_fixture(engine: Engine) -> None:
    result = engine.complete(CompletionRequest(text=FIXTURE, line=5, column=11, path="geometry.py"))
    assert result.text.strip(), result
    assert not any(marker in result.text for marker in SPECIAL)
    lines = FIXTURE.split("\n")
    lines[5] = lines[5][:11] + result.text + lines[5][11:]
    spliced = "\n".join(lines)
    assert not _has_error(spliced), spliced
    assert "radius" in result.text
    assert result.timings.prompt_tokens > 0 and result.timings.generated_tokens > 0


@pytest.mark.model
def test_prefix_reuse_between_requests(engine: Engine) -> None:
    first = engine.complete(CompletionRequest(text=FIXTURE, line=5, column=11, path="geometry.py"))
    again = engine.complete(CompletionRequest(text=FIXTURE, line=5, column=11, path="geometry.py"))
    assert again.text == first.text  # greedy decoding is deterministic
    assert again.timings.reused_tokens >= again.timings.prompt_tokens - 1


@pytest.mark.model
def test_fim_tokens_come_from_the_vocabulary(engine: Engine) -> None:
    backend = engine.backend
    assert isinstance(backend, LlamaBackend)
    fim = backend.info.fim
    assert fim is not None and fim.family == "qwen2.5-coder" and fim.source == "vocab"
    assert fim.prefix == backend.token_id_for_text("<|fim_prefix|>")
    assert fim.middle == backend.token_id_for_text("<|fim_middle|>")
    assert fim.has_repo_tokens
    # A literal FIM marker inside user code is plain text, never a control token.
    assert fim.prefix not in backend.tokenize("x = '<|fim_prefix|>'")


@pytest.mark.model
def test_cli_complete_json(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "geometry.py"
    src.write_text(FIXTURE)
    proc = cli("complete", f"{src}:6:12", "--json", "--max-tokens", "24")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["text"].strip()
    for key in ("prompt_tokens", "reused_tokens", "prompt_ms", "generation_ms", "total_ms"):
        assert key in data["timings"]
    assert data["model"]["load_ms"] > 0
    plain = cli("complete", f"{src}:6:12", "--max-tokens", "24")
    assert plain.returncode == 0 and plain.stdout.strip() == data["text"].strip()


def test_cli_confidence_gate_hides_loudly(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "geometry.py"
    src.write_text(FIXTURE)
    # a threshold no suggestion reaches: hidden, said on stderr, exit code 1 (a script sees it was withheld)
    proc = cli(
        "complete", f"{src}:6:12", "--max-tokens", "8", "--verify", "off", "--confidence-gate", "first_margin:1e9"
    )
    assert proc.returncode == 1 and proc.stdout.strip() == "", proc
    assert "the model was unsure" in proc.stderr and "--confidence-gate off" in proc.stderr
    shown = cli("complete", f"{src}:6:12", "--max-tokens", "8", "--verify", "off", "--confidence-gate", "off")
    assert shown.returncode == 0 and shown.stdout.strip(), shown
    bad = cli("complete", f"{src}:6:12", "--confidence-gate", "sometimes")
    assert bad.returncode == 2 and "confidence_gate must be" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_position_past_end(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "a.py"
    src.write_text("x = 1\n")
    for loc, needle in ((f"{src}:9:1", "line 9 is past the end"), (f"{src}:1:30", "column 30 is past the end")):
        proc = cli("complete", loc)
        assert proc.returncode == 2, proc
        assert needle in proc.stderr and "Traceback" not in proc.stderr


def test_cli_missing_file(cli: Cli, tmp_path: Path) -> None:
    proc = cli("complete", f"{tmp_path}/nope.py:1:1")
    assert proc.returncode == 2 and "no such file" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_non_utf8_file(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "latin1.py"
    src.write_bytes("name = 'café'\n".encode("latin-1"))
    before = src.read_bytes()
    proc = cli("complete", f"{src}:1:5")
    assert proc.returncode == 2 and "not valid UTF-8" in proc.stderr and "Traceback" not in proc.stderr
    assert src.read_bytes() == before


def test_cli_bad_location_syntax(cli: Cli) -> None:
    proc = cli("complete", "examples/stats.py")
    assert proc.returncode == 2 and "PATH:LINE:COL" in proc.stderr


@pytest.mark.model
@pytest.mark.docker
def test_cli_complete_verifies_against_the_projects_tests(cli: Cli, tmp_path: Path) -> None:
    """The demo's example project: the completion of ``mean`` runs the project's tests in the sandbox first. With
    tests that agree it is printed and labelled verified; with tests that specify something else it is withheld."""
    repo = Path(__file__).resolve().parents[1] / "examples"
    for name, wrong in (("agree", False), ("disagree", True)):
        proj = tmp_path / name
        proj.mkdir()
        (proj / "pyproject.toml").write_text((repo / "pyproject.toml").read_text())
        (proj / "stats.py").write_text((repo / "stats.py").read_text())
        tests = (repo / "test_stats.py").read_text()
        (proj / "test_stats.py").write_text(tests.replace("== 3.0", "== 2.0") if wrong else tests)
    ok = cli("complete", f"{tmp_path}/agree/stats.py:8:12", "--json")
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert "len(values)" in data["text"], data["text"]  # the model's answer these tests were written for
    assert data["verification"]["label"] == "verified: tests pass" and data["verification"]["shown"] is True
    assert [t["tier"] for t in data["verification"]["tiers"]] == ["syntax", "compile", "tests"]
    bad = cli("complete", f"{tmp_path}/disagree/stats.py:8:12")
    assert bad.returncode == 1 and bad.stdout == "", bad
    assert "failed (tests fail) (not shown)" in bad.stderr
    off = cli("complete", f"{tmp_path}/disagree/stats.py:8:12", "--verify", "off")
    assert off.returncode == 0 and "len(values)" in off.stdout and "codeassist:" not in off.stderr


@pytest.mark.model
def test_prompt_lookup_drafts_are_accepted_and_keep_greedy_output(engine: Engine) -> None:
    """Opt-in prompt-lookup decoding (bench/lookup_bench.py: slower for the 0.5B model on CPU, so off by default):
    drafts copied from the prompt are checked in one batch; the output is the greedy one."""
    from codeassist.models.backend import GenerationParams

    backend = engine.backend
    prompt = backend.tokenize(
        "a = compute_total(items, tax_rate, discount)\nb = compute_total(items, tax_rate, discount)\nc = compute_total("
    )
    # the backend alone (the engine's lock is its own business: nothing else uses this engine meanwhile)
    plain = backend.generate(prompt, GenerationParams(max_tokens=12))
    drafted = backend.generate(prompt, GenerationParams(max_tokens=12, draft_tokens=4))
    assert drafted.text == plain.text and len(drafted.tokens) == len(plain.tokens)
    assert drafted.drafted_tokens > 0 and plain.drafted_tokens == 0
