"""Helpers for the LSP suites: a real server process over stdio (``python -m codeassist.server``) driven by
pytest-lsp's client, which also records our ``codeassist/status`` notifications."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities, make_test_lsp_client
from seeded import BUGGY_STATS as BUGGY_STATS  # re-exported: the suites import the seeded bug from here
from seeded import TEST_STATS as TEST_STATS

SERVER_COMMAND = [sys.executable, "-m", "codeassist.server"]
if os.environ.get("CODEASSIST_TEST_LOG"):  # debugging aid: server log file with everything
    SERVER_COMMAND += ["--log-file", os.environ["CODEASSIST_TEST_LOG"], "--verbose", "--log-code"]
FAST_SETTINGS: dict[str, Any] = {"max_tokens": 8, "debounce_ms": 40, "timeout_ms": 60000}


def _plain(value: Any) -> Any:
    """pygls hands custom-notification params over as namedtuples; turn them back into JSON-like data."""
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def make_client() -> LanguageClient:
    client = make_test_lsp_client()
    client.statuses = []  # type: ignore[attr-defined]

    @client.feature("codeassist/status")
    def on_status(params: Any) -> None:
        data = _plain(params)
        client.statuses.append(data)  # type: ignore[attr-defined]

    client.withdrawals = []  # type: ignore[attr-defined]

    @client.feature("codeassist/withdrawSuggestion")
    def on_withdraw(params: Any) -> None:
        client.withdrawals.append(_plain(params))  # type: ignore[attr-defined]

    client.ready = []  # type: ignore[attr-defined]

    @client.feature("codeassist/suggestionReady")
    def on_ready(params: Any) -> None:
        client.ready.append(_plain(params))  # type: ignore[attr-defined]

    return client


CONFIG = ClientServerConfig(server_command=SERVER_COMMAND, client_factory=make_client)


async def initialize(
    client: LanguageClient,
    root: Path,
    options: dict[str, Any] | None = None,
    caps: str = "visual-studio-code",
) -> types.InitializeResult:
    return await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(caps),
            root_uri=root.as_uri(),
            # fixes and explanations on the completion model unless a test says otherwise (fix_model's default
            # is the 1.5B tier when installed: machine-dependent)
            initialization_options={"fix_model": "completion", **(FAST_SETTINGS if options is None else options)},
        )
    )


def statuses(client: LanguageClient) -> list[dict[str, Any]]:
    return list(client.statuses)  # type: ignore[attr-defined]


def withdrawals(client: LanguageClient) -> list[dict[str, Any]]:
    """The ``codeassist/withdrawSuggestion`` notifications so far (a suggestion whose background check failed)."""
    return list(client.withdrawals)  # type: ignore[attr-defined]


def suggestions_ready(client: LanguageClient) -> list[dict[str, Any]]:
    """The ``codeassist/suggestionReady`` notifications so far (a verified replacement of a withdrawn suggestion)."""
    return list(client.ready)  # type: ignore[attr-defined]


def final_check(client: LanguageClient, since: int) -> dict[str, Any] | None:
    """The verdict that settled a "checking…" suggestion, from the ``since``-th status on: not "checking…", and not
    a failure whose verified replacement is still being searched for (``verify_alternatives``)."""
    checks = checks_since(client, since)
    done = [c for c in checks if c["label"] != "checking…" and c.get("alternatives") != "searching"]
    return done[-1] if done else None


async def wait_status(client: LanguageClient, state: str, timeout: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for s in statuses(client):
            if s.get("state") == state:
                return s
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {state!r} status within {timeout}s; got {statuses(client)}")


async def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def open_doc(client: LanguageClient, uri: str, text: str, language: str = "python", version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id=language, version=version, text=text)
        )
    )


def edit(
    client: LanguageClient, uri: str, version: int, start: tuple[int, int], end: tuple[int, int], text: str
) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(types.Position(*start), types.Position(*end)), text=text
                )
            ],
        )
    )


async def command(client: LanguageClient, name: str, *args: Any) -> Any:
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command=name, arguments=list(args)))


async def debug_stats(client: LanguageClient) -> dict[str, Any]:
    """``codeassist.debugStats``: the worker's counters, documents, settings and sandbox runs."""
    got: dict[str, Any] = await command(client, "codeassist.debugStats")
    return got


