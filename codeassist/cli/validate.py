"""Command-line validation: one-line usage errors and bounded numeric options.

Why: argparse accepts any ``int``/``float``, so ``--threads 100000`` reached llama.cpp (``std::bad_alloc``, an
abort), ``--max-tokens -1`` produced an empty answer with exit code 0 and ``--timeout 1e308`` overflowed later. Every
numeric option is parsed by one of these types, which name the accepted range; a bad value is one line on stderr and
exit code 2, before anything is loaded.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import NoReturn

EXIT_USAGE = 2

# Ranges shared by several commands. Generous on purpose: they reject nonsense, not unusual but valid choices.
MAX_THREADS = 256
N_CTX_RANGE = (64, 1 << 20)
MAX_TOKENS = 32_768
MAX_CANDIDATES = 64
MAX_JOBS = 64
MAX_SEED = 2**32 - 1
MAX_SECONDS = 86_400.0


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (argparse prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")
        sys.exit(EXIT_USAGE)


def int_in(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: an integer in ``[lo, hi]``."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer from {lo} to {hi}, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be from {lo} to {hi}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def float_in(lo: float, hi: float, *, above_lo: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in ``[lo, hi]`` (``(lo, hi]`` with ``above_lo``)."""
    low = f"above {lo:g}" if above_lo else f"from {lo:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {low} to {hi:g}, got {text!r}") from None
        if not math.isfinite(value) or value < lo or (above_lo and value == lo) or value > hi:
            raise argparse.ArgumentTypeError(f"must be a number {low} to {hi:g}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse
