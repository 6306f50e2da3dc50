"""Both remote backends against a real llama-server on the embedded model: the server sees exactly the prompt the
local model would (token ids on /completion, the same ids from our FIM text on /v1/completions), one document stays
on one slot, streaming stops the server early, chat streams, and TLS with our own CA works."""

from __future__ import annotations

import itertools
import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from servers import LlamaServer, start_llama_server

from codeassist.context.assemble import assemble_context
from codeassist.context.parsing import Document
from codeassist.context.symbols import WorkspaceIndex
from codeassist.engine import Engine
from codeassist.models.backend import GenerationParams
from codeassist.models.fallback import connect
from codeassist.models.http import RemoteError
from codeassist.models.llama_backend import LlamaBackend
from codeassist.models.llama_server import LlamaServerBackend
from codeassist.models.openai_compat import OpenAIBackend
from codeassist.models.remote_config import RemoteConfig
from codeassist.prompt import FimJob

pytestmark = pytest.mark.model

FILES = {
    "shapes/circle.py": "def circle_area(radius: float) -> float:\n    return 3.14159 * radius ** 2\n",
    "main.py": "from shapes.circle import circle_area\n\n\ndef total(rs):\n    areas = [circle_area(r) for r in rs]\n"
               "    return \n\n\nprint(total([1]))\n",
}  # fmt: skip
GENEROUS = 300_000


def workspace_job(root: Path, *, main: str | None = None, after: str = "return ", **kw: Any) -> FimJob:
    """A job for main.py (``main`` replaces its text), the cursor just after ``after``."""
    files = {**FILES, "main.py": main} if main is not None else FILES
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    index = WorkspaceIndex(str(root))
    index.build()
    text = files["main.py"]
    doc = Document(text, path=str(root / "main.py"))
    ctx = assemble_context(doc, text.index(after) + len(after), index=index)
    assert ctx.files, "the test needs other-file context"
    return FimJob(ctx, repo_name="demo", key="main.py", **kw)


def remote(url: str, backend: str, **kw: Any) -> Any:
    return connect(RemoteConfig(backend=backend, url=url, timeout_ms=GENEROUS, **kw))


def test_completion_mode_sends_exactly_the_local_prompt(llama_server: LlamaServer, engine: Engine,
                                                        tmp_path: Path) -> None:  # fmt: skip
    """/completion takes our token ids, built with the server's tokenizer: identical to the local model's."""
    local = engine.backend
    assert isinstance(local, LlamaBackend) and local.info.fim is not None
    server = remote(llama_server.url, "llama-server", llama_server_mode="completion")
    try:
        assert isinstance(server, LlamaServerBackend) and server.info.fim is not None
        fim_l, fim_r = local.info.fim, server.info.fim
        assert (fim_r.family, fim_r.prefix, fim_r.suffix, fim_r.middle) == (fim_l.family, fim_l.prefix, fim_l.suffix,
                                                                             fim_l.middle)  # fmt: skip
        assert (fim_r.repo, fim_r.file_sep) == (fim_l.repo, fim_l.file_sep)
        job = workspace_job(tmp_path)
        ours = job.tokens(fim_l, local.tokenize)
        assert ours.layout == "repo" and job.tokens(fim_r, server.tokenize).tokens == ours.tokens
        gen = server.complete_fim(job, GenerationParams(max_tokens=4))
        assert gen.prompt_tokens == len(ours.tokens), "the server evaluated something else than our prompt"
    finally:
        server.close()


def test_openai_text_prompt_tokenizes_to_the_same_ids(llama_server: LlamaServer, engine: Engine,
                                                      tmp_path: Path) -> None:  # fmt: skip
    """The FIM *text* for /v1/completions, tokenized by the server with special tokens parsed, gives the very ids
    our token builder makes (repository layout included)."""
    local = engine.backend
    assert isinstance(local, LlamaBackend) and local.info.fim is not None
    job = workspace_job(tmp_path)
    text = job.text("qwen2.5-coder").text
    with urllib.request.urlopen(urllib.request.Request(
        llama_server.url + "/tokenize", data=json.dumps({"content": text, "parse_special": True}).encode(),
        headers={"Content-Type": "application/json"},
    ), timeout=60) as r:  # fmt: skip
        server_ids = json.loads(r.read())["tokens"]
    assert server_ids == job.tokens(local.info.fim, local.tokenize).tokens
    assert text.startswith("<|repo_name|>demo\n<|file_sep|>shapes/circle.py\n")


@pytest.mark.parametrize("backend", ["llama-server", "openai"])
def test_completion_streams_and_stops_early(llama_server: LlamaServer, tmp_path: Path, backend: str) -> None:
    server = remote(llama_server.url, backend, model="qwen-test")
    try:
        seen: list[str] = []

        def on_text(text: str) -> bool:
            seen.append(text)
            return len(seen) < 3  # enough: the post-processor has what it needs

        gen = server.complete_fim(workspace_job(tmp_path), GenerationParams(max_tokens=64), on_text=on_text)
        assert gen.stop_reason == "callback" and len(seen) == 3 and gen.text == seen[-1]
        assert seen[0] and all(b.startswith(a) for a, b in itertools.pairwise(seen))
        # the server was told (connection closed): its slots go idle at once, not after 64 tokens
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(s["is_processing"] for s in slots(llama_server)):
            time.sleep(0.05)
        assert not any(s["is_processing"] for s in slots(llama_server))
    finally:
        server.close()


