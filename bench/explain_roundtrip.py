"""Explanations measured by a round trip (issue 13, item 7): explain a function through the product's explain
service, hide its body, regenerate the body from the signature plus the explanation alone, and run its tests in the
sandbox. Compared, on the same functions and with the same regeneration prompt, with regeneration from the signature
alone and from the signature plus the docstring.

    python -m bench.explain_roundtrip --limit 40 --repo-limit 20          # seeded subsets, the explain tier's default
    python -m bench.explain_roundtrip --model qwen2.5-coder-0.5b --rows build/bench/explain-rt-0.5b.jsonl
    python -m bench.explain_roundtrip --report-only                        # the table from the rows so far

- The explanation is :func:`codeassist.explainer.stream_explain` (what the editor's Explain action and ``codeassist
  explain`` run) over the function's lines, in its file with the function's docstring removed, so the explanation is
  the only description the regeneration gets. It is checked as users get it: its length in words and the names it
  mentions that the code does not contain (``unknown_names``).
- Regeneration: :func:`bench.roundtrip_tasks.regen_messages`, greedy, on the same model; the body goes back under
  the original header and docstring. Judged in the sandbox only (:mod:`bench.roundtrip_sources`).
- Resumable: one JSON line per function in ``--rows`` (``--resume`` skips functions already there for this model).
  Generation has no time cap (quality only: the machine's load must not decide); latency is not reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.roundtrip_sources import (
    HumanEvalCase,
    RepoCase,
    RepoJudges,
    humaneval_cases,
    judge_humaneval,
    judge_repo,
    repo_cases,
)
from bench.roundtrip_tasks import CONDITIONS, Target, block_closed, extract_body, regen_messages
from bench.scoring import Executor
from codeassist.engine import Engine, EngineConfig
from codeassist.explain_checks import DEFAULT_MAX_WORDS
from codeassist.explainer import stream_explain
from codeassist.models.backend import GenerationParams
from codeassist.models.registry import default_fix_model, resolve
from codeassist.repobench.store import JsonlWriter, read_jsonl

ROWS = "build/bench/explain-roundtrip/rows.jsonl"


def regenerate(engine: Engine, target: Target, description: str | None, max_tokens: int) -> dict[str, Any]:
    """One regeneration: the model's answer, the body taken from it (None: nothing usable) and its token count."""
    gen = engine.generate_chat(
        regen_messages(target, description), GenerationParams(max_tokens=max_tokens),
        on_text=lambda so_far: not block_closed(so_far),
    )  # fmt: skip
    return {"answer": gen.text, "body": extract_body(gen.text, target.name), "tokens": len(gen.tokens)}


def one(engine: Engine, case: HumanEvalCase | RepoCase, judge: Any, args: argparse.Namespace) -> dict[str, Any]:
    t = case.target
    text, start, end = t.without_docstring()
    started = time.monotonic()
    ex = stream_explain(engine, text, start, end, path=t.path, language="python", max_tokens=args.explain_max_tokens,
                        max_words=args.max_words)  # fmt: skip
    descriptions: dict[str, str | None] = {"signature": None, "explanation": ex.text}
    if t.docstring:
        descriptions["docstring"] = t.docstring
    gens = {c: regenerate(engine, t, d, args.regen_max_tokens) for c, d in descriptions.items()}
    texts = {c: t.splice(g["body"]) for c, g in gens.items() if g["body"] is not None}
    verdicts = judge(case, texts)
    conds = {c: {**verdicts.get(c, {"status": "no code", "reason": "no function in the answer"}), **g}
             for c, g in gens.items()}  # fmt: skip
    return {
        "id": t.id, "source": t.source, "repo": getattr(case, "repo", "humaneval"), "name": t.name,
        "model": engine.info.name, "conditions": conds,
        "explanation": {"text": ex.text, "words": ex.words, "unknown_names": ex.unknown_names,
                        "stop_reason": ex.stop_reason, "tokens": ex.generated_tokens, "context": ex.context},
        "seconds": round(time.monotonic() - started, 1),
    }  # fmt: skip


def interleave(he: list[HumanEvalCase], repo: Iterator[RepoCase], n_repo: int) -> Iterator[HumanEvalCase | RepoCase]:
    """HumanEval and repository functions in proportion, so a run cut short has measured both."""
    i = j = 0
    while i < len(he) or j < n_repo:
        if j >= n_repo or (i < len(he) and (i + 0.5) / len(he) <= (j + 0.5) / n_repo):
            yield he[i]
            i += 1
        else:
            case = next(repo, None)
            if case is None:
                n_repo = j
                continue
            yield case
            j += 1


