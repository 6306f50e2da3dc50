"""The engine's API: everything the LSP server (``codeassist.server``) may use, in one place.

Why a boundary module: the server is an adapter (LSP in, service calls out). If it could import any engine module it
would, as it did, reach into the fix prompt, the verifier's internals and the model lock. Everything it needs is
re-exported here, and ``tests/test_invariants.py`` checks that ``server/`` imports nothing else of ``codeassist``
(besides ``codeassist.errors`` and the version). Adding a name here is a decision about the API; the CLI commands and
the benchmarks call the same services through their own modules.
"""

from __future__ import annotations

from codeassist.acceptance import (
    NO_WORKSPACE,
    AcceptanceStore,
    Delta,
    delete_workspace_stats,
    empty_day,
    retained_chars,
    retention_label,
    saved_text,
    stats_summary,
)
from codeassist.alternatives import AlternativeSearch, find_verified_alternative, is_test_failure
from codeassist.completion import Completion, CompletionCheck, CompletionPolicy, CompletionService
from codeassist.confidence import parse_gate
from codeassist.context.languages import LANGUAGE_NAMES, language_of
from codeassist.cursor_scope import prose_at
from codeassist.documents import clamped_offset, offset_at, position_at
from codeassist.engine import CompletionRequest, CompletionResult, Engine, EngineConfig
from codeassist.engine_cap import MAX_SCALE as MAX_CAP_SCALE
from codeassist.engine_config import CACHE_REUSE
from codeassist.explainer import ExplainResult, stream_explain
from codeassist.explainer import notes as explain_notes
from codeassist.failures import FunctionFailure, failing_functions
from codeassist.fix_model import FixModel
from codeassist.fix_outcome import FixOutcome, RankedFix
from codeassist.fix_target import MAX_PROBLEM_LINES, FixTarget, target_for_problem
from codeassist.fixer import FixConfig, Fixer
from codeassist.models.registry import default_fix_model
from codeassist.models.remote_config import KEYS as REMOTE_KEYS
from codeassist.models.remote_config import RemoteConfig, user_config_path
from codeassist.models.remote_config import check_key as check_remote_key
from codeassist.project import editor_project, find_root, project_root
from codeassist.syntax import Problem
from codeassist.syntax import problems as syntax_problems
from codeassist.verify import LABEL_CHECKING, Verdict, Verifier, VerifyMode, make_sandbox, sandbox_health

__all__ = [
    "CACHE_REUSE",
    "LABEL_CHECKING",
    "LANGUAGE_NAMES",
    "MAX_CAP_SCALE",
    "MAX_PROBLEM_LINES",
    "NO_WORKSPACE",
    "REMOTE_KEYS",
    "AcceptanceStore",
    "AlternativeSearch",
    "Completion",
    "CompletionCheck",
    "CompletionPolicy",
    "CompletionRequest",
    "CompletionResult",
    "CompletionService",
    "Delta",
    "Engine",
    "EngineConfig",
    "ExplainResult",
    "FixConfig",
    "FixModel",
    "FixOutcome",
    "FixTarget",
    "Fixer",
    "FunctionFailure",
    "Problem",
    "RankedFix",
    "RemoteConfig",
    "Verdict",
    "Verifier",
    "VerifyMode",
    "check_remote_key",
    "clamped_offset",
    "default_fix_model",
    "delete_workspace_stats",
    "editor_project",
    "empty_day",
    "explain_notes",
    "failing_functions",
    "find_root",
    "find_verified_alternative",
    "is_test_failure",
    "language_of",
    "make_sandbox",
    "offset_at",
    "parse_gate",
    "position_at",
    "project_root",
    "prose_at",
    "retained_chars",
    "retention_label",
    "sandbox_health",
    "saved_text",
    "stats_summary",
    "stream_explain",
    "syntax_problems",
    "target_for_problem",
    "user_config_path",
]
