"""The VS Code extension builds, passes its Node tests against the real server, and packages into a .vsix offline.

Runs editors/vscode/build.sh --test: ``npm ci`` (skipped when node_modules matches package-lock.json; otherwise
``--prefer-offline`` from the npm cache), ``tsc``, ``npm test`` (node --test: unit tests of the shared protocol module
plus a vscode-jsonrpc session with the real ``codeassist serve``) and ``vsce package``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from codeassist.server.config import Settings

pytestmark = pytest.mark.model

VSCODE = Path(__file__).resolve().parents[2] / "editors" / "vscode"


@pytest.fixture(scope="module")
def node_toolchain() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed: the VS Code extension needs Node >= 20 and npm")


def test_build_test_and_package(node_toolchain: None, codeassist_exe: str, tmp_path: Path) -> None:
    vsix = tmp_path / "codeassist.vsix"
    env = {**os.environ, "CODEASSIST_SERVER": codeassist_exe, "VSIX": str(vsix)}
    proc = subprocess.run(
        ["bash", str(VSCODE / "build.sh"), "--test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=560,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-8000:]
    assert "# fail 0" in out and "# cancelled 0" in out, out[-8000:]
    assert "# pass 0" not in out, out[-8000:]  # the tests ran

    with zipfile.ZipFile(vsix) as z:
        names = set(z.namelist())
        manifest = json.loads(z.read("extension/package.json"))
    assert {"extension/out/extension.js", "extension/out/protocol.js", "extension/readme.md"} <= names
    assert any(n.startswith("extension/node_modules/vscode-languageclient/") for n in names)
    assert not any(n.startswith(("extension/out/test/", "extension/src/")) for n in names)
    commands = {c["command"] for c in manifest["contributes"]["commands"]}
    assert commands == {
        "codeassist.explain",
        "codeassist.restart",
        "codeassist.showStatus",
        "codeassist.toggle",
        "codeassist.toggleLanguage",
        "codeassist.showLog",
        "codeassist.showStats",
        "codeassist.acceptNextWord",
        "codeassist.acceptNextLine",
        "codeassist.dismissSuggestion",
        "codeassist.benchmark",
    }
    settings = set(manifest["contributes"]["configuration"]["properties"])
    server_settings = {
        "model",
        "threads",
        "n_ctx",
        "max_tokens",
        "debounce_ms",
        "timeout_ms",
        "verify",
        "verify_actions",
    }
    assert {f"codeassist.{s}" for s in server_settings | {"sandbox_image", "languages", "serverPath"}} <= settings
    # fix_model / fix_budget_ms: titled camelCase settings whose defaults and range are the server's
    props = manifest["contributes"]["configuration"]["properties"]
    budget, fix_model = props["codeassist.fixBudgetMs"], props["codeassist.fixModel"]
    assert budget["default"] == Settings().fix_budget_ms and (budget["minimum"], budget["maximum"]) == (1000, 600000)
    assert Settings().fix_model is None and fix_model["default"] == ""  # empty: the server chooses
    assert budget["markdownDescription"] and fix_model["markdownDescription"]
    assert props["codeassist.benchmarkHoles"]["default"] == 10
