"""``oodgym check``: run the conformance kit on environment ids (for your CI).

``oodgym check ID [ID ...] [--env KEY=VALUE ...] [--quick]`` runs every check
of :mod:`oodgym.testing` on each id and prints one line per check (PASS or
FAIL, time, reason). The exit status is 1 if any check fails. Ids may name the
module that registers them, Gymnasium style: ``my_pkg.envs:MyEnv-v0``.
``--quick`` skips the cross-process part of the determinism check.

An ID may also be the address ``oodgym serve`` printed (``ws://127.0.0.1:8000``): the checks
then play the served environment through :class:`oodgym.serve.ServedEnv` (``--token`` or
``$OODGYM_SERVE_TOKEN`` if the server wants one); ``pickle``, ``spec_json`` and
``visual_variants`` are skipped for it (see :mod:`oodgym.testing`).
"""

from __future__ import annotations

import argparse

from oodgym.commands._common import add_env_option, env_kwargs, error

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``oodgym check``."""
    parser.add_argument(
        "ids",
        metavar="ID",
        nargs="+",
        help="environment ids (registered, or module:id), or served addresses (ws://HOST:PORT)",
    )
    parser.add_argument(
        "--token", default=None, help="token of served addresses (default $OODGYM_SERVE_TOKEN)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="skip the cross-process determinism check"
    )
    add_env_option(parser)


def run(args: argparse.Namespace) -> int:
    """Check every id and print the report."""
    from oodgym.families import load_families
    from oodgym.serve.client import is_address
    from oodgym.testing import run_checks

    load_families()
    kwargs = env_kwargs(args.env)
    if kwargs and any(is_address(env_id) for env_id in args.ids):
        return error("check", "--env applies to ids; a served environment has the server's kwargs")
    served = {"token": args.token} if args.token is not None else {}
    failed_ids = []
    for env_id in args.ids:
        print(f"== {env_id}", flush=True)
        options = served if is_address(env_id) else kwargs
        results = run_checks(env_id, options, processes=not args.quick)
        for result in results:
            status = "PASS" if result.passed else "FAIL"
            first, *rest = result.message.splitlines() or [""]
            print(f"  {status}  {result.name:<16} {result.seconds:6.2f}s  {first}", flush=True)
            for line in rest:
                print(f"        | {line}")
        failed = [r.name for r in results if not r.passed]
        if failed:
            failed_ids.append(env_id)
            print(f"  -> {env_id}: {len(failed)} check(s) failed: {', '.join(failed)}")
        else:
            print(f"  -> {env_id}: all {len(results)} checks passed")
    total = len(args.ids)
    print(f"{total - len(failed_ids)}/{total} ids conform", flush=True)
    return 1 if failed_ids else 0
