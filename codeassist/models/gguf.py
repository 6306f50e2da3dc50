"""A small, dependency-free GGUF header reader.

Why: llama.cpp answers a bad file with a bare "Failed to load model" (and sometimes a crash). Reading the header
ourselves lets us say *what* is wrong before loading — not a GGUF at all, truncated, which architecture — and lets us
read FIM-related vocabulary metadata without loading weights.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

from codeassist.documents import file_kind
from codeassist.errors import ModelError

GGUF_MAGIC = b"GGUF"

# GGUF metadata value types.
(
    _UINT8,
    _INT8,
    _UINT16,
    _INT16,
    _UINT32,
    _INT32,
    _FLOAT32,
    _BOOL,
    _STRING,
    _ARRAY,
    _UINT64,
    _INT64,
    _FLOAT64,
) = range(13)
_SCALAR_FMT = {
    _UINT8: "<B", _INT8: "<b", _UINT16: "<H", _INT16: "<h", _UINT32: "<I", _INT32: "<i",
    _FLOAT32: "<f", _BOOL: "<?", _UINT64: "<Q", _INT64: "<q", _FLOAT64: "<d",
}  # fmt: skip

# ggml tensor types -> (bytes per block, elements per block). Unknown types skip the size check.
_GGML_TYPE_SIZE: dict[int, tuple[int, int]] = {
    0: (4, 1), 1: (2, 1), 2: (18, 32), 3: (20, 32), 6: (22, 32), 7: (24, 32), 8: (34, 32), 9: (36, 32),
    10: (84, 256), 11: (110, 256), 12: (144, 256), 13: (176, 256), 14: (210, 256), 15: (292, 256),
    16: (66, 256), 17: (74, 256), 18: (98, 256), 19: (50, 256), 20: (18, 32), 21: (110, 256), 22: (82, 256),
    23: (136, 256), 24: (1, 1), 25: (2, 1), 26: (4, 1), 27: (8, 1), 28: (8, 1), 29: (56, 256), 30: (2, 1),
    34: (54, 256), 35: (66, 256), 39: (17, 32),
}  # fmt: skip

# GGUF arrays may hold arrays; no model needs more than a couple of levels, and each level is a Python frame.
MAX_ARRAY_NESTING = 8

# Arrays larger than this are skipped rather than materialised, except the token list we need.
_KEEP_ARRAYS = {"tokenizer.ggml.tokens", "tokenizer.ggml.token_type"}


@dataclass
class GGUFInfo:
    """What we learn from a GGUF header without loading weights."""

    path: str
    version: int
    file_size: int
    metadata: dict[str, object] = field(default_factory=dict)
    tensor_count: int = 0
    expected_size: int | None = None  # end of the last tensor's data, when all tensor types are known

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name", os.path.basename(self.path)))

    @property
    def tokens(self) -> list[str]:
        tokens = self.metadata.get("tokenizer.ggml.tokens")
        return [str(t) for t in tokens] if isinstance(tokens, list) else []

    def meta_int(self, key: str) -> int | None:
        value = self.metadata.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def context_length(self) -> int | None:
        return self.meta_int(f"{self.architecture}.context_length")

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) else None


class _Reader:
    def __init__(self, fh: BinaryIO, path: str) -> None:
        self.fh = fh
        self.path = path

    def read(self, n: int) -> bytes:
        data = self.fh.read(n)
        if len(data) != n:
            raise ModelError(
                f"{self.path}: GGUF file is truncated (header ends early)",
                hint="re-install the model: `codeassist model install`",
            )
        return data

    def scalar(self, vtype: int) -> object:
        fmt = _SCALAR_FMT[vtype]
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def u32(self) -> int:
        return int(struct.unpack("<I", self.read(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.read(8))[0])

    def string(self) -> str:
        n = self.u64()
        if n > 1 << 30:
            raise ModelError(f"{self.path}: corrupt GGUF header (string of {n} bytes)")
        return self.read(n).decode("utf-8", errors="replace")

    def array(self, etype: int, count: int, key: str, depth: int) -> list[object]:
        """A kept array, read in bulk: the vocabulary has ~150k entries and is read at every model load."""
        if etype in _SCALAR_FMT and etype != _BOOL:
            code = _SCALAR_FMT[etype][1]
            return list(struct.unpack(f"<{count}{code}", self.read(struct.calcsize(f"<{count}{code}"))))
        if etype != _STRING:
            return [self.value(etype, key, depth) for _ in range(count)]
        read, out = self.read, list[object]()  # self.read raises the truncation error
        for _ in range(count):
            (n,) = struct.unpack("<Q", read(8))
            if n > 1 << 20:
                raise ModelError(f"{self.path}: corrupt GGUF header (token of {n} bytes)")
            out.append(read(n).decode("utf-8", errors="replace"))
        return out

    def value(self, vtype: int, key: str, depth: int = 0) -> object:
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            if depth >= MAX_ARRAY_NESTING:
                # Real models nest at most once; a deeper header is corrupt or hostile (unbounded recursion).
                raise ModelError(f"{self.path}: corrupt GGUF header (arrays nested deeper than {MAX_ARRAY_NESTING})")
            etype = self.u32()
            count = self.u64()
            if count > 1 << 28:
                raise ModelError(f"{self.path}: corrupt GGUF header (array of {count} items)")
            if key in _KEEP_ARRAYS:
                return self.array(etype, count, key, depth + 1)
            if etype == _STRING:
                for _ in range(count):
                    self.fh.seek(self.u64(), os.SEEK_CUR)
                return f"<array of {count} strings>"
            if etype in _SCALAR_FMT:
                self.fh.seek(struct.calcsize(_SCALAR_FMT[etype]) * count, os.SEEK_CUR)
                return f"<array of {count}>"
            return [self.value(etype, key, depth + 1) for _ in range(count)]
        if vtype in _SCALAR_FMT:
            return self.scalar(vtype)
        raise ModelError(f"{self.path}: corrupt GGUF header (unknown value type {vtype} for {key!r})")


def _open_model(path: str) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file: a FIFO would block ``open`` forever and a device
    (``/dev/zero``) never ends, so the check is made on the descriptor opened non-blocking."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ModelError(f"model file not found: {path}") from None
    except PermissionError:
        raise ModelError(f"{path}: permission denied (cannot read the model file)") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot open the model file: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise ModelError(f"model path is a directory, not a GGUF file: {path}")
        raise ModelError(f"model path is not a regular file ({file_kind(mode)}): {path}")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_gguf(path: str, *, with_tensors: bool = True) -> GGUFInfo:
    """Parse a GGUF header; raise :class:`ModelError` with a precise reason when the file is unusable."""
    with _open_model(path) as fh:
        try:
            info = _parse(fh, path, os.fstat(fh.fileno()).st_size, with_tensors)
        except OSError as exc:
            raise ModelError(f"{path}: cannot read the model file: {exc.strerror or exc}") from None
    if info.expected_size is not None and info.file_size < info.expected_size:
        raise ModelError(
            f"{path}: GGUF file is truncated ({info.file_size:,} bytes, tensors need {info.expected_size:,})",
            hint="re-download or re-install the model (`codeassist model install --force` for registry models)",
        )
    return info


def _parse(fh: BinaryIO, path: str, size: int, with_tensors: bool) -> GGUFInfo:
    magic = fh.read(4)
    if magic != GGUF_MAGIC:
        raise ModelError(
            f"{path}: not a GGUF model file (starts with {magic!r}, expected b'GGUF')",
            hint="codeassist loads llama.cpp GGUF files; convert other formats with llama.cpp's convert scripts",
        )
    r = _Reader(fh, path)
    version = r.u32()
    if version not in (2, 3):
        raise ModelError(f"{path}: unsupported GGUF version {version}")
    n_tensors = r.u64()
    n_kv = r.u64()
    if n_tensors > 1 << 24 or n_kv > 1 << 20:
        raise ModelError(f"{path}: corrupt GGUF header ({n_tensors} tensors, {n_kv} keys)")
    info = GGUFInfo(path=path, version=version, file_size=size, tensor_count=n_tensors)
    for _ in range(n_kv):
        key = r.string()
        vtype = r.u32()
        info.metadata[key] = r.value(vtype, key)
    if not with_tensors:
        return info
    alignment = info.meta_int("general.alignment") or 32
    end = 0
    known = True
    for _ in range(n_tensors):
        r.string()  # name
        n_dims = r.u32()
        dims = [r.u64() for _ in range(n_dims)]
        ttype = r.u32()
        offset = r.u64()
        n_el = 1
        for d in dims:
            n_el *= d
        if ttype not in _GGML_TYPE_SIZE:
            known = False
            continue
        block_bytes, block_el = _GGML_TYPE_SIZE[ttype]
        end = max(end, offset + (n_el // block_el) * block_bytes)
    data_start = fh.tell()
    data_start += (-data_start) % alignment
    if known and n_tensors:
        info.expected_size = data_start + end
    return info
