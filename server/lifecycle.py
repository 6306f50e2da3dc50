"""The server's lifetime: settings layers, the model (load and reload, reported with work-done progress), the
verifier and its sandbox (created, probed and closed here, and nowhere else), and shutdown.

Every model or sandbox job runs on the worker (:meth:`CodeassistServer.run_job`): the load, the sandbox probe, and
the services' jobs, so cancellation, newest-wins and the time cap apply to all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING, Any, ClassVar

from lsprotocol import types

from codeassist.api import (
    CompletionPolicy,
    CompletionService,
    Engine,
    EngineConfig,
    FixConfig,
    Fixer,
    FixModel,
    Verifier,
    VerifyMode,
    default_fix_model,
    make_sandbox,
    parse_gate,
    sandbox_health,
)
from codeassist.errors import CodeassistError

from .config import SAME_AS_COMPLETIONS, Settings, merge, workspace_file_settings
from .progress import progress
from .status import wants_sandbox
from .worker import PRIORITY_ACTION, PRIORITY_LOAD, JobCancelled

if TYPE_CHECKING:
    from .app import CodeassistServer

log = logging.getLogger("codeassist.server")
PROBE_TIMEOUT_S = 10.0
SCAN_MAX_AGE_S = 5.0  # the editor's verifier rescans the project this often, so files saved meanwhile count
MODEL_JOBS = ("load", "completion", "fix", "explain")


FIX_CAP_GRACE_S = 15.0  # past fix_budget_ms: the fixer stops itself at the budget; this is the backstop
FIX_LOAD_ALLOWANCE_S = 60.0  # a fix model's first load (seconds on a loaded 2-core machine)


class SettingsLayers:
    """Defaults, then workspace files, then ``initializationOptions``, then ``didChangeConfiguration``."""

    SOURCES: ClassVar[dict[str, str]] = {"init": "initializationOptions", "client": "workspace/didChangeConfiguration"}

    def __init__(self) -> None:
        self._layers: dict[str, Any] = {}

    def set(self, layer: str, raw: Any) -> None:
        """Replace one layer (``init`` or ``client``) with the raw settings a client sent."""
        if layer not in self.SOURCES:
            raise ValueError(f"unknown settings layer {layer!r}")
        self._layers[layer] = raw

    def compute(self, root: str | None) -> tuple[Settings, list[str]]:
        """The merged settings, and one message per rejected key (naming its source)."""
        settings = Settings()
        found, errors = workspace_file_settings(root)
        layers = [*found, *((self.SOURCES[k], self._layers[k]) for k in self.SOURCES if k in self._layers)]
        for source, raw in layers:
            settings, errs = merge(settings, raw, source)
            errors += errs
        return settings, errors


class Host:
    """Owns the engine, the verifier (with its sandbox) and the services built on them."""

    def __init__(self, ls: CodeassistServer) -> None:
        self.ls = ls
        self.engine: Engine | None = None
        self.fix_model = FixModel()  # fix_model's engine, when it is not the completion model
        self._fix_warned: set[str] = set()
        self.verifier: Verifier | None = None
        self.completions: CompletionService | None = None
        self._generation = 0
        self._sandbox_warned: str | None = None  # the sandbox trouble already shown to the user (once per reason)

    # -- settings -----------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """After ``initialized``: the model, then the verifier for the settings (probing the sandbox)."""
        self.start_load()
        self._replace_verifier()
        self._rebuild_services()

    def apply_settings(self, new: Settings) -> None:
        """Use ``new``: reload the model when its settings changed, recreate the verifier when the sandbox's did."""
        old, ls = self.ls.settings, self.ls
        ls.settings = new
        changed = [
            f"{f.name}={getattr(new, f.name)!r}" for f in fields(new) if getattr(new, f.name) != getattr(old, f.name)
        ]
        if changed:  # the log says when a changed editor setting took effect (a user asks "did it apply?")
            log.info("settings changed: %s", ", ".join(changed))
        if self.engine is not None and new.engine_key() != old.engine_key():
            log.info("model settings changed; reloading")
            self.start_load()
        elif self.engine is not None:  # applies to the next completion, no reload
            self.engine.config.confidence_gate = parse_gate(new.confidence_gate)
        if _sandbox_key(new) != _sandbox_key(old):
            self._replace_verifier()
        elif (new.verify, new.verify_actions) != (old.verify, old.verify_actions) and self.verifier is not None:
            self.probe_sandbox()
        self._rebuild_services()
        ls.status.send()

    def client_settings(self, raw: Any) -> None:
        """``workspace/didChangeConfiguration``: the client's layer replaced; its bad keys reported."""
        ls = self.ls
        ls.settings_layers.set("client", raw)
        settings, errors = ls.settings_layers.compute(ls.root)
        for message in errors:
            if message.startswith(SettingsLayers.SOURCES["client"]):
                ls.show(f"codeassist: {message}")
        self.apply_settings(settings)

    def _replace_verifier(self) -> None:
        old, settings = self.verifier, self.ls.settings
        self.verifier = None
        if wants_sandbox(settings):
            hosts, tls_dir = settings.sandbox_docker_host or (), settings.sandbox_tls_dir
            sandbox = make_sandbox(image=settings.sandbox_image, pool_size=2, docker_hosts=hosts, tls_dir=tls_dir)
            self.verifier = Verifier(sandbox, scan_max_age_s=SCAN_MAX_AGE_S)
            self.probe_sandbox()
        if old is not None and old.sandbox is not None:
            old.sandbox.close()

    def _rebuild_services(self) -> None:
        if self.engine is None:
            return
        # verify = sandbox checks in the background (background_check.py), so one-line completions are tested too
        policy = CompletionPolicy(verify=_mode(self.ls.settings.verify), single_line_tests=True)
        self.completions = CompletionService(self.engine, self.verifier, policy)

    def probe_sandbox(self) -> None:
        """Ask Docker (on the worker) whether the sandbox can run checks; the status notification says."""
        image, status = self.ls.settings.sandbox_image, self.ls.status
        # several Docker engines: ask them all (the image is copied to them on this first check, on the worker)
        several = self.verifier.sandbox if self.ls.settings.sandbox_docker_host and self.verifier else None

        def probe(cancel: Callable[[], bool]) -> str | None:
            health = several.health() if several is not None else sandbox_health(image=image)
            return None if health.ok else health.reason or "the Docker sandbox did not answer"

        def done(reason: str | None) -> None:
            status.sandbox_ok = reason is None
            status.send()
            if reason is not None and wants_sandbox(self.ls.settings) and reason != self._sandbox_warned:
                self._sandbox_warned = reason
                self.ls.show(sandbox_message(reason))

        failed: str | None = "the sandbox check did not finish"
        self.ls.submit(probe, done, kind="probe", priority=PRIORITY_ACTION, timeout_s=PROBE_TIMEOUT_S, failed=failed)

    # -- the model ----------------------------------------------------------------------------------------------------

    def start_load(self) -> None:
        """(Re)load the model on the worker, reported with work-done progress and ``codeassist/status``; the jobs
        queued for the engine it replaces are cancelled."""
        self._generation += 1
        old, settings = self.engine, self.ls.settings
        remote = settings.remote_config()
        self.engine = Engine(
            EngineConfig(
                model=settings.model if remote is None else None,  # remote: ``model`` names the served model
                remote=remote, n_threads=settings.threads, n_ctx=settings.n_ctx,
                max_tokens=settings.max_tokens, time_budget_ms=float(settings.timeout_ms), index_in_background=True,
                workspace_folders=self.ls.workspace_folders, confidence_gate=parse_gate(settings.confidence_gate),
                cache_reuse=settings.cache_reuse,
            )
        )  # fmt: skip
        self._rebuild_services()
        for kind in MODEL_JOBS:  # they were for the engine being replaced (a sandbox probe is not)
            self.ls.worker.cancel_all(kind)
        self.ls.status.set_state("loading", f"loading model {settings.model or 'default'}")
        self.ls.spawn(self._load(self.engine, old, self._generation))

    async def _load(self, engine: Engine, old: Engine | None, generation: int) -> None:
        docs, status = self.ls.docs, self.ls.status

        def load(cancel: Callable[[], bool]) -> str:
            if old is not None:
                old.close()
            info = engine.load()
            for doc in docs.documents():
                engine.document_opened(doc.path or doc.uri, doc.text, doc.language)
            return f"{info.name} ({info.load_ms:.0f} ms, {info.n_threads} threads)"

        async with progress(self.ls, "codeassist: loading model", "load") as p:
            try:
                described = await self.ls.run_job(load, kind="load", priority=PRIORITY_LOAD, timeout_s=None)
            except JobCancelled:
                p.outcome = "superseded"
                return
            except Exception as exc:
                if generation == self._generation:
                    message = model_message(exc)
                    status.set_state("error", message)
                    self.ls.show(f"codeassist: {message}", types.MessageType.Error)
                p.outcome = "model failed to load"
                return
            if generation != self._generation:
                p.outcome = "superseded"
                return
            status.model_name = engine.info.name
            status.model_fallback = fallback = engine.model_fallback
            log.info("model ready: %s", described)
            status.set_state("ready", f"model ready: {described}" + (f" — {fallback}" if fallback else ""))
            if fallback:
                self.ls.show(f"codeassist: {fallback}", types.MessageType.Warning)
            p.outcome = "model ready"

    @property
    def ready(self) -> bool:
        return self.ls.status.ready and self.engine is not None and self.engine.loaded

    def fixer(self, verify: VerifyMode, engine: Engine | None = None) -> Fixer:
        """The fix service with the editor's configuration (a few candidates, the first good one wins)."""
        engine = engine or self.engine
        assert engine is not None
        config = FixConfig.for_editor(verify, deadline_s=self.ls.settings.fix_budget_ms / 1000)
        return Fixer(engine, self.verifier or Verifier(None), config)

    def fix_engine(self) -> Engine:
        """The engine for fixes and explanations (``fix_model``, :class:`codeassist.fix_model.FixModel`); call it on
        the worker (a first use loads the model). A fix model that cannot be loaded falls back to the completion
        engine, and the user is told once."""
        assert self.engine is not None
        settings = self.ls.settings
        template = EngineConfig(n_threads=settings.threads, n_ctx=settings.n_ctx, cache_reuse=settings.cache_reuse)
        engine, why = self.fix_model.engine_for(settings.fix_model, self.engine, template)
        spec = settings.fix_model or default_fix_model()
        if why and spec not in self._fix_warned:
            self._fix_warned.add(spec)
            self.ls.show(f"codeassist: fix_model {spec!r} unavailable ({why}); using the completion model")
        return engine

    def fix_cap_s(self) -> float:
        """The hard cap of a fix or explain job: ``fix_budget_ms`` (the fixer stops itself there), a grace for the
        check in flight, and the fix model's first load when it is still to come (the budget starts after it)."""
        cap = self.ls.settings.fix_budget_ms / 1000 + FIX_CAP_GRACE_S
        spec = self.ls.settings.fix_model or default_fix_model()
        if spec != SAME_AS_COMPLETIONS and not self.fix_model.loaded:
            cap += FIX_LOAD_ALLOWANCE_S  # at most: a model that is the completion one loads nothing
        return cap

    def job_cap_s(self, verify: str, model_calls: int = 1) -> float:
        """The hard wall-clock cap of a job: ``timeout_ms`` per model call, plus the sandbox's own tier limits when
        the job runs sandbox checks (those runs are cut by the sandbox itself; this is the backstop)."""
        cap = self.ls.settings.timeout_ms / 1000 * model_calls
        if verify == "sandbox" and self.verifier is not None:
            cap += self.verifier.budget.compile_s + self.verifier.budget.tests_s
        return cap

    def shutdown(self) -> None:
        self.ls.worker.stop()
        if self.engine is not None:
            self.engine.close()
        self.fix_model.close()
        if self.verifier is not None and self.verifier.sandbox is not None:
            self.verifier.sandbox.close()


