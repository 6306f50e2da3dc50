"""The editor's workspace folder is the user's project: a folder with no .git or project file, opened in the editor,
still gets its symbol index walked and its completions checked by its tests (codeassist.project.editor_project).
Real server over stdio, real model, real Docker sandbox. The CLI's rule (a file in no project is alone) is
tests/test_project.py's."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsphelp import CONFIG, FAST_SETTINGS, command, inline_checked, open_doc, wait_status, wait_verification
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from codeassist.project import ROOT_MARKERS, project_root

pytestmark = [pytest.mark.model, pytest.mark.docker, pytest.mark.asyncio(loop_scope="module")]

WORKSPACE = Path(tempfile.mkdtemp(prefix="codeassist-lsp-folder-")).resolve()
BODY = (
    'def count_positive(numbers):\n    """Return how many numbers in the list are greater than zero."""\n'
    "    count = 0\n    for n in numbers:\n        \n    return count\n"
)
CURSOR = types.Position(line=4, character=8)
TEST = "from stats import count_positive\n\n\ndef test_count():\n    assert count_positive([1, -2, 3]) == 2\n"
HELPER = "def total_of_squares(values):\n    return sum(v * v for v in values)\n"  # never opened: only a walk finds it


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: LanguageClient) -> Any:
    (WORKSPACE / "stats.py").write_text(BODY)
    (WORKSPACE / "test_stats.py").write_text(TEST)
    (WORKSPACE / "helpers.py").write_text(HELPER)
    assert project_root(WORKSPACE / "stats.py") is None, "the test needs a folder in no project"
    assert not any((WORKSPACE / m).exists() for m in ROOT_MARKERS)
    settings = {**FAST_SETTINGS, "max_tokens": 48, "verify": "sandbox", "timeout_ms": 120000}
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            workspace_folders=[types.WorkspaceFolder(uri=WORKSPACE.as_uri(), name="scratch")],
            initialization_options=settings,
        )
    )
    await wait_status(lsp_client, "ready")
    await wait_verification(lsp_client)
    yield
    await lsp_client.shutdown_session()


async def test_the_workspace_folder_is_indexed_and_its_tests_check_the_completion(client: LanguageClient) -> None:
    uri = (WORKSPACE / "stats.py").as_uri()
    open_doc(client, uri, BODY)
    index: dict[str, Any] = {}

    async def indexed() -> bool:
        index.update((await command(client, "codeassist.debugStats"))["index"] or {})
        return bool(index.get("built"))

    for _ in range(300):  # the index is built on a background thread once the document reaches the engine
        if await indexed():
            break
        await asyncio.sleep(0.1)
    assert index.get("root") == str(WORKSPACE), index
    assert index["files"] >= 3 and index["symbols"] >= 3, index  # helpers.py was walked, not only the open file

    # answered at once as "checking…"; the tests settle it in the background (server/background_check.py)
    items, _, check = await inline_checked(client, uri, CURSOR)
    # the folder's tests ran: a file in no project outside an editor would be "not in a project … syntax only"
    # the shown text's confidence features ride along (the stay-silent gate is calibrated from them)
    confidence = check.pop("confidence")
    assert confidence["tokens"] >= 1 and confidence["min_logprob"] <= confidence["mean_logprob"] <= 0, confidence
    assert check == {"label": "verified: tests pass", "reason": "", "shown": True}, check
    assert len(items) == 1, check
