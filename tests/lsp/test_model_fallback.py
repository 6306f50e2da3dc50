"""The server without the default model tier: it loads the embedded 0.5B and says so in ``codeassist/status``
(``modelFallback``, the ``ready`` message) and with a warning message, never silently."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsphelp import SERVER_COMMAND, initialize, make_client, wait_for, wait_status
from pytest_lsp import ClientServerConfig, LanguageClient

from codeassist.models import registry

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

WORKSPACE = Path(tempfile.mkdtemp(prefix="codeassist-fallback-"))


def _env() -> dict[str, str]:
    """Our environment with a models dir that holds only the embedded tier, and no $CODEASSIST_MODEL pin."""
    models = WORKSPACE / "models"
    models.mkdir(exist_ok=True)
    real = registry.resolve(registry.EMBEDDED_TIER)
    name = registry.TIERS[registry.EMBEDDED_TIER].filename
    if not (models / name).exists():
        os.symlink(real, models / name)
        shutil.copyfile(real + ".verified.json", models / (name + ".verified.json"))
    env = {k: v for k, v in os.environ.items() if k != registry.MODEL_ENV}
    env["CODEASSIST_MODELS_DIR"] = str(models)
    env.setdefault("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
    return env


CONFIG = ClientServerConfig(server_command=SERVER_COMMAND, client_factory=make_client, server_env=_env())


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient) -> Any:
    await initialize(lsp_client, WORKSPACE, {"max_tokens": 8, "debounce_ms": 0, "timeout_ms": 120000})
    yield
    await lsp_client.shutdown_session()


async def test_status_names_the_fallback(client: LanguageClient) -> None:
    if registry.part_paths_available(registry.TIERS[registry.DEFAULT_TIER]):
        pytest.skip("the default tier's part packages are installed: it would be assembled, not fallen back from")
    ready = await wait_status(client, "ready")
    assert "qwen2.5-coder-1.5b is not installed" in (ready.get("modelFallback") or "")
    assert "codeassist model install qwen2.5-coder-1.5b" in ready["message"]
    await wait_for(lambda: any("not installed" in m.message for m in client.messages))
