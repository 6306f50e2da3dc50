"""A pooled container whose state keeps a job from starting (its preamble fails before the job: an earlier job's
leftovers still dying, a damaged container) costs the job nothing: nothing of it ran, so it is tried once more in
another container, and the result says it was (``warnings``). Seen in CI: a memory-bomb job after a fork bomb came
back "could not set up the run: exit code 2" — an error, so the check that asked would have been "unverified".

The damage is real and deterministic: before the job comes, a shared-memory segment owned by root is made in the
pooled container (through the daemon): the preamble, which wipes every IPC object an earlier job left, cannot remove
it, so it refuses to start the job there.
"""

from __future__ import annotations

import pytest
from codeassist.sandbox import Limits, Sandbox, SandboxConfig

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]


def test_a_job_whose_container_cannot_start_it_runs_in_another(docker_ok: None) -> None:
    import docker  # only once a daemon answered (docker_ok), as conftest.py does

    client = docker.from_env(timeout=60)
    cfg = SandboxConfig(pool_size=1, limits=Limits(timeout_s=20.0), runner=False)
    with Sandbox(cfg) as box:
        assert box.warm().ok
        assert box.run({"a.py": "print('first')"}, ["python3", "a.py"]).status == "passed"
        # this sandbox's idle container only (other tests' pools in this process carry the same labels)
        mine = [w.cid for w in box._pool._idle]
        assert len(mine) == 1, mine
        assert client.containers.get(mine[0]).exec_run(["ipcmk", "-M", "4096"], user="root").exit_code == 0
        res = box.run({"a.py": "print('second')"}, ["python3", "a.py"])
        assert res.status == "passed" and res.stdout == "second\n", res
        assert any("retried in another container" in w and "could not set up" in w for w in res.warnings), res
