"""Subcommands of the ``oodgym`` command, one module each.

Each module defines ``add_arguments(parser)`` and ``run(args) -> int`` (the
exit status); the one-line help of each lives in :mod:`oodgym.cli`, which
imports a module only when its subcommand runs, so a broken optional
dependency of one command never breaks the others.
"""

#: Subcommand name -> module name (in this package), in ``oodgym --help`` order.
COMMANDS: dict[str, str] = {
    "demo": "demo",
    "list": "listing",
    "eval": "evaluate",
    "export": "export",
    "play": "play",
    "render": "render",
    "check": "check",
    "serve": "serve",
    "report": "report",
}
