"""The CLI's bad-input table: every case runs the installed ``codeassist`` console script in a subprocess.

Each case must end within its timeout (no hang), print no traceback, say what is wrong in one ``error:`` line
(indented ``hint:`` lines may follow) and exit with the documented code: 2 for bad input or usage, 1 for "nothing to
undo". FIFOs, devices, ``/proc`` and ``/sys`` files, unreadable files (run as an unprivileged user when the suite
runs as root), hostile GGUF headers, a busy port, absurd numbers, missing files, directories where files are
expected, binary files, huge files and lines, bad encodings. Almost every case fails in validation, before a model or
a container is touched, so the whole table runs in seconds (cases run four at a time).
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from clihelp import CODEASSIST, env, git_project

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    code: int
    says: str  # a regex the error line must match
    nobody: bool = False  # run as an unprivileged user (permission cases)
    cwd: str = "proj"
    timeout: float = 30.0


def c(case_id: str, argv: str, says: str, code: int = 2, **kw: object) -> Case:
    return Case(case_id, tuple(argv.split()), code, says, **kw)  # type: ignore[arg-type]


BAD_NUMBERS = (
    "--threads 0", "--threads -3", "--threads 100000", "--threads abc", "--threads 1.5", "--n-ctx 0", "--n-ctx -1",
    "--n-ctx 99999999999", "--max-tokens -1", "--max-tokens 0", "--max-tokens 1e9", "--max-tokens 100000000",
)  # fmt: skip
NUMBERS = [
    c(f"{cmd}-{bad.strip('-').replace(' ', '-')}", f"{cmd} {loc} {bad}", f"argument {bad.split()[0]}")
    for cmd, loc in (("complete", "a.py:1:1"), ("explain", "a.py:1"))
    for bad in BAD_NUMBERS
]

CASES = [
    *NUMBERS,
    # -- usage ------------------------------------------------------------------------------------------------------
    c("no-command", "", "a command is required"),
    c("unknown-command", "frobnicate", "invalid choice"),
    c("unknown-flag", "complete a.py:1:1 --bogus-flag", "unrecognized arguments"),
    c("complete-no-location", "complete", "required: location"),
    c("model-no-action", "model", "required: ACTION"),
    c("sandbox-bogus-action", "sandbox bogus", "invalid choice"),
    c("complete-verify-bogus", "complete a.py:1:1 --verify bogus", "invalid choice"),
    # -- positions --------------------------------------------------------------------------------------------------
    c("complete-no-line-col", "complete a.py", "expected PATH:LINE:COL"),
    c("complete-line-0", "complete a.py:0:1", "1-based"),
    c("complete-col-0", "complete a.py:1:0", "1-based"),
    c("complete-line-word", "complete a.py:x:1", "expected PATH:LINE:COL"),
    c("complete-line-negative", "complete a.py:-1:1", "expected PATH:LINE:COL"),
    c("complete-line-past-end", "complete a.py:99:1", "past the end"),
    c("complete-col-past-end", "complete a.py:1:999", "past the end"),
    c("complete-line-huge", "complete a.py:99999999999999999999999:1", "past the end"),
    c("explain-no-line", "explain a.py", "expected PATH:LINE"),
    c("explain-line-0", "explain a.py:0", "1-based"),
    c("explain-reversed", "explain a.py:5-2", "START must not exceed END"),
    c("explain-past-end", "explain a.py:99", "past the end"),
    # -- what is at the path ----------------------------------------------------------------------------------------
    *[
        c(f"{cmd}-{name}", f"{cmd} {path}{suffix}", says)
        for cmd, suffix in (("complete", ":1:1"), ("explain", ":1"), ("fix", ""))
        for name, path, says in (
            ("missing", "missing.py", "no such"),
            ("directory", "dir", "is a directory"),
            ("fifo", "fifo.py", "not a regular file \\(a FIFO\\)"),
            ("dev-zero", "/dev/zero", "not a regular file \\(a character device\\)"),
            ("dev-null", "/dev/null", "not a regular file"),
            ("dev-urandom", "/dev/urandom", "not a regular file"),
            ("proc-mem", "/proc/self/mem", "cannot read"),
            ("proc-dir", "/proc/self", "is a directory"),
            ("too-large", "huge.py", "too large"),
            ("latin1", "latin1.py", "not valid UTF-8"),
            ("binary", "binary.bin", "not valid UTF-8"),
            ("utf16", "utf16.py", "not valid UTF-8"),
        )
    ],
    c("complete-proc-file-past-end", "complete /proc/self/status:999:1", "past the end"),
    c("complete-huge-line-col-past-end", "complete hugeline.py:1:4000000", "past the end"),
    c("complete-unreadable", "complete noperm.py:1:1", "permission denied", nobody=True),
    c("explain-unreadable", "explain noperm.py:1", "permission denied", nobody=True),
    c("fix-unreadable", "fix noperm.py", "permission denied", nobody=True),
    # -- models -----------------------------------------------------------------------------------------------------
    *[
        c(f"{cmd}-model-{name}", f"{pre}{path}", says)
        for cmd, pre in (("complete", "complete a.py:1:1 --model "), ("verify", "model verify "))
        for name, path, says in (
            ("missing", "missing.gguf", "neither a known tier|not found"),
            ("fifo", "fifo.gguf", "not a regular file \\(a FIFO\\)"),
            ("dev-zero", "/dev/zero", "not a regular file"),
            ("directory", "dir", "directory"),
            ("not-gguf", "a.py", "not a GGUF model file"),
            ("nested-arrays", "nested.gguf", "nested deeper than"),
            ("truncated", "truncated.gguf", "truncated"),
            ("bad-version", "badversion.gguf", "unsupported GGUF version"),
            ("huge-count", "hugecount.gguf", "corrupt GGUF header"),
        )
    ],
    c("complete-model-unreadable", "complete a.py:1:1 --model noperm.gguf", "permission denied", nobody=True),
    c("complete-model-proc", "complete a.py:1:1 --model /proc/self/status", "not a GGUF model file"),
    c("model-install-unknown", "model install bogus-tier", "unknown model tier"),
    c("model-path-unknown", "model path bogus-tier", "neither a known tier"),
    c("doctor-threads-0", "doctor --threads 0", "argument --threads"),
    c("doctor-n-ctx-1", "doctor --n-ctx 1", "argument --n-ctx"),
    # -- fix --------------------------------------------------------------------------------------------------------
    c("fix-line-0", "fix a.py:0", "1-based"),
    c("fix-line-past-end", "fix a.py:99", "past the end"),
    c("fix-k-0", "fix a.py -k 0", "argument -k"),
    c("fix-k-negative", "fix a.py -k -1", "argument -k"),
    c("fix-temperature-nan", "fix a.py --temperature nan", "argument --temperature"),
    c("fix-temperature-negative", "fix a.py --temperature -1", "argument --temperature"),
    c("fix-budget-inf", "fix a.py --budget inf", "argument --budget"),
    c("fix-budget-negative", "fix a.py --budget -1", "argument --budget"),
    c("fix-seed-negative", "fix a.py --seed -1", "argument --seed"),
    c("fix-seed-huge", "fix a.py --seed 99999999999999", "argument --seed"),
    c("fix-max-tokens-negative", "fix a.py --max-tokens -1", "argument --max-tokens"),
    # -- refactor ---------------------------------------------------------------------------------------------------
    c("refactor-no-instruction", "refactor a.py", "needs --instruction"),
    c("refactor-no-paths", "refactor -i x", "needs PATHS"),
    c("refactor-missing", "refactor -i x missing.py", "no such file"),
    c("refactor-fifo", "refactor -i x fifo.py", "not a regular file"),
    c("refactor-glob-nothing", "refactor -i x nothing/**/*.py", "matches no file"),
    c("refactor-jobs-0", "refactor -i x a.py -j 0", "argument --jobs"),
    c("refactor-jobs-huge", "refactor -i x a.py -j 100000", "argument --jobs"),
    c("refactor-k-0", "refactor -i x a.py -k 0", "argument -k"),
    c("refactor-seed-negative", "refactor -i x a.py --seed -3", "argument --seed"),
    c("refactor-undo-nothing", "refactor --undo .", "nothing to undo", code=1, cwd="empty"),
    # -- sandbox ----------------------------------------------------------------------------------------------------
    c("sandbox-run-no-dir", "sandbox run", "required: dir"),
    c("sandbox-run-no-command", "sandbox run dir", "no command given"),
    c("sandbox-run-missing-dir", "sandbox run missing -- true", "not a directory"),
    c("sandbox-run-file", "sandbox run a.py -- true", "not a directory"),
    c("sandbox-run-proc-self", "sandbox run /proc/self -- true", "cannot copy /proc/self"),
    c("sandbox-run-sys-kernel", "sandbox run /sys/kernel -- true", "cannot copy /sys/kernel"),
    c("sandbox-run-timeout-0", "sandbox run dir --timeout 0 -- true", "argument --timeout"),
    c("sandbox-run-timeout-negative", "sandbox run dir --timeout -1 -- true", "argument --timeout"),
    c("sandbox-run-timeout-1e308", "sandbox run dir --timeout 1e308 -- true", "argument --timeout"),
    c("sandbox-run-timeout-nan", "sandbox run dir --timeout nan -- true", "argument --timeout"),
    c("sandbox-run-words-before-dashes", "sandbox run dir extra -- true", "after `--` only"),
    # -- serve ------------------------------------------------------------------------------------------------------
    c("serve-busy-port", "serve --tcp 127.0.0.1:{busy}", "cannot listen"),
    c("serve-tcp-no-port", "serve --tcp localhost", "HOST:PORT"),
    c("serve-tcp-port-0", "serve --tcp 127.0.0.1:0", "HOST:PORT"),
    c("serve-tcp-port-huge", "serve --tcp 127.0.0.1:70000", "HOST:PORT"),
    c("serve-log-file-missing-folder", "serve --log-file /nonexistent/dir/x.log", "--log-file .*No such file"),
    c("serve-log-file-directory", "serve --log-file dir", "--log-file .*directory"),
]


def nested_gguf(depth: int) -> bytes:
    """A GGUF header whose one metadata value is an array of an array of … ``depth`` levels deep."""
    head = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1) + b"x" + struct.pack("<I", 9)
    return head + struct.pack("<IQ", 9, 1) * depth + struct.pack("<IQ", 0, 0)


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    """The files the cases name, in a folder an unprivileged user can enter (pytest's tmp dirs are private)."""
    folder = Path(tempfile.mkdtemp(prefix="codeassist-badinput-"))
    folder.chmod(0o755)
    proj = git_project(folder / "proj", {"a.py": "def f(x):\n    return x\n"})
    (proj / "dir").mkdir()
    (proj / "dir" / "b.py").write_text("x = 1\n")
    (folder / "empty").mkdir()
    os.mkfifo(proj / "fifo.py")
    os.mkfifo(proj / "fifo.gguf")
    (proj / "huge.py").write_bytes(b"x = 1\n" * (1 << 20))  # 6 MiB, over the 4 MiB source limit
    (proj / "hugeline.py").write_text("x = '" + "a" * 3_000_000 + "'\n")
    (proj / "latin1.py").write_bytes("s = 'café'\n".encode("latin-1"))
    (proj / "binary.bin").write_bytes(bytes(range(256)) * 16)
    (proj / "utf16.py").write_bytes("x = 1\n".encode("utf-16"))
    (proj / "nested.gguf").write_bytes(nested_gguf(100_000))
    (proj / "truncated.gguf").write_bytes(b"GGUF" + struct.pack("<I", 3) + b"\x01\x00")
    (proj / "badversion.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 99, 0, 0))
    (proj / "hugecount.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1 << 40))
    for name in ("noperm.py", "noperm.gguf"):
        (proj / name).write_text("def f():\n    pass\n")
        (proj / name).chmod(0)
    yield folder
    for name in ("noperm.py", "noperm.gguf"):
        (proj / name).chmod(0o644)
    subprocess.run(["rm", "-rf", str(folder)], check=False)


@dataclass
class Outcome:
    code: int | None  # None: timed out (a hang)
    stderr: str
    seconds: float


@pytest.fixture(scope="module")
def outcomes(base: Path) -> Iterator[dict[str, Outcome]]:
    """Run every case, four at a time (the table is subprocess-bound)."""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    unprivileged = os.geteuid() == 0 and subprocess.run([*NOBODY, "true"], check=False).returncode == 0

    def one(case: Case) -> Outcome:
        argv = [CODEASSIST, *(a.format(busy=port) for a in case.argv)]
        if case.nobody and unprivileged:
            argv = [*NOBODY, *argv]
        t0 = time.monotonic()
        try:
            r = subprocess.run(
                argv, cwd=base / case.cwd, capture_output=True, text=True, timeout=case.timeout, env=env(),
                stdin=subprocess.DEVNULL, check=False,
            )  # fmt: skip
            return Outcome(r.returncode, r.stderr, time.monotonic() - t0)
        except subprocess.TimeoutExpired as exc:
            err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            return Outcome(None, err, time.monotonic() - t0)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip((case.id for case in CASES), pool.map(one, CASES), strict=True))
    busy.close()
    yield results


ERROR_LINE = re.compile(r"^codeassist(?: [\w-]+)*: error: ")


def test_the_table_is_big_and_ids_are_unique() -> None:
    assert len(CASES) >= 90
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(case: Case, outcomes: dict[str, Outcome]) -> None:
    out = outcomes[case.id]
    assert out.code is not None, f"hung: no answer in {case.timeout}s; stderr so far: {out.stderr[-500:]!r}"
    assert "Traceback" not in out.stderr, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if ERROR_LINE.match(line)]
    assert len(errors) == 1, f"expected one error line, got {lines}"
    assert all(line is errors[0] or line.startswith("  hint: ") for line in lines), lines
    assert re.search(case.says, errors[0]), f"{errors[0]!r} does not say {case.says!r}"
    assert out.code == case.code, f"exit {out.code}, expected {case.code}: {errors[0]}"


def test_refactor_outside_git_warns_that_undo_is_our_record_only(base: Path) -> None:
    """No git: nothing tells unsaved work from ours, so --apply says so before anything else (here the model then
    fails to load: one error line, nothing written)."""
    scratch = base / "scratch"
    scratch.mkdir(exist_ok=True)
    (scratch / "s.py").write_text("def f(a):\n    return a\n")
    r = subprocess.run(
        [CODEASSIST, "refactor", "-i", "Rename a to x.", "s.py", "--apply", "--model", "missing.gguf"], cwd=scratch,
        capture_output=True, text=True, timeout=60, env=env(), check=False,
    )  # fmt: skip
    assert "Traceback" not in r.stderr and r.returncode == 2, r.stderr
    warning = next(line for line in r.stderr.splitlines() if "warning:" in line)
    assert "not in a git work tree" in warning and "--undo" in warning
    assert next(line for line in r.stderr.splitlines() if ERROR_LINE.match(line)).endswith("an existing file")
    assert (scratch / "s.py").read_text() == "def f(a):\n    return a\n"


@pytest.mark.docker
def test_sandbox_run_takes_options_after_dir(base: Path, docker_ok: None) -> None:
    """``sandbox run DIR --json --timeout S -- CMD``: the options are options (they used to be run as the command)."""
    r = subprocess.run(
        [CODEASSIST, "sandbox", "run", "dir", "--json", "--timeout", "20", "--", "python3", "-c", "print(40 + 2)"],
        cwd=base / "proj", capture_output=True, text=True, timeout=120, env=env(), check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["status"] == "passed" and result["stdout"] == "42\n"
