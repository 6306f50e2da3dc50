"""``python -m bench.run [--quick]``: latency replay vs llama-server, throughput ceiling, HumanEval infilling quality.

Writes ``bench/results/<stamp>.json``, ``<stamp>.md`` and ``<stamp>-latency-cdf.png``, and copies the Markdown summary
to ``bench/RESULTS.md``. Every part degrades to a line saying why it was skipped (no llama.cpp build, no Docker).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import quality, replay, tasks, verify_infill
from bench.scoring import Executor, verify_bugs
from codeassist.engine import Engine, EngineConfig
from codeassist.models.backend import GenerationParams

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
LLAMA_BIN = os.path.join(ROOT, "build", "llama.cpp", "bin")
THREADS = 2
N_CTX = 4096


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            mem = int(next(ln.split()[1] for ln in fh if ln.startswith("MemTotal"))) * 1024
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem / 2**30, 1), "threads": THREADS,
        "python": platform.python_version(), "load_avg_start": os.getloadavg(),
        "anchor_omp_wait_policy": replay.anchor_env()["OMP_WAIT_POLICY"],
        "engine_omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset: the engine sets passive)"),
    }  # fmt: skip


# -- throughput -----------------------------------------------------------------------------------------------------


def ours_throughput(engine: Engine, n_prompt: int, n_gen: int) -> dict[str, float]:
    backend = engine.backend
    src = Path(ROOT, "codeassist", "engine.py").read_text(encoding="utf-8")
    toks = backend.tokenize(src)[:n_prompt]
    replay.empty_kv_cache(engine)
    ev = backend.evaluate(toks)
    replay.empty_kv_cache(engine)
    gen = backend.generate(toks[: n_prompt // 2], GenerationParams(max_tokens=n_gen))
    return {
        "prompt_tokens": ev.evaluated_tokens, "prompt_tok_s": ev.evaluated_tokens / (ev.prompt_ms / 1000),
        "gen_tokens": len(gen.tokens), "gen_tok_s": len(gen.tokens) / max(gen.generation_ms / 1000, 1e-9),
    }  # fmt: skip


def llama_bench(model: str, n_prompt: int, n_gen: int) -> dict[str, Any]:
    binary = os.path.join(LLAMA_BIN, "llama-bench")
    if not os.access(binary, os.X_OK):
        return {"skipped": "llama-bench not built (run bench/build_llama_cpp.sh)"}
    cmd = [binary, "-m", model, "-t", str(THREADS), "-p", str(n_prompt), "-n", str(n_gen), "-r", "1", "-o", "json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=replay.anchor_env())
    if proc.returncode != 0:
        return {"skipped": f"llama-bench failed: {proc.stderr[-300:]}"}
    rows = json.loads(proc.stdout)
    out: dict[str, Any] = {}
    for row in rows:
        key = "prompt_tok_s" if row.get("n_prompt", 0) > 0 else "gen_tok_s"
        out[key] = float(row["avg_ts"])
    return out


def run_throughput(engine: Engine, model: str, n_prompt: int, n_gen: int, rounds: int) -> dict[str, Any]:
    """Alternate ours and llama-bench ``rounds`` times and keep per-side medians, so that load drift on the shared
    machine hits both sides alike."""
    ours: list[dict[str, float]] = []
    ref: list[dict[str, Any]] = []
    for _ in range(rounds):
        ours.append(ours_throughput(engine, n_prompt, n_gen))
        ref.append(llama_bench(model, n_prompt, n_gen))
        if "skipped" in ref[-1]:
            return {"ours": _medians(ours), "llama_bench": ref[-1]}
    return {"ours": _medians(ours), "llama_bench": _medians(ref), "rounds": {"ours": ours, "llama_bench": ref}}


def _medians(rows: list[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k in rows[0] if all(isinstance(r.get(k), (int, float)) for r in rows)]
    return {k: float(statistics.median(r[k] for r in rows)) for k in keys}


# -- replay -------------------------------------------------------------------------------------------------------


def replay_spans(quick: bool) -> list[replay.Span]:
    import inspect
    import json as stdlib_json

    stdlib = inspect.getsourcefile(stdlib_json.decoder) or ""
    spans = [replay.Span(os.path.join(ROOT, "codeassist", "engine.py"), 150, 2)]
    if stdlib:
        spans.append(replay.Span(stdlib, 250, 2))
    return spans[:2] if quick else spans


def run_replay(engine: Engine, quick: bool, max_tokens: int) -> dict[str, Any]:
    per_span = 30 if quick else 40
    mt = max_tokens
    nocache_n = 8 if quick else 12
    answers: dict[str, list[replay.Answer]] = {"lsp": [], "engine": [], "engine_nocache": [], "llama_server": []}
    notes: list[str] = []
    status: dict[str, Any] = {}
    cfg = engine.config
    # The engine's own cursor windows (the context budget when the context engine has one).
    pre_t = int(getattr(getattr(cfg, "context", None), "prefix_tokens", cfg.prefix_tokens))
    suf_t = int(getattr(getattr(cfg, "context", None), "suffix_tokens", cfg.suffix_tokens))
    server_bin = os.path.join(LLAMA_BIN, "llama-server")
    for span in replay_spans(quick):
        source = Path(span.path).read_text(encoding="utf-8")
        strokes = replay.keystrokes(source, span, limit=per_span)
        log(f"replay {os.path.basename(span.path)}:{span.first_line + 1}: {len(strokes)} keystrokes")
        engine_done = False
        if os.access(server_bin, os.X_OK):
            # Interleaved per keystroke (engine, then llama-server: separate processes and caches), so both see the
            # same machine load; the no-cache pass runs afterwards since it empties the engine's cache.
            n_engine, n_server = len(answers["engine"]), len(answers["llama_server"])
            try:
                with replay.llama_server(
                    server_bin, engine.info.path, threads=THREADS, n_ctx=N_CTX, n_batch=1024
                ) as url:
                    for ks in strokes:
                        ours = replay.engine_answer(engine, span.path, ks, fresh=False, max_tokens=mt)
                        answers["engine"].append(ours)
                        answers["llama_server"].append(
                            replay.llama_server_answer(url, ks, max_tokens=mt, prefix_tokens=pre_t, suffix_tokens=suf_t)
                        )
                engine_done = True
            except (RuntimeError, OSError) as exc:
                notes.append(f"llama-server replay failed: {exc}"[:300])
                del answers["engine"][n_engine:], answers["llama_server"][n_server:]
        elif "llama-server not built (run bench/build_llama_cpp.sh)" not in notes:
            notes.append("llama-server not built (run bench/build_llama_cpp.sh)")
        if not engine_done:
            answers["engine"] += replay.replay_engine(engine, span.path, strokes, fresh=False, max_tokens=mt)
        answers["engine_nocache"] += replay.replay_engine(
            engine, span.path, strokes[:nocache_n], fresh=True, max_tokens=mt
        )
        try:
            settings = {"threads": THREADS, "n_ctx": N_CTX, "max_tokens": max_tokens, "debounce_ms": 75}
            lsp_answers, status = replay.replay_lsp(strokes, source, span, settings=settings)
            answers["lsp"] += lsp_answers
        except Exception as exc:  # the server is a separate deliverable: report, don't die
            notes.append(f"LSP replay failed: {exc!r}"[:300])
    stats = {k: replay.summarise(k, v).to_json() for k, v in answers.items() if v}
    ratios: dict[str, float] = {}
    base = stats.get("llama_server")
    if base:
        for k in ("engine", "engine_nocache", "lsp"):
            if k in stats:
                ratios[f"{k}/llama_server p50"] = stats[k]["p50_ms"] / base["p50_ms"]
                ratios[f"{k}/llama_server p95"] = stats[k]["p95_ms"] / base["p95_ms"]
                if k == "engine" and stats[k]["p50_model_ms"] == stats[k]["p50_model_ms"]:
                    ratios["engine model calls only/llama_server p50"] = stats[k]["p50_model_ms"] / base["p50_ms"]
    return {"stats": stats, "ratios": ratios, "notes": notes, "last_status": status}


# -- quality ------------------------------------------------------------------------------------------------------


def ablations(config: EngineConfig) -> list[tuple[str, dict[str, Any]]]:
    """Engine options to switch off one at a time, as (label, {config field: value}); only those the engine has.
    Context sources are switched off by zeroing their token budget in ``config.context``."""
    out: list[tuple[str, dict[str, Any]]] = []
    if hasattr(config, "syntax_gate"):
        out.append(("syntax_gate=off", {"syntax_gate": False}))
    ctx = getattr(config, "context", None)
    if ctx is not None and dataclasses.is_dataclass(ctx) and not isinstance(ctx, type):
        sources = [
            f for f in ("scope_tokens", "imports_tokens", "definitions_tokens", "snippets_tokens") if hasattr(ctx, f)
        ]
        if sources:
            out.append(("extra_context=off", {"context": dataclasses.replace(ctx, **{f: 0 for f in sources})}))
    if getattr(config, "prompt_order", None) == "psm":
        out.append(("prompt_order=spm", {"prompt_order": "spm"}))
    return out


def run_quality(engine: Engine, quick: bool, executor: Executor | None) -> dict[str, Any]:
    problems = tasks.load_problems()
    single_all = tasks.single_line_tasks(problems)
    single = tasks.sample_by_problem(single_all, 120) if quick else single_all
    multi = tasks.multi_line_subset(problems, 20 if quick else 40)
    out: dict[str, Any] = {"single_line_total": len(single_all)}
    log(f"quality: {len(single)} single-line tasks")
    sl = quality.run_quality(
        "single-line", engine, single, multi_line=False, max_tokens=24, executor=executor, progress=log
    )
    log(f"quality: {len(multi)} multi-line tasks")
    ml = quality.run_quality(
        "multi-line", engine, multi, multi_line=True, max_tokens=64, executor=executor, progress=log
    )
    out["single"], out["multi"] = sl.to_json(), ml.to_json()
    if executor is not None:
        # verify before suggest on the same single-line suggestions (no new generation): precision vs coverage
        log(f"verify: {len(single)} single-line suggestions against held-out halves of their tests")
        comps = [o.completion for o in sl.outcomes]
        out["verify"] = verify_infill.verify_completions(
            single, comps, [o.total_ms for o in sl.outcomes], executor=executor, progress=log
        )
    # Ablations on the first tasks of the single-line sample; the baseline is those same tasks' results above.
    n_sub = 40 if quick else 200
    subset = single[:n_sub]
    options = ablations(engine.config)
    out["context_options"] = [label for label, _ in options]
    if options:
        base = quality.summarise(f"defaults (first {len(subset)})", sl.outcomes[:n_sub], 0.0)
        out["ablations"] = [base.to_json(False)]
    for label, changes in options:
        saved = {k: getattr(engine.config, k) for k in changes}
        for k, v in changes.items():
            setattr(engine.config, k, v)
        try:
            log(f"quality: {label} on {len(subset)} tasks")
            res = quality.run_quality(label, engine, subset, multi_line=False, max_tokens=24, executor=executor)
            out["ablations"].append(res.to_json(False))
        finally:
            for k, v in saved.items():
                setattr(engine.config, k, v)
    return out


def run_bugs(executor: Executor, base: str) -> dict[str, Any]:
    """The mutation bug set of issue #7, verified in the sandbox; written to ``<stamp>-bugs.json`` for the fixer."""
    t0 = time.perf_counter()
    bugs = verify_bugs(executor, tasks.load_problems(), seed=tasks.DEFAULT_SEED)
    kinds: dict[str, int] = {}
    for b in bugs:
        kinds[b.kind] = kinds.get(b.kind, 0) + 1
    with open(base + "-bugs.json", "w", encoding="utf-8") as fh:
        json.dump([b.to_json() for b in bugs], fh, indent=1)
    log(f"bug set: {len(bugs)} verified bugs in {time.perf_counter() - t0:.0f} s")
    return {"n": len(bugs), "kinds": kinds, "seed": tasks.DEFAULT_SEED, "seconds": time.perf_counter() - t0}


