"""The engine's knobs (:class:`EngineConfig`), apart from the engine so the size of ``engine.py`` stays about the
pipeline; ``codeassist.engine`` re-exports it."""

from __future__ import annotations

from dataclasses import dataclass, field

from codeassist.context.assemble import ContextBudget
from codeassist.models.remote_config import RemoteConfig
from codeassist.static_checks import CHECKS

# The default of ``cache_reuse``: off. Moving cached runs (the suffix after a keystroke) keeps keys and values computed
# before the typed text existed, and that changes answers: with the earlier state evaluated from nothing, then the
# keystroke(s) moved in, 8 of 29 one-character keystrokes and 11 of 26 line starts typed on answered differently from
# a cold evaluation, exact match 11 vs 18 and 7 vs 15 (1.5B, the default windows, bench.kv_insert,
# bench/RESULTS-latency.md). An earlier
# run of that bench reached the earlier state from the later one, so its moved cells came from the final text and
# agreed by construction. Exact evaluation costs the suffix per model call while typing; users who want the speed
# set ``cacheReuse`` (e.g. 32).
CACHE_REUSE = 0


@dataclass
class EngineConfig:
    """Knobs that matter for latency. Defaults are tuned for a 2-core laptop CPU; GPU users raise the budgets."""

    model: str | None = None  # tier or GGUF path; None: $CODEASSIST_MODEL, else the default tier (see resolve_model)
    n_ctx: int = 4096
    n_threads: int | None = None
    n_gpu_layers: int = 0
    max_tokens: int = 48
    prefix_tokens: int = 768
    suffix_tokens: int = 256
    time_budget_ms: float | None = 5000.0
    # a request's ``time_cap_ms`` is raised (at most 3x) when the measured token rate says a one-line answer needs
    # longer (engine_cap.py); False: the cap as given
    scale_time_cap: bool = True
    workspace: str | None = None  # root for the symbol index; None = the file's project root (codeassist.project)
    # the editor's workspace folders: a file in no project inside one takes it as its project (editor_project); the
    # CLI has none, so there a file in no project stays alone
    workspace_folders: tuple[str, ...] = ()
    index_workspace: bool = True
    # build the index on a background thread (the server: the first completion need not wait for a big workspace;
    # the one-shot CLI builds it first so its one completion sees every definition)
    index_in_background: bool = False
    prompt_order: str = "psm"  # psm | spm (see bench/reuse_bench.py for the measured trade-off)
    # PSM with the cursor line's text after <|fim_middle|> (llama.vim's layout) makes a keystroke re-evaluate ~1
    # token instead of the whole suffix, but on the 0.5B model it cut HumanEval single-line exact match from 32/60 to
    # 12/60 (cursor a third into the line, same run). Quality first: off by default; worth it for larger models.
    line_in_middle: bool = False
    context: ContextBudget = field(default_factory=ContextBudget)
    syntax_gate: bool = True
    # prompt-lookup decoding: draft up to this many tokens from earlier occurrences in the prompt. Off: for the 0.5B
    # model on 2 CPU threads it is slower (bench/lookup_bench.py, 80 requests: 0.84x with 4 drafts, 0.67x with 8),
    # because checking a draft computes the 151,936-way output layer once per drafted token
    draft_tokens: int = 0
    typed_ahead: bool = True
    # KV-shift chunk reuse (codeassist/models/kv_reuse.py): cached runs of at least this many tokens are moved into
    # place after a gap or after new tokens (the suffix after a keystroke) instead of evaluated again. 0 = off.
    cache_reuse: int = CACHE_REUSE
    # a remote model server (llama-server, OpenAI-compatible); ``model`` above then names the local fallback
    remote: RemoteConfig | None = None
    # Token healing (codeassist/healing.py): the partial word before the cursor is regenerated under a constraint
    # instead of being continued from an unnatural token boundary.
    token_healing: bool = True
    # Mid-line (code left of the cursor): suggest the rest of the line, more only when it opens a block or a bracket
    # the suggestion closes (codeassist/line_policy.py). False: multi-line wherever the text right of it allows.
    rest_of_line: bool = True
    # Static checks before anything is shown (codeassist/static_checks.py): invented trailing comments, self-calls
    # with the same arguments, names bound nowhere. An empty tuple turns them off.
    static_checks: tuple[str, ...] = CHECKS
    # Stay silent when unsure: (feature, threshold) from codeassist/confidence.py; a suggestion whose feature is below
    # the threshold is not shown. None = show everything (see bench/calibration/gate.json for the measured curve).
    # "auto": the rule calibrated for the loaded tier (confidence.CALIBRATED), none for other models.
    confidence_gate: tuple[str, float] | str | None = "auto"
