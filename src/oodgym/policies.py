"""Policies: whatever answers the prompts of an episode.

A policy is any callable ``policy(messages, *, env=None) -> str``: it receives
the conversation so far (see :mod:`oodgym.conversation`; the last message is
the current observation, earlier failed attempts and their feedback come
before it) and returns the answer text, or a :class:`PolicyOutput`: the text
plus, optionally, the sampled token ids, their log-probabilities and any
metadata (what a PPO/GRPO loop needs from the sampler; the rollout helpers of
:mod:`oodgym.integrations` keep them per step, evaluation keeps the text).
:func:`make_policy` resolves a spec string to one of the built-ins:

* ``"random"``: ``env.action_space.sample()``; :func:`oodgym.evaluation.evaluate`
  seeds the action space with the episode seed, so results are deterministic.
* ``"oracle"``: ``env.unwrapped.expert_action()`` (a correct answer).
* ``"MODULE:CALLABLE"``: an importable function taking the messages (and
  ``env=`` if its signature accepts it) and returning the answer. The spec is
  configuration, never model output.
* ``"openai"``: an OpenAI-compatible chat-completions endpoint (OpenAI, vLLM,
  SGLang, llama.cpp ...). Needs the ``openai`` package (``pip install
  "ood-gym[openai]"``), ``base_url`` and ``model``; the API key comes from
  ``OPENAI_API_KEY`` (``"EMPTY"`` when unset, which local servers accept).

Evaluation calls a policy with ``seed=`` too when its signature accepts it
(a ``seed`` keyword or ``**kwargs``): the seed of that request,
:func:`request_seed` of the episode seed and the turn, so sampled answers are
reproducible and differ from request to request.

A policy that cannot answer because its server failed raises
:class:`ServerError`: :func:`oodgym.evaluation.evaluate` then records the
episode as not run (never as an answer) and a rerun plays it again. The
``"openai"`` policy raises it once its retries are spent.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
import os
import random
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from oodgym.conversation import Message, to_openai
from oodgym.validation import check_int

__all__ = [
    "BUILTIN_POLICIES",
    "DEFAULT_MAX_TOKENS",
    "MAX_RETRY_WAIT",
    "CallablePolicy",
    "OpenAIPolicy",
    "OraclePolicy",
    "Policy",
    "PolicyOutput",
    "RandomPolicy",
    "ServerError",
    "accepts_keyword",
    "answer_text",
    "as_policy",
    "as_policy_output",
    "make_policy",
    "policy_name",
    "request_seed",
    "retry_after_seconds",
]

#: Names accepted by :func:`make_policy` besides ``"MODULE:CALLABLE"``.
BUILTIN_POLICIES = ("random", "oracle", "openai")

#: Default answer cap of :class:`OpenAIPolicy`, in tokens: the reference's evaluation cap.
DEFAULT_MAX_TOKENS = 256

#: Turns per episode that get distinct request seeds (see :func:`request_seed`).
_TURNS_PER_SEED = 1000


def request_seed(episode_seed: int, turn: int) -> int:
    """The sampling seed of request ``turn`` (0, 1, ...) of the episode seeded ``episode_seed``.

    ``(episode_seed * 1000 + turn) % 2**31``: every request of every episode
    gets its own seed (distinct for turns below 1000 and episode seeds below
    2,147,483), the same one in every run, and it fits the 32-bit seeds some
    servers take.
    """
    return (int(episode_seed) * _TURNS_PER_SEED + int(turn)) % 2**31


class ServerError(RuntimeError):
    """The policy's server gave no usable answer: a failed request, never a model answer.

    Raised by :class:`OpenAIPolicy` once its retries are spent; raise it from
    your own policies for the same meaning. Evaluation records the episode as
    not run (``"status": "error"``), leaves it out of the success rates, and a
    rerun of the same command plays it again.
    """


def _number_list(name: str, values: object, kind: type) -> tuple[Any, ...] | None:
    if values is None:
        return None
    tolist = getattr(values, "tolist", None)  # numpy arrays, torch tensors
    if callable(tolist) and not isinstance(values, (str, bytes)):
        values = tolist()
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence):
        raise TypeError(
            f"PolicyOutput.{name} must be a sequence of {kind.__name__}, got {values!r:.80}"
        )
    items = list(values)
    out: list[Any] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float, np.integer, np.floating)):
            raise TypeError(f"PolicyOutput.{name} must hold numbers, got {item!r:.80}")
        if kind is int:
            if isinstance(item, (float, np.floating)) and not float(item).is_integer():
                raise TypeError(f"PolicyOutput.{name} must hold ints, got {item!r}")
            out.append(int(item))
        else:
            out.append(float(item))
    return tuple(out)


@dataclass(frozen=True)
class PolicyOutput:
    """A policy's answer with what the sampler knows about it.

    Attributes:
        text: The answer text (what the environment judges).
        token_ids: The sampled token ids of the answer, if the policy has them
            (any sequence of ints; numpy arrays and torch tensors via ``tolist()``).
        logprobs: The sampler's log-probability of each sampled token (same
            length as ``token_ids`` when both are given).
        metadata: Anything else worth keeping per step (sampling settings,
            the raw response, timings); a plain dict.

    Raises:
        TypeError: ``text`` is not a str, a sequence holds non-numbers (or
            ``token_ids`` non-integers), or ``metadata`` is not a mapping.
        ValueError: ``token_ids`` and ``logprobs`` differ in length.

    Example:
        >>> output = PolicyOutput("(6+10-10)*4", token_ids=[7, 8], logprobs=[-0.1, -0.3])
        >>> output.token_ids, output.to_dict()["logprobs"]
        ((7, 8), [-0.1, -0.3])
        >>> as_policy_output({"text": "stop()", "metadata": {"temperature": 1.0}}).metadata
        {'temperature': 1.0}
    """

    text: str
    token_ids: tuple[int, ...] | None = None
    logprobs: tuple[float, ...] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"PolicyOutput.text must be a str, got {type(self.text).__name__}")
        token_ids = _number_list("token_ids", self.token_ids, int)
        logprobs = _number_list("logprobs", self.logprobs, float)
        if token_ids is not None and logprobs is not None and len(token_ids) != len(logprobs):
            raise ValueError(
                f"PolicyOutput: {len(token_ids)} token_ids but {len(logprobs)} logprobs"
            )
        if not isinstance(self.metadata, Mapping):
            raise TypeError(
                f"PolicyOutput.metadata must be a mapping, got {type(self.metadata).__name__}"
            )
        object.__setattr__(self, "token_ids", token_ids)
        object.__setattr__(self, "logprobs", logprobs)
        object.__setattr__(self, "metadata", dict(self.metadata))

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (lists for the sequences)."""
        return {
            "text": self.text,
            "token_ids": None if self.token_ids is None else list(self.token_ids),
            "logprobs": None if self.logprobs is None else list(self.logprobs),
            "metadata": dict(self.metadata),
        }


