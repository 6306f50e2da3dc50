"""The engine's API: everything the LSP server (``codeassist.server``) may use, in one place.

Why a boundary module: the server is an adapter (LSP in, service calls out). If it could import any engine module it
would, as it did, reach into the fix prompt, the verifier's internals and the model lock. Everything it needs is
re-exported here, and ``tests/test_invariants.py`` checks that ``server/`` imports nothing else of ``codeassist``
(besides ``codeassist.errors`` and the version). Adding a name here is a decision about the API; the CLI commands and
the benchmarks call the same services through their own modules.
"""

from __future__ import annotations

from codeassist.completion import Completion, CompletionCheck, CompletionPolicy, CompletionService
from codeassist.context.languages import LANGUAGE_NAMES, language_of
from codeassist.documents import clamped_offset, offset_at, position_at
from codeassist.engine import CompletionRequest, CompletionResult, Engine, EngineConfig
from codeassist.explainer import ExplainResult, stream_explain
from codeassist.failures import FunctionFailure, failing_functions
from codeassist.fix_model import FixModel
from codeassist.fix_target import MAX_PROBLEM_LINES, FixTarget, target_for_problem
from codeassist.fixer import FixConfig, Fixer, FixOutcome, RankedFix
from codeassist.models.registry import default_fix_model
from codeassist.project import find_root, project_root
from codeassist.syntax import Problem
from codeassist.syntax import problems as syntax_problems
from codeassist.verify import Verdict, Verifier, VerifyMode, make_sandbox, sandbox_health

__all__ = [
    "LANGUAGE_NAMES",
    "MAX_PROBLEM_LINES",
    "Completion",
    "CompletionCheck",
    "CompletionPolicy",
    "CompletionRequest",
    "CompletionResult",
    "CompletionService",
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
    "Verdict",
    "Verifier",
    "VerifyMode",
    "clamped_offset",
    "default_fix_model",
    "failing_functions",
    "find_root",
    "language_of",
    "make_sandbox",
    "offset_at",
    "position_at",
    "project_root",
    "sandbox_health",
    "stream_explain",
    "syntax_problems",
    "target_for_problem",
]
