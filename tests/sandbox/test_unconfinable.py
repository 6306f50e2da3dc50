"""An image without python3 cannot confine its jobs (confine.py is Python): such a job is refused with a clear
error, never run unconfined, and the check that asked for it is never "verified".

The image is the sandbox image with python3 removed (a committed container; removed again at the end), so the test
needs no registry: the real daemon, the real preamble, the real refusal.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from codeassist.sandbox import Limits, Sandbox, SandboxConfig
from codeassist.sandbox.execjob import NO_CONFINER

from codeassist.verify import LABEL_UNVERIFIED, Change, Verifier

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]

NO_PYTHON_TAG = "codeassist-sandbox-test-nopython:latest"
# What an unconfined job could do: read the mount table (the host's Docker data root) and say it ran.
PROBE = ["sh", "-c", "echo JOB-RAN; cat /proc/self/mountinfo /proc/1/mountinfo"]


@pytest.fixture(scope="module")
def no_python_image(docker_ok: None) -> Iterator[str]:
    """The sandbox image without python3 (`command -v python3` fails in it)."""
    import docker  # only once a daemon answered (docker_ok), as conftest.py does

    client = docker.from_env(timeout=60)
    base = Sandbox(SandboxConfig(pool_size=0)).image
    argv = ["sh", "-c", "rm -f /usr/bin/python3 /usr/bin/python3.*"]
    box = client.containers.create(base, argv, user="root", network_mode="none")
    try:
        box.start()
        assert box.wait(timeout=60)["StatusCode"] == 0
        box.commit(*NO_PYTHON_TAG.split(":"))
    finally:
        box.remove(force=True)
    yield NO_PYTHON_TAG
    client.images.remove(NO_PYTHON_TAG, force=True)


def assert_refused(res: object) -> None:
    status, stdout, reason = (getattr(res, k) for k in ("status", "stdout", "reason"))
    assert status == "error", res  # "could not check": never passed, never failed
    assert "JOB-RAN" not in stdout and "overlay" not in stdout, res  # the job never ran, unconfined or not
    assert reason is not None and "could not set up" in reason and "no python3" in reason, res
    assert NO_CONFINER.splitlines()[0][:60] in reason, res


@pytest.mark.parametrize("runner", [False, True], ids=["exec-pool", "runner-pool"])
def test_a_job_that_cannot_be_confined_is_refused_not_run(no_python_image: str, runner: bool) -> None:
    """A pool (runner or exec mode) keeps no container of such an image and says why; a one-shot container (non-default
    limits, exec mode) starts, and its preamble refuses the job."""
    cfg = SandboxConfig(image=no_python_image, pool_size=1, limits=Limits(timeout_s=20.0), runner=runner)
    with Sandbox(cfg) as box:
        health = box.warm()
        res = box.run({}, PROBE)
        # No pooled container is kept (the runner is Python; an exec-mode one is checked at start): warm() says why
        assert not health.ok and health.reason is not None and "has no python3" in health.reason, health
        assert res.status == "error" and "JOB-RAN" not in res.stdout, res
        assert res.reason is not None and "has no python3" in res.reason, res
        assert_refused(box.run({}, PROBE, Limits(timeout_s=20.0, memory_mb=384)))  # one-shot, exec mode


def test_a_check_in_such_an_image_is_unverified(no_python_image: str, tmp_path: Path) -> None:
    """A right edit with a passing test, checked in such an image: "unverified" with the sandbox's reason, never
    "verified" (and not "failed": nothing ran)."""
    original = "def double(x):\n    return x + x\n"
    (tmp_path / "calc.py").write_text(original)
    (tmp_path / "test_calc.py").write_text("from calc import double\n\ndef test_double():\n    assert double(3) == 6\n")
    cfg = SandboxConfig(image=no_python_image, pool_size=1, limits=Limits(timeout_s=20.0), runner=False)
    with Sandbox(cfg) as box:
        verdict = Verifier(box).verify(
            Change(str(tmp_path), {"calc.py": "def double(x):\n    return 2 * x\n"}, {"calc.py": original})
        )
    assert not verdict.verified and verdict.label == LABEL_UNVERIFIED and not verdict.rejected, verdict
    assert "no python3" in verdict.reason, verdict
