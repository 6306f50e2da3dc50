"""A caller can give up on a run: ``Sandbox.run(cancel=...)`` kills the job at once (runner and exec mode), answers
status "error" (nothing was checked) and the pool serves the next job."""

from __future__ import annotations

import threading
import time

import pytest
from codeassist.sandbox import Limits, Sandbox

pytestmark = pytest.mark.timeout(120)

SLEEP = ["python3", "-c", "import time\nprint('started', flush=True)\ntime.sleep(60)\n"]


@pytest.fixture(scope="module", params=["runner", "exec"])
def sb(request: pytest.FixtureRequest) -> Sandbox:
    box: Sandbox = request.getfixturevalue("sandbox" if request.param == "runner" else "exec_sandbox")
    return box


def test_a_cancelled_run_is_killed_and_the_pool_recovers(sb: Sandbox) -> None:
    flag = threading.Event()
    timer = threading.Timer(1.5, flag.set)
    timer.start()
    t0 = time.monotonic()
    res = sb.run({}, SLEEP, Limits(timeout_s=30.0), cancel=flag.is_set)
    took = time.monotonic() - t0
    timer.cancel()
    assert res.status == "error" and res.reason == "cancelled by the caller", res
    assert not res.verified  # a cancelled run checked nothing
    assert took < 10, f"the job ran on for {took:.1f}s after it was cancelled"
    # the killed container is replaced: the next jobs run normally
    for _ in range(3):
        ok = sb.run({"x.py": "print(6 * 7)"}, ["python3", "x.py"], Limits(timeout_s=30.0))
        assert ok.status == "passed" and ok.stdout.strip() == "42", ok


def test_a_run_cancelled_before_it_starts_never_runs(sb: Sandbox) -> None:
    res = sb.run({}, SLEEP, Limits(timeout_s=30.0), cancel=lambda: True)
    assert res.status == "error" and res.reason == "cancelled by the caller" and res.wall_s < 1
