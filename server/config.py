"""Server settings: one dataclass, parsed and validated from every source the same way.

Sources, later ones winning: defaults → ``[tool.codeassist]`` in the workspace's ``pyproject.toml`` →
``.codeassist.toml`` (top-level keys or ``[tool.codeassist]``) → ``initializationOptions`` →
``workspace/didChangeConfiguration`` (section ``codeassist``). Why validate key by key: one typo in an editor
setting must not throw away the user's other settings, so each bad value is reported (``window/showMessage``) and
the previous value is kept.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import tomllib

from codeassist.api import (
    CACHE_REUSE,
    LANGUAGE_NAMES,
    REMOTE_KEYS,
    RemoteConfig,
    check_remote_key,
    parse_gate,
    user_config_path,
)

VERIFY_LEVELS = ("off", "syntax", "sandbox")
SUPPORTED_LANGUAGES = LANGUAGE_NAMES

# Editors (VS Code especially) spell settings in camelCase; accept both.
ALIASES = {
    "nCtx": "n_ctx",
    "maxTokens": "max_tokens",
    "debounceMs": "debounce_ms",
    "debounceMaxMs": "debounce_max_ms",
    "sandboxImage": "sandbox_image",
    "timeoutMs": "timeout_ms",
    "verifyActions": "verify_actions",
    "fixBudgetMs": "fix_budget_ms",
    "fixModel": "fix_model",
    "nThreads": "threads",
    "n_threads": "threads",
    "apiKeyEnv": "api_key_env",
    "tlsCa": "tls_ca",
    "fimFamily": "fim_family",
    "llamaServerMode": "llama_server_mode",
    "sandboxDockerHost": "sandbox_docker_host",
    "sandboxTlsDir": "sandbox_tls_dir",
    "retentionChecks": "retention_checks_s",
    "suggestInCommentsAndStrings": "suggest_in_comments",
    "confidenceGate": "confidence_gate",
    "verifyAlternatives": "verify_alternatives",
    "verifyAlternativesBan": "verify_alternatives_ban",
    "cacheReuse": "cache_reuse",
}


SAME_AS_COMPLETIONS = "completion"  # fix_model: use the completion model


@dataclass(frozen=True)
class Settings:
    """Everything a user can set. Defaults suit a 2-core laptop CPU and the embedded 0.5B model."""

    model: str | None = None  # tier name or GGUF path; None = the default tier (see registry.resolve_model)
    threads: int | None = None  # None = llama.cpp backend default
    n_ctx: int = 4096
    max_tokens: int = 48
    debounce_ms: int = 75
    # an explicit request (the user's shortcut, or cycling with Alt+] / Alt+[): up to this many distinct checked
    # suggestions, the greedy one first; automatic requests (typing) always get one, so typing latency is unchanged
    candidates: int = 3
    # the debounce adapts to the user's keystroke rhythm between debounce_ms and this (server/debounce.py); set it to
    # debounce_ms (or lower) for a fixed debounce
    debounce_max_ms: int = 400
    timeout_ms: int = 5000  # hard cap on one request's prompt evaluation + generation (wall clock)
    # KV-shift reuse (codeassist/models/kv_reuse.py): cached runs of at least this many tokens are moved into place
    # instead of evaluated again (the suffix after a keystroke); 0 = off
    cache_reuse: int = CACHE_REUSE
    # the stay-silent gate: "auto" (the rule calibrated for the loaded tier), "off", or "FEATURE:THRESHOLD"
    confidence_gate: str = "auto"
    verify: str = "syntax"  # inline completions: cheap by default (the user is typing)
    # verify = sandbox: when the shown suggestion fails its tests, try up to this many distinct samples in the
    # background and offer the first whose tests pass (codeassist/suggestionReady); 0 = withdraw only
    verify_alternatives: int = 3
    # those samples never finish a text already known to fail there (codeassist/models/avoid.py; the local backend
    # only): without it about half the 1.5B's draws repeated the failed text. On by default: the real VS Code test of
    # a verified replacement passed twice in a row with it here (it timed out once in CI with the ban and the
    # typed-ahead label both on; that was not reproduced, and the label stays off).
    verify_alternatives_ban: bool = True
    verify_actions: str = "sandbox"  # code actions: the user asked and can wait for the tests
    # fixes and explanations: a tier, a GGUF path, "completion" (the completion model), or None: the 1.5B tier when
    # installed, else the embedded one
    fix_model: str | None = None
    fix_budget_ms: int = 20000  # a fix or an explanation: its own wall-clock budget, not the keystroke's timeout_ms
    sandbox_image: str | None = None
    languages: tuple[str, ...] | None = None  # None = every supported language
    # A remote model server (models/remote_config.py); with a remote backend, ``model`` names the served model.
    backend: str = "local"
    url: str | None = None
    api_key_env: str | None = None
    tls_ca: str | None = None
    fim_family: str | None = None
    fallback: str = "local"
    llama_server_mode: str = "auto"
    # Docker engines for the sandbox (``[tool.codeassist.sandbox] docker_host``): local, tcp://… (TLS), ssh://…
    sandbox_docker_host: tuple[str, ...] | None = None
    sandbox_tls_dir: str | None = None
    suggest_in_comments: bool = False  # inline suggestions inside comments and strings (off: prose, not code)
    # compute, in the background, the suggestion for the document as it will be once the shown one is accepted, so
    # Tab-Tab is instant (llama.vim's speculative FIM; any real request cancels it: server/completion.py)
    prefetch: bool = True
    stats: bool = True  # local acceptance stats in the user's data dir (codeassist stats); nothing leaves the machine
    retention_checks_s: tuple[float, ...] = (30.0, 120.0)  # after an acceptance: when to count what is left of it

    def engine_key(self) -> tuple[Any, ...]:
        """The settings that need a model reload when they change."""
        remote = (self.backend, self.url, self.api_key_env, self.tls_ca, self.fim_family, self.fallback,
                  self.llama_server_mode, self.timeout_ms if self.backend != "local" else None)  # fmt: skip
        return (self.model, self.threads, self.n_ctx, self.cache_reuse, *remote)

    def remote_config(self) -> RemoteConfig | None:
        """The remote backend to use, or None for the local model."""
        if self.backend == "local":
            return None
        return RemoteConfig(self.backend, self.url, self.api_key_env, self.model, self.timeout_ms, self.tls_ca,
                            self.fim_family, self.fallback, self.llama_server_mode)  # fmt: skip

    def language_enabled(self, language: str | None) -> bool:
        if language is None:
            return False
        return language in (self.languages if self.languages is not None else SUPPORTED_LANGUAGES)


def _int(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _check(name: str, value: Any) -> Any:
    """Validate one setting; raise ValueError with a user-facing reason."""
    if name in ("model", "fix_model"):
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a tier name or a path to a .gguf file, got {value!r}")
        return os.path.expanduser(value.strip())
    if name == "threads":
        return None if value is None else _int(name, value, 1, 256)
    if name == "n_ctx":
        return _int(name, value, 512, 131072)
    if name == "max_tokens":
        return _int(name, value, 1, 1024)
    if name in ("debounce_ms", "debounce_max_ms"):
        return _int(name, value, 0, 5000)
    if name == "candidates":
        return _int(name, value, 1, 8)
    if name == "verify_alternatives":
        return _int(name, value, 0, 8)
    if name == "timeout_ms":
        return _int(name, value, 100, 120000)
    if name == "cache_reuse":
        return _int(name, value, 0, 4096)
    if name == "fix_budget_ms":
        return _int(name, value, 1000, 600000)
    if name == "confidence_gate":
        if not isinstance(value, str):
            raise ValueError(f"confidence_gate must be auto, off or FEATURE:THRESHOLD, got {value!r}")
        parse_gate(value)
        return value.strip()
    if name in ("verify", "verify_actions"):
        if value not in VERIFY_LEVELS:
            raise ValueError(f"{name} must be one of {', '.join(VERIFY_LEVELS)}, got {value!r}")
        return value
    if name == "sandbox_image":
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"sandbox_image must be a Docker image name, got {value!r}")
        return value
    if name == "languages":
        if value is None:
            return None
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"languages must be a list of language names, got {value!r}")
        unknown = sorted(set(value) - set(SUPPORTED_LANGUAGES))
        if unknown:
            raise ValueError(f"languages: unknown {', '.join(unknown)} (supported: {', '.join(SUPPORTED_LANGUAGES)})")
        return tuple(value)
    if name in REMOTE_KEYS:
        return check_remote_key(name, value)
    if name == "sandbox_docker_host":
        hosts = [value] if isinstance(value, str) else value
        if value is None:
            return None
        if not isinstance(hosts, list | tuple) or not all(isinstance(h, str) and h.strip() for h in hosts):
            raise ValueError(f"sandbox docker_host must be an engine URL or a list of them, got {value!r}")
        bad = [h for h in hosts if h != "local" and not h.startswith(("tcp://", "ssh://", "unix://"))]
        if bad:
            raise ValueError(f"sandbox docker_host: local, tcp://host:2376 (TLS) or ssh://user@host, not {bad[0]!r}")
        return tuple(h.strip() for h in hosts)
    if name == "sandbox_tls_dir":
        if value is not None and (not isinstance(value, str) or not os.path.isdir(os.path.expanduser(value))):
            raise ValueError(f"sandbox tls_dir must be a directory holding ca.pem, cert.pem, key.pem, got {value!r}")
        return None if value is None else os.path.expanduser(value)
    if name in ("suggest_in_comments", "stats", "prefetch", "verify_alternatives_ban"):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return value
    if name == "retention_checks_s":
        ok = isinstance(value, list | tuple) and 0 < len(value) <= 4
        ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 86400 for v in value)
        if not ok:
            raise ValueError(f"retention_checks_s must be 1 to 4 delays in seconds (0 < s <= 86400), got {value!r}")
        return tuple(sorted(float(v) for v in value))
    raise ValueError(f"unknown setting {name!r}")


SETTING_NAMES = tuple(f.name for f in fields(Settings))


def merge(base: Settings, raw: Any, source: str) -> tuple[Settings, list[str]]:
    """Apply the settings in ``raw`` over ``base``. Returns the new settings and one message per rejected key
    (each naming ``source``); rejected keys keep their value from ``base``."""
    if raw is None:
        return base, []
    if not isinstance(raw, Mapping):
        return base, [f"{source}: settings must be an object, got {type(raw).__name__}"]
    changes: dict[str, Any] = {}
    errors: list[str] = []
    if isinstance(raw.get("sandbox"), Mapping):  # [tool.codeassist.sandbox] docker_host / tls_dir
        table = raw["sandbox"]
        raw = {k: v for k, v in raw.items() if k != "sandbox"}
        raw.update({f"sandbox_{k}": v for k, v in table.items()})
    for key, value in raw.items():
        name = ALIASES.get(str(key), str(key))
        if name not in SETTING_NAMES:
            errors.append(f"{source}: unknown setting {key!r} (known: {', '.join(SETTING_NAMES)})")
            continue
        try:
            changes[name] = _check(name, value)
        except ValueError as exc:
            errors.append(f"{source}: {exc}; keeping {getattr(base, name)!r}")
    return replace(base, **changes), errors


def section_of(settings: Any) -> Any:
    """The ``codeassist`` section of a ``didChangeConfiguration`` payload (clients send either the whole settings
    tree or just our section)."""
    if isinstance(settings, Mapping) and isinstance(settings.get("codeassist"), Mapping):
        return settings["codeassist"]
    return settings


def workspace_file_settings(root: str | None) -> tuple[list[tuple[str, Any]], list[str]]:
    """``[tool.codeassist]`` tables found in the user's config.toml (``~/.config/codeassist/``: a team server for
    every project) and ``root``'s pyproject.toml and .codeassist.toml, in merge order."""
    found: list[tuple[str, Any]] = []
    errors: list[str] = []
    paths = [user_config_path()]
    if root:
        paths += [os.path.join(root, name) for name in ("pyproject.toml", ".codeassist.toml")]
    for path in paths:
        name = os.path.basename(path)
        if not os.path.isfile(path):
            continue
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            errors.append(f"{path}: cannot read ({exc})")
            continue
        table = data.get("tool", {}).get("codeassist") if isinstance(data.get("tool"), dict) else None
        if table is None and name != "pyproject.toml":
            table = {k: v for k, v in data.items() if k != "tool"} or None
        if table is not None:
            found.append((path, table))
    return found, errors