async def pull_settings(ls: CodeassistServer) -> Any:
    """Our section through ``workspace/configuration`` (None when the client cannot or will not say)."""
    if not ls.client_supports("workspace.configuration"):
        return None
    try:
        got = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section="codeassist")])
        )
    except Exception as exc:
        log.warning("workspace/configuration failed: %s", exc)
        return None
    return got[0] if got else None


def _mode(value: str) -> VerifyMode:
    return "off" if value == "off" else "sandbox" if value == "sandbox" else "syntax"


def _sandbox_key(settings: Settings) -> tuple[Any, ...]:
    """The settings that need a new verifier (and sandbox) when they change."""
    return wants_sandbox(settings), settings.sandbox_image, settings.sandbox_docker_host, settings.sandbox_tls_dir


def model_message(exc: BaseException) -> str:
    """Why the model did not load, and the command that fixes it."""
    if not isinstance(exc, CodeassistError):
        return f"model failed to load: {type(exc).__name__}: {exc}"
    fix = exc.hint or "codeassist model list  (then set `model` to a tier or an existing .gguf file)"
    return f"model failed to load: {exc.message}. To fix, run: {fix}  (`codeassist doctor` checks the whole setup)"


def sandbox_message(reason: str) -> str:
    """The Docker sandbox cannot run checks: what it means for the user, and the commands that fix it."""
    if "run:" in reason:  # the sandbox already names its fix (a missing image: codeassist sandbox build)
        fix = reason
    else:
        fix = (
            f"{reason}. To fix: start Docker (`sudo systemctl start docker`, or run `dockerd`), make sure you may "
            "use it (`sudo usermod -aG docker $USER`), then run `codeassist sandbox build`"
        )
    return (
        f"codeassist: the Docker sandbox is unavailable, so suggestions and fixes are labelled unverified: {fix}. "
        "`codeassist doctor` checks the whole setup."
    )
