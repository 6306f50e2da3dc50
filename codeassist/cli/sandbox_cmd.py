"""``codeassist sandbox build | status | prune | run DIR -- CMD…``: manage and try the Docker sandbox.

``build`` is idempotent and fast when the image for the current recipe exists (the Makefile calls it on every
setup). ``run`` exits 0 only when the command passed, so scripts can use it as a check.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from codeassist.cli.validate import float_in
from codeassist.errors import CodeassistError, InputError

EXIT_NOT_PASSED = 1
EXIT_UNVERIFIED = 3
MAX_RUN_TIMEOUT_S = 3600.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="build, inspect and try the Docker sandbox",
        description="Build, inspect and try the Docker sandbox that checks code.",
    )
    sub = parser.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument("--recipe", default="python", help="image recipe (default: python)")
        p.add_argument(
            "--image",
            default=None,
            help="use this registry image instead of the recipe image (also CODEASSIST_SANDBOX_IMAGE)",
        )

    b = sub.add_parser("build", help="build the runner image offline (no-op when up to date)")
    common(b)
    b.add_argument("--force", action="store_true", help="rebuild even if the image exists")
    b.set_defaults(func=_build)

    s = sub.add_parser("status", help="daemon, image and sandbox containers")
    common(s)
    s.set_defaults(func=_status)

    p = sub.add_parser("prune", help="remove stale recipe images and leftover sandbox containers")
    common(p)
    p.set_defaults(func=_prune)

    r = sub.add_parser(
        "run",
        help="run CMD on a snapshot of DIR in the sandbox",
        usage="codeassist sandbox run [--json] [--timeout S] DIR -- CMD [ARG…]",
    )
    common(r)
    r.add_argument(
        "--timeout", type=float_in(0, MAX_RUN_TIMEOUT_S, above_lo=True), default=None,
        help=f"wall-clock limit in seconds (default 10, at most {MAX_RUN_TIMEOUT_S:g})",
    )  # fmt: skip
    r.add_argument("dir", help="directory to snapshot into the work dir (never mounted)")
    # Filled from everything after `--` by codeassist.cli.main, so options may follow DIR.
    r.add_argument("cmd", nargs="*", help="command and arguments, after --")
    r.set_defaults(func=_run)


def _config(args: argparse.Namespace, **extra: Any) -> Any:
    # lazy: the parser imports every subcommand's module; `--help` must not load the engine or Docker's client
    from codeassist.sandbox import SandboxConfig, config_from_env

    return config_from_env(SandboxConfig(recipe=args.recipe, image=args.image, **extra))


def _api() -> Any:
    # lazy: the parser imports every subcommand's module; `--help` must not load the engine or Docker's client
    from codeassist.sandbox.docker_conn import DockerConn, DockerUnavailable

    try:
        return DockerConn(10.0).api()
    except DockerUnavailable as exc:
        raise CodeassistError(str(exc), exit_code=EXIT_UNVERIFIED) from exc


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps(data, indent=2) if args.json else text)


def _build(args: argparse.Namespace) -> int:
    # lazy: the parser imports every subcommand's module; `--help` must not load the engine or Docker's client
    from codeassist.sandbox import recipes

    cfg = _config(args)
    if cfg.image:
        raise CodeassistError(
            f"a registry image ({cfg.image}) is configured; nothing to build",
            hint="unset CODEASSIST_SANDBOX_IMAGE / --image to use the offline recipe image",
        )
    recipe = recipes.load(cfg.recipe)
    api = _api()
    log = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    result = recipes.build(api, recipe, force=args.force, log=log)
    verb = "built" if result.built else "up to date:"
    _emit(
        args,
        {"image": result.image, "built": result.built, "seconds": round(result.seconds, 2)},
        f"{verb} {result.image} ({result.seconds:.1f}s)",
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    # lazy: the parser imports every subcommand's module; `--help` must not load the engine or Docker's client
    from codeassist.sandbox import health
    from codeassist.sandbox.containers import LABEL, LABEL_OWNER, list_sandbox_containers

    h = health(_config(args), timeout_s=5.0)
    containers: list[dict[str, str]] = []
    if h.ok or "missing" in (h.reason or ""):
        try:
            for c in list_sandbox_containers(_api()):
                labels = c.get("Labels") or {}
                containers.append(
                    {
                        "id": c["Id"][:12],
                        "state": c.get("State", "?"),
                        "kind": labels.get(LABEL, ""),
                        "owner": labels.get(LABEL_OWNER, ""),
                    }
                )
        except CodeassistError:
            pass
    data = {"ok": h.ok, "daemon": h.daemon, "image": h.image, "reason": h.reason, "containers": containers}
    lines = [
        f"sandbox: {'ok' if h.ok else 'UNAVAILABLE (results unverified)'}",
        f"  daemon: {h.daemon}",
        f"  image:  {h.image}",
    ]
    if h.reason:
        lines.append(f"  reason: {h.reason}")
    lines.append(f"  containers: {len(containers)}")
    lines += [f"    {c['id']} {c['state']} {c['kind']} {c['owner']}" for c in containers]
    _emit(args, data, "\n".join(lines))
    return 0 if h.ok else EXIT_UNVERIFIED


def _prune(args: argparse.Namespace) -> int:
    # lazy: the parser imports every subcommand's module; `--help` must not load the engine or Docker's client
    from codeassist.sandbox import recipes
    from codeassist.sandbox.containers import remove_orphans

    api = _api()
    removed_containers = remove_orphans(api)
    removed_images: list[str] = []
    for ref in recipes.stale_images(api):
        try:
            api.remove_image(ref)
            removed_images.append(ref)
        except Exception as exc:
            print(f"could not remove {ref}: {exc}", file=sys.stderr)
    _emit(
        args,
        {"containers": removed_containers, "images": removed_images},
        f"removed {removed_containers} leftover container(s) and {len(removed_images)} stale image(s)"
        + "".join(f"\n  {ref}" for ref in removed_images),
    )
    return 0


PSEUDO_FILESYSTEMS = {"proc", "sysfs", "devtmpfs", "debugfs", "tracefs", "securityfs", "cgroup", "cgroup2"}


def refuse_pseudo_filesystem(path: str) -> None:
    """A directory on /proc, /sys or /dev is not a project: its files change while read, lie about their size and
    some are readable only in part. Said up front as one error, not a half-copied snapshot that then "passes"."""
    real = os.path.realpath(path)
    fstype = ""
    try:
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            best = ""
            for line in mounts:
                fields = line.split()
                if len(fields) < 3:
                    continue
                point = fields[1].replace("\\040", " ")
                inside = real == point or real.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, fstype = point, fields[2]
    except OSError:
        return  # no mount table to consult: the copy's own errors still apply
    if fstype in PSEUDO_FILESYSTEMS:
        raise InputError(f"sandbox: cannot copy {path}: it is on a {fstype} pseudo-filesystem, not a project folder")


def _run(args: argparse.Namespace) -> int:
    # lazy: the parser imports every subcommand's module; `--help` must not load the engine or Docker's client
    from codeassist.sandbox import Limits, Sandbox

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise InputError("no command given", hint="codeassist sandbox run DIR -- python3 -m pytest -q")
    refuse_pseudo_filesystem(args.dir)
    limits = Limits() if args.timeout is None else Limits(timeout_s=args.timeout)
    with Sandbox(_config(args, pool_size=1, limits=limits)) as sb:
        try:
            result = sb.run(args.dir, cmd, limits)
        except OSError as exc:  # e.g. /proc or /sys: files that cannot be read like files
            where = f" ({exc.filename})" if exc.filename else ""
            raise InputError(f"sandbox: cannot copy {args.dir}: {exc.strerror or exc}{where}") from None
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        if result.stdout:
            sys.stdout.write(result.stdout if result.stdout.endswith("\n") else result.stdout + "\n")
        if result.stderr:
            sys.stderr.write(result.stderr if result.stderr.endswith("\n") else result.stderr + "\n")
        extra = f" exit={result.exit_code}" if result.exit_code is not None else ""
        why = f" ({result.reason})" if result.reason else ""
        print(f"sandbox: {result.status}{extra} in {result.wall_s:.2f}s{why}", file=sys.stderr)
    if result.status == "passed":
        return 0
    return EXIT_UNVERIFIED if result.status == "error" else EXIT_NOT_PASSED
