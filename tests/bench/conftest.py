"""Make the repository's ``bench`` package importable (it is not installed; the Makefile runs ``python -m bench.run``
from the repository root). The root goes on sys.path so the regular package wins over this test directory, which
pytest would otherwise see as a ``bench`` namespace package."""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# fixtures/ holds small repositories the bench runs on, with their own tests: theirs to run, not this suite's.
collect_ignore = ["fixtures"]
