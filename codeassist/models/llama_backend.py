"""In-process llama.cpp backend (llama-cpp-python), with our own FIM prompt and generation loop.

Why our own loop instead of ``Llama.create_completion``:
- its ``suffix=`` FIM path is broken upstream (FIM token ids hard-coded to 0), so we pass token ids we built;
- we need a cancel check and a streaming callback *between tokens* so a newer keystroke wins at once;
- we want exact accounting of reused vs evaluated prompt tokens, since prefix reuse is where CPU latency is won.

The model's KV cache holds the last prompt plus what was generated; the next prompt reuses the longest common prefix
of token ids and evaluates only the rest.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from codeassist.errors import ModelError
from codeassist.healing import Healer, VocabIndex
from codeassist.models import kv_reuse
from codeassist.models.avoid import Steer
from codeassist.models.backend import CancelCheck, Generation, GenerationParams, ModelInfo, OnText
from codeassist.models.decoding import Choice, TextOutput, choose, lookup_draft
from codeassist.models.families import marker_token_ids, vocab_lookup
from codeassist.models.fim import FimFormat, VocabIds, detect_fim
from codeassist.models.gguf import read_gguf
from codeassist.models.llama_log import load_output
from codeassist.models.memory import check_memory
from codeassist.models.omp import apply_wait_policy
from codeassist.models.prompt_eval import PromptRate, evaluate_chunks

# Token attributes that never belong in generated text (llama.h's llama_token_attr: UNKNOWN, UNUSED, CONTROL).
_NEVER_TEXT = (1 << 0) | (1 << 1) | (1 << 3)


def default_threads() -> int:
    return max(1, min(os.cpu_count() or 2, 8))


class LlamaBackend:
    """A GGUF model loaded in this process."""

    def __init__(
        self,
        path: str,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_batch: int = 512,
        require_fim: bool = True,
        n_gpu_layers: int = 0,
        cache_reuse: int = 0,
    ) -> None:
        self.cache_reuse = cache_reuse  # min run length for KV-shift chunk reuse (kv_reuse.py); 0 = off
        self.prompt_rate = PromptRate()  # sizes prompt chunks (prompt_eval.py)
        gguf = read_gguf(path)
        check_memory(gguf, n_ctx)
        threads = n_threads or default_threads()
        started = time.perf_counter()
        wait_policy = apply_wait_policy()  # before libgomp loads with llama_cpp (it reads the policy once)
        try:
            # llama_cpp loads its native library on import: only once a model is loaded
            import llama_cpp
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ModelError(
                f"llama-cpp-python is not importable ({exc})", hint="run `make setup` to build it"
            ) from exc
        # verbose=True on purpose: with verbose=False llama-cpp-python dup2()s fds 1 and 2 to /dev/null for the whole
        # load, process-wide, which swallowed the LSP replies other threads wrote meanwhile (and any stderr logs).
        # Its log lines and prints go to our logger instead (codeassist.models.llama_log).
        with load_output() as log:
            try:
                with kv_reuse.two_sequences() if cache_reuse > 0 else contextlib.nullcontext():
                    self._llm: Any = llama_cpp.Llama(
                        model_path=path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, n_batch=n_batch,
                        n_gpu_layers=n_gpu_layers, logits_all=False, use_mmap=True, verbose=True,
                    )  # fmt: skip
            except (ValueError, RuntimeError, OSError) as exc:
                text = "".join(log)
                if "unknown model architecture" in text:
                    reason = f"architecture {gguf.architecture!r} is not supported by this llama.cpp build"
                else:
                    last = [ln.strip() for ln in log if ln.strip()][-3:]
                    reason = "; ".join(last) or str(exc)
                raise ModelError(f"llama.cpp could not load {path}: {reason}") from exc
        load_ms = (time.perf_counter() - started) * 1000
        self._model = self._llm._model
        self._vocab = self._model.vocab
        self._piece = ctypes.create_string_buffer(256)  # token_bytes' buffer (grown when a token needs more)
        self._ctx = self._llm._ctx.ctx
        self._n_vocab = int(self._llm.n_vocab())
        fim: FimFormat | None
        exact = vocab_lookup(gguf.tokens)  # exact token texts: finds markers stored as normal pieces (▁<EOT>)

        def lookup(text: str) -> int | None:
            found = exact(text)
            return found if found is not None else self.token_id_for_text(text)

        try:
            fim = detect_fim(self._vocab_ids(), lookup, model_name=gguf.name)
        except ModelError:
            if require_fim:
                raise
            fim = None
        self.info = ModelInfo(
            path=path, name=gguf.name, architecture=gguf.architecture, n_ctx=n_ctx,
            n_ctx_train=gguf.context_length, n_threads=threads, load_ms=load_ms, fim=fim,
            chat_template=gguf.chat_template, system_info=llama_cpp.llama_print_system_info().decode(),
            omp_wait_policy=wait_policy,
        )  # fmt: skip
        markers = marker_token_ids(gguf.tokens, gguf.metadata.get("tokenizer.ggml.token_type"))
        self._never_emit = (fim.control_ids if fim else frozenset()) | markers
        self._vocab_index: VocabIndex | None = None

    # -- vocabulary -------------------------------------------------------------------------------------------------

    def _vocab_ids(self) -> VocabIds:
        # llama_cpp loads its native library on import: only once a model is loaded
        import llama_cpp

        v = self._vocab
        return VocabIds(
            prefix=llama_cpp.llama_vocab_fim_pre(v), suffix=llama_cpp.llama_vocab_fim_suf(v),
            middle=llama_cpp.llama_vocab_fim_mid(v), pad=llama_cpp.llama_vocab_fim_pad(v),
            repo=llama_cpp.llama_vocab_fim_rep(v), file_sep=llama_cpp.llama_vocab_fim_sep(v),
            eot=llama_cpp.llama_vocab_eot(v), eos=llama_cpp.llama_vocab_eos(v), bos=llama_cpp.llama_vocab_bos(v),
            add_bos=bool(llama_cpp.llama_vocab_get_add_bos(v)), space_prefix=self._adds_space_prefix(),
        )  # fmt: skip

    def _adds_space_prefix(self) -> bool:
        """Whether tokenizing puts a space before the text (SentencePiece with add_space_prefix: CodeLlama)."""
        ids = self._llm.tokenize(b"a", add_bos=False, special=False)
        return bool(ids) and self.token_bytes(int(ids[0])).startswith(b" ")

    def token_id_for_text(self, text: str) -> int | None:
        """The id of the single special token spelled ``text``, or None."""
        try:
            ids = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        except RuntimeError:
            return None
        if len(ids) == 1 and self._is_special(ids[0]):
            return int(ids[0])
        return None

    def _is_special(self, token: int) -> bool:
        # llama_cpp loads its native library on import: only once a model is loaded
        import llama_cpp

        attr = int(llama_cpp.llama_vocab_get_attr(self._vocab, token))
        return bool(attr & (llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED))

    def is_end(self, token: int) -> bool:
        """End of generation: EOG, any FIM/family marker, any control or unknown token (StarCoder2's
        ``<jupyter_text>``, Qwen's ``<|im_start|>``), unused padding, or a marker-looking user-defined token: none
        of them belongs inside code."""
        # llama_cpp loads its native library on import: only once a model is loaded
        import llama_cpp

        if llama_cpp.llama_vocab_is_eog(self._vocab, token) or token in self._never_emit:
            return True
        attr = int(llama_cpp.llama_vocab_get_attr(self._vocab, token))
        return bool(attr & _NEVER_TEXT)

    def tokenize(self, text: str) -> list[int]:
        if not text:
            return []
        return [int(t) for t in self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)]

    def tokenize_special(self, text: str) -> list[int]:
        """Tokenize text that may contain special-token markup (chat templates), never user code."""
        return [int(t) for t in self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)]

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self.token_bytes(t) for t in tokens).decode("utf-8", errors="replace")

    def token_bytes(self, token: int) -> bytes:
        """The bytes of one token (special tokens: empty). Not llama-cpp-python's ``detokenize``: its 32-byte buffer
        turns the 240 longer Qwen2.5 tokens (runs of spaces, ``----`` rules) into nothing."""
        # llama_cpp loads its native library on import: only once a model is loaded
        import llama_cpp

        n = llama_cpp.llama_token_to_piece(self._vocab, token, self._piece, len(self._piece), 0, False)
        if n < 0:
            self._piece = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, self._piece, len(self._piece), 0, False)
        return ctypes.string_at(self._piece, n)

    @property
    def cached_tokens(self) -> list[int]:
        return [int(t) for t in self._llm.input_ids[: self._llm.n_tokens]]

    # -- evaluation -------------------------------------------------------------------------------------------------

    def _sync_prompt(
        self, prompt: Sequence[int], cancel: CancelCheck | None, gen: Generation, deadline: float | None = None
    ) -> str | None:
        """Make the KV cache hold ``prompt``; None when it does, else why it stopped midway ("cancelled", or
        "time_cap": the ``deadline`` came first). What was evaluated by then stays cached (prompt_eval.py)."""
        prompt = list(prompt)
        if len(prompt) >= self.info.n_ctx:
            raise ModelError(
                f"prompt of {len(prompt)} tokens does not fit the context of {self.info.n_ctx} tokens",
                hint="raise n_ctx or lower the context budget",
            )
        llm = self._llm
        cached = llm.input_ids[: llm.n_tokens]
        n = kv_reuse.common_prefix(cached, prompt)
        insert: kv_reuse.Insert | None = None
        # nothing moved to position 0 (n == 0): its cell would not be a first token's (a test answered nothing)
        if self.cache_reuse > 0 and 0 < n < min(len(cached), len(prompt) - 1) and kv_reuse.can_shift(llm):
            cached_list = cached.tolist()
            moves, shifted_to = kv_reuse.plan(cached_list, prompt, n, self.cache_reuse)
            if moves:
                kv_reuse.apply(llm, moves)
                gen.shifted_tokens, n = sum(m.length for m in moves), shifted_to
            else:
                insert = kv_reuse.plan_insert(cached_list, prompt, n, self.cache_reuse, self._is_special)
        # We need fresh logits for the last prompt token, so re-evaluate at least that one.
        n = min(n, len(prompt) - 1)
        gen.prompt_tokens, gen.reused_tokens = len(prompt), n
        llm.n_tokens = n
        started = time.perf_counter()
        stopped = None
        if insert is not None:  # the new tokens below the parked run, then the run back in sequence 0
            kv_reuse.park(llm, insert)
            below = functools.partial(kv_reuse.eval_below_parked, llm)
            stopped = self._eval(below, prompt[n : insert.dst], gen, cancel, deadline)
            gen.shifted_tokens = kv_reuse.unpark(llm, insert, prompt, keep=stopped is None)
            gen.reused_tokens += gen.shifted_tokens
        if stopped is None:
            stopped = self._eval(llm.eval, prompt[llm.n_tokens :], gen, cancel, deadline)
        gen.prompt_complete = stopped is None
        gen.prompt_ms = (time.perf_counter() - started) * 1000
        return stopped

    def _eval(self, eval_fn: Any, tokens: Sequence[int], gen: Generation, cancel: CancelCheck | None,
              deadline: float | None) -> str | None:  # fmt: skip
        done = evaluate_chunks(eval_fn, tokens, n_batch=int(self._llm.n_batch), rate=self.prompt_rate, cancel=cancel,
                               deadline=deadline)  # fmt: skip
        gen.evaluated_tokens += done.evaluated
        gen.prompt_chunk_ms = max(gen.prompt_chunk_ms, done.max_chunk_ms)
        return done.stopped

    def evaluate(self, prompt: Sequence[int], *, cancel: CancelCheck | None = None) -> Generation:
        gen = Generation(text="", stop_reason="evaluated")
        if not prompt:
            return gen
        stopped = self._sync_prompt(prompt, cancel, gen)
        if stopped is not None:
            gen.stop_reason = stopped
        return gen

    # -- generation -------------------------------------------------------------------------------------------------

    def vocab_index(self) -> VocabIndex:
        """The vocabulary's token bytes sorted for prefix queries (token healing); built on first use, ~0.5 s."""
        if self._vocab_index is None:
            self._vocab_index = VocabIndex.build(
                self._n_vocab, self.token_bytes, lambda t: self._is_special(t) or self.is_end(t)
            )
        return self._vocab_index

    def _choose(self, params: GenerationParams, rng: np.random.Generator, healer: Healer | None) -> Choice | None:
        """The next token after the last decoded one; while healing, only tokens consistent with the healed text
        (None when there is none, which a byte-level vocabulary never allows)."""
        allowed = healer.candidates() if healer is not None and healer.active else None
        if allowed is not None and allowed.shape[0] == 0:
            return None
        return choose(self._logits(-1), params, rng, allowed, score=params.logprobs)

    def generate(
        self,
        prompt: Sequence[int],
        params: GenerationParams,
        *,
        on_text: OnText | None = None,
        cancel: CancelCheck | None = None,
    ) -> Generation:
        gen = Generation(text="")
        stopped = self._sync_prompt(prompt, cancel, gen, params.deadline)
        if stopped is not None:
            gen.stop_reason = stopped
            return gen
        rng = np.random.default_rng(params.seed)
        healer = Healer(self.vocab_index(), params.heal) if params.heal else None
        out = TextOutput(gen, params.heal, on_text, scores=params.logprobs)
        room = self.info.n_ctx - len(prompt) - 1
        started = time.perf_counter()
        deadline = started + params.time_budget_ms / 1000 if params.time_budget_ms else None
        pending: int | None = None  # chosen but not yet evaluated: only evaluate when we need its successor
        steer = Steer.of(params.avoid, params.heal, self.vocab_index, self.is_end, self.token_bytes)
        gen.avoid_honoured = bool(params.avoid)
        drafting = params.draft_tokens > 0 and params.temperature <= 0 and steer is None
        while gen.stop_reason == "eot" and not out.stopped:
            if len(gen.tokens) - gen.healed_tokens >= params.max_tokens or len(gen.tokens) >= room:
                gen.stop_reason = "max_tokens" if len(gen.tokens) < room else "context_full"
                break
            if cancel is not None and cancel():
                gen.stop_reason = "cancelled"
                break
            if deadline is not None and time.perf_counter() > deadline:
                gen.stop_reason = "time_budget"
                break
            if params.deadline is not None and time.monotonic() > params.deadline:
                gen.stop_reason = "time_cap"
                break
            healing = healer is not None and healer.active
            if pending is not None and drafting and not healing:
                steps = self._draft_step(pending, [*prompt, *gen.tokens], params, rng)
                gen.drafted_tokens += len(steps) - 1
            else:
                if pending is not None:
                    self._llm.eval([pending])
                choice = self._choose(params, rng, healer)
                if choice is not None and steer is not None and not healing:
                    rewind = functools.partial(self._rewind, prompt, gen.tokens)
                    choice = steer.redirect(choice, out, params, rng, rewind, lambda: self._logits(-1))
                steps = [choice] if choice is not None else []
            if not steps:
                break  # nothing consistent with the healed text: no suggestion
            for choice in steps:
                if self.is_end(choice.token):
                    out.stopped = True
                    break
                if len(gen.tokens) - gen.healed_tokens >= params.max_tokens or len(gen.tokens) >= room:
                    gen.stop_reason = "max_tokens" if len(gen.tokens) < room else "context_full"
                    break
                data = self.token_bytes(choice.token)
                if healer is not None and healer.active:
                    healer.advance(data)
                    gen.healed_tokens += 1
                pending = choice.token
                if not out.emit(choice, data):
                    gen.stop_reason = "callback"
                    break
        gen.text = out.finish()
        gen.healed = params.heal
        gen.branched = steer.branched if steer is not None else 0
        gen.generation_ms = (time.perf_counter() - started) * 1000
        return gen

    def _rewind(self, prompt: Sequence[int], tokens: Sequence[int], at: int) -> None:
        """Make the last logits those after ``at`` of the generated ``tokens`` (a draw branching off a failed text,
        avoid.py): the KV cache holds that prefix, so only its last token is evaluated again."""
        self._llm.n_tokens = len(prompt) + at - 1
        self._llm.eval([[*prompt, *tokens][len(prompt) + at - 1]])

    # -- prompt-lookup decoding ------------------------------------------------------------------------------------

    def _draft_step(
        self, pending: int, history: Sequence[int], params: GenerationParams, rng: np.random.Generator
    ) -> list[Choice]:
        """Evaluate ``pending`` plus a drafted continuation in one batch and keep the drafted tokens that greedy
        decoding would have produced. Returns the accepted drafts followed by the next token (greedy after the last
        accepted one), each scored. The KV cache keeps ``pending`` and the accepted drafts; the rejected ones are
        dropped."""
        # llama_cpp loads its native library on import: only once a model is loaded
        import llama_cpp

        draft = lookup_draft(history, params.draft_tokens)
        if not draft:
            self._llm.eval([pending])
            return [choose(self._logits(-1), params, rng, score=params.logprobs)]
        llm = self._llm
        batch = [pending, *draft]
        n_past = llm.n_tokens
        llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
        llm._batch.set_batch(batch=batch, n_past=n_past, logits_all=True)
        llm._ctx.decode(llm._batch)
        llm.input_ids[n_past : n_past + len(batch)] = batch
        steps: list[Choice] = []
        for i in range(len(batch)):
            steps.append(choose(self._logits(i), params, rng, score=params.logprobs))
            if i == len(draft) or steps[-1].token != draft[i]:
                break
        accepted = len(steps) - 1
        llm.n_tokens = n_past + 1 + accepted  # the next eval drops the rejected tail (kv_cache_seq_rm from here)
        llama_cpp.llama_memory_seq_rm(llm._ctx.memory, 0, llm.n_tokens, -1)
        return steps

    def _logits(self, i: int) -> Any:
        """The logits after token ``i`` of the last decoded batch (-1: its last token), as a view, not a copy."""
        # llama_cpp loads its native library on import: only once a model is loaded
        import llama_cpp

        ptr = llama_cpp.llama_get_logits_ith(self._ctx, i)
        return np.ctypeslib.as_array(ptr, shape=(self._n_vocab,))

    def close(self) -> None:
        llm = getattr(self, "_llm", None)
        if llm is not None:
            with contextlib.suppress(Exception):
                llm.close()
            self._llm = None
