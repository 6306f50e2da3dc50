"""Does fault localisation return a ranking on the realistic bug set, and does it single statements out?

Why a benchmark of its own: the narrow fix questions (``FixConfig.focus``) depend on the localisation, and on real
repositories it silently returned nothing for 9 of 40 bugs (a ``src/`` layout's ``PYTHONPATH`` and doctests dropped,
output beyond the sandbox's 16 KiB tail). Per bug: the bug applied to a scratch snapshot, ``locate`` as the editor's
fix does, then :meth:`Fixer.localize`; no model is needed.

    python -m bench.localize_check [--only ID,ID]     # one line per bug, then a summary
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench import bugs_real as br
from codeassist.errors import InputError
from codeassist.fix_focus import suspects
from codeassist.fix_target import locate
from codeassist.fixer import Fixer
from codeassist.verdicts import TierBudget
from codeassist.verify import Verifier, make_sandbox


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", help="comma-separated bug ids")
    args = p.parse_args(argv)
    bugs = br.load_bugs()
    if args.only:
        bugs = [b for b in bugs if b.id in args.only.split(",")]
    paths = br.trees()
    sandbox = make_sandbox()
    ranked, narrow, times, failed = 0, 0, [], []
    try:
        with tempfile.TemporaryDirectory(prefix="localize-check-") as tmp:
            for bug in bugs:
                verifier = Verifier(sandbox, budget=TierBudget(tests_s=300), test_args=bug.args)
                root, line = br.bugged_snapshot(bug, paths[bug.repo], Path(tmp) / bug.id)
                try:
                    target = locate(str(root / bug.file), line=line, verifier=verifier, root=str(root))
                except InputError as exc:
                    print(f"{bug.id:42s} not visible: {str(exc)[-60:]}")
                    continue
                started = time.monotonic()
                # the engine is not used by the localisation run
                found = Fixer(None, verifier).localize(target)  # type: ignore[arg-type]
                times.append(time.monotonic() - started)
                picked = suspects(target, found)
                ranked += not found.error
                narrow += bool(picked)
                if found.error:
                    failed.append(bug.id)
                where = ", ".join(str(s[1] + 1) for s in picked) or "-"
                print(f"{bug.id:42s} {times[-1]:4.1f} s  failing/passing {found.failing_tests}/{found.passing_tests}"
                      f"  narrow at {where}  {found.error[:60]}")  # fmt: skip
    finally:
        sandbox.close()
    print(f"\nranking returned: {ranked} of {len(times)} visible; narrow questions asked on {narrow}")
    if times:
        print(f"localisation run: median {statistics.median(times):.1f} s, max {max(times):.1f} s")
    if failed:
        print("no ranking:", ", ".join(failed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
