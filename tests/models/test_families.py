"""The seed families end to end through the real llama.cpp, on tiny GGUFs with each family's real vocabulary:
FIM ids detected, the evaluated prompt exactly the family's documented layout, every control token a stop, nothing
special in the output, and ``doctor`` naming the family."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest
from render import esc, render
from tiny_gguf import CONTROL, FAMILY_SPECS, USER_DEFINED, bpe_vocab

from codeassist.engine import CompletionRequest, Engine, EngineConfig
from codeassist.models.backend import GenerationParams
from codeassist.models.families import BY_NAME, special_texts_in
from codeassist.models.gguf import read_gguf
from codeassist.models.llama_backend import LlamaBackend

FAMILIES = tuple(FAMILY_SPECS)
PREFIX = "def add(a, b):\n    return "
SUFFIX = "\n\n\nprint(add(2, 3))\n"
HELPER = "def helper(x):\n    return x + 1\n"
MAIN = "from util import helper\n\n\ndef total(n):\n    return "
MAIN_SUFFIX = "\n"
# The documented PSM layout of each family for PREFIX/SUFFIX with no other files (BOS where the vocabulary adds it).
EXPECTED = {
    # Meta: "<PRE> {pre} <SUF>{suf} <MID>" = <s> ▁<PRE> encode(pre) ▁<SUF> encode_infilling(suf) ▁<MID>
    "codellama": "<s>▁<PRE>▁" + esc(PREFIX) + "▁<SUF>" + esc(SUFFIX) + "▁<MID>",
    "starcoder2": "<fim_prefix>" + PREFIX + "<fim_suffix>" + SUFFIX + "<fim_middle>",
    "deepseek-coder": "<｜begin▁of▁sentence｜><｜fim▁begin｜>" + PREFIX + "<｜fim▁hole｜>" + SUFFIX + "<｜fim▁end｜>",
    "codegemma": "<bos><|fim_prefix|>" + esc(PREFIX) + "<|fim_suffix|>" + esc(SUFFIX) + "<|fim_middle|>",
    "qwen2.5-coder": "<|fim_prefix|>" + PREFIX + "<|fim_suffix|>" + SUFFIX + "<|fim_middle|>",
}


def _engine(path: str, root: Path, **kw: object) -> Engine:
    # the documented layout, whole: token healing (on by default) would hold the prefix's last word back
    kw.setdefault("token_healing", False)
    return Engine(EngineConfig(model=path, n_ctx=1024, n_threads=1, max_tokens=8, workspace=str(root), **kw))  # type: ignore[arg-type]


def _evaluated_prompt(engine: Engine, text: str, line: int, col: int, path: str) -> str:
    """Complete once and render the prompt llama.cpp actually evaluated (the KV cache's first tokens)."""
    result = engine.complete(CompletionRequest(text=text, line=line, column=col, path=path))
    backend = engine.backend
    assert isinstance(backend, LlamaBackend)
    ids = backend.cached_tokens[: result.timings.prompt_tokens]
    g = read_gguf(backend.info.path, with_tensors=False)
    types = g.metadata["tokenizer.ggml.token_type"]
    assert isinstance(types, list)
    return render(ids, g.tokens, types, bpe=FAMILY_SPECS[_family(engine)].tokenizer == "gpt2")


def _family(engine: Engine) -> str:
    fim = engine.backend.info.fim
    assert fim is not None
    return fim.family


@pytest.mark.parametrize("declared", [True, False], ids=["ids-declared", "found-by-text"])
@pytest.mark.parametrize("family", FAMILIES)
def test_fim_ids_detected_from_the_vocabulary(tiny_models: dict[tuple[str, bool], str], family: str,
                                              declared: bool) -> None:  # fmt: skip
    backend = LlamaBackend(tiny_models[family, declared], n_ctx=256, n_threads=1)
    try:
        fim = backend.info.fim
        assert fim is not None and fim.family == family and fim.source == "vocab"
        g = read_gguf(backend.info.path, with_tensors=False)
        ids = {t: i for i, t in enumerate(g.tokens)}
        spec = BY_NAME[family]
        assert (fim.prefix, fim.suffix, fim.middle) == (ids[spec.prefix], ids[spec.suffix], ids[spec.middle])
        # The family's stop markers are stops even where llama.cpp does not know them (CodeLlama's ▁<EOT>).
        assert {ids[t] for t in spec.stops if t in ids} <= fim.stop_ids
        if spec.repo:  # StarCoder2's <repo_name>/<file_sep> are not among llama.cpp's detected texts
            assert (fim.repo, fim.file_sep) == (ids[spec.repo], ids[spec.file_sep])
        assert fim.space_prefix == (family == "codellama")
        assert (fim.bos is not None) == FAMILY_SPECS[family].add_bos
    finally:
        backend.close()


@pytest.mark.parametrize("family", FAMILIES)
def test_prompt_is_the_documented_layout(tiny_models: dict[tuple[str, bool], str], family: str,
                                         tmp_path: Path) -> None:  # fmt: skip
    (tmp_path / "main.py").write_text(PREFIX + SUFFIX)
    engine = _engine(tiny_models[family, False], tmp_path)
    try:
        rendered = _evaluated_prompt(engine, PREFIX + SUFFIX, 1, 11, str(tmp_path / "main.py"))
        assert rendered == EXPECTED[family]
    finally:
        engine.close()


def test_codellama_suffix_first_layout(tiny_models: dict[tuple[str, bool], str], tmp_path: Path) -> None:
    """Meta's SPM: "<PRE> <SUF>{suf} <MID> {pre}" — the suffix without, the prefix with the leading space."""
    (tmp_path / "main.py").write_text(PREFIX + SUFFIX)
    engine = _engine(tiny_models["codellama", True], tmp_path, prompt_order="spm")
    try:
        rendered = _evaluated_prompt(engine, PREFIX + SUFFIX, 1, 11, str(tmp_path / "main.py"))
        assert rendered == "<s>▁<PRE>▁<SUF>" + esc(SUFFIX) + "▁<MID>▁" + esc(PREFIX)
    finally:
        engine.close()


@pytest.mark.parametrize(
    ("family", "layout"),
    [
        # StarCoder2 paper: <repo_name>name<file_sep>path\ncode<file_sep><fim_prefix>path\nprefix<fim_suffix>…
        ("starcoder2", "<repo_name>{repo}<file_sep>util.py\n{code}<file_sep><fim_prefix>main.py\n{prefix}"
                       "<fim_suffix>{suffix}<fim_middle>"),
        # Qwen2.5-Coder model card: <|repo_name|>name\n<|file_sep|>path\ncode\n<|file_sep|>path\n<|fim_prefix|>…
        ("qwen2.5-coder", "<|repo_name|>{repo}\n<|file_sep|>util.py\n{code}\n<|file_sep|>main.py\n<|fim_prefix|>"
                          "{prefix}<|fim_suffix|>{suffix}<|fim_middle|>"),
    ],
)  # fmt: skip
def test_repository_layout(tiny_models: dict[tuple[str, bool], str], tmp_path: Path, family: str,
                           layout: str) -> None:  # fmt: skip
    root = tmp_path / "proj"
    root.mkdir()
    (root / "util.py").write_text(HELPER)
    (root / "main.py").write_text(MAIN + MAIN_SUFFIX)
    engine = _engine(tiny_models[family, False], root)
    try:
        rendered = _evaluated_prompt(engine, MAIN + MAIN_SUFFIX, 4, 11, str(root / "main.py"))
    finally:
        engine.close()
    code = HELPER.rstrip("\n")  # the definition piece: the helper's lines
    assert rendered == layout.format(repo="proj", code=code, prefix=MAIN, suffix=MAIN_SUFFIX), rendered


def _never_text_ids(path: str, family: str) -> tuple[set[int], set[int]]:
    """(ids that must stop generation, some ordinary ids that must not)."""
    g = read_gguf(path, with_tensors=False)
    types = g.metadata["tokenizer.ggml.token_type"]
    assert isinstance(types, list)
    spec = BY_NAME[family]
    ids = {t: i for i, t in enumerate(g.tokens)}
    special = {i for i, k in enumerate(types) if k in (CONTROL, 2, 5)}  # control, unknown, unused
    special |= {ids[t] for t in spec.all_texts if t in ids}
    special |= {i for i, k in enumerate(types) if k == USER_DEFINED and g.tokens[i].lstrip("▁").startswith("<")}
    ordinary = {ids[t] for t in ("a", "b", "(", ")", "return", "def") if t in ids}
    return special, ordinary


@pytest.mark.parametrize("family", FAMILIES)
def test_every_control_token_stops_and_nothing_special_is_emitted(tiny_models: dict[tuple[str, bool], str],
                                                                  family: str) -> None:  # fmt: skip
    path = tiny_models[family, False]
    special, ordinary = _never_text_ids(path, family)
    backend = LlamaBackend(path, n_ctx=256, n_threads=1)
    try:
        assert not [t for t in special if not backend.is_end(t)]
        assert ordinary and not [t for t in ordinary if backend.is_end(t)]
        fim = backend.info.fim
        assert fim is not None
        prompt = [fim.prefix, *backend.tokenize(PREFIX), fim.suffix, *backend.tokenize(SUFFIX), fim.middle]
        # Random weights sampled hot emit random tokens: specials come up often and must end generation unseen.
        stops = 0
        for seed in range(16):
            gen = backend.generate(prompt, GenerationParams(max_tokens=48, temperature=2.0, top_p=1.0, seed=seed))
            assert not special & set(gen.tokens), gen.tokens
            assert not special_texts_in(gen.text, BY_NAME[family]), gen.text
            stops += gen.stop_reason == "eot"
        assert stops >= 4, f"only {stops}/16 generations met a special token: the check proved little"
    finally:
        backend.close()


def test_cli_complete_and_doctor_name_the_family(tiny_models: dict[tuple[str, bool], str], tmp_path: Path) -> None:
    src = tmp_path / "main.py"
    src.write_text(PREFIX + SUFFIX)
    for family in ("codellama", "starcoder2"):
        model = tiny_models[family, False]
        proc = subprocess.run(
            [sys.executable, "-m", "codeassist.cli", "complete", "--model", model, "--threads", "1",
             "--n-ctx", "1024", "--verify", "off", "--json", f"{src}:2:12"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert not special_texts_in(data["raw_text"], BY_NAME[family])
        proc = subprocess.run(
            [sys.executable, "-m", "codeassist.cli", "doctor", "--json", "--model", model, "--threads", "1"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
        assert checks["model load"]["ok"] and f"FIM {family} (vocab)" in checks["model load"]["detail"]
        assert f"vocabulary: {family} FIM markers" in checks["model"]["detail"]


def test_doctor_names_the_family_of_a_gguf_llama_cpp_cannot_load(tmp_path: Path) -> None:
    """The family comes from the header's vocabulary, so even an architecture this llama.cpp lacks is described."""
    path = str(tmp_path / "future.gguf")
    w = gguf.GGUFWriter(path, "some-future-arch")
    tokens, merges, types = bpe_vocab(FAMILY_SPECS["starcoder2"])
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_tensor("token_embd.weight", np.zeros((len(tokens), 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    proc = subprocess.run([sys.executable, "-m", "codeassist.cli", "doctor", "--json", "--model", path],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert "vocabulary: starcoder2 FIM markers" in checks["model"]["detail"]
    assert not checks["model load"]["ok"] and "some-future-arch" in checks["model load"]["detail"]
    assert proc.returncode == 1


@pytest.mark.parametrize("family", ["starcoder2", "deepseek-coder", "codegemma", "qwen2.5-coder"])
def test_text_prompt_matches_the_token_prompt(tiny_models: dict[tuple[str, bool], str], family: str,
                                              tmp_path: Path) -> None:  # fmt: skip
    """The FIM text sent to OpenAI-compatible servers is the token layout spelled out: the family's own tokenizer,
    parsing special tokens, turns it into the very ids (BOS aside: servers add it). Not CodeLlama: through text, a
    SentencePiece tokenizer puts its space before the suffix too (see families.py)."""
    from codeassist.context.assemble import assemble_context
    from codeassist.context.parsing import Document
    from codeassist.context.symbols import WorkspaceIndex
    from codeassist.prompt import FimJob

    root = tmp_path / "proj"
    root.mkdir()
    (root / "util.py").write_text(HELPER)
    (root / "main.py").write_text(MAIN + MAIN_SUFFIX)
    index = WorkspaceIndex(str(root))
    index.build()
    ctx = assemble_context(Document(MAIN + MAIN_SUFFIX, path=str(root / "main.py")), len(MAIN), index=index)
    job = FimJob(ctx, repo_name="proj")
    backend = LlamaBackend(tiny_models[family, False], n_ctx=512, n_threads=1)
    try:
        fim = backend.info.fim
        assert fim is not None
        tokens = job.tokens(fim, backend.tokenize)
        text = job.text(family)
        assert text.layout == tokens.layout == ("repo" if BY_NAME[family].repo else "comments")
        expected = tokens.tokens[1:] if fim.bos is not None else tokens.tokens
        assert backend.tokenize_special(text.text) == expected
    finally:
        backend.close()
