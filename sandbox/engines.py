"""Several Docker engines for one sandbox: which ones (configuration), and getting the sandbox image onto each.

Why copy the image rather than build it on every engine: the image is built offline (``mmdebstrap | docker import``)
on the machine that has the recipe's packages; a remote engine may have no mmdebstrap, no apt mirror, no network at
all. Its tag is the hash of its recipe, so copying it (``docker save`` from one engine, ``docker load`` into the
other, streamed) gives every engine the very same bytes, and a tag already present is never copied again.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from codeassist.errors import InputError

from .docker_conn import DockerConn, DockerHost, DockerUnavailable, describe
from .types import SandboxConfig

LOCAL = "local"


def engine_configs(base: SandboxConfig, hosts: Sequence[str], tls_dir: str | None = None) -> list[SandboxConfig]:
    """One config per engine. ``hosts``: ``local`` (the environment's engine), ``tcp://host:2376`` (mutual TLS
    from ``tls_dir``) or ``ssh://user@host``; duplicates are refused (two pools on one engine are one pool)."""
    seen: set[str] = set()
    out: list[SandboxConfig] = []
    for host in hosts:
        host = host.strip()
        if not host:
            continue
        if host in seen:
            raise InputError(f"sandbox docker_host {host!r} is listed twice")
        seen.add(host)
        url = None if host == LOCAL else host
        if url is not None:
            try:
                DockerHost(url, tls_dir)
            except DockerUnavailable as exc:
                raise InputError(str(exc)) from exc
        out.append(dataclasses.replace(base, docker_host=url, docker_tls_dir=tls_dir if url else None))
    if not out:
        raise InputError("sandbox docker_host lists no engine")
    return out


def hosts_from_env() -> tuple[list[str], str | None]:
    """``CODEASSIST_SANDBOX_DOCKER_HOST`` (comma-separated engines, ``local`` for this machine's) and
    ``CODEASSIST_SANDBOX_TLS_DIR``; empty when unset."""
    raw = os.environ.get("CODEASSIST_SANDBOX_DOCKER_HOST", "")
    return [h.strip() for h in raw.split(",") if h.strip()], os.environ.get("CODEASSIST_SANDBOX_TLS_DIR") or None


def import_image(image: str, dst: DockerHost | None, src: DockerHost | None = None, timeout_s: float = 600) -> str:
    """Make ``image`` present on engine ``dst``, streaming it from ``src`` (None: the environment's engine) when
    missing. Returns "present" or "copied"; raises DockerUnavailable with a one-line reason. Own connections with a
    long timeout: loading an image takes longer than a sandbox call may."""
    import docker.errors  # docker's client loads with the first engine call, not with the CLI

    dst_conn, src_conn = DockerConn(timeout_s, dst), DockerConn(timeout_s, src)
    try:
        api = dst_conn.api()
        try:
            api.inspect_image(image)
            return "present"
        except docker.errors.ImageNotFound:
            pass
        source = src_conn.api()
        try:
            source.inspect_image(image)
        except docker.errors.ImageNotFound as exc:
            raise DockerUnavailable(f"sandbox image {image} is on neither {dst_conn.url} nor {src_conn.url} "
                                    "(build it: codeassist sandbox build)") from exc  # fmt: skip
        list(api.load_image(source.get_image(image), quiet=True))
        api.inspect_image(image)
        return "copied"
    except DockerUnavailable:
        raise
    except Exception as exc:
        raise DockerUnavailable(f"copying {image} to {dst_conn.url} failed: {describe(exc, dst_conn.url)}") from exc
    finally:
        dst_conn.close()
        src_conn.close()
