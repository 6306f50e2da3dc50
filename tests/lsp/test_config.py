"""Configuration over LSP: workspace files, initializationOptions, didChangeConfiguration (push and pull), invalid
values reported with window/showMessage, and the model-error state. Uses a model path that does not exist, so the
server never loads a model here (fast) and must say so through ``codeassist/status``."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsphelp import CONFIG, command, initialize, inline_params, open_doc, statuses, wait_for, wait_status
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

WORKSPACE = Path(tempfile.mkdtemp(prefix="codeassist-lsp-config-"))


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient) -> Any:
    (WORKSPACE / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n\n[tool.codeassist]\nmax_tokens = 9\ndebounce_ms = 7\nlanguages = ["python"]\n'
    )
    (WORKSPACE / ".codeassist.toml").write_text('sandbox_image = "codeassist-sandbox:test"\n')
    options = {"model": str(WORKSPACE / "missing.gguf"), "max_tokens": 8, "verify": "always", "bogus": 1}
    await initialize(lsp_client, WORKSPACE, options)
    yield
    await lsp_client.shutdown_session()


async def settings(client: LanguageClient) -> dict[str, Any]:
    result: dict[str, Any] = (await command(client, "codeassist.debugStats"))["settings"]
    return result


async def test_sources_merge_and_invalid_values_are_reported(client: LanguageClient) -> None:
    await wait_for(lambda: len(client.messages) >= 2)
    s = await settings(client)
    assert s["max_tokens"] == 8  # initializationOptions beat pyproject.toml
    assert s["debounce_ms"] == 7 and s["languages"] == ["python"]  # from pyproject.toml
    assert s["sandbox_image"] == "codeassist-sandbox:test"  # from .codeassist.toml
    assert s["verify"] == "syntax"  # invalid value: default kept
    texts = [m.message for m in client.messages]
    assert any("verify must be one of off, syntax, sandbox" in t for t in texts)
    assert any("unknown setting 'bogus'" in t for t in texts)


async def test_missing_model_reports_error_state(client: LanguageClient) -> None:
    status = await wait_status(client, "error", timeout=60)
    assert "missing.gguf" in status["message"]
    assert statuses(client)[0]["state"] == "loading"
    await wait_for(lambda: any(m.type == types.MessageType.Error for m in client.messages))
    error = next(m.message for m in client.messages if m.type == types.MessageType.Error)
    assert "missing.gguf" in error and "To fix, run: codeassist model list" in error, error
    # requests before the model is ready are answered at once, empty
    u = (WORKSPACE / "a.py").as_uri()
    open_doc(client, u, "x = \n")
    result = await client.text_document_inline_completion_async(inline_params(u, (0, 4)))
    assert result is not None and len(result.items) == 0


async def test_unavailable_sandbox_is_reported_with_its_fix(client: LanguageClient) -> None:
    """verify_actions = sandbox with an image that does not exist: one warning naming the fix."""
    await wait_for(lambda: any("Docker sandbox is unavailable" in m.message for m in client.messages))
    found = [m.message for m in client.messages if "Docker sandbox is unavailable" in m.message]
    assert len(found) == 1, found
    assert "codeassist-sandbox:test" in found[0] and "run:" in found[0] and "codeassist doctor" in found[0], found


async def test_did_change_configuration_push(client: LanguageClient) -> None:
    before = len(client.messages)
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(
            settings={"codeassist": {"debounce_ms": -5, "verify": "off", "verifyActions": "off"}}
        )
    )
    await wait_for(lambda: len(client.messages) > before)
    assert any("debounce_ms must be between 0 and 5000" in m.message for m in client.messages[before:])
    s = await settings(client)
    assert s["debounce_ms"] == 7 and s["verify"] == "off" and s["verify_actions"] == "off"
    await wait_for(lambda: statuses(client)[-1]["verification"] == "off")


async def test_did_change_configuration_pull(client: LanguageClient) -> None:
    client.set_configuration({"max_tokens": 5, "timeoutMs": 2000}, section="codeassist")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))

    async def check() -> bool:
        s = await settings(client)
        return bool(s["max_tokens"] == 5 and s["timeout_ms"] == 2000)

    for _ in range(100):
        if await check():
            break
        await asyncio.sleep(0.05)
    assert await check()
