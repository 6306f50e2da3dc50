"""One Docker connection, reopened on demand, with failures turned into one-line reasons.

Every call to the daemon goes through here with a short HTTP timeout, so a dead or hung daemon costs seconds, not a
hung editor. After a connection failure the client is dropped and the next call reconnects: that is how the sandbox
survives a daemon restart.

The daemon may be another machine's (:class:`DockerHost`): ``tcp://host:2376`` with mutual TLS (a directory holding
``ca.pem``, ``cert.pem`` and ``key.pem``, Docker's own convention) or ``ssh://user@host`` (through the ``ssh``
binary, so the user's keys and known_hosts apply). Plain ``tcp://`` without TLS is refused: anyone who can reach that
port owns the machine.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from typing import Any

DOCKER_HINT = "start it with: sudo scripts/ensure-dockerd.sh"


class DockerUnavailable(Exception):
    """The daemon cannot be used; ``str()`` is a one-line reason for users."""


def daemon_url() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


@dataclass(frozen=True)
class DockerHost:
    """A Docker engine to use instead of the environment's: its URL and, for tcp://, the TLS directory."""

    url: str
    tls_dir: str | None = None

    def __post_init__(self) -> None:
        scheme = self.url.split("://", 1)[0] if "://" in self.url else ""
        if scheme not in ("unix", "tcp", "ssh"):
            raise DockerUnavailable(f"docker_host must be unix://, tcp:// (with TLS) or ssh://, got {self.url!r}")
        if scheme == "tcp":
            if not self.tls_dir:
                raise DockerUnavailable(f"{self.url}: a tcp:// Docker engine needs TLS (set docker_tls_dir to the "
                                        "directory with ca.pem, cert.pem and key.pem)")  # fmt: skip
            names = ("ca.pem", "cert.pem", "key.pem")
            missing = [n for n in names if not os.path.isfile(os.path.join(self.tls_dir, n))]
            if missing:
                raise DockerUnavailable(f"{self.url}: {', '.join(missing)} missing in {self.tls_dir}")

    def api(self, timeout_s: float) -> Any:
        """A low-level API client for this engine, at the engine's API version.

        TLS: the session must not trust the environment, or a ``REQUESTS_CA_BUNDLE`` (set on many machines) would
        replace the engine's CA and every handshake would fail; so the version is negotiated by hand on a client
        that ignores the environment (docker-py's automatic negotiation would happen before we could say so)."""
        import docker  # only once Docker is used: `import codeassist.sandbox` stays cheap

        kwargs: dict[str, Any] = {"base_url": self.url, "timeout": timeout_s}
        if self.url.startswith("tcp://"):
            assert self.tls_dir is not None
            kwargs["base_url"] = self.url.replace("tcp://", "https://", 1)
            kwargs["tls"] = docker.tls.TLSConfig(
                client_cert=(os.path.join(self.tls_dir, "cert.pem"), os.path.join(self.tls_dir, "key.pem")),
                ca_cert=os.path.join(self.tls_dir, "ca.pem"), verify=True,
            )  # fmt: skip
        elif self.url.startswith("ssh://"):
            kwargs["use_ssh_client"] = True  # the ssh binary: the user's keys, agent and known_hosts
        probe = docker.APIClient(version=docker.constants.MINIMUM_DOCKER_API_VERSION, **kwargs)
        probe.trust_env = False
        try:
            version = str(probe.version(api_version=False)["ApiVersion"])
        finally:
            probe.close()
        api = docker.APIClient(version=version, **kwargs)
        api.trust_env = False
        return api


def describe(exc: BaseException, url: str | None = None) -> str:
    """A one-line, user-facing reason for a Docker failure."""
    text = f"{type(exc).__name__}: {exc}"
    low = text.lower()
    url = url or daemon_url()
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
        if url.startswith("ssh://"):
            return (
                f"Docker engine at {url} not reachable over ssh; check that {_ssh_probe(url)} works (keys, known_hosts)"
            )
        return f"Docker daemon not reachable at {url}; {DOCKER_HINT}"
    if "timed out" in low or "timeout" in low:
        return f"Docker daemon at {url} did not answer in time"
    if "ssl" in low or "certificate" in low:
        return f"TLS with the Docker engine at {url} failed ({text.splitlines()[0][:160]})"
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:300]


def _ssh_probe(url: str) -> str:
    """The ssh command a user can run to see why ``ssh://user@host:port`` fails (docker-py runs the same binary)."""
    target = url[len("ssh://") :].rstrip("/")
    host, _, port = target.rpartition(":") if target.rsplit(":", 1)[-1].isdigit() else (target, "", "")
    return f"`ssh {'-p ' + port + ' ' if port else ''}{host} docker version`"


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

    def __init__(self, timeout_s: float, host: DockerHost | None = None) -> None:
        self.timeout_s = timeout_s
        self.host = host
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
                api = self.host.api(self.timeout_s) if self.host else docker.from_env(timeout=self.timeout_s).api
                api.ping()
            except Exception as exc:
                raise DockerUnavailable(describe(exc, self.url)) from exc
            self._api = api
            self.generation += 1
            return self._api

    @property
    def url(self) -> str:
        return self.host.url if self.host else daemon_url()

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