async def wait_stats(
    client: LanguageClient, predicate: Any, timeout: float = 120.0, interval: float = 0.1
) -> dict[str, Any]:
    """Poll ``codeassist.debugStats`` until ``predicate`` holds; the stats that satisfied it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = await debug_stats(client)
        if predicate(stats):
            return stats
        await asyncio.sleep(interval)
    raise AssertionError(f"debugStats condition not met in {timeout}s: {await debug_stats(client)}")


def worker_idle(stats: dict[str, Any]) -> bool:
    """Nothing running or queued on the worker, background work included."""
    return not stats["workerBusy"] and stats["queueDepth"] == 0 and stats["backgroundQueued"] == 0


_writes: set[asyncio.Future[Any]] = set()


def send_raw(client: LanguageClient, method: str, params: Any) -> tuple[str, asyncio.Future[Any]]:
    """Send a request with arbitrary (possibly schema-violating) params, bypassing the client's typed
    serialisation so the server sees exactly ``params``. Returns the request id and the awaitable answer."""
    from concurrent.futures import Future

    protocol = client.protocol
    msg_id = str(uuid.uuid4())
    future: Future[Any] = Future()
    protocol._request_futures[msg_id] = future
    body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    data = f"Content-Length: {len(body.encode())}\r\n\r\n{body}".encode()
    assert protocol.writer is not None
    res = protocol.writer.write(data)
    if asyncio.iscoroutine(res):
        _writes.add(asyncio.ensure_future(res))
    return msg_id, asyncio.wrap_future(future)


async def raw_request(client: LanguageClient, method: str, params: Any, timeout: float = 30.0) -> Any:
    _msg_id, answer = send_raw(client, method, params)
    return await asyncio.wait_for(answer, timeout)


def doc_text(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def inline_params(
    uri: str, position: types.Position | tuple[int, int], *, invoked: bool = True
) -> types.InlineCompletionParams:
    """An inline-completion request as an editor sends it: ``invoked`` (the user asked) or automatic (typing)."""
    kind = types.InlineCompletionTriggerKind.Invoked if invoked else types.InlineCompletionTriggerKind.Automatic
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=position if isinstance(position, types.Position) else types.Position(*position),
        context=types.InlineCompletionContext(trigger_kind=kind),
    )


def items_of(result: Any) -> list[types.InlineCompletionItem]:
    """The items of an inline-completion answer (a list object, a bare list or null)."""
    return list(result.items if isinstance(result, types.InlineCompletionList) else result or [])


def item_text(item: types.InlineCompletionItem) -> str:
    text = item.insert_text
    return text if isinstance(text, str) else text.value


async def inline_items(
    client: LanguageClient, uri: str, position: types.Position | tuple[int, int], *, invoked: bool = True
) -> list[types.InlineCompletionItem]:
    return items_of(await client.text_document_inline_completion_async(inline_params(uri, position, invoked=invoked)))


def checks_since(client: LanguageClient, since: int) -> list[dict[str, Any]]:
    """The ``lastCheck`` of each ``codeassist/status`` from the ``since``-th on."""
    return [s["lastCheck"] for s in statuses(client)[since:] if s.get("lastCheck")]


async def inline_checked(
    client: LanguageClient, uri: str, position: types.Position | tuple[int, int], *, timeout: float = 180.0
) -> tuple[list[types.InlineCompletionItem], dict[str, Any], dict[str, Any]]:
    """An invoked completion, the first check reported for it (``checking…`` while its tests run in the background)
    and the check that settled it (after the search for a verified replacement, when it failed)."""
    before = len(statuses(client))
    items = await inline_items(client, uri, position)
    await wait_for(lambda: final_check(client, before) is not None, timeout=timeout)
    checks = checks_since(client, before)
    final = final_check(client, before)
    assert final is not None
    return items, checks[0], final


async def quick_fix(client: LanguageClient, uri: str, rng: types.Range, message: str) -> types.CodeAction:
    """The one quick fix the server offers for a ``pytest`` diagnostic ``message`` at ``rng``."""
    diag = types.Diagnostic(range=rng, message=message, source="pytest")
    found = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diag.range,
            context=types.CodeActionContext(diagnostics=[diag]),
        )
    )
    (action,) = [a for a in found or [] if isinstance(a, types.CodeAction) and a.kind == types.CodeActionKind.QuickFix]
    return action


def write_project(root: Path, files: dict[str, str]) -> None:
    """A project folder (``pyproject.toml``: codeassist.project's root rule) holding ``files``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'stats'\n")
    for name, text in files.items():
        (root / name).write_text(text)


async def wait_verification(client: LanguageClient, timeout: float = 120.0) -> None:
    """Until the server reports the sandbox usable (``verification: on``)."""
    await wait_for(lambda: any(s.get("verification") == "on" for s in statuses(client)), timeout=timeout)


async def start(client: LanguageClient, root: Path, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Initialize on ``root`` and wait until the model is ready; the ``ready`` status."""
    await initialize(client, root, options)
    return await wait_status(client, "ready")


async def start_verified(client: LanguageClient, root: Path, files: dict[str, str], options: dict[str, Any]) -> None:
    """Write the project, initialize on it, and wait until the model is ready and the sandbox can check."""
    write_project(root, files)
    await start(client, root, options)
    await wait_verification(client)
