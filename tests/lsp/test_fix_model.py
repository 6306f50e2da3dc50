"""``fix_model`` (issue 13, item 5), through the real server and models: explanations and fixes may run on another
tier than completions. A fix model that cannot be loaded falls back to the completion model and says so; the 1.5B
tier, when installed, explains (the explanation ends with the model that wrote it)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsphelp import CONFIG, command, open_doc, start, wait_for
from lsprotocol import types
from pytest_lsp import LanguageClient

from codeassist.models.registry import FIX_TIER, TIERS, default_fix_model, is_installed

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

SOURCE = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"
ROOT = Path(tempfile.mkdtemp(prefix="codeassist-lsp-fixmodel-"))
URI = (ROOT / "m.py").as_uri()
WHOLE = types.Range(types.Position(0, 0), types.Position(4, 12))


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient) -> Any:
    (ROOT / "m.py").write_text(SOURCE)
    missing = str(ROOT / "no-such-model.gguf")
    await start(lsp_client, ROOT, {"timeout_ms": 60000, "max_tokens": 8, "fix_model": missing, "verify": "off"})
    open_doc(lsp_client, URI, SOURCE)
    yield
    await lsp_client.shutdown_session()


async def test_the_default_is_the_larger_tier_when_installed() -> None:
    assert default_fix_model() == (FIX_TIER if is_installed(TIERS[FIX_TIER]) else "qwen2.5-coder-0.5b")


async def test_an_unloadable_fix_model_falls_back_and_says_so(client: LanguageClient) -> None:
    before = len(client.messages)
    markdown = await command(client, "codeassist.explain", URI, WHOLE, {"showDocument": False})
    assert markdown.startswith("### codeassist: m.py, lines 1–5 — `total`")
    await wait_for(lambda: any("fix_model" in m.message for m in client.messages[before:]))
    said = next(m.message for m in client.messages[before:] if "fix_model" in m.message)
    assert "no-such-model.gguf" in said and "using the completion model" in said
    assert "0.5" in markdown.rstrip().rsplit("\n", 1)[-1]  # explained by the completion model (0.5B)


async def test_the_larger_tier_explains_when_set(client: LanguageClient) -> None:
    if not is_installed(TIERS[FIX_TIER]):
        pytest.skip(f"{FIX_TIER} is not installed (codeassist model install {FIX_TIER})")
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"codeassist": {"fixModel": FIX_TIER, "timeout_ms": 60000}})
    )
    await asyncio.sleep(1.0)
    markdown = await command(client, "codeassist.explain", URI, WHOLE, {"showDocument": False})
    assert "1.5" in markdown.rstrip().rsplit("\n", 1)[-1], markdown[-200:]
