"""Confidence features of a suggestion, from the log-probabilities of the tokens behind it: the ground for the
stay-silent gate (a wrong ghost text costs the user more than none).

Why these features: the model's own uncertainty is the cheapest signal we have. The *minimum* token log-probability
catches one wild guess inside an otherwise confident line (an invented name), the *mean* the overall fit, and the
*first-token margin* (log p(best) - log p(runner-up) at the first token the user sees) whether the model knew how to
start at all. Only the tokens that produced the *shown* text count: post-processing cuts the rest. Tokens spent
re-typing the healed text (codeassist/healing.py) before any shown character are left out: they choose between
tokenizations of what the user already typed, not what to suggest.

:func:`precision_coverage` turns (score, correct) pairs from a benchmark into the curve the gate's threshold is
chosen on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from codeassist.models.backend import Generation


@dataclass(frozen=True)
class Confidence:
    tokens: int  # tokens behind the shown text
    min_logprob: float
    mean_logprob: float
    first_logprob: float
    first_margin: float

    def feature(self, name: str) -> float:
        value = getattr(self, name)
        if not isinstance(value, float):
            raise ValueError(f"not a confidence feature: {name}")
        return value


FEATURES = ("min_logprob", "mean_logprob", "first_logprob", "first_margin")


def _shown_chars(raw: str, shown: str) -> int:
    """How many characters of the raw generation the shown text covers: post-processing cuts the end and may
    re-indent lines, so match line by line on stripped content."""
    if raw.startswith(shown):
        return len(shown)
    raw_lines, shown_lines = raw.split("\n"), shown.split("\n")
    covered = 0
    for i, line in enumerate(shown_lines):
        if i >= len(raw_lines):
            break
        if i == len(shown_lines) - 1:
            core = line.strip()
            at = raw_lines[i].find(core) if core else 0
            return covered + (at + len(core) if at >= 0 else len(raw_lines[i]))
        covered += len(raw_lines[i]) + 1
    return min(covered, len(raw))


def confidence_of(gen: Generation, shown: str) -> Confidence | None:
    """The features of ``shown`` (the suggestion after post-processing and gates), None when nothing is shown or
    the backend did not score its tokens."""
    if not shown.strip() or not gen.token_logprobs or len(gen.token_ends) != len(gen.token_logprobs):
        return None
    chars = _shown_chars(gen.text, shown)
    picked: list[int] = []
    for i, end in enumerate(gen.token_ends):
        if end == 0:
            continue  # healing: re-typing what the user typed
        picked.append(i)
        if end >= chars:
            break
    if not picked:
        return None
    logprobs = [gen.token_logprobs[i] for i in picked]
    return Confidence(
        tokens=len(picked),
        min_logprob=min(logprobs),
        mean_logprob=sum(logprobs) / len(logprobs),
        first_logprob=logprobs[0],
        first_margin=gen.token_margins[picked[0]],
    )


GateRule = tuple[str, float]
# The stay-silent gate calibrated per model tier on the real-repository suite (bench/calibration/gate-<tier>.json,
# ``make bench-calibrate``): a rule is calibrated on one model's scores and means nothing for another, so a model with
# no entry here (a user's GGUF, a remote server) gets no gate under "auto".
#
# qwen2.5-coder-1.5b: on 112 judgeable holes of the ten suite repositories (bench/RESULTS-repos.md), showing only
# suggestions whose least likely token has log-probability >= -0.8 raised the precision of shown suggestions from
# 67.9% to 82.7% at 67% coverage (from 97%). -0.8 lies between the two points the calibration reports: the
# best-utility threshold (-0.60: 89.1% precision at 57% coverage when each repository is held out in turn) and the
# most coverage at >= 80% precision (-0.89: 80.0% held out, at 71%).
CALIBRATED: dict[str, GateRule] = {"qwen2.5-coder-1.5b": ("min_logprob", -0.8)}


def parse_gate(value: str) -> GateRule | str | None:
    """A gate setting: ``auto`` (the calibrated rule for the loaded model, if any), ``off``, or ``FEATURE:THRESHOLD``
    (e.g. ``min_logprob:-1.5``). Raises ValueError with a user-facing reason."""
    text = value.strip()
    if text in ("auto", "off"):
        return None if text == "off" else "auto"
    feature, sep, raw = text.partition(":")
    try:
        threshold = float(raw)
    except ValueError:
        threshold = float("nan")
    if not sep or feature not in FEATURES or threshold != threshold:
        raise ValueError(f"confidence_gate must be auto, off or FEATURE:THRESHOLD with FEATURE one of "
                         f"{', '.join(FEATURES)}, got {value!r}")  # fmt: skip
    return feature, threshold


def resolve_gate(setting: GateRule | str | None, model: str | None) -> GateRule | None:
    """The rule to apply: a rule as given, None for off, and for ``auto`` the calibrated rule of ``model`` (a tier
    name) when there is one."""
    if setting == "auto":
        return CALIBRATED.get(model or "")
    return setting if isinstance(setting, tuple) else None


def unsure(confidence: Confidence | None, rule: tuple[str, float] | None) -> bool:
    """Whether the gate ``rule`` (feature, threshold) hides a suggestion with these features. Without a rule, or
    without scores (a backend that does not report log-probabilities), nothing is hidden."""
    if rule is None or confidence is None:
        return False
    feature, threshold = rule
    return confidence.feature(feature) < threshold


@dataclass(frozen=True)
class CurvePoint:
    threshold: float  # show when score >= threshold
    shown: int
    correct: int
    coverage: float  # shown / all
    precision: float  # correct / shown


def precision_coverage(samples: Sequence[tuple[float, bool]], total: int | None = None) -> list[CurvePoint]:
    """Precision and coverage of "show when score >= t" for every distinct score t, highest first. ``samples`` are
    (score, correct) for the suggestions that would be shown without the gate; ``total`` counts the holes (default:
    the samples), so coverage is over every request."""
    n = total if total is not None else len(samples)
    ordered = sorted(samples, key=lambda s: -s[0])
    points: list[CurvePoint] = []
    correct = 0
    for i, (score, ok) in enumerate(ordered):
        correct += ok
        if i + 1 < len(ordered) and ordered[i + 1][0] == score:
            continue
        shown = i + 1
        points.append(CurvePoint(score, shown, correct, shown / n if n else 0.0, correct / shown))
    return points


def pick_threshold(points: Sequence[CurvePoint], min_precision: float, min_coverage: float = 0.0) -> CurvePoint | None:
    """The lowest threshold (most coverage) whose precision reaches ``min_precision`` with at least
    ``min_coverage``; None when no point does."""
    best: CurvePoint | None = None
    for p in points:
        if p.precision >= min_precision and p.coverage >= min_coverage and (best is None or p.shown > best.shown):
            best = p
    return best
