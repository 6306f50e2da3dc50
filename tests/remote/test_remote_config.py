"""Remote-backend configuration: one validator for LSP settings, CLI flags and config files; layers in order."""

from __future__ import annotations

from pathlib import Path

import pytest
from codeassist.server.config import Settings, merge, workspace_file_settings

from codeassist.models import remote_config
from codeassist.models.fallback import connect
from codeassist.models.http import RemoteError
from codeassist.models.remote_config import RemoteConfig


def test_layers_user_then_workspace_then_environment_then_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tmp_path / "user.toml"
    user.write_text('backend = "openai"\nurl = "http://team:8000"\napi_key_env = "TEAM_KEY"\ntimeout_ms = 4000\n')
    monkeypatch.setenv("CODEASSIST_USER_CONFIG", str(user))
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "pyproject.toml").write_text('[tool.codeassist]\nmodel = "qwen2.5-coder-7b"\n')
    config, errors = remote_config.load(str(ws))
    assert not errors and config == RemoteConfig("openai", "http://team:8000", "TEAM_KEY", "qwen2.5-coder-7b", 4000)
    monkeypatch.setenv("CODEASSIST_URL", "http://other:8000")
    config, _ = remote_config.load(str(ws), {"backend": "llama-server", "url": None})
    assert (config.backend, config.url) == ("llama-server", "http://other:8000")
    assert config.describe() == "llama-server at http://other:8000, key from $TEAM_KEY"
    # the LSP reads the same user file first, then the workspace's
    found, errs = workspace_file_settings(str(ws))
    assert not errs and [p for p, _ in found] == [str(user), str(ws / "pyproject.toml")]
    settings = Settings()
    for source, raw in found:
        settings, _ = merge(settings, raw, source)
    remote = settings.remote_config()
    assert remote is not None and (remote.backend, remote.model, remote.timeout_ms) == (
        "openai",
        "qwen2.5-coder-7b",
        4000,
    )


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("backend", "ollama", "backend must be one of local, llama-server, openai"),
        ("url", "gpu-box:8080", "server url must be http://host:port"),
        ("api_key_env", "sk-live-123", "api_key_env names an environment variable"),
        ("fim_family", "gpt", "fim_family must be one of"),
        ("timeout_ms", 10, "timeout_ms must be between 100 and 120000"),
        ("tls_ca", "/nonexistent/ca.pem", "tls_ca: no such file"),
    ],
)
def test_bad_values_are_reported_and_the_rest_kept(key: str, value: object, reason: str) -> None:
    settings, errors = merge(Settings(), {key: value, "max_tokens": 9}, "initializationOptions")
    assert (
        settings.max_tokens == 9 and len(errors) == 1 and reason in errors[0] and "initializationOptions" in errors[0]
    )
    assert getattr(settings, key) == getattr(Settings(), key)


def test_a_key_value_is_refused_as_a_variable_name() -> None:
    """Someone pastes the key itself where its variable's name belongs: refused, and the value is not echoed back
    beyond that one message (it never reaches a request)."""
    _, errors = merge(Settings(), {"api_key_env": "sk-0123456789abcdef-xyz"}, "settings")
    assert errors and "api_key_env" in errors[0]


def test_remote_backend_without_url_is_a_config_error() -> None:
    with pytest.raises(RemoteError) as err:
        connect(RemoteConfig(backend="llama-server"))
    assert err.value.kind == "config" and "needs url" in err.value.message
    with pytest.raises(ValueError, match="needs url"):
        remote_config.validate(RemoteConfig(backend="openai"))
