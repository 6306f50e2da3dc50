"""deploy/: the compose file run for real with docker-compose (our own llama-server image, the embedded model), the
CLI pointed at it by a config file alone; the GPU, vLLM and Kubernetes files checked on paper (they cannot run
here: no GPU, no cluster, no registry)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml
from servers import ROOT, free_port

from codeassist.models import remote_config

DEPLOY = Path(ROOT) / "deploy"
KEY = "test-key-" + uuid.uuid4().hex[:12]


def compose_env(port: int, key_file: Path, models_dir: str) -> dict[str, str]:
    return {**os.environ, "LLAMA_SERVER_IMAGE": "codeassist-llama-server:local", "MODELS_DIR": models_dir,
            "MODEL_FILE": "qwen2.5-coder-0.5b.gguf", "MODEL_ALIAS": "qwen2.5-coder-0.5b", "API_KEY_FILE": str(key_file),
            "PORT": str(port), "THREADS": "2", "CTX_SIZE": "4096", "SLOTS": "2"}  # fmt: skip


@pytest.fixture
def compose_server(model_path: str, tmp_path: Path) -> Iterator[str]:
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is not installed (make setup: scripts/install-apt.sh installs it)")
    subprocess.run(["bash", str(DEPLOY / "compose" / "local-image.sh")], check=True, capture_output=True, timeout=300)
    key_file = tmp_path / "api_key.txt"
    key_file.write_text(KEY + "\n")
    port = free_port()
    env = compose_env(port, key_file, os.path.dirname(model_path))
    project = ["docker-compose", "-p", f"codeassist-test-{uuid.uuid4().hex[:8]}", "-f",
               str(DEPLOY / "compose" / "docker-compose.yml")]  # fmt: skip
    subprocess.run([*project, "up", "-d"], check=True, capture_output=True, timeout=300, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                logs = subprocess.run([*project, "logs", "--tail", "30"], capture_output=True, text=True, env=env)
                pytest.fail(f"the compose llama-server did not become healthy:\n{logs.stdout[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        subprocess.run([*project, "down", "-v"], capture_output=True, timeout=120, env=env)


def client_workspace(root: Path, url: str) -> Path:
    """A project whose only codeassist setting is the shared deploy/codeassist.toml, pointed at this server."""
    text = (DEPLOY / "codeassist.toml").read_text()
    text = text.replace("http://codeassist.internal:8080", url).replace('"qwen2.5-coder-7b"', '"qwen2.5-coder-0.5b"')
    text = text.replace("timeout_ms = 5000", "timeout_ms = 120000")  # a shared 2-core test machine, not a GPU box
    (root / ".git").mkdir()
    (root / ".codeassist.toml").write_text(text)
    (root / "add.py").write_text("def add(a, b):\n    return \n")
    return root


def cli(cwd: Path, *args: str, key: str = KEY) -> dict[str, Any]:
    env = {**os.environ, "CODEASSIST_API_KEY": key}
    proc = subprocess.run([sys.executable, "-m", "codeassist.cli", *args, "--json"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


@pytest.mark.docker
@pytest.mark.model
def test_compose_server_used_by_config_alone(compose_server: str, tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    ws = client_workspace(tmp_path / "ws", compose_server)
    done = cli(ws, "complete", "--verify", "off", "add.py:2:12")
    assert done["text"].strip() and done["model"]["name"] == "qwen2.5-coder-0.5b"
    assert done["backend"]["answeredBy"] == "remote" and done["backend"]["url"] == compose_server
    checks = {c["name"]: c for c in cli(ws, "doctor")["checks"]}
    assert checks["remote server"]["ok"] and "model qwen2.5-coder-0.5b" in checks["remote server"]["detail"]
    assert checks["canary completion"]["ok"] and "answered by remote" in checks["canary completion"]["detail"]
    # the key came from the compose secret: a wrong one is refused
    req = urllib.request.Request(compose_server + "/v1/models", headers={"Authorization": "Bearer wrong"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 401


def load_yaml(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def test_manifests_on_paper() -> None:
    """What can be checked without a cluster or GPU: the files parse and agree with each other and with codeassist."""
    docs = {d["kind"]: d for p in sorted((DEPLOY / "k8s").glob("*.yaml")) for d in load_yaml(p) if "kind" in d}
    assert {"Namespace", "Deployment", "Service", "PersistentVolumeClaim", "ConfigMap"} <= docs.keys()
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert docs["Service"]["spec"]["ports"][0]["targetPort"] in ports
    assert docs["Service"]["spec"]["selector"] == docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] == "/health" and container[probe]["httpGet"]["port"] in ports
    env = {e["name"]: e for e in container["env"]}
    assert "secretKeyRef" in env["VLLM_API_KEY"]["valueFrom"]  # the key is never in a manifest
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    claim = pod["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert claim == docs["PersistentVolumeClaim"]["metadata"]["name"]
    args = dict(a.removeprefix("--").split("=", 1) for a in container["args"] if "=" in a)
    client = tomllib.loads(docs["ConfigMap"]["data"]["config.toml"])
    config, errors = remote_config.merge(remote_config.RemoteConfig(), client, "configmap")
    assert not errors and remote_config.validate(config).backend == "openai"
    service = docs["Service"]["metadata"]
    port = docs["Service"]["spec"]["ports"][0]["port"]
    assert config.url == f"http://{service['name']}.{service['namespace']}.svc:{port}"
    assert config.model == args["served-model-name"]
    kustomize = load_yaml(DEPLOY / "k8s" / "kustomization.yaml")[0]
    assert sorted(kustomize["resources"]) == sorted(p.name for p in (DEPLOY / "k8s").glob("*.yaml")
                                                    if p.name != "kustomization.yaml")  # fmt: skip


def test_compose_files_on_paper() -> None:
    shared = tomllib.loads((DEPLOY / "codeassist.toml").read_text())
    config, errors = remote_config.merge(remote_config.RemoteConfig(), shared, "deploy/codeassist.toml")
    assert not errors and remote_config.validate(config).backend == "llama-server" and config.api_key_env
    for name in ("docker-compose.yml", "docker-compose.gpu.yml", "docker-compose.vllm.yml"):
        (doc,) = load_yaml(DEPLOY / "compose" / name)
        for service in doc["services"].values():
            command = [str(c) for c in service.get("command", [])]
            text = " ".join(command)
            assert "--api-key-file /run/secrets/codeassist_api_key" in text or "VLLM_API_KEY" in service["environment"]
            assert "${MODEL_ALIAS:-qwen2.5-coder-7b}" in command and config.model == "qwen2.5-coder-7b"
    (base,) = load_yaml(DEPLOY / "compose" / "docker-compose.yml")
    command = [str(c) for c in base["services"]["llama-server"]["command"]]
    arg = {command[i]: command[i + 1] for i in range(len(command) - 1) if command[i].startswith("--")}
    ctx, slots, batch = (int(arg[k].split(":-")[-1].rstrip("}")) for k in ("--ctx-size", "--parallel", "--batch-size"))
    assert batch < ctx // slots  # else /infill silently drops the repository context
    assert base["services"]["llama-server"]["ports"][0].startswith("${BIND:-127.0.0.1}:")  # loopback unless asked
