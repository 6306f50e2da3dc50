"""A cold prompt with and without KV-shift reuse's context: does the second sequence cost anything?

Why: ``cache_reuse`` > 0 makes the llama.cpp context with two sequences over one unified KV cache
(codeassist/models/kv_reuse.py ``two_sequences``), so every request pays for it, including the cold ones that have
nothing to move. This loads the model twice (``cache_reuse`` 0 and 32), evaluates the same prompt from nothing with
each, alternating so that a change in the machine's load falls on both, and reports the medians and the greedy text.

    python -m bench.cold_prompt_ab --model ~/.cache/codeassist/models/qwen2.5-coder-0.5b.gguf --tokens 1024
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from codeassist.models.backend import GenerationParams
from codeassist.models.llama_backend import LlamaBackend

SOURCE = Path(__file__).resolve().parents[1] / "codeassist" / "engine.py"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", type=int, default=1024, help="prompt length (a prefix of codeassist/engine.py)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    backends = {r: LlamaBackend(args.model, n_ctx=4096, n_threads=args.threads, cache_reuse=r) for r in (0, 32)}
    tokens = backends[0].tokenize(SOURCE.read_text(encoding="utf-8"))[: args.tokens]
    seconds: dict[int, list[float]] = {r: [] for r in backends}
    texts: dict[int, list[str]] = {r: [] for r in backends}
    for _ in range(args.rounds):
        for reuse, backend in backends.items():
            backend._llm.n_tokens = 0  # nothing cached: a cold prompt
            t0 = time.perf_counter()
            gen = backend.generate(tokens, GenerationParams(max_tokens=8))
            seconds[reuse].append(time.perf_counter() - t0)
            texts[reuse].append(gen.text)
    for backend in backends.values():
        backend.close()
    report = {
        f"cache_reuse={r}": {"median_s": round(statistics.median(s), 2), "s": [round(x, 2) for x in s], "texts": t}
        for (r, s), t in zip(seconds.items(), texts.values(), strict=True)
    }
    print(json.dumps({"tokens": len(tokens), **report}, indent=2))


if __name__ == "__main__":
    main()
