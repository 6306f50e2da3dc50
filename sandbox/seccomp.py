"""The seccomp profile of every sandbox container: Docker's default profile with io_uring denied.

Passing any profile replaces Docker's built-in default, so this one starts from a copy of it:
``seccomp/docker-default.json`` is moby's ``profiles/seccomp/default.json`` as shipped for Docker 20.10.24 (Debian
package golang-github-docker-docker-dev 20.10.24+dfsg1-1+deb12u1; Apache-2.0). dockerd still resolves its
``includes``/``excludes`` (capabilities, architectures, kernel versions) as it does for its own default.

The one change: ``io_uring_setup``, ``io_uring_enter`` and ``io_uring_register`` fail with ENOSYS, as on a kernel built
without io_uring, so programs that probe for it fall back to ordinary system calls. io_uring is a large, frequently
exploited kernel surface that seccomp cannot filter per operation (its requests never pass through a system call);
Docker's own default dropped it in 25.0, after the 20.10 profile copied here.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

BASE_PROFILE = Path(__file__).resolve().parent / "seccomp" / "docker-default.json"
DENIED = ("io_uring_setup", "io_uring_enter", "io_uring_register")
ENOSYS = 38


@functools.lru_cache(maxsize=1)
def profile() -> str:
    """The profile as compact JSON, built once per process from the committed base."""
    data: dict[str, Any] = json.loads(BASE_PROFILE.read_text())
    rules: list[dict[str, Any]] = []
    for rule in data["syscalls"]:
        names = [n for n in rule["names"] if n not in DENIED]
        if names:
            rules.append({**rule, "names": names})
    rules.append(
        {
            "names": list(DENIED),
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": ENOSYS,
            "args": [],
            "comment": "codeassist: no io_uring in the sandbox",
        }
    )
    data["syscalls"] = rules
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def security_opt() -> str:
    """The ``security_opt`` entry for Docker's HostConfig."""
    return "seccomp=" + profile()