_OUTPUT_FIELDS = frozenset({"text", "token_ids", "logprobs", "metadata"})


def as_policy_output(value: object, who: str = "the policy") -> PolicyOutput:
    """A policy's return value as a :class:`PolicyOutput`.

    Accepts the answer text, a :class:`PolicyOutput`, or a mapping with a
    ``"text"`` key and optionally ``"token_ids"``, ``"logprobs"`` and
    ``"metadata"``.

    Raises:
        TypeError: Anything else, naming ``who`` and what it returned.
        ValueError: A mapping with other keys, or inconsistent lengths.
    """
    if isinstance(value, str):
        return PolicyOutput(value)
    if isinstance(value, PolicyOutput):
        return value
    if isinstance(value, Mapping):
        unknown = sorted(str(k) for k in set(value) - _OUTPUT_FIELDS)
        if unknown:
            raise ValueError(
                f"{who} returned a record with unknown key(s) {unknown}; "
                f"allowed: {sorted(_OUTPUT_FIELDS)}"
            )
        if "text" not in value:
            raise TypeError(f"{who} returned a record without 'text'")
        return PolicyOutput(
            text=value["text"],
            token_ids=value.get("token_ids"),
            logprobs=value.get("logprobs"),
            metadata=value.get("metadata") or {},
        )
    raise TypeError(
        f"{who} must return the answer str or a PolicyOutput, got {type(value).__name__}"
    )


def answer_text(value: object, who: str = "the policy") -> str:
    """The answer text of a policy's return value (see :func:`as_policy_output`)."""
    return as_policy_output(value, who).text


@runtime_checkable
class Policy(Protocol):
    """Anything that answers a conversation with one text action."""

    def __call__(self, messages: list[Message], *, env: gym.Env[Any, Any] | None = None) -> str:
        """Return the answer to the last message of ``messages``."""
        ...


