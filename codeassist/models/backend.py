"""The model interface the engine talks to.

Why an interface: the in-process llama.cpp backend is the default, but a remote llama-server (``/infill``) or an
OpenAI-compatible ``/v1/completions`` endpoint must slot in later without touching callers. So callers speak only in
token ids and a few plain dataclasses; prefix reuse is the backend's job and is reported back (``reused_tokens``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from codeassist.models.fim import FimFormat

# Called with the text generated so far (decoded, complete UTF-8 only); return False to stop generating.
OnText = Callable[[str], bool]
# Polled between tokens and between prompt batches; return True to abandon the request.
CancelCheck = Callable[[], bool]


@dataclass
class GenerationParams:
    max_tokens: int = 64
    temperature: float = 0.0  # 0 = greedy: deterministic, and what FIM completion wants
    top_p: float = 0.95
    seed: int = 0
    time_budget_ms: float | None = None  # hard cap on generation time (prompt evaluation excluded)
    # time.monotonic() by which the model stops, prompt evaluation included (stop_reason "time_cap"); a prompt cut
    # short stays cached as far as it was evaluated, so the next request resumes from there
    deadline: float | None = None
    # Prompt-lookup decoding (greedy only): when the last tokens already occurred in the prompt or output, draft up
    # to this many of the tokens that followed and check them in one batch; 0 = off. Output is the greedy output up
    # to rounding: a batch computes logits slightly differently (75 of 80 bench outputs identical).
    draft_tokens: int = 0
    # Token healing (codeassist/healing.py): text removed from the end of the prompt that the generation must start
    # with. The first tokens are constrained to be consistent with it; ``text`` and ``on_text`` exclude it.
    heal: str = ""
    # Score each token (log-probability and top-2 margin, for the confidence features); ~1% of a decode step.
    logprobs: bool = True
    # Texts known to fail here (codeassist/alternatives.py): the draw never finishes one of them — it branches off
    # where the model had an alternative (codeassist/models/avoid.py). Only the in-process backend can (it owns the
    # logits); the others ignore it and leave ``Generation.avoid_honoured`` False.
    avoid: tuple[str, ...] = ()
    # Texts at which ``on_text`` would stop the generation anyway (a single-line completion's newline). A remote
    # server is told them so it stops by itself: stopping it by closing the stream leaves its slot decoding until it
    # notices (2–3 tokens), and the next request waits for that (~100 ms measured, bench/remote_overhead.py). The
    # in-process backend ignores them: its callback stops at once.
    stop: tuple[str, ...] = ()


@dataclass
class Generation:
    """What one request produced, with the timings that explain its latency."""

    text: str
    tokens: list[int] = field(default_factory=list)
    stop_reason: str = "eot"  # eot | max_tokens | callback | cancelled | time_budget | time_cap | context_full
    drafted_tokens: int = 0  # prompt-lookup drafts accepted (included in ``tokens``)
    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens whose KV cells were reused (the common prefix + shifted runs)
    shifted_tokens: int = 0  # of which moved into place by KV-shift chunk reuse
    evaluated_tokens: int = 0
    prompt_complete: bool = True  # False: prompt evaluation stopped midway (cancel or deadline), nothing generated
    prompt_chunk_ms: float = 0.0  # the longest prompt chunk: how late a cancel or deadline could be noticed
    prompt_ms: float = 0.0
    generation_ms: float = 0.0
    # Per generated token (when ``GenerationParams.logprobs``): natural-log probability of the chosen token, the
    # margin log p(best) - log p(runner-up), and the length of ``text`` once it was emitted (0 while healing).
    # Healing tokens are scored against the tokens consistent with the healed text (codeassist/models/sampling.py).
    token_logprobs: list[float] = field(default_factory=list)
    token_margins: list[float] = field(default_factory=list)
    token_ends: list[int] = field(default_factory=list)
    healed: str = ""  # GenerationParams.heal, when the backend honoured it
    healed_tokens: int = 0  # leading entries of ``tokens`` that produced ``healed`` (and maybe more)
    avoid_honoured: bool = False  # GenerationParams.avoid was applied (False: none given, or a remote backend)
    branched: int = 0  # times the draw was turned off a text in GenerationParams.avoid

    @property
    def total_ms(self) -> float:
        return self.prompt_ms + self.generation_ms


@dataclass
class ModelInfo:
    path: str
    name: str
    architecture: str
    n_ctx: int
    n_ctx_train: int | None
    n_threads: int
    load_ms: float
    fim: FimFormat | None
    chat_template: str | None = None
    system_info: str = ""
    omp_wait_policy: str = ""  # OMP_WAIT_POLICY in effect for llama.cpp's threads ("" = libgomp's default)


class ModelBackend(Protocol):
    """A loaded model. Implementations need not be thread-safe: the engine serialises calls."""

    info: ModelInfo

    def tokenize(self, text: str) -> list[int]:
        """Tokenize user text: no BOS, special-token text is *not* parsed (a literal ``<|fim_prefix|>`` in a
        file stays plain text)."""
        ...

    def detokenize(self, tokens: Sequence[int]) -> str: ...

    def evaluate(self, prompt: Sequence[int], *, cancel: CancelCheck | None = None) -> Generation:
        """Bring the model's cache up to ``prompt`` (reusing the longest common prefix) without generating.
        Used to warm the cache while the user pauses."""
        ...

    def generate(
        self,
        prompt: Sequence[int],
        params: GenerationParams,
        *,
        on_text: OnText | None = None,
        cancel: CancelCheck | None = None,
    ) -> Generation:
        """Evaluate ``prompt`` with prefix reuse, then generate until EOT/EOS/any FIM control token,
        ``max_tokens``, ``on_text`` returning False, ``cancel`` or the time budget. Special tokens never reach
        the returned text. With ``params.heal`` the first tokens must spell it out (token healing) and neither
        ``on_text`` nor the returned text repeat it; tokens spent on it do not count against ``max_tokens``."""
        ...

    def close(self) -> None: ...