@pytest.mark.parametrize("backend", ["llama-server", "openai"])
def test_server_ends_a_single_line_completion_itself(llama_server: LlamaServer, tmp_path: Path, backend: str) -> None:
    """``GenerationParams.stop`` (the engine sends a single-line completion's newline): the server ends the stream at
    the newline by itself, so nothing is left decoding when the answer returns (closing the stream early leaves the
    slot decoding for 2–3 tokens, and the next request waits for them), and the text is the first line of what it
    would have written."""
    server = remote(llama_server.url, backend, model="qwen-test")
    body = "from shapes.circle import circle_area\n\n\ndef total(rs):\n    \n\n\nprint(total([1]))\n"
    try:
        job = workspace_job(tmp_path, main=body, after="def total(rs):\n    ")
        free = server.complete_fim(job, GenerationParams(max_tokens=48))
        assert "\n" in free.text, f"the test needs an answer of several lines: {free.text!r}"
        seen: list[str] = []
        gen = server.complete_fim(job, GenerationParams(max_tokens=48, stop=("\n",)),
                                  on_text=lambda text: seen.append(text) or True)  # fmt: skip
        assert gen.stop_reason == "eot" and gen.text == free.text.split("\n")[0]
        assert seen and not any("\n" in text for text in seen)
        assert not any(s["is_processing"] for s in slots(llama_server))
    finally:
        server.close()


@pytest.mark.parametrize("backend", ["llama-server", "openai"])
def test_kept_alive_connection_serves_request_after_request(llama_server: LlamaServer, tmp_path: Path,
                                                            backend: str) -> None:  # fmt: skip
    """Request after request on one backend: a stream read to its end (an OpenAI stream's ``[DONE]`` is not its end)
    leaves a connection that is either reused or, when the server closed it (llama-server does after a stream),
    replaced without the request failing."""
    server = remote(llama_server.url, backend)
    try:
        job = workspace_job(tmp_path)
        for _ in range(3):
            gen = server.complete_fim(job, GenerationParams(max_tokens=2))
            assert gen.stop_reason in ("eot", "max_tokens")
            assert len(server.client._idle) == 1  # back in the pool, not leaked
    finally:
        server.close()


def slots(server: LlamaServer) -> list[dict[str, Any]]:
    with urllib.request.urlopen(server.url + "/slots", timeout=30) as r:
        data: list[dict[str, Any]] = json.loads(r.read())
    return data


def test_one_document_one_slot(llama_server: LlamaServer, tmp_path: Path) -> None:
    """id_slot affinity: a document's requests land on its slot, so another document cannot evict its cache."""
    server = remote(llama_server.url, "llama-server")
    try:
        assert isinstance(server, LlamaServerBackend) and server.slots == 2
        job = workspace_job(tmp_path)
        want = server._slot(job.key)
        before = {s["id"]: s["id_task"] for s in slots(llama_server)}
        first = server.complete_fim(job, GenerationParams(max_tokens=2))
        after = {s["id"]: s["id_task"] for s in slots(llama_server)}
        assert after[want] != before[want] and after[1 - want] == before[1 - want]
        again = server.complete_fim(job, GenerationParams(max_tokens=2))
        assert again.reused_tokens >= first.prompt_tokens - 2, (first, again)  # the slot kept the prompt
    finally:
        server.close()


@pytest.mark.parametrize("backend", ["llama-server", "openai"])
def test_chat_streams(llama_server: LlamaServer, backend: str) -> None:
    from codeassist.chat import ChatMessage

    server = remote(llama_server.url, backend)
    try:
        pieces: list[str] = []
        question = [ChatMessage("user", "Name one prime number. Answer with the number only.")]
        gen = server.complete_chat(question, GenerationParams(max_tokens=8), on_text=lambda t: pieces.append(t) or True)
        assert gen.text.strip() and pieces and pieces[-1] == gen.text and gen.stop_reason in ("eot", "max_tokens")
    finally:
        server.close()


def test_openai_family_from_name_or_setting(llama_server: LlamaServer) -> None:
    server = remote(llama_server.url, "openai", model="qwen-test")
    try:
        assert isinstance(server, OpenAIBackend) and server.family is not None
        assert server.family.name == "qwen2.5-coder" and server.info.fim is not None
        assert server.info.fim.source == "model name"
    finally:
        server.close()
    unknown = remote(llama_server.url, "openai", model="qwen-test", fim_family="starcoder2")
    assert isinstance(unknown, OpenAIBackend) and unknown.family is not None and unknown.family.name == "starcoder2"
    unknown.close()


def _make_ca(tmp: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 (openssl CLI)."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
        "-subj", "/CN=codeassist test CA")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (tmp / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "1", "-extfile", "ext.cnf")  # fmt: skip
    return tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"


def test_tls_with_our_ca_and_a_clear_error_without(model_path: str, tmp_path: Path) -> None:
    """llama-server's own TLS (certificates made here): trusted through tls_ca, refused clearly without it."""
    ca, cert, key = _make_ca(tmp_path)
    server = start_llama_server(model_path, "--ssl-key-file", str(key), "--ssl-cert-file", str(cert),
                                log_dir=str(tmp_path), tls_ca=str(ca))  # fmt: skip
    try:
        assert server.url.startswith("https://")
        with pytest.raises(RemoteError) as err:
            remote(server.url, "llama-server")
        assert err.value.kind == "unreachable" and "TLS" in err.value.message and "tls_ca" in str(err.value.hint)
        backend = remote(server.url, "llama-server", tls_ca=str(ca))
        try:
            gen = backend.complete_fim(workspace_job(tmp_path), GenerationParams(max_tokens=3))
            assert gen.stop_reason in ("eot", "max_tokens") and gen.prompt_tokens > 0
        finally:
            backend.close()
    finally:
        server.stop()