def policy_name(policy: object) -> str:
    """A display name for a policy (its ``name`` attribute, else its qualified name)."""
    name = getattr(policy, "name", None)
    if isinstance(name, str) and name:
        return name
    module = getattr(policy, "__module__", None)
    qualname = getattr(policy, "__qualname__", None) or type(policy).__qualname__
    return f"{module}:{qualname}" if module else str(qualname)


def _require_env(env: gym.Env[Any, Any] | None, who: str) -> gym.Env[Any, Any]:
    if env is None:
        raise ValueError(f"the {who!r} policy needs the environment: call it with env=...")
    return env


class RandomPolicy:
    """Uniform samples of the action space (seed the space for reproducible answers)."""

    name = "random"

    def __call__(self, messages: list[Message], *, env: gym.Env[Any, Any] | None = None) -> str:
        """Return ``env.action_space.sample()``."""
        return str(_require_env(env, "random").action_space.sample())


class OraclePolicy:
    """The environment's expert: ``env.unwrapped.expert_action()``."""

    name = "oracle"

    def __call__(self, messages: list[Message], *, env: gym.Env[Any, Any] | None = None) -> str:
        """Return the expert's answer for the current step."""
        unwrapped = _require_env(env, "oracle").unwrapped
        expert = getattr(unwrapped, "expert_action", None)
        if not callable(expert):
            raise ValueError(f"{type(unwrapped).__name__} has no expert_action(): no oracle")
        return str(expert())


class CallablePolicy:
    """A plain function ``f(messages) -> str`` as a policy.

    The function is also given ``env=`` and ``seed=`` (the request seed, when
    the caller has one) if its signature accepts them. It may return a
    :class:`PolicyOutput` (or a record, see :func:`as_policy_output`) instead
    of a str; this policy answers with its text.
    """

    def __init__(self, function: Callable[..., Any], name: str | None = None) -> None:
        if not callable(function):
            raise ValueError(f"{name or function!r} is not callable")
        self.function = function
        self.name = name or policy_name(function)
        self._pass_env = _accepts_env(function)
        self._pass_seed = accepts_keyword(function, "seed")

    def __call__(
        self,
        messages: list[Message],
        *,
        env: gym.Env[Any, Any] | None = None,
        seed: int | None = None,
    ) -> str:
        """Call the function and return its answer as text."""
        keywords: dict[str, Any] = {}
        if self._pass_env:
            keywords["env"] = env
        if self._pass_seed and seed is not None:
            keywords["seed"] = seed
        return answer_text(self.function(messages, **keywords), f"policy {self.name!r}")


