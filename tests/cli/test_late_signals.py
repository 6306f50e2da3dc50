"""A SIGINT/SIGTERM that lands after a command finished (the refactor kill trials hit it on a loaded machine): while
the atexit callbacks run the process exits 128 + the signal; after them, when Python resets handled signals to their
default and tears its modules down, the signal is ignored and the run keeps its own exit code (it was -15)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

# Imports the CLI's interrupts module as the console script does, finishes "a command" (exiting()), then is slow
# in one phase of the shutdown: an atexit callback registered after the CLI's (so it runs before it), or module
# teardown (an object whose __del__ sleeps).
PROGRAM = textwrap.dedent(
    """
    import atexit, sys, time
    from codeassist.cli import interrupts
    interrupts.install()
    class Slow:
        def __del__(self):
            time.sleep(2.0)
    if sys.argv[1] == "atexit":
        atexit.register(time.sleep, 2.0)
    else:
        slow = Slow()
    interrupts.exiting()
    print("done", flush=True)
    sys.exit(3)
    """
)


@pytest.mark.parametrize(("phase", "expected"), [("atexit", 143), ("teardown", 3)])
def test_a_signal_after_the_command_finished_never_kills_the_process(phase: str, expected: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, phase], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "done\n"
    deadline_s = 0.5  # well inside the slow phase (2 s), after the main code returned
    try:
        proc.wait(timeout=deadline_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == expected, (proc.returncode, err)
    assert "Traceback" not in err, err
