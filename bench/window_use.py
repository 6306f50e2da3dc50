"""How much of its token budget the cursor's window really holds, in the model's own tokens.

Why: the prefix and suffix windows are cut by an estimate (``context.current_file.estimate_tokens``, 3 characters per
token) and snapped to 16-line blocks, so a 768-token budget holds fewer real tokens than that; llama.vim's window is
256 lines whatever they cost. How much fewer decides what a bigger budget would add to the prompt (quality) and to a
cold request (latency) before anyone measures either. No model is run: only its vocabulary is loaded.

    python -m bench.window_use --holes-per-repo 8 --seed 31
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from llama_cpp import Llama

from codeassist.context.current_file import cursor_windows
from codeassist.engine_config import EngineConfig
from codeassist.models import registry
from codeassist.repobench.holes import cut_holes, is_source_file


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, default=Path("build/bench-repos/src"), help="bench.repos' extracted trees")
    ap.add_argument("--holes-per-repo", type=int, default=8)
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--model", default="qwen2.5-coder-1.5b", help="tier or GGUF whose tokenizer counts")
    args = ap.parse_args()
    config = EngineConfig()
    path = registry.resolve_model(args.model).path
    vocab = Llama(str(path), vocab_only=True, verbose=False)

    def real(text: str) -> int:
        return len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    prefix: list[int] = []
    suffix: list[int] = []
    for repo in sorted(p for p in args.src.iterdir() if p.is_dir()):
        files = {}
        for p in repo.rglob("*.py"):
            rel = str(p.relative_to(repo))
            if is_source_file(rel):
                files[rel] = p.read_text(errors="replace")
        for hole in cut_holes(files, args.holes_per_repo, "line", seed=args.seed):
            text = hole.holed(files[hole.path])
            window = cursor_windows(
                text, hole.start, prefix_tokens=config.prefix_tokens, suffix_tokens=config.suffix_tokens
            )
            prefix.append(real(window.prefix))
            suffix.append(real(window.suffix))
    print(f"{len(prefix)} line holes, budgets {config.prefix_tokens}/{config.suffix_tokens} estimated tokens")
    for name, counts, budget in (("prefix", prefix, config.prefix_tokens), ("suffix", suffix, config.suffix_tokens)):
        q = statistics.quantiles(counts, n=4)
        print(f"{name}: real tokens median {statistics.median(counts):.0f} ({statistics.median(counts) / budget:.0%}"
              f" of the budget), quartiles {q[0]:.0f}/{q[2]:.0f}, max {max(counts)}")  # fmt: skip


if __name__ == "__main__":
    main()
