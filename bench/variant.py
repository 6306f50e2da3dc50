"""An engine variant for the real-repository suite: this checkout's server with some ``EngineConfig`` fields changed.

Why: ``bench.repos`` compares systems in one run, and a system is a server with *user settings* or another checkout's
interpreter (``NAME@PYTHON``). Engine knobs that are not user settings (token healing, the mid-line policy, the
static checks) are ablated with an interpreter wrapper: it puts a ``sitecustomize.py`` on ``PYTHONPATH`` that sets
the fields on every ``EngineConfig`` the server creates, and lets the server accept a ``timeout_ms`` above its
120 s maximum (``--cap-ms``: under a load of 20 on 2 cores a cold prompt can take longer, and quality must not
depend on the load). Nothing in the product reads it. ``'{}'`` with ``--python OTHER/.venv/bin/python`` wraps
another checkout (the previous default) the same way.

    python -m bench.variant noheal '{"token_healing": false}'
    # -> build/variants/noheal/python ; then: --systems 'noheal@build/variants/noheal/python,default'
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from dataclasses import fields

from codeassist.engine import EngineConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SITECUSTOMIZE = '''"""Written by bench/variant.py: EngineConfig fields for a benchmark variant."""
import json as _json
import os as _os

import codeassist.engine as _engine

with open(_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "overrides.json"), encoding="utf-8") as _fh:
    _OVERRIDES = _json.load(_fh)
_init = _engine.EngineConfig.__init__


def _patched(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    for key, value in _OVERRIDES.items():
        setattr(self, key, tuple(value) if isinstance(value, list) else value)


_engine.EngineConfig.__init__ = _patched

# The server caps timeout_ms at 120 s; on a machine with a load of 20 a request's first prompt can take longer, and
# the benchmark's quality must not depend on the load. Variant interpreters accept caps up to an hour.
import codeassist.server.config as _config

_check = _config._check


def _lifted(name, value):
    if name == "timeout_ms" and isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 3_600_000:
        return value
    return _check(name, value)


_config._check = _lifted
'''


def write_variant(name: str, overrides: dict[str, object], out: str, python: str) -> str:
    """Write the wrapper and return the path of its interpreter script."""
    known = {f.name for f in fields(EngineConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise SystemExit(f"not EngineConfig fields: {', '.join(unknown)}")
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "overrides.json"), "w", encoding="utf-8") as fh:
        json.dump(overrides, fh)
    with open(os.path.join(folder, "sitecustomize.py"), "w", encoding="utf-8") as fh:
        fh.write(SITECUSTOMIZE)
    script = os.path.join(folder, "python")
    with open(script, "w", encoding="utf-8") as fh:
        fh.write(f'#!/bin/sh\nPYTHONPATH="{folder}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{python}" "$@"\n')
    os.chmod(script, os.stat(script).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name")
    ap.add_argument("overrides", help="JSON object of EngineConfig fields, e.g. '{\"token_healing\": false}'")
    ap.add_argument("--out", default=os.path.join(REPO, "build", "variants"))
    ap.add_argument("--python", default=sys.executable, help="the interpreter whose codeassist serves")
    args = ap.parse_args(argv)
    overrides = json.loads(args.overrides)
    if not isinstance(overrides, dict):
        raise SystemExit("overrides must be a JSON object")
    print(write_variant(args.name, overrides, os.path.abspath(args.out), args.python))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
