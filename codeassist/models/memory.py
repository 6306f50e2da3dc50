"""Will the model fit? Checked before llama.cpp loads it, because llama.cpp itself would be killed by the OOM killer
mid-load instead of failing with a reason."""

from __future__ import annotations

from codeassist.errors import ModelError
from codeassist.models.gguf import GGUFInfo


def _mem_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_memory(info: GGUFInfo, n_ctx: int) -> None:
    """Refuse early, with numbers, when the model cannot fit (llama.cpp would be killed by the OOM killer)."""
    available = _mem_available()
    if available is None:
        return
    layers = info.meta_int(f"{info.architecture}.block_count") or 32
    embd = info.meta_int(f"{info.architecture}.embedding_length") or 4096
    heads = info.meta_int(f"{info.architecture}.attention.head_count") or 32
    kv_heads = info.meta_int(f"{info.architecture}.attention.head_count_kv") or heads
    kv_bytes = 2 * layers * n_ctx * (embd * kv_heads // max(heads, 1)) * 2  # K and V, f16
    needed = info.file_size + kv_bytes + (256 << 20)
    if needed > available:
        raise ModelError(
            f"not enough memory for {info.name}: needs ~{needed / 2**30:.1f} GiB "
            f"(weights {info.file_size / 2**30:.1f} GiB + KV cache for {n_ctx} tokens), "
            f"{available / 2**30:.1f} GiB available",
            hint="choose a smaller model tier or a smaller context size (n_ctx)",
        )