def run(args: argparse.Namespace) -> None:
    model = resolve(args.model or default_fix_model(), auto_install=False)
    engine = Engine(EngineConfig(model=model, n_threads=args.threads, n_ctx=args.n_ctx, time_budget_ms=None))
    engine.load()
    writer = JsonlWriter(args.rows, truncate=not args.resume)
    done = {(r["id"], r["model"]) for r in read_jsonl(args.rows)}
    executor = Executor(batch_size=8, program_timeout_s=args.program_timeout_s, workers=1)
    judges = RepoJudges()
    deadline = None if args.time_limit_min is None else time.monotonic() + args.time_limit_min * 60
    try:
        he = humaneval_cases(args.limit, args.seed) if args.limit else []
        only = args.repos.split(",") if args.repos else None
        cases = interleave(he, repo_cases(args.repo_limit, args.seed, judges, only), args.repo_limit)
        for case in cases:
            if (case.target.id, engine.info.name) in done:
                continue
            if deadline is not None and time.monotonic() >= deadline:
                print("time limit reached: stopping (resume with --resume)", file=sys.stderr, flush=True)
                break
            if isinstance(case, HumanEvalCase):
                row = one(engine, case, lambda c, texts: judge_humaneval(executor, c, texts), args)
            else:
                row = one(engine, case, lambda c, texts: judge_repo(judges, c, texts), args)
            writer.append(row)
            status = " ".join(f"{c}={v['status']}" for c, v in row["conditions"].items())
            unknown = row["explanation"]["unknown_names"]
            print(f"[{row['id']}] {status} words={row['explanation']['words']} unknown={unknown} "
                  f"({row['seconds']:.0f}s)", file=sys.stderr, flush=True)  # fmt: skip
    finally:
        executor.close()
        judges.close()
        engine.close()


def _rate(rows: list[dict[str, Any]], cond: str) -> tuple[int, int]:
    have = [r for r in rows if cond in r["conditions"]]
    return sum(r["conditions"][cond]["status"] == "passed" for r in have), len(have)


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    groups = {
        "humaneval": [r for r in rows if r["source"] == "humaneval"],
        "repos": [r for r in rows if r["source"] == "repo"],
    }
    groups["all"] = rows
    for name, mine in groups.items():
        if not mine:
            continue
        words = [r["explanation"]["words"] for r in mine]
        rates = {c: _rate(mine, c) for c in CONDITIONS}
        sig, expl = rates["signature"], rates["explanation"]
        out[name] = {
            "functions": len(mine), "passed": {c: {"passed": p, "of": n} for c, (p, n) in rates.items()},
            "lift_explanation_over_signature": round(expl[0] / sig[0], 2) if sig[0] else None,
            "words_median": statistics.median(words), "words_mean": round(statistics.mean(words), 1),
            "words_max": max(words),
            "cut_at_word_limit": sum(r["explanation"]["stop_reason"] == "word_limit" for r in mine),
            "with_unknown_names": sum(bool(r["explanation"]["unknown_names"]) for r in mine),
            "unknown_names": sorted({n for r in mine for n in r["explanation"]["unknown_names"]}),
            "models": sorted({r["model"] for r in mine}),
        }  # fmt: skip
    return out


def markdown(summary: dict[str, Any]) -> str:
    def pct(p: int, n: int) -> str:
        return f"{p}/{n} ({100 * p / n:.1f}%)" if n else "—"

    lines = ["| source | functions | signature only | signature + docstring | signature + explanation "
             "| lift (expl./sig.) | words (median / mean / max) | cut at limit | with unknown names |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, s in summary.items():
        p = s["passed"]
        lift = f"{s['lift_explanation_over_signature']}×" if s["lift_explanation_over_signature"] else "—"
        cells = " | ".join(pct(p[c]["passed"], p[c]["of"]) for c in CONDITIONS)
        words = f"{s['words_median']} / {s['words_mean']} / {s['words_max']}"
        lines.append(f"| {name} | {s['functions']} | {cells} | {lift} | {words} | {s['cut_at_word_limit']} "
                     f"| {s['with_unknown_names']} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.explain_roundtrip", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--limit", type=int, default=164, help="HumanEval functions, a seeded sample (0: none)")
    p.add_argument("--repo-limit", type=int, default=20, help="repository functions, round-robin over the suite")
    p.add_argument("--repos", default="", help="comma-separated names from bench/repos.toml (default: all)")
    p.add_argument("--model", default=None, help="tier or GGUF path (default: the explain tier, fix_model's default)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n-ctx", type=int, default=4096)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-words", type=int, default=DEFAULT_MAX_WORDS, help="the explainer's word limit (0: none)")
    p.add_argument("--explain-max-tokens", type=int, default=256, help="as `codeassist explain`'s default")
    p.add_argument("--regen-max-tokens", type=int, default=512)
    p.add_argument("--program-timeout-s", type=float, default=30.0, help="per HumanEval test program (generous)")
    p.add_argument("--time-limit-min", type=float, default=None, help="start no new function after this many minutes")
    p.add_argument("--rows", default=ROWS)
    p.add_argument("--out", default=None, help="summary JSON (default: next to --rows); Markdown beside it")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    if not args.report_only:
        run(args)
    rows = list(read_jsonl(args.rows))
    summary = summarize(rows)
    out = Path(args.out or Path(args.rows).with_name("summary.json"))
    out.write_text(json.dumps(summary, indent=2))
    md = markdown(summary)
    out.with_suffix(".md").write_text(md)
    print(md)
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
