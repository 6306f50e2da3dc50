"""The realistic bug set's data (bench/bugs_real.toml): enough bugs, of the issue's kinds, each naming a repository of
the suite, its failing tests and a real change. Whether each bug really fails its tests (and the untouched tree passes
them) needs the fetched sdists and the sandbox: ``python -m bench.bugs_real --check`` (42/42 when written)."""

from __future__ import annotations

from bench.bugs_real import load_bugs
from bench.repos import load_manifest


def test_the_realistic_set_is_well_formed() -> None:
    bugs = load_bugs()
    assert len(bugs) >= 40 and len({b.id for b in bugs}) == len(bugs)
    repos = {r["name"] for r in load_manifest()}
    for bug in bugs:
        assert bug.repo in repos and bug.tests and bug.judge, bug.id
        assert bug.original != bug.buggy and bug.original.strip(), bug.id
        assert all(t.split("::", 1)[0] in bug.judge for t in bug.tests), bug.id  # the judge runs the failing tests
    kinds = {b.kind for b in bugs}
    for kind in ("off-by-one", "wrong variable", "missing empty check", "wrong exception", "swapped arguments",
                 "wrong default", "wrong API call"):  # fmt: skip
        assert kind in kinds, kind
    assert len({b.repo for b in bugs}) >= 6