def accepts_keyword(function: Callable[..., Any], name: str) -> bool:
    """Whether ``function`` takes a keyword argument ``name`` (or ``**kwargs``)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        (p.name == name and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        or p.kind is p.VAR_KEYWORD
        for p in parameters
    )


def _accepts_env(function: Callable[..., Any]) -> bool:
    return accepts_keyword(function, "env")


def as_policy(function: Callable[..., Any]) -> Policy:
    """``function`` itself if it takes ``env=``, else wrapped in a :class:`CallablePolicy`."""
    if not callable(function):
        raise ValueError(f"a policy must be callable, got {function!r}")
    if _accepts_env(function):
        return function
    return CallablePolicy(function)


def _import_callable(spec: str) -> Callable[..., Any]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"policy {spec!r}: expected 'MODULE:CALLABLE'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"policy {spec!r}: cannot import module {module_name!r} ({exc})") from exc
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(
                f"policy {spec!r}: {module_name!r} has no attribute {attr!r}"
            ) from None
    if not callable(target):
        raise ValueError(f"policy {spec!r}: {attr!r} is not callable")
    return target  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- OpenAI-compatible

#: HTTP status codes worth retrying (timeouts, conflicts, rate limits, server errors).
_TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})

#: Longest wait before a retry, in seconds, whatever a ``Retry-After`` header asks: a
#: server asking for an hour would otherwise stall the run; after this wait the request
#: is retried (and counts against ``max_retries`` if it fails again).
MAX_RETRY_WAIT = 60.0

#: Longest exponential backoff step, in seconds (before jitter).
_MAX_BACKOFF = 30.0

#: How much of a failed response (body, error text) an exception message quotes.
_QUOTE_CHARS = 200

_DELAY_SECONDS = re.compile(r"\d{1,10}(?:\.\d{1,6})?")


def _quote(text: str) -> str:
    """``text`` shortened to :data:`_QUOTE_CHARS` for an error message (repr, one line)."""
    if len(text) <= _QUOTE_CHARS:
        return repr(text)
    return f"{text[:_QUOTE_CHARS]!r}... ({len(text)} chars)"


def retry_after_seconds(
    headers: Mapping[str, str] | None, *, now: datetime | None = None
) -> float | None:
    """The wait a response asks for, in seconds (``None`` if it asks for none).

    Reads ``retry-after-ms`` (milliseconds, sent by OpenAI), else ``Retry-After``
    as delay-seconds (``"120"``) or an HTTP date (``"Wed, 21 Oct 2015 07:28:00
    GMT"``, compared with ``now``, default the current UTC time). A date in the
    past is 0; a malformed value is ignored. The result is not capped: see
    :data:`MAX_RETRY_WAIT`.
    """
    if not headers:
        return None
    millis = str(headers.get("retry-after-ms") or "").strip()
    if _DELAY_SECONDS.fullmatch(millis):
        return float(millis) / 1000.0
    value = str(headers.get("retry-after") or "").strip()
    if not value:
        return None
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT
        when = when.replace(tzinfo=timezone.utc)
    reference = now if now is not None else datetime.now(timezone.utc)
    return max(0.0, (when - reference).total_seconds())


def _assistant_text(status: int, content_type: str, body: bytes) -> str:
    """The first choice's text of a chat-completions response body.

    Raises:
        ServerError: The body is not a JSON completion with a string
            ``choices[0].message.content`` (an HTML page, no choices, ``null``
            or non-string content): the server failed, the model did not answer.
    """
    text = body.decode("utf-8", errors="replace")
    where = f"HTTP {status} ({content_type or 'no content type'}, {len(body)} bytes)"
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ServerError(f"{where}: the body is not JSON: {_quote(text)}") from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices:
        raise ServerError(f"{where}: no choices in the response: {_quote(text)}")
    first = choices[0]
    message = first.get("message") if isinstance(first, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        refusal = message.get("refusal") if isinstance(message, dict) else None
        detail = f" (refusal: {_quote(str(refusal))})" if refusal else ""
        raise ServerError(
            f"{where}: choices[0].message.content is {type(content).__name__}, "
            f"not the answer text{detail}"
        )
    return content


def _import_openai() -> Any:
    try:
        import openai
    except ImportError as exc:
        raise ImportError(
            "the 'openai' policy needs the openai package: pip install 'ood-gym[openai]'"
        ) from exc
    return openai


def _check_number(name: str, value: object, *, positive: bool) -> float:
    """``value`` as a finite float, > 0 if ``positive`` else >= 0 (``ValueError`` naming it)."""
    bound = "> 0" if positive else ">= 0"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number {bound}, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return number


class OpenAIPolicy:
    """A model behind an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    A response without a usable answer text (a non-JSON or HTML body, no
    ``choices``, ``null`` or non-string content) is a failed request, retried
    like a transient error; when the retries are spent the call raises
    :class:`ServerError`, never returns a made-up answer.

    Args:
        base_url: The endpoint's base URL, e.g. ``http://127.0.0.1:8000/v1`` (vLLM).
        model: The served model name.
        temperature: Sampling temperature (default 0: greedy, as in evaluation).
        top_p: Nucleus sampling mass in (0, 1] (``None``: not sent, the server's default).
        max_tokens: Longest answer in tokens (default :data:`DEFAULT_MAX_TOKENS`,
            256, the reference's cap; ``None``: not sent, the server's default).
        timeout: Seconds to wait for the server, per request (connecting, and
            each read of the response); default 120. A timeout is retried.
        max_retries: Retries of a request after a failure (connection failure,
            timeout, 408/409/425/429/5xx, unusable response); default 5, 0 for none.
        retry_backoff: First backoff delay in seconds (doubles, at most 30 s, plus
            up to 25% jitter); 0 retries at once. A ``Retry-After`` (or
            ``retry-after-ms``) header lengthens the wait to what the server
            asks, at most :data:`MAX_RETRY_WAIT` (60 s).
        seed: Sent as the request's ``seed`` (servers that support it sample
            reproducibly at temperature > 0) when a call gives none; evaluation
            gives each request its own (:func:`request_seed`).
        api_key: Defaults to ``OPENAI_API_KEY``, else ``"EMPTY"`` (local servers).
        extra_body: Extra JSON fields for every request (server-specific options).

    Raises:
        ValueError: ``timeout``, ``max_retries``, ``retry_backoff``,
            ``max_tokens``, ``temperature`` or ``top_p`` out of range (the
            message names it).

    Thread-safe: one instance serves concurrent episodes. It pickles as its
    configuration (API key included): an unpickled copy, e.g. on a Ray worker,
    opens its own connections to the same server.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        temperature: float = 0.0,
        top_p: float | None = None,
        max_tokens: int | None = DEFAULT_MAX_TOKENS,
        timeout: float = 120.0,
        max_retries: int = 5,
        retry_backoff: float = 1.0,
        seed: int | None = None,
        api_key: str | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self.max_retries = check_int("max_retries", max_retries, 0)
        self.max_tokens = None if max_tokens is None else check_int("max_tokens", max_tokens, 1)
        self.timeout = _check_number("timeout", timeout, positive=True)
        self.retry_backoff = _check_number("retry_backoff", retry_backoff, positive=False)
        self.temperature = _check_number("temperature", temperature, positive=False)
        if top_p is not None:
            top_p = _check_number("top_p", top_p, positive=True)
            if top_p > 1:
                raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
        self.top_p = top_p
        openai = _import_openai()
        self._openai = openai
        self.base_url = base_url
        self.model = model
        self.name = f"openai:{model}"
        self.seed = seed
        self.extra_body = dict(extra_body or {})
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY") or "EMPTY"
        # What a pickled copy is rebuilt from (a Ray worker, another process).
        self._config: dict[str, Any] = {
            "base_url": base_url,
            "model": model,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "retry_backoff": self.retry_backoff,
            "seed": seed,
            "api_key": key,
            "extra_body": dict(self.extra_body),
        }
        # Retries are ours (bounded, logged in the exception); the client never retries.
        self._client = openai.OpenAI(
            base_url=base_url, api_key=key, timeout=self.timeout, max_retries=0
        )
        self._jitter = random.Random(0)
        self._jitter_lock = threading.Lock()
        self._closed = threading.Event()  # wakes up backoff sleeps; no retry after close()
        # Waits before a retry; returns True if the wait was cut short by close().
        self._sleep: Callable[[float], bool] = self._closed.wait

    def __reduce__(self) -> tuple[Callable[..., OpenAIPolicy], tuple[dict[str, Any]]]:
        """Pickle the configuration, not the client (its locks and connections)."""
        return _rebuild_openai_policy, (dict(self._config),)

    def _retryable(self, exc: BaseException) -> bool:
        openai = self._openai
        if isinstance(exc, (ServerError, openai.APIConnectionError, openai.APITimeoutError)):
            return True
        if isinstance(exc, openai.APIStatusError):
            return int(exc.status_code) in _TRANSIENT_STATUS
        return False

    def retry_delay(self, attempt: int, exc: BaseException | None = None) -> float:
        """Seconds to wait before retry ``attempt + 1`` after ``exc`` failed.

        Exponential backoff with jitter, lengthened to the ``Retry-After`` of an
        HTTP error response and capped at :data:`MAX_RETRY_WAIT`.
        """
        with self._jitter_lock:
            jitter = self._jitter.uniform(0.0, 0.25)
        delay = min(_MAX_BACKOFF, self.retry_backoff * (2**attempt)) * (1.0 + jitter)
        response = getattr(exc, "response", None)
        asked = retry_after_seconds(getattr(response, "headers", None))
        if asked is not None:
            delay = max(delay, asked)
        return float(min(delay, MAX_RETRY_WAIT))

    def request(self, messages: Sequence[Message], *, seed: int | None = None) -> dict[str, Any]:
        """The keyword arguments of one request (``seed``, if given, replaces ``self.seed``)."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai(messages),
            "temperature": self.temperature,
        }
        if self.top_p is not None:
            kwargs["top_p"] = self.top_p
        if self.max_tokens is not None:
            kwargs["max_tokens"] = self.max_tokens
        chosen = self.seed if seed is None else seed
        if chosen is not None:
            kwargs["seed"] = chosen
        if self.extra_body:
            kwargs["extra_body"] = dict(self.extra_body)
        return kwargs

    def _send(self, kwargs: Mapping[str, Any]) -> str:
        # The raw response: the client's lenient parsing would turn an HTML page into a str.
        raw = self._client.chat.completions.with_raw_response.create(**kwargs)
        content_type = str(raw.headers.get("content-type", ""))
        return _assistant_text(int(raw.status_code), content_type, bytes(raw.content))

    def __call__(
        self,
        messages: list[Message],
        *,
        env: gym.Env[Any, Any] | None = None,
        seed: int | None = None,
    ) -> str:
        """Send the conversation, return the first choice's text.

        ``seed`` is this request's sampling seed (default: ``self.seed``).

        Raises:
            ServerError: No usable answer after ``max_retries`` retries.
            openai.APIStatusError: A non-transient HTTP error (bad request,
                authentication, unknown model): not retried.
        """
        kwargs = self.request(messages, seed=seed)
        attempt = 0
        while True:
            try:
                return self._send(kwargs)
            except Exception as exc:
                if not self._retryable(exc):
                    raise
                if attempt >= self.max_retries:
                    # Our own messages are short already; a client's may quote a whole page.
                    last = str(exc) if isinstance(exc, ServerError) else _quote(str(exc))
                    raise ServerError(
                        f"{self.base_url}: no usable answer after {attempt + 1} attempt(s); "
                        f"last: {type(exc).__name__}: {last}"
                    ) from exc
                if self._sleep(self.retry_delay(attempt, exc)):
                    raise ServerError(f"{self.base_url}: the policy was closed") from exc
                attempt += 1

    def close(self) -> None:
        """Close the HTTP connections (requests in flight fail without retries)."""
        self._closed.set()
        self._client.close()


def _rebuild_openai_policy(config: dict[str, Any]) -> OpenAIPolicy:
    """An :class:`OpenAIPolicy` from its pickled configuration."""
    return OpenAIPolicy(**config)


# --------------------------------------------------------------------------- resolver


def make_policy(
    spec: str,
    *,
    base_url: str | None = None,
    model: str | None = None,
    seed: int = 0,
    **options: Any,
) -> Policy:
    """Resolve a policy spec (see the module docstring).

    Args:
        spec: ``"random"``, ``"oracle"``, ``"openai"`` or ``"MODULE:CALLABLE"``.
        base_url: The endpoint of ``"openai"`` (required there, refused elsewhere).
        model: The model of ``"openai"`` (required there, refused elsewhere).
        seed: Sent as the request seed by ``"openai"`` when a call gives none;
            the other built-ins take their randomness from the environment
            (seeded per episode).
        **options: Keyword options of the policy (``"openai"``: ``temperature``,
            ``top_p``, ``max_tokens``, ``timeout``, ``max_retries``, ``retry_backoff``,
            ``api_key``, ``extra_body``; see :class:`OpenAIPolicy`). ``None``
            values are ignored.

    Raises:
        ValueError: An unknown spec, a missing ``base_url``/``model`` for
            ``"openai"``, options the policy does not take, or an option out of
            range (the message names it).
        ImportError: ``"openai"`` without the ``openai`` package.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"policy must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    options = {k: v for k, v in options.items() if v is not None}
    if spec == "openai":
        missing = [n for n, v in (("base_url", base_url), ("model", model)) if not v]
        if missing:
            raise ValueError(
                f"the 'openai' policy needs {' and '.join(missing)} "
                "(--base-url URL --model NAME on the command line)"
            )
        assert base_url is not None and model is not None
        allowed = sorted(
            set(inspect.signature(OpenAIPolicy).parameters) - {"base_url", "model", "seed"}
        )
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise ValueError(
                f"the 'openai' policy takes no option(s) {unknown}; allowed: {allowed}"
            )
        return OpenAIPolicy(base_url=base_url, model=model, seed=seed, **options)
    if base_url is not None or model is not None:
        raise ValueError(f"base_url and model are options of the 'openai' policy, not {spec!r}")
    if options:
        raise ValueError(f"the {spec!r} policy takes no options, got {sorted(options)}")
    if spec == "random":
        return RandomPolicy()
    if spec == "oracle":
        return OraclePolicy()
    if ":" in spec:
        return CallablePolicy(_import_callable(spec), name=spec)
    raise ValueError(
        f"unknown policy {spec!r}: use one of {list(BUILTIN_POLICIES)} or 'MODULE:CALLABLE'"
    )
