"""Steering a draw off texts known to fail (issue 11: verified replacements in the editor).

Why: when a shown suggestion fails its tests, codeassist/alternatives.py samples replacements and tests them. On real
code the 1.5B repeated the failed text in about half of those draws at any temperature: top-p keeps a token the model
gives ≳98% as the whole nucleus, so the draw is the same text, and a repeat is never tested (bench/RESULTS-verify.md).
Here the decode loop is told the texts that failed (``GenerationParams.avoid``) and never finishes one of them.

What "finish" means: the draw's text (healed text included) reaches the end of a failed text and then ends the line
(optional spaces, then a newline) or the generation (an end token). Post-processing cuts a suggestion at a line end
(the single-line policy, the end of the scope), so a draw that ends the line there would come back as the same text,
while one that goes on along the same line is a new text. A draw that only shares a prefix with a failed text is left
alone: a wrong answer often starts right, and nothing changes for draws that never touch a failed text's end.

Where the draw branches off — neither always at the first token (that forbids a correct start) nor always at the
last one (that only varies the end of the failed line: ``+ 1``, or a comment the static checks strip again, i.e. the
same text). A draw about to finish a failed text has followed it token by token, and the loop kept the probability
the model gave each of those tokens (``Generation.token_logprobs``, temperature 1). The branch step is drawn in
proportion to q_<i · (1 − p_i) — the chance that the model leaves the path at step i and not before — so the draw
comes from the model's own distribution conditioned on not producing the failed text (exactly so when the text has
one tokenization): it branches where the model had a real alternative, and follows the model again from there.
Greedy decoding (temperature 0) takes the most likely branch step. Without scores (``GenerationParams.logprobs``
off) it branches at the last step. At the branch step every token that would stay on the failed text is excluded
(its logit set to −inf); the KV cache already holds the prefix, so rewinding costs one evaluated token.

Which backends: the in-process llama.cpp backend, which owns the logits. A remote server (llama-server /infill, an
OpenAI-compatible endpoint) samples on its side: it ignores ``avoid`` and leaves ``Generation.avoid_honoured`` False;
the engine logs that once, and the caller keeps its behaviour without a ban (repeats are discarded and raise the
temperature of the next draws).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from codeassist.healing import VocabIndex
from codeassist.models.backend import GenerationParams
from codeassist.models.decoding import Choice, TextOutput, choose

_LINE_END = re.compile(rb"[ \t]*\n")
_SPACES = re.compile(rb"[ \t]*")
_ENDS_LINE = re.compile(rb"[ \t]*(?:\n|\Z)")
# Re-choosing at a branch step until the token leaves every failed text: enough for several texts ending the same
# way (each retry excludes one more token); past it the draw stops where it is (a prefix: a different text).
MAX_BRANCH_TRIES = 16


@dataclass
class Steer:
    """The failed texts of one draw, as UTF-8 paths that start with the healed text (what the model generates)."""

    paths: tuple[bytes, ...]
    index: VocabIndex
    is_end: Callable[[int], bool]  # the backend's: the token ends the generation
    token_bytes: Callable[[int], bytes]
    branched: int = 0  # times the draw was turned off a failed text

    @classmethod
    def of(
        cls,
        texts: Sequence[str],
        heal: str,
        index: Callable[[], VocabIndex],
        is_end: Callable[[int], bool],
        token_bytes: Callable[[int], bytes],
    ) -> Steer | None:
        """None when there is nothing to avoid (``index`` is the backend's, built on first use: only asked then)."""
        paths = tuple(dict.fromkeys((heal + t.rstrip()).encode("utf-8") for t in texts if t.strip()))
        return cls(paths, index(), is_end, token_bytes) if paths else None

    def redirect(
        self,
        choice: Choice,
        out: TextOutput,
        params: GenerationParams,
        rng: np.random.Generator,
        rewind: Callable[[int], None],
        logits: Callable[[], npt.NDArray[np.float32]],
    ) -> Choice | None:
        """``choice`` (the next token of the draw ``out``) unless it would finish a failed text; then the draw goes
        back to the step where it leaves that text (``rewind(step)``: the backend's last logits become those after
        ``step`` generated tokens) and takes a token there that stays on no failed text. None: no such token was
        found in ``MAX_BRANCH_TRIES`` (the draw stops there: its text is a prefix, not the failed text)."""
        banned: set[int] = set()
        for _ in range(MAX_BRANCH_TRIES):
            end = self.is_end(choice.token)
            path = self.finished(out.raw, b"" if end else self.token_bytes(choice.token), end)
            if path is None:
                return choice
            gen = out.gen
            at = self.branch_step(out.pieces, gen.token_logprobs, gen.healed_tokens, path, choice.logprob, rng,
                                  greedy=params.temperature <= 0)  # fmt: skip
            if at < len(gen.tokens):
                rewind(at)
                out.truncate(at)
                banned.clear()
            else:
                banned.add(choice.token)
            banned.update(self.on_path(out.raw).tolist())
            scores = np.array(logits(), dtype=np.float32)  # a copy: llama.cpp's buffer stays as it was computed
            scores[list(banned)] = -np.inf
            if not np.isfinite(scores).any():
                return None
            choice = choose(scores, params, rng, score=params.logprobs)
            self.branched += 1
        return None

    def finished(self, done: bytes, piece: bytes, end: bool) -> bytes | None:
        """The failed text that the next token would finish (``piece``: its bytes; ``end``: it ends the generation),
        given the draw's bytes so far ``done``; None when it finishes none."""
        new = done + piece
        for path in self.paths:
            if not new.startswith(path):
                continue
            if end and _SPACES.fullmatch(done, len(path)):
                return path
            line_end = None if end else _LINE_END.match(new, len(path))
            if line_end is not None and line_end.end() > len(done):
                return path
        return None

    def branch_step(
        self,
        pieces: Sequence[bytes],
        logprobs: Sequence[float],
        first: int,
        path: bytes,
        last_logprob: float,
        rng: np.random.Generator,
        *,
        greedy: bool,
    ) -> int:
        """Where a draw about to finish ``path`` leaves it: a step in [``first``, len(pieces)] whose text so far is
        still inside ``path``, drawn with weight q_<i · (1 − p_i) (module docstring); the last step when the model
        gave every token of the path probability 1 (or nothing was scored)."""
        steps: list[int] = []
        weights: list[float] = []
        stay, at = 1.0, 0  # q_<i: the probability of having followed the path so far; bytes before step i
        for i, piece in enumerate(pieces):
            if i >= first:
                p = math.exp(logprobs[i]) if i < len(logprobs) else 1.0
                if at < len(path):
                    steps.append(i)
                    weights.append(stay * (1.0 - p))
                stay *= p
            at += len(piece)
        steps.append(len(pieces))
        weights.append(stay * (1.0 - math.exp(last_logprob)))
        total = sum(weights)
        if not total > 0:
            return len(pieces)
        if greedy:
            return steps[int(np.argmax(weights))]
        return int(rng.choice(steps, p=np.asarray(weights) / total))

    def on_path(self, done: bytes) -> npt.NDArray[np.int64]:
        """The tokens that would keep a draw whose bytes are ``done`` on a failed text: a token that spells more of it,
        or one that reaches its end and then ends the line (end tokens are found by the caller, one try each)."""
        found: list[npt.NDArray[np.int64]] = []
        for path in self.paths:
            if len(done) < len(path) and path.startswith(done):
                rest = path[len(done) :]
            elif done.startswith(path) and _SPACES.fullmatch(done, len(path)):
                rest = b"\n"
            else:
                continue
            ids = self.index.consistent(rest)
            keep = [t for t in ids.tolist() if _stays(self.token_bytes(t), rest)]
            found.append(np.asarray(keep, dtype=np.int64))
        return np.concatenate(found) if found else np.empty(0, dtype=np.int64)


def _stays(data: bytes, rest: bytes) -> bool:
    """Whether a token spelling ``data`` (a prefix of ``rest``, or starting with it) stays on the failed text: it
    stops inside it, or goes past its end with spaces and at most a newline (the failed line, ended)."""
    if len(data) <= len(rest):
        return True
    return rest == b"\n" or _ENDS_LINE.match(data, len(rest)) is not None
