"""One Docker connection, reopened on demand, with failures turned into one-line reasons.

Every call to the daemon goes through here with a short HTTP timeout, so a dead or hung daemon costs seconds, not a
hung editor. After a connection failure the client is dropped and the next call reconnects: that is how the sandbox
survives a daemon restart.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

DOCKER_HINT = "start it with: sudo scripts/ensure-dockerd.sh"


class DockerUnavailable(Exception):
    """The daemon cannot be used; ``str()`` is a one-line reason for users."""


def daemon_url() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def describe(exc: BaseException) -> str:
    """A one-line, user-facing reason for a Docker failure."""
    text = f"{type(exc).__name__}: {exc}"
    low = text.lower()
    url = daemon_url()
    if "permission denied" in low:
        return f"no permission on the Docker socket ({url}); add your user to the 'docker' group"
    if any(
        s in low
        for s in (
            "connection refused",
            "no such file",
            "filenotfounderror",
            "connectionerror",
            "connection aborted",
            "error while fetching server api version",
        )
    ):
        return f"Docker daemon not reachable at {url}; {DOCKER_HINT}"
    if "timed out" in low or "timeout" in low:
        return f"Docker daemon at {url} did not answer in time"
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:300]


def is_connection_error(exc: BaseException) -> bool:
    # docker (with requests) is imported only once Docker is used: `import codeassist.sandbox` stays cheap
    import docker.errors
    import requests.exceptions

    if isinstance(
        exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError, TimeoutError)
    ):
        return True
    return isinstance(exc, docker.errors.DockerException) and not isinstance(exc, docker.errors.APIError)


class DockerConn:
    """A lazily opened, thread-safe handle on the low-level Docker API client."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._api: Any = None
        self.generation = 0  # bumped on every (re)connect so pools know their containers may be gone

    def api(self) -> Any:
        """The API client, connecting first if needed; raises DockerUnavailable with a one-line reason."""
        with self._lock:
            if self._api is not None:
                return self._api
            try:
                # docker (with requests) is imported only once Docker is used: `import codeassist.sandbox` stays cheap
                import docker
            except ImportError as exc:  # pragma: no cover - docker is a hard dependency
                raise DockerUnavailable("the 'docker' Python package is not installed") from exc
            try:
                client = docker.from_env(timeout=self.timeout_s)
                client.api.ping()
            except Exception as exc:
                raise DockerUnavailable(describe(exc)) from exc
            self._api = client.api
            self.generation += 1
            return self._api

    def invalidate(self, api: Any | None = None) -> None:
        """Forget the client (after a connection failure) so the next call reconnects."""
        with self._lock:
            if api is None or api is self._api:
                old, self._api = self._api, None
                if old is not None:
                    with contextlib.suppress(Exception):
                        old.close()

    def close(self) -> None:
        self.invalidate()
