"""Image recipes: what goes into a runner image, how it is built offline, and the commands it offers.

A recipe is a TOML file under ``images/``: a Debian suite, a package list and a command table. The image is built
with ``mmdebstrap … | docker import`` from the machine's apt sources, so no container registry is needed, and is
tagged with a hash of the recipe file, so ``build`` is a no-op (a single image lookup) when nothing changed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib

from codeassist.errors import CodeassistError, InputError

IMAGES_DIR = Path(__file__).resolve().parent / "images"
REPO_PREFIX = "codeassist-sandbox-"
LABEL_RECIPE = "codeassist.sandbox.recipe"
LABEL_HASH = "codeassist.sandbox.hash"


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe file."""

    name: str
    suite: str
    variant: str
    packages: tuple[str, ...]
    commands: dict[str, tuple[str, ...]]
    digest: str

    @property
    def repository(self) -> str:
        return f"{REPO_PREFIX}{self.name}"

    @property
    def tag(self) -> str:
        return self.digest[:12]

    @property
    def image(self) -> str:
        return f"{self.repository}:{self.tag}"

    def command(self, name: str, *args: str) -> list[str]:
        """Expand a named command from the table (``pytest``, ``python``…) with extra arguments appended."""
        if name not in self.commands:
            known = ", ".join(sorted(self.commands))
            raise InputError(f"recipe {self.name!r} has no command {name!r} (known: {known})")
        return [*self.commands[name], *args]


def available() -> list[str]:
    return sorted(p.stem for p in IMAGES_DIR.glob("*.toml"))


def load(name: str = "python") -> Recipe:
    path = IMAGES_DIR / f"{name}.toml"
    if not name.replace("-", "").isalnum() or not path.is_file():
        raise InputError(f"no sandbox recipe {name!r}", hint=f"known recipes: {', '.join(available())}")
    raw = path.read_bytes()
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode())
        packages = tuple(str(p) for p in data["packages"])
        commands = {str(k): tuple(str(a) for a in v) for k, v in data.get("commands", {}).items()}
        recipe = Recipe(
            name=str(data.get("name", name)),
            suite=str(data["suite"]),
            variant=str(data.get("variant", "apt")),
            packages=packages,
            commands=commands,
            digest=hashlib.sha256(raw).hexdigest(),
        )
    except (KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise CodeassistError(f"sandbox recipe {path} is malformed: {exc}") from exc
    if recipe.name != name:
        raise CodeassistError(f"sandbox recipe {path} declares name {recipe.name!r}, expected {name!r}")
    return recipe


@dataclass(frozen=True)
class BuildResult:
    image: str
    built: bool
    seconds: float


def image_exists(api: Any, image: str) -> bool:
    # docker (with requests) is imported only once Docker is used: `import codeassist.sandbox` stays cheap
    import docker.errors

    try:
        api.inspect_image(image)
    except docker.errors.ImageNotFound:
        return False
    return True


def build(api: Any, recipe: Recipe, *, force: bool = False, log: Callable[[str], None] = print) -> BuildResult:
    """Build the recipe's image unless an image with its content hash already exists."""
    start = time.monotonic()
    if not force and image_exists(api, recipe.image):
        return BuildResult(recipe.image, False, time.monotonic() - start)
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise CodeassistError("mmdebstrap is not installed", hint="apt-get install mmdebstrap")
    cmd: Sequence[str] = [
        mmdebstrap,
        f"--variant={recipe.variant}",
        f"--include={','.join(recipe.packages)}",
        # Docs, man pages and translations are dead weight in a runner.
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        '--customize-hook=mkdir -p "$1/work"',
        recipe.suite,
    ]
    changes = [
        f"LABEL {LABEL_RECIPE}={recipe.name}",
        f"LABEL {LABEL_HASH}={recipe.digest}",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        "WORKDIR /work",
        'CMD ["sleep", "infinity"]',
    ]
    with tempfile.TemporaryDirectory(prefix="codeassist-sandbox-build-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        log(f"building {recipe.image} with mmdebstrap ({recipe.suite}: {', '.join(recipe.packages)})…")
        proc = subprocess.run([*cmd, str(tarball)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise CodeassistError(
                f"mmdebstrap failed with exit code {proc.returncode}:\n{tail}",
                hint="mmdebstrap needs root (or unprivileged user namespaces) and working apt sources",
            )
        log(f"importing {tarball.stat().st_size // (1 << 20)} MiB root filesystem into Docker…")
        api.import_image_from_file(str(tarball), repository=recipe.repository, tag=recipe.tag, changes=changes)
    if not image_exists(api, recipe.image):
        raise CodeassistError(f"docker import did not produce {recipe.image}")
    return BuildResult(recipe.image, True, time.monotonic() - start)


def stale_images(api: Any) -> list[str]:
    """Images built from recipes that no longer match any current recipe file."""
    current = {load(name).image for name in available()}
    stale: list[str] = []
    for image in api.images(filters={"label": LABEL_RECIPE}):
        for ref in image.get("RepoTags") or []:
            if ref.startswith(REPO_PREFIX) and ref not in current:
                stale.append(ref)
    return stale
