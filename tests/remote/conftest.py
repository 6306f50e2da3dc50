"""Fixtures for the remote-backend suites: one real llama-server on the embedded model for the session, the tiny
Qwen-family GGUF (tests/models) as a fast local fallback, and the fault-injection proxy."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "models"))

from servers import FaultProxy, LlamaServer, start_llama_server  # noqa: E402
from tiny_gguf import write_tiny_model  # noqa: E402

ALIAS = "qwen-test"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(300))


@pytest.fixture(scope="session")
def llama_server(model_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """llama-server on the embedded model, two slots, answering to the alias ``qwen-test``."""
    server = start_llama_server(model_path, "--alias", ALIAS, log_dir=str(tmp_path_factory.mktemp("llama-server")))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tiny_local(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny Qwen-family GGUF: the local fallback in fault tests (loads in milliseconds)."""
    return write_tiny_model("qwen2.5-coder", str(tmp_path_factory.mktemp("tiny") / "tiny-qwen.gguf"))


@pytest.fixture
def proxy(llama_server: LlamaServer) -> Iterator[FaultProxy]:
    p = FaultProxy(llama_server.url).start()
    yield p
    p.stop()
