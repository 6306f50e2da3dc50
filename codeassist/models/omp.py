"""OpenMP's wait policy for llama.cpp's threads, chosen before the native library loads.

Why: llama.cpp's CPU threads meet at a barrier after every operation. With libgomp's default (or ``active``) wait
policy a thread that arrives first spins on its core until the others arrive. On an idle machine that saves a few
microseconds per barrier; on a machine where anything else runs (an editor machine never idles) a spinning thread holds
the core another llama.cpp thread needs, and decode collapses. Measured with ``python -m bench.omp_wait`` (the 0.5B
model, a 2-core machine already shared with other work, load average 12-16; one run per cell, bench/RESULTS-latency.md):
2 threads decode 0.25 tok/s ``active``, 0.33 unset, 9.7 ``passive``; with one more competing CPU-bound process
0.19, 0.23 and 11.0. On one thread the policies are within noise (2.6-3.0 tok/s with the competitor), and 2 passive
threads beat 1. So passive is the default.

libgomp reads ``OMP_WAIT_POLICY`` once, when it is loaded (with llama_cpp's shared library, on import): this runs
before that import. A user's own ``OMP_WAIT_POLICY`` wins; ``CODEASSIST_OMP_WAIT_POLICY`` sets ours (``inherit``:
leave the environment alone, as the benchmark does to measure each policy).
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger("codeassist.models")

DEFAULT_POLICY = "passive"
POLICIES = ("active", "passive")


def apply_wait_policy() -> str:
    """Set ``OMP_WAIT_POLICY`` for this process unless the user set it; return the policy in effect ("" when left
    to libgomp). Too late, and says so, when llama_cpp is already loaded."""
    ours = os.environ.get("CODEASSIST_OMP_WAIT_POLICY", DEFAULT_POLICY).strip().lower()
    current = os.environ.get("OMP_WAIT_POLICY", "")
    if ours == "inherit" or current:
        return current.lower()
    if ours not in POLICIES:
        log.warning("CODEASSIST_OMP_WAIT_POLICY=%r is not one of %s; using %s", ours, POLICIES, DEFAULT_POLICY)
        ours = DEFAULT_POLICY
    if "llama_cpp" in sys.modules:
        log.info("llama.cpp is already loaded: OMP_WAIT_POLICY=%s would not take effect; left unset", ours)
        return ""
    os.environ["OMP_WAIT_POLICY"] = ours
    return ours
