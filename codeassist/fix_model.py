"""The model for fixes and explanations (``fix_model``), beside the completion model.

Why a second engine: a fix or an explanation is asked for and waited on, and a larger model repairs and explains
better, while completions need the small, fast one. The default is the 1.5B tier when installed, else the embedded
one (:func:`codeassist.models.registry.default_fix_model`). A second engine is loaded only when the fix model is
another file, by the first job that needs it (a worker job: loading takes seconds), and kept.
"""

from __future__ import annotations

import os

from codeassist.engine import Engine, EngineConfig
from codeassist.errors import ModelError
from codeassist.models.registry import default_fix_model, resolve

SAME_AS_COMPLETIONS = "completion"  # fix_model: use the completion model


class FixModel:
    """Owns the fix model's engine, when it is not the completion engine; its creator closes it."""

    def __init__(self) -> None:
        self._engine: Engine | None = None

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def engine_for(self, spec: str | None, completion: Engine, config: EngineConfig) -> tuple[Engine, str]:
        """The engine for ``spec`` (a tier, a GGUF path, ``completion``, None = the default) and, when it fell back
        to ``completion`` because the fix model cannot be loaded, why (else ""). ``config`` is the template for a
        second engine (threads, context size); its model is replaced. Blocks while a model loads."""
        spec = spec or default_fix_model()
        if spec == SAME_AS_COMPLETIONS:
            return completion, ""
        try:
            path = resolve(spec, auto_install=False)
        except ModelError as exc:
            return completion, str(exc)
        if os.path.realpath(path) == os.path.realpath(completion.info.path):
            return completion, ""
        if self._engine is not None and self._engine.config.model == path:
            return self._engine, ""
        self.close()
        engine = Engine(EngineConfig(model=path, n_threads=config.n_threads, n_ctx=config.n_ctx, time_budget_ms=None,
                                     cache_reuse=config.cache_reuse))  # fmt: skip
        try:
            engine.load()
        except Exception as exc:  # a bad file, too little memory: fixes still work on the completion model
            engine.close()
            return completion, str(exc)
        self._engine = engine
        return engine, ""

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
