"""The decode loop's pieces that are not llama.cpp: choosing the next token from the logits, scoring the choice,
and turning chosen tokens into the text callers see.

Why scores: the stay-silent gate (codeassist/confidence.py) needs, per generated token, the log-probability of the
chosen token and the margin to the runner-up; both come from the same logits the choice is made from, so computing
them here costs one pass over the vocabulary (~0.2 ms for 151,936 logits, against ~20 ms per decode step).

``allowed`` restricts the choice (token healing): the scores are then those of the distribution renormalised over
the allowed tokens — the probability of each continuation *given the text the user already typed*, which is what
the confidence features should see.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from codeassist.models.backend import Generation, GenerationParams, OnText


@dataclass(frozen=True)
class Choice:
    token: int
    logprob: float  # log p(token), natural log
    margin: float  # log p(best) - log p(second best); 0 when there is only one candidate


def _logsumexp(x: npt.NDArray[np.float32], top: float) -> float:
    return top + float(np.log(np.exp(x - top, dtype=np.float64).sum()))


def _runner_up(logits: npt.NDArray[np.float32], best: int) -> float:
    """The second-highest logit, without sorting: hide the best one for a moment (the array is llama.cpp's logits
    buffer or a private copy; it is restored before returning)."""
    if logits.shape[0] < 2:
        return float("-inf")
    kept = logits[best]
    logits[best] = -np.inf
    try:
        return float(logits.max())
    finally:
        logits[best] = kept


def choose(
    logits: npt.NDArray[np.float32],
    params: GenerationParams,
    rng: np.random.Generator,
    allowed: npt.NDArray[np.int64] | None = None,
    *,
    score: bool = True,
) -> Choice:
    """Greedy (temperature 0) or top-p sampling over ``logits``, optionally restricted to ``allowed`` ids."""
    view = logits if allowed is None else logits[allowed]
    if view.shape[0] == 0:
        raise ValueError("no token is allowed")
    if params.temperature <= 0:
        pick = int(np.argmax(view))
    else:
        scaled = view.astype(np.float64) / params.temperature
        scaled -= scaled.max()
        probs = np.exp(scaled)
        probs /= probs.sum()
        order = np.argsort(-probs)
        cumulative = np.cumsum(probs[order])
        keep = order[: int(np.searchsorted(cumulative, params.top_p)) + 1]
        pick = int(rng.choice(keep, p=probs[keep] / probs[keep].sum()))
    token = pick if allowed is None else int(allowed[pick])
    if not score:
        return Choice(token, 0.0, 0.0)
    best = int(np.argmax(view)) if params.temperature > 0 else pick
    top = float(view[best])
    second = _runner_up(view, best)
    logprob = float(view[pick]) - _logsumexp(view, top)
    margin = top - second if np.isfinite(second) else 0.0
    return Choice(token, logprob, margin)


class TextOutput:
    """The text side of one generation: incremental UTF-8 decoding, the healed text held back (the user already
    typed it), per-token scores, and the ``on_text`` callback."""

    def __init__(self, gen: Generation, healed: str, on_text: OnText | None, *, scores: bool) -> None:
        self.gen = gen
        self.healed = healed
        self.on_text = on_text
        self.scores = scores
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.full = ""
        self.pieces: list[bytes] = []  # the bytes of each emitted token (healed text included)
        self.stopped = False  # an end token was chosen

    def emit(self, choice: Choice, data: bytes) -> bool:
        """Append a chosen token; False when ``on_text`` asks to stop."""
        gen = self.gen
        gen.tokens.append(choice.token)
        self.pieces.append(data)
        if self.scores:
            gen.token_logprobs.append(choice.logprob)
            gen.token_margins.append(choice.margin)
        self.full += self.decoder.decode(data)
        if len(self.full) < len(self.healed):
            gen.token_ends.append(0)
            return True
        visible = self.full[len(self.healed) :]
        gen.token_ends.append(len(visible))
        return self.on_text is None or self.on_text(visible)

    @property
    def raw(self) -> bytes:
        """Every emitted token's bytes, the healed text included."""
        return b"".join(self.pieces)

    def truncate(self, n: int) -> None:
        """Forget every token after the first ``n`` (a draw steered off a failed text branches earlier:
        codeassist/models/avoid.py); ``on_text`` is not called: the next emitted token reports the new text."""
        gen = self.gen
        del gen.tokens[n:], gen.token_logprobs[n:], gen.token_margins[n:], gen.token_ends[n:], self.pieces[n:]
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.full = self.decoder.decode(b"".join(self.pieces))
        self.stopped = False

    def finish(self) -> str:
        self.full += self.decoder.decode(b"", final=True)
        return self.full[len(self.healed) :] if len(self.full) >= len(self.healed) else ""


def lookup_draft(history: Sequence[int], n_draft: int, ngram: int = 3) -> list[int]:
    """Prompt-lookup decoding's guess: the tokens that followed the latest earlier occurrence of the last ``ngram``
    tokens of ``history`` (trying shorter n-grams down to 2), at most ``n_draft``. Code repeats itself (names,
    argument lists, whole lines), so these guesses are often right and checking several costs about one decode
    step."""
    size = len(history)
    for n in range(ngram, 1, -1):
        if size <= n:
            continue
        tail = list(history[size - n :])
        for start in range(size - n - 1, -1, -1):
            if history[start] == tail[0] and list(history[start : start + n]) == tail:
                return list(history[start + n : min(size, start + n + n_draft)])
    return []
