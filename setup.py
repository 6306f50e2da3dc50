"""Package layout: the engine lives in codeassist/, the LSP server in server/ and the sandbox in sandbox/.

They install as ``codeassist.server`` and ``codeassist.sandbox`` so that no generic top-level ``server`` or
``sandbox`` module lands in site-packages. Packages are discovered, so new subpackages need no edit here.
"""

from setuptools import find_namespace_packages, setup

ROOTS = {"codeassist": "codeassist", "codeassist.server": "server", "codeassist.sandbox": "sandbox"}


def _packages() -> list[str]:
    found: list[str] = []
    for name, folder in ROOTS.items():
        found.append(name)
        # Namespace discovery so data folders (tree-sitter queries, sandbox image recipes) are packages too.
        found.extend(f"{name}.{sub}" for sub in find_namespace_packages(folder, exclude=["*__pycache__*"]))
    return found


setup(packages=_packages(), package_dir=ROOTS)
