"""Which model backend to use, and how to reach a remote one: one dataclass, validated key by key, read the same way
by the LSP settings, the CLI flags and the config files.

Keys (``[tool.codeassist]`` in pyproject.toml, ``.codeassist.toml``, ``~/.config/codeassist/config.toml``, LSP
settings): ``backend = "local" | "llama-server" | "openai"``, ``url``, ``api_key_env`` (the *name* of the variable that
holds the key), ``model`` (for a remote backend: the served model's name), ``timeout_ms``, ``tls_ca`` (a CA bundle for
self-signed servers), ``fim_family`` (for servers that do not reveal their vocabulary), ``fallback = "local" | "none"``
and ``llama_server_mode = "auto" | "infill" | "completion"``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import tomllib
from platformdirs import user_config_dir

from codeassist.models.families import BY_NAME
from codeassist.models.http import Endpoint, RemoteError, parse_url

BACKENDS = ("local", "llama-server", "openai")
FALLBACKS = ("local", "none")
LLAMA_SERVER_MODES = ("auto", "infill", "completion")


@dataclass(frozen=True)
class RemoteConfig:
    backend: str = "local"
    url: str | None = None
    api_key_env: str | None = None
    model: str | None = None  # the served model's name (a remote backend); None = the only one served
    timeout_ms: int = 5000
    tls_ca: str | None = None
    fim_family: str | None = None
    fallback: str = "local"
    llama_server_mode: str = "auto"

    @property
    def remote(self) -> bool:
        return self.backend != "local"

    def endpoint(self) -> Endpoint:
        assert self.url is not None
        return Endpoint(self.url, self.api_key_env, self.timeout_ms / 1000, self.tls_ca)

    def describe(self) -> str:
        """One line for logs and status; names the key's variable, never its value."""
        if not self.remote:
            return "local"
        key = f", key from ${self.api_key_env}" if self.api_key_env else ""
        return f"{self.backend} at {self.url}{key}"


KEYS = tuple(f.name for f in fields(RemoteConfig))


def check_key(name: str, value: Any) -> Any:
    """Validate one remote key; ValueError with a user-facing reason."""
    if name == "backend":
        if value not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {value!r}")
        return value
    if name == "url":
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError(f"url must be a string like http://host:8080, got {value!r}")
        try:
            parse_url(value.strip())
        except RemoteError as exc:
            raise ValueError(exc.message) from exc
        return value.strip().rstrip("/")
    if name in ("api_key_env", "model", "tls_ca", "fim_family"):
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        if name == "api_key_env" and not value.replace("_", "").isalnum():
            raise ValueError(f"api_key_env names an environment variable (like OPENAI_API_KEY), got {value!r}")
        if name == "fim_family" and value not in BY_NAME:
            raise ValueError(f"fim_family must be one of {', '.join(BY_NAME)}, got {value!r}")
        if name == "tls_ca" and not os.path.isfile(os.path.expanduser(value)):
            raise ValueError(f"tls_ca: no such file {value!r}")
        return os.path.expanduser(value) if name == "tls_ca" else value
    if name == "timeout_ms":
        if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 600_000:
            raise ValueError(f"timeout_ms must be an integer between 100 and 600000, got {value!r}")
        return value
    if name == "fallback":
        if value not in FALLBACKS:
            raise ValueError(f"fallback must be one of {', '.join(FALLBACKS)}, got {value!r}")
        return value
    if name == "llama_server_mode":
        if value not in LLAMA_SERVER_MODES:
            raise ValueError(f"llama_server_mode must be one of {', '.join(LLAMA_SERVER_MODES)}, got {value!r}")
        return value
    raise ValueError(f"unknown setting {name!r}")


def validate(config: RemoteConfig) -> RemoteConfig:
    """Whole-config checks (a remote backend needs a url)."""
    if config.remote and not config.url:
        raise ValueError(f"backend {config.backend!r} needs url (e.g. http://127.0.0.1:8080)")
    return config


def merge(base: RemoteConfig, raw: Mapping[str, Any], source: str) -> tuple[RemoteConfig, list[str]]:
    """Apply the remote keys found in ``raw`` (others are ignored: they belong to other settings)."""
    changes: dict[str, Any] = {}
    errors: list[str] = []
    for key, value in raw.items():
        if key not in KEYS:
            continue
        try:
            changes[key] = check_key(key, value)
        except ValueError as exc:
            errors.append(f"{source}: {exc}")
    return replace(base, **changes), errors


def _table(path: str) -> Mapping[str, Any] | None:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return None
    tool = data.get("tool")
    table = tool.get("codeassist") if isinstance(tool, dict) else None
    if table is None and not path.endswith("pyproject.toml"):
        table = {k: v for k, v in data.items() if k != "tool"}
    return table if isinstance(table, Mapping) else None


def user_config_path() -> str:
    """``~/.config/codeassist/config.toml`` (platform equivalent), or ``$CODEASSIST_USER_CONFIG`` (empty: none)."""
    override = os.environ.get("CODEASSIST_USER_CONFIG")
    if override is not None:
        return override
    return os.path.join(user_config_dir("codeassist"), "config.toml")


def load(root: str | None, overrides: Mapping[str, Any] | None = None) -> tuple[RemoteConfig, list[str]]:
    """The CLI's view: user config, then the workspace's files, then ``CODEASSIST_BACKEND``/``CODEASSIST_URL``/
    ``CODEASSIST_API_KEY_ENV``, then ``overrides`` (flags). Returns the config and the problems found (bad values
    are skipped, not fatal)."""
    config, errors = RemoteConfig(), []
    paths = [user_config_path()]
    if root:
        paths += [os.path.join(root, "pyproject.toml"), os.path.join(root, ".codeassist.toml")]
    for path in paths:
        table = _table(path) if os.path.isfile(path) else None
        if table is not None:
            config, errs = merge(config, table, path)
            errors += errs
    names = (("backend", "CODEASSIST_BACKEND"), ("url", "CODEASSIST_URL"), ("api_key_env", "CODEASSIST_API_KEY_ENV"))
    env = {k: os.environ[v] for k, v in names if v in os.environ}
    config, errs = merge(config, env, "environment")
    errors += errs
    if overrides:
        config, errs = merge(config, {k: v for k, v in overrides.items() if v is not None}, "command line")
        errors += errs
    return config, errors
