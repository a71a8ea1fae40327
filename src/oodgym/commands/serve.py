"""``oodgym serve``: serve an environment id as an OpenEnv environment server.

``oodgym serve ID [--env KEY=VALUE ...] [--host 127.0.0.1] [--port 8000] [--token TOKEN]
[--max-sessions 32] [--max-message-bytes 1048576] [--session-timeout 900]
[--image-encoding png|raw]`` serves ``gym.make(ID, **env)`` over WebSocket, one environment
per session (extra ``ood-gym[serve]``), until Ctrl-C. It prints the address clients use
(``ws://HOST:PORT``), e.g. ``oodgym check ws://127.0.0.1:8000``. Binding to anything but a
loopback address needs a token (``--token`` or ``$OODGYM_SERVE_TOKEN``; the variable keeps it
out of the process list).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from oodgym.commands._common import USAGE_ERRORS, add_env_option, env_kwargs, error
from oodgym.serve.wire import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_SESSIONS,
    DEFAULT_PORT,
    DEFAULT_SESSION_TIMEOUT_S,
    IMAGE_ENCODINGS,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``oodgym serve``."""
    parser.add_argument("env_id", metavar="ID", help="registered id (or module:id)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--token",
        default=None,
        help="require 'Authorization: Bearer TOKEN' of clients (default $OODGYM_SERVE_TOKEN; "
        "required unless --host is a loopback address)",
    )
    parser.add_argument(
        "--max-sessions",
        type=int,
        default=DEFAULT_MAX_SESSIONS,
        help=f"sessions at once (default {DEFAULT_MAX_SESSIONS})",
    )
    parser.add_argument(
        "--max-message-bytes",
        type=int,
        default=DEFAULT_MAX_MESSAGE_BYTES,
        help=f"largest message a client may send (default {DEFAULT_MAX_MESSAGE_BYTES})",
    )
    parser.add_argument(
        "--session-timeout",
        type=float,
        default=DEFAULT_SESSION_TIMEOUT_S,
        metavar="SECONDS",
        help=f"close the environment of sessions idle this long "
        f"(default {DEFAULT_SESSION_TIMEOUT_S:g}; 0: never)",
    )
    parser.add_argument(
        "--image-encoding",
        choices=list(IMAGE_ENCODINGS),
        default="png",
        help="how observation images travel (default png: lossless, base64)",
    )
    add_env_option(parser)


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    try:
        from oodgym.serve.server import serve
    except ImportError as err:
        return error("serve", f"{err} (install the extra: pip install 'ood-gym[serve]')")
    from oodgym.families import load_families
    from oodgym.serve.client import TOKEN_ENV

    load_families()
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None

    def announce(running: Any) -> None:
        spec = running.spec
        limits = spec["limits"]
        shown = running.url
        wildcard = running.host in ("0.0.0.0", "::")
        print(
            f"oodgym serve: {running.env_id} at {shown}"
            + (" (every interface: use this machine's address)" if wildcard else ""),
            flush=True,
        )
        print(
            f"  up to {limits['max_sessions']} sessions, messages up to "
            f"{limits['max_message_bytes']} bytes, idle sessions closed after "
            f"{limits['session_timeout_s']} s, "
            + ("token required" if spec["token_required"] else "no token")
            + (f", images as {spec['image_encoding']}" if spec["image_encoding"] else ""),
            flush=True,
        )
        print(f"  check it: oodgym check {shown}    stop: Ctrl-C", flush=True)

    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        serve(
            args.env_id,
            env_kwargs(args.env),
            host=args.host,
            port=args.port,
            token=token,
            max_sessions=args.max_sessions,
            max_message_bytes=args.max_message_bytes,
            session_timeout_s=args.session_timeout or None,
            image_encoding=args.image_encoding,
            announce=announce,
        )
    except USAGE_ERRORS as err:
        return error("serve", err)
    finally:
        signal.signal(signal.SIGTERM, previous)
    print("oodgym serve: stopped", file=sys.stderr, flush=True)
    return 0
