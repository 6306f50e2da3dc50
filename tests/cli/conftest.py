"""Fixtures for the CLI tests: the real installed ``codeassist`` entry point, a real dockerd, the embedded model.

Nothing is mocked: each case runs the console script the way a user's shell would, in a subprocess with a timeout.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# docker_ok: tests/conftest.py
