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

from codeassist.api import LANGUAGE_NAMES

VERIFY_LEVELS = ("off", "syntax", "sandbox")
SUPPORTED_LANGUAGES = LANGUAGE_NAMES

# Editors (VS Code especially) spell settings in camelCase; accept both.
ALIASES = {
    "nCtx": "n_ctx",
    "maxTokens": "max_tokens",
    "debounceMs": "debounce_ms",
    "sandboxImage": "sandbox_image",
    "timeoutMs": "timeout_ms",
    "verifyActions": "verify_actions",
    "fixBudgetMs": "fix_budget_ms",
    "fixModel": "fix_model",
    "nThreads": "threads",
    "n_threads": "threads",
}


SAME_AS_COMPLETIONS = "completion"  # fix_model: use the completion model


@dataclass(frozen=True)
class Settings:
    """Everything a user can set. Defaults suit a 2-core laptop CPU and the embedded 0.5B model."""

    model: str | None = None  # tier name or GGUF path; None = embedded default
    threads: int | None = None  # None = llama.cpp backend default
    n_ctx: int = 4096
    max_tokens: int = 48
    debounce_ms: int = 75
    timeout_ms: int = 5000  # hard cap on one request's prompt evaluation + generation (wall clock)
    verify: str = "syntax"  # inline completions: cheap by default (the user is typing)
    verify_actions: str = "sandbox"  # code actions: the user asked and can wait for the tests
    # fixes and explanations: a tier, a GGUF path, "completion" (the completion model), or None: the 1.5B tier when
    # installed, else the embedded one
    fix_model: str | None = None
    fix_budget_ms: int = 20000  # a fix or an explanation: its own wall-clock budget, not the keystroke's timeout_ms
    sandbox_image: str | None = None
    languages: tuple[str, ...] | None = None  # None = every supported language

    def engine_key(self) -> tuple[Any, ...]:
        """The settings that need a model reload when they change."""
        return (self.model, self.threads, self.n_ctx)

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
    if name == "debounce_ms":
        return _int(name, value, 0, 5000)
    if name == "timeout_ms":
        return _int(name, value, 100, 120000)
    if name == "fix_budget_ms":
        return _int(name, value, 1000, 600000)
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
    """``[tool.codeassist]`` tables found in ``root``'s pyproject.toml and .codeassist.toml, in merge order."""
    found: list[tuple[str, Any]] = []
    errors: list[str] = []
    if not root:
        return found, errors
    for name in ("pyproject.toml", ".codeassist.toml"):
        path = os.path.join(root, name)
        if not os.path.isfile(path):
            continue
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            errors.append(f"{path}: cannot read ({exc})")
            continue
        table = data.get("tool", {}).get("codeassist") if isinstance(data.get("tool"), dict) else None
        if table is None and name == ".codeassist.toml":
            table = {k: v for k, v in data.items() if k != "tool"} or None
        if table is not None:
            found.append((path, table))
    return found, errors
