"""Tiny GGUF models of each seed family, written once per test session (a few hundred KB each, milliseconds)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tiny_gguf import FAMILY_SPECS, write_tiny_model

FAMILIES = tuple(FAMILY_SPECS)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, bool], str]:
    """(family, FIM ids declared in the GGUF) -> path."""
    root = tmp_path_factory.mktemp("tiny-gguf")
    return {
        (family, declared): write_tiny_model(family, str(root / f"{family}-{'decl' if declared else 'text'}.gguf"),
                                             declare_fim=declared)
        for family in FAMILIES
        for declared in (True, False)
    }  # fmt: skip
