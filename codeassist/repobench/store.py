"""Append-only JSON-lines files: the run's rows (what makes a run resumable) and a verdict cache that outlives runs
(a later run on the same tree, say with a changed engine, reuses the verdicts of every text already judged and of
every baseline)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from typing import Any


def read_jsonl(path: str) -> Iterator[dict[str, Any]]:
    """Records of a JSON-lines file; a torn last line (a run killed mid-write) is skipped."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


class JsonlWriter:
    """Thread-safe appends, each record flushed to disk as one line."""

    def __init__(self, path: str, *, truncate: bool = False) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if truncate or not os.path.exists(path):
            open(path, "w", encoding="utf-8").close()
        elif os.path.getsize(path):
            with open(path, "rb+") as fh:  # a torn last line from a killed run would glue onto the next record
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    fh.write(b"\n")
        self.path = path
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
