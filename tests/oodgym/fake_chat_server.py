"""A fake OpenAI-compatible chat server on 127.0.0.1 that plays GeneralPoints like a model.

``POST /v1/chat/completions`` reads the last user message: a GeneralPoints
text prompt (``Cards: ['A', '4', '8', '6']``) gets a correct answer from
``cardenvs.solver.solve``; anything else (image prompts, navigation) gets a
garbage answer. ``wrong_first`` makes it answer wrongly on a first attempt
(no feedback in the prompt yet) for hands it selects; ``fail_first`` makes
the first requests fail with HTTP 503 (to exercise retries); ``replies``
serves scripted raw responses (:class:`Reply`: an HTML page with status 200,
``choices: []``, a 429 with ``Retry-After`` ...) to the next requests, in
order; ``delay`` makes every answer slow.
``GET /v1/models`` lists the model ``fake``.

Also a plain ``MODULE:CALLABLE`` policy for the CLI tests: :func:`slow_answer`.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cardenvs.rules import RULES
from cardenvs.solver import solve

_CARDS = re.compile(r"^Cards: (\[.*\])\s*$", re.MULTILINE)
GARBAGE = "I am not sure. Maybe 42?"
WRONG = '{"cards": [], "number": [], "formula": "1+1=2"}'


@dataclass(frozen=True)
class Reply:
    """A raw HTTP response for the fake server to send instead of an answer."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


def completion_body(content: Any) -> bytes:
    """A chat-completions body whose first choice's ``message.content`` is ``content``."""
    choice = {"index": 0, "message": {"role": "assistant", "content": content}}
    return json.dumps({"object": "chat.completion", "choices": [choice]}).encode()


HTML = Reply(
    200,
    b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>",
    {"Content-Type": "text/html"},
)

#: Responses with status 200 that carry no usable answer text, by name.
BROKEN_REPLIES: dict[str, Reply] = {
    "html": HTML,
    "json-not-object": Reply(200, b'["not", "a", "completion"]'),
    "truncated-json": Reply(200, b'{"choices": [{"message": {"content": "24'),
    "no-choices": Reply(200, b'{"object": "chat.completion"}'),
    "empty-choices": Reply(200, b'{"choices": []}'),
    "choices-not-a-list": Reply(200, b'{"choices": {"0": "x"}}'),
    "no-message": Reply(200, b'{"choices": [{"index": 0}]}'),
    "null-content": Reply(200, completion_body(None)),
    "number-content": Reply(200, completion_body(24)),
    "list-content": Reply(200, completion_body([{"type": "text", "text": "24"}])),
    "deeply-nested": Reply(200, b"[" * 100_000 + b"]" * 100_000),
}


def _rule(text: str) -> Any:
    return RULES.resolve("face-11-12-13" if "count as 11, 12 and 13" in text else "face-10")


def read_hand(text: str) -> tuple[list[str], list[int]] | None:
    """The ranks and values of a GeneralPoints text prompt (``None`` if not one)."""
    match = _CARDS.search(text)
    if match is None:
        return None
    ranks = [str(r) for r in ast.literal_eval(match.group(1))]
    rule = _rule(text)
    return ranks, [rule.value_of(r) for r in ranks]


def solve_prompt(text: str) -> str:
    """A correct answer to a GeneralPoints text prompt, else :data:`GARBAGE`."""
    hand = read_hand(text)
    if hand is None:
        return GARBAGE
    ranks, values = hand
    formula = solve(values, _rule(text))[0]
    return json.dumps({"cards": ranks, "number": values, "formula": f"{formula}=24"})


def message_text(message: dict[str, Any]) -> str:
    """The text of a chat message (string content, or the text parts of a list)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if p.get("type") == "text")
    return ""


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """The text of the last ``user`` message."""
    users = [m for m in messages if m.get("role") == "user"]
    return message_text(users[-1]) if users else ""


def slow_answer(messages: list[dict[str, Any]]) -> str:
    """A slow but correct GeneralPoints player (``MODULE:CALLABLE`` policy for CLI tests)."""
    time.sleep(0.05)
    return solve_prompt(last_user_text(messages))


def odd_sum(values: list[int]) -> bool:
    """Hands whose values sum to an odd number (a ``wrong_first`` selector)."""
    return sum(values) % 2 == 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (an interrupted evaluation) are expected, not errors.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeChatServer:
    """The server, in a daemon thread; use as a context manager.

    Attributes:
        base_url: ``http://127.0.0.1:<port>/v1``.
        requests: The JSON bodies of every chat-completions request, in arrival order.
        authorizations: The ``Authorization`` header of every request (failed ones too).
        replied: How many scripted ``replies`` were sent (their requests are not in
            ``requests``).
    """

    def __init__(
        self,
        *,
        wrong_first: Callable[[list[int]], bool] | None = None,
        fail_first: int = 0,
        replies: Sequence[Reply] = (),
        delay: float = 0.0,
    ) -> None:
        self.wrong_first = wrong_first
        self.delay = delay
        self.fail_first = fail_first
        self.failures = 0
        self.replies = list(replies)
        self.replied = 0
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # silence
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "not found"}})
                    return
                try:
                    body = json.loads(raw)
                    assert isinstance(body, dict) and isinstance(body.get("messages"), list)
                except (ValueError, AssertionError):  # e.g. a client that hung up mid-request
                    self._send(400, {"error": {"message": "bad request"}})
                    return
                scripted = None
                with server.lock:
                    server.authorizations.append(self.headers.get("Authorization", ""))
                    if server.failures < server.fail_first:
                        server.failures += 1
                        fail = True
                    else:
                        fail = False
                        if server.replied < len(server.replies):
                            scripted = server.replies[server.replied]
                            server.replied += 1
                        else:
                            server.requests.append(body)
                if fail:
                    self._send(503, {"error": {"message": "overloaded, retry"}})
                    return
                if scripted is not None:
                    self.send_response(scripted.status)
                    for name, value in scripted.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(scripted.body)))
                    self.end_headers()
                    self.wfile.write(scripted.body)
                    return
                time.sleep(server.delay)
                try:
                    payload = server.completion(body)
                except Exception as exc:  # a bug in the fake: fail fast (400 is not retried)
                    self._send(400, {"error": {"message": f"fake server: {exc!r}"}})
                    return
                self._send(200, payload)

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self.port = int(self._httpd.server_address[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def answer(self, messages: list[dict[str, Any]]) -> str:
        """What the fake model says to a conversation."""
        text = last_user_text(messages)
        hand = read_hand(text)
        first_attempt = "Attempt 1 of" not in text
        if hand is not None and first_attempt and self.wrong_first and self.wrong_first(hand[1]):
            return WRONG
        return solve_prompt(text)

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """A chat-completions response body."""
        content = self.answer(list(body.get("messages", [])))
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    def __enter__(self) -> FakeChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
