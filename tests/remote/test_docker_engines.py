"""Sandboxes on a second Docker engine (TCP + mutual TLS on 127.0.0.1, its own data-root/exec-root/pidfile; the
main dockerd is never touched): the image copied there, the same hardening, a pool spanning both engines, and an
engine killed mid-batch whose runs finish on the other engine, each exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from codeassist.sandbox import Limits, MultiSandbox, Sandbox, SandboxConfig, engine_configs
from codeassist.sandbox.containers import LABEL, LABEL_OWNER, owner_id
from codeassist.sandbox.docker_conn import DockerConn, DockerHost
from dockerd import SecondDockerd, assert_hardened_job, make_tls, start_second_dockerd

from codeassist.errors import InputError

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def engine2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecondDockerd]:
    daemon = start_second_dockerd(tmp_path_factory.mktemp("dockerd2"))
    try:
        yield daemon
    finally:
        daemon.stop()


def remote_config(d: SecondDockerd, **kw: Any) -> SandboxConfig:
    return SandboxConfig(docker_host=d.url, docker_tls_dir=str(d.tls_client), **kw)


def hardening(conn: DockerConn) -> list[dict[str, Any]]:
    """The security-relevant settings of this process's pooled containers on one engine."""
    api = conn.api()
    keys = ("ReadonlyRootfs", "CapDrop", "SecurityOpt", "NetworkMode", "Memory", "MemorySwap", "PidsLimit",
            "NanoCpus", "Tmpfs", "OomScoreAdj", "Privileged", "Binds", "Mounts")  # fmt: skip
    found = []
    for c in api.containers(filters={"label": [f"{LABEL}=pool", f"{LABEL_OWNER}={owner_id()}"]}):
        info = api.inspect_container(c["Id"])
        found.append({"User": info["Config"]["User"], **{k: info["HostConfig"].get(k) for k in keys}})
    return found


def test_tcp_needs_tls_and_a_foreign_certificate_is_refused(engine2: SecondDockerd, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="needs TLS"):
        Sandbox(SandboxConfig(docker_host=engine2.url))
    _, stranger = make_tls(tmp_path / "other-ca")  # a client certificate from a CA the engine does not trust
    with Sandbox(SandboxConfig(docker_host=engine2.url, docker_tls_dir=str(stranger))) as sb:
        health = sb.health()
        assert not health.ok and health.daemon == engine2.url and "TLS" in str(health.reason)


def test_image_copied_and_same_hardening_on_the_remote_engine(engine2: SecondDockerd) -> None:
    configs = engine_configs(SandboxConfig(pool_size=1), ["local", engine2.url], str(engine2.tls_client))
    with MultiSandbox(configs) as multi:
        imported = multi.import_image()
        assert imported[engine2.url] in ("copied", "present"), imported
        assert multi.warm(120).ok, multi.stats()
        for member in multi.members:
            assert_hardened_job(member.run, 20)
        local = hardening(DockerConn(10))
        remote = hardening(DockerConn(10, DockerHost(engine2.url, str(engine2.tls_client))))
        assert local and remote and local[0] == remote[0], (local, remote)
        assert remote[0]["ReadonlyRootfs"] and remote[0]["NetworkMode"] == "none" and remote[0]["CapDrop"] == ["ALL"]


MODULES = {
    "mod_a.py": "def double(x):\n    return x * 2\n",
    "test_mod_a.py": "from mod_a import double\n\n\ndef test_double():\n    assert double(2) == 4\n",
    "mod_b.py": "def triple(x):\n    return x * 3\n",
    "test_mod_b.py": "from mod_b import triple\n\n\ndef test_triple():\n    assert triple(2) == 6\n",
}


@pytest.mark.model
@pytest.mark.timeout(900)  # the model writes two functions: ~1 min on an idle 2-core machine, more when shared
def test_refactor_cli_checks_on_both_engines(engine2: SecondDockerd, tmp_path: Path) -> None:
    """``codeassist refactor --jobs 2`` with two engines: every file gets one result and both engines ran checks."""
    for name, text in MODULES.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "codeassist.cli", "refactor", "-i", "Add a one-line docstring to the function.",
         "--verify", "python3 -m pytest -q", "-k", "1", "--jobs", "2", "--threads", "2", "--docker-host", "local",
         "--docker-host", engine2.url, "--docker-tls-dir", str(engine2.tls_client), "--json", "mod_a.py", "mod_b.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    report = json.loads(proc.stdout)
    assert sorted(f["rel"] for f in report["files"]) == ["mod_a.py", "mod_b.py"], proc.stderr[-2000:]
    runs = {e["engine"]: e["runs"] for e in report["engines"]}
    assert set(runs) == {"unix:///var/run/docker.sock", engine2.url} and all(n > 0 for n in runs.values()), runs
    assert not report["applied"]  # no --apply: the user's files are untouched
    assert (tmp_path / "mod_a.py").read_text() == MODULES["mod_a.py"]


def _job(i: int, sleep_s: float) -> dict[str, str]:
    return {"job.py": f"import time\ntime.sleep({sleep_s})\nprint('job-{i}')\n"}


def test_a_batch_spans_both_engines_and_survives_one_dying(engine2: SecondDockerd) -> None:
    configs = engine_configs(SandboxConfig(pool_size=2), ["local", engine2.url], str(engine2.tls_client))
    with MultiSandbox(configs, cooldown_s=60) as multi:
        assert multi.warm(120).ok
        limits = Limits(timeout_s=30)
        # 1. spread: eight runs of 0.5 s, four at a time, use both engines
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda i: multi.run(_job(i, 0.5), ["python3", "job.py"], limits), range(8)))
        assert [r.stdout.strip() for r in results] == [f"job-{i}" for i in range(8)]
        runs = {s["engine"]: s["runs"] for s in multi.stats()}
        assert all(n > 0 for n in runs.values()), runs
        # 2. the remote engine dies (SIGKILL) while twelve 2-second runs are in flight: every run still finishes,
        # on the local engine, exactly once
        before = {s["engine"]: s["runs"] for s in multi.stats()}
        killer = threading.Timer(1.0, engine2.kill)
        killer.start()
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda i: multi.run(_job(i, 2.0), ["python3", "job.py"], limits), range(12)))
        killer.join()
        assert [r.status for r in results] == ["passed"] * 12, [(r.status, r.reason) for r in results]
        assert sorted(r.stdout.strip() for r in results) == sorted(f"job-{i}" for i in range(12))
        stats = {s["engine"]: s for s in multi.stats()}
        assert stats[engine2.url]["failures"] >= 1 and not stats[engine2.url]["up"]
        done = {e: stats[e]["runs"] - before[e] for e in stats}
        assert sum(done.values()) == 12, done  # one result per run, none counted twice
        assert time.monotonic() - started < 120
