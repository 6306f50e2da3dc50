"""Opening the engine's model: the local llama.cpp model (the default tier, or the embedded one as a loud fallback),
or a remote server with the local model behind it. Apart from ``engine.py`` so the engine stays the model's door and
this file the one place that decides *which* model stands behind it."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from codeassist.healing import prepare as prepare_healing
from codeassist.models.backend import ModelBackend
from codeassist.models.remote_common import AnyBackend

if TYPE_CHECKING:  # engine.py imports this module: the config type only for annotations
    from codeassist.engine import EngineConfig

log = logging.getLogger(__name__)


def load_local(config: EngineConfig) -> tuple[ModelBackend, str | None, str]:
    """The local model, why when it is the embedded fallback for a default tier that is not installed, and the
    tier name (or path) it was resolved from."""
    # llama_cpp's native library (~0.3 s) is loaded only with a model; tests may pass their own backend
    from codeassist.models.llama_backend import LlamaBackend
    from codeassist.models.registry import resolve_model, tier_of

    resolved = resolve_model(config.model)
    if resolved.fallback:
        log.warning("%s", resolved.fallback)
    backend = LlamaBackend(
        resolved.path, n_ctx=config.n_ctx, n_threads=config.n_threads, n_gpu_layers=config.n_gpu_layers,
        cache_reuse=config.cache_reuse,
    )  # fmt: skip
    if config.token_healing:
        prepare_healing(backend)
    return backend, resolved.fallback, tier_of(resolved.path) or resolved.name


def local_available(config: EngineConfig) -> bool:
    """Whether a local model can stand behind a remote backend without downloading anything."""
    from codeassist.models import registry  # the part-wheel lookup: only for a remote backend's fallback

    if config.model is None and not os.environ.get(registry.MODEL_ENV):
        return True  # the default tier, or the embedded one it falls back to (installed with the package)
    spec = config.model or registry.default_spec()
    tier = registry.TIERS.get(spec)
    if tier is not None:
        return registry.is_installed(tier) or registry.part_paths_available(tier)
    return os.path.isfile(os.path.expanduser(spec))


def open_remote(config: EngineConfig, local: Callable[[], ModelBackend]) -> AnyBackend:
    """A remote backend with the local model as its fallback (when one is available)."""
    assert config.remote is not None
    # the HTTP client and the breaker only when a server is configured
    from codeassist.models.fallback import FallbackBackend, connect

    return FallbackBackend(config.remote, connect, local if local_available(config) else None)