# -- report -------------------------------------------------------------------------------------------------------


def fmt(v: Any, digits: int = 0, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "n/a"
    if pct:
        return f"{100 * v:.1f}%"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


QUALITY_FIRST = (
    "Quality is judged on real repositories first: **bench/RESULTS-repos.md** (the suite of bench/repos.toml, judged "
    "by each repository's own tests, with the previous default and llama-server /infill in the same run; it chose the "
    "default model tier). HumanEval below is a regression check only."
)


def markdown(data: dict[str, Any]) -> str:
    m = data["machine"]
    lines = [
        f"# codeassist benchmark ({'quick' if data['quick'] else 'full'}) — {data['stamp']}",
        "",
        QUALITY_FIRST,
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; threads = {m['threads']}; "
        f"load average at start {', '.join(f'{x:.2f}' for x in m['load_avg_start'])} (shared machine: timings are "
        "noisy, compare ratios measured in the same run). OMP_WAIT_POLICY: llama.cpp anchors "
        f"{m.get('anchor_omp_wait_policy', '?')}, our engine {m.get('engine_omp_wait_policy', '?')}. Model: "
        + data["model"]
        + f". Run took {data['seconds']:.0f} s.",
        "",
        "## Typing replay (keystroke → answer, ms)",
        "",
        "| target | keys | p50 | p95 | p99 | p50 / p95 of model calls | shown | prompt tok | reused | evaluated "
        "| typed-ahead hits | gate drops |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rp = data.get("replay", {})
    for k, s in rp.get("stats", {}).items():
        lines.append(
            f"| {k} | {s['keystrokes']} | {fmt(s['p50_ms'])} | {fmt(s['p95_ms'])} | {fmt(s['p99_ms'])} | "
            f"{fmt(s.get('p50_model_ms'))} / {fmt(s.get('p95_model_ms'))} | "
            f"{s['shown']} | "
            f"{fmt(s['prompt_tokens'])} | {fmt(s['reused_tokens'])} | {fmt(s['evaluated_tokens'])} | "
            f"{fmt(s['cache_hits'])} | {fmt(s['gate_drops'])} |"
        )
    for k, v in rp.get("ratios", {}).items():
        lines.append(f"\nratio {k}: **{v:.2f}**")
    for n in rp.get("notes", []):
        lines.append(f"\nnote: {n}")
    tp = data.get("throughput", {})
    ours, ref = tp.get("ours", {}), tp.get("llama_bench", {})
    lines += [
        "",
        "## Throughput ceiling (tok/s, threads = 2)",
        "",
        "| | prompt eval | decode |",
        "|---|---|---|",
        f"| ours (engine backend) | {fmt(ours.get('prompt_tok_s'), 1)} | {fmt(ours.get('gen_tok_s'), 1)} |",
        f"| llama-bench | {fmt(ref.get('prompt_tok_s'), 1)} | {fmt(ref.get('gen_tok_s'), 1)} |",
    ]
    if ours and ref.get("prompt_tok_s") and ref.get("gen_tok_s"):
        lines.append(
            f"| ratio ours / llama-bench | {ours['prompt_tok_s'] / ref['prompt_tok_s']:.2f} | "
            f"{ours['gen_tok_s'] / ref['gen_tok_s']:.2f} |"
        )
    if "skipped" in ref:
        lines.append(f"\nllama-bench: {ref['skipped']}")
    q = data.get("quality", {})
    lines += [
        "",
        f"## HumanEval infilling quality (of {q.get('single_line_total', '?')} single-line tasks)",
        "",
        "| set | n | exact match | edit sim | pass@1 (sandbox) | shown | syntax err raw | syntax err shown | gate "
        "| median ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in ("single", "multi"):
        s = q.get(key)
        if s:
            lines.append(_qrow(s))
    for s in q.get("ablations", []):
        lines.append(_qrow(s))
    if not q.get("context_options"):
        lines.append(
            "\nContext options on/off: the engine exposes no context switches in EngineConfig yet (not measured)."
        )
    verify = q.get("verify")
    if verify:
        lines += [
            "",
            "## Verify before suggest: single-line suggestions checked against held-out tests",
            "",
            "The verifier runs one half of each problem's asserts; precision is scored on the other half "
            "(`bench/verify_infill.py`).",
            "",
            verify_infill.markdown(verify["summary"]),
        ]
    bugs = data.get("bugs")
    if bugs:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(bugs["kinds"].items()))
        lines.append(
            f"\nBug set (issue #7): {bugs['n']} one-line mutations of canonical solutions that fail their tests in the "
            f"sandbox (seed {bugs['seed']}; {kinds}); verified in {bugs['seconds']:.0f} s."
        )
    if data.get("sandbox_note"):
        lines.append(f"\nsandbox: {data['sandbox_note']}")
    lines += ["", "Raw outputs, per-task scores and per-keystroke latencies: the JSON next to this file.", ""]
    return "\n".join(lines)


def _qrow(s: dict[str, Any]) -> str:
    gates = ", ".join(f"{k} {v}" for k, v in sorted(s["gate_counts"].items()))
    return (
        f"| {s['name']} | {s['n']} | {fmt(s['exact_match'], pct=True)} | {fmt(s['edit_similarity'], 3)} | "
        f"{fmt(s['pass_at_1'], pct=True)} | {fmt(s['shown_rate'], pct=True)} | "
        f"{fmt(s['syntax_error_raw'], pct=True)} | "
        f"{fmt(s['syntax_error_shown'], pct=True)} | {gates} | {fmt(s['median_ms'])} |"
    )


def plot_cdf(stats: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, s in stats.items():
        lat = sorted(s["latencies_ms"])
        if lat:
            ax.step(lat, [(i + 1) / len(lat) for i in range(len(lat))], where="post", label=f"{name} (n={len(lat)})")
    ax.set_xlabel("keystroke → answer latency (ms)")
    ax.set_ylabel("fraction of keystrokes")
    ax.set_xscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run")
    ap.add_argument("--quick", action="store_true", help="small deterministic samples (about 10 minutes on 2 cores)")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: replay,throughput,quality,bugs")
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    started = time.perf_counter()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    os.makedirs(RESULTS, exist_ok=True)
    engine = Engine(EngineConfig(n_threads=THREADS, n_ctx=N_CTX))
    info = engine.load()
    data: dict[str, Any] = {
        "stamp": stamp,
        "quick": args.quick,
        "machine": machine(),
        "model": f"{info.name} ({info.path})",
    }
    log(f"model {info.name} loaded in {info.load_ms:.0f} ms")
    if "throughput" not in skip:
        n_p, n_g = (256, 32) if args.quick else (512, 64)
        data["throughput"] = run_throughput(engine, info.path, n_p, n_g, rounds=2 if args.quick else 3)
        log(f"throughput: {data['throughput']}")
    if "replay" not in skip:
        data["replay"] = run_replay(engine, args.quick, max_tokens=24)
    executor: Executor | None = None
    if "quality" not in skip:
        try:
            executor = Executor()
            ok, reason = executor.health()
            if not ok:
                data["sandbox_note"] = f"sandbox unavailable ({reason}): pass@1 not measured"
                executor.close()
                executor = None
        except Exception as exc:
            data["sandbox_note"] = f"sandbox unavailable ({exc!r}): pass@1 not measured"
            executor = None
        try:
            # HumanEval tasks get a workspace of their own: indexing this repository (where the replay runs) would
            # feed them definitions from our code.
            qengine = Engine(
                EngineConfig(n_threads=THREADS, n_ctx=N_CTX, workspace=tempfile.mkdtemp(prefix="codeassist-he-"))
            )
            data["quality"] = run_quality(qengine, args.quick, executor)
            qengine.close()
            if executor is not None and "bugs" not in skip:
                data["bugs"] = run_bugs(executor, base=os.path.join(RESULTS, stamp))
        finally:
            if executor is not None:
                executor.close()
    data["seconds"] = time.perf_counter() - started
    base = os.path.join(RESULTS, stamp)
    with open(base + ".json", "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, default=str)
    md = markdown(data)
    if data.get("replay", {}).get("stats"):
        plot_cdf(data["replay"]["stats"], base + "-latency-cdf.png")
        md += f"\nLatency CDF: `bench/results/{stamp}-latency-cdf.png`.\n"
    with open(base + ".md", "w", encoding="utf-8") as fh:
        fh.write(md)
    shutil.copyfile(base + ".md", os.path.join(ROOT, "bench", "RESULTS.md"))
    log(f"wrote {base}.json/.md; total {data['seconds']:.0f} s")
    print(md)
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
