"""Policies: whatever answers the prompts of an episode.

A policy is any callable ``policy(messages, *, env=None) -> str``: it receives
the conversation so far (see :mod:`oodgym.conversation`; the last message is
the current observation, earlier failed attempts and their feedback come
before it) and returns the answer text. :func:`make_policy` resolves a spec
string to one of the built-ins:

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
"""

from __future__ import annotations

import importlib
import inspect
import os
import random
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym

from oodgym.conversation import Message, to_openai

__all__ = [
    "BUILTIN_POLICIES",
    "CallablePolicy",
    "OpenAIPolicy",
    "OraclePolicy",
    "Policy",
    "RandomPolicy",
    "as_policy",
    "make_policy",
    "policy_name",
]

#: Names accepted by :func:`make_policy` besides ``"MODULE:CALLABLE"``.
BUILTIN_POLICIES = ("random", "oracle", "openai")


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
    """A plain function ``f(messages) -> str`` (or ``f(messages, env=...)``) as a policy."""

    def __init__(self, function: Callable[..., Any], name: str | None = None) -> None:
        if not callable(function):
            raise ValueError(f"{name or function!r} is not callable")
        self.function = function
        self.name = name or policy_name(function)
        self._pass_env = _accepts_env(function)

    def __call__(self, messages: list[Message], *, env: gym.Env[Any, Any] | None = None) -> str:
        """Call the function and return its answer as text."""
        answer = self.function(messages, env=env) if self._pass_env else self.function(messages)
        if not isinstance(answer, str):
            raise TypeError(
                f"policy {self.name!r} returned {type(answer).__name__}, expected the answer str"
            )
        return answer


def _accepts_env(function: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        (p.name == "env" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        or p.kind is p.VAR_KEYWORD
        for p in parameters
    )


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


def _import_openai() -> Any:
    try:
        import openai
    except ImportError as exc:
        raise ImportError(
            "the 'openai' policy needs the openai package: pip install 'ood-gym[openai]'"
        ) from exc
    return openai


class OpenAIPolicy:
    """A model behind an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Args:
        base_url: The endpoint's base URL, e.g. ``http://127.0.0.1:8000/v1`` (vLLM).
        model: The served model name.
        temperature: Sampling temperature (default 0: greedy, as in evaluation).
        max_tokens: Longest answer in tokens (``None``: the server's default).
        timeout: Seconds per request.
        max_retries: Retries of a request after a transient error (connection
            failure, timeout, 408/409/429/5xx), with exponential backoff.
        retry_backoff: First backoff delay in seconds (doubles, at most 30 s).
        seed: Sent as the request's ``seed`` (servers that support it sample
            reproducibly at temperature > 0).
        api_key: Defaults to ``OPENAI_API_KEY``, else ``"EMPTY"`` (local servers).
        extra_body: Extra JSON fields for every request (server-specific options).

    Thread-safe: one instance serves concurrent episodes.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        timeout: float = 120.0,
        max_retries: int = 5,
        retry_backoff: float = 1.0,
        seed: int | None = None,
        api_key: str | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        openai = _import_openai()
        self._openai = openai
        self.base_url = base_url
        self.model = model
        self.name = f"openai:{model}"
        self.temperature = float(temperature)
        self.max_tokens = max_tokens
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.retry_backoff = float(retry_backoff)
        self.seed = seed
        self.extra_body = dict(extra_body or {})
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY") or "EMPTY"
        # Retries are ours (bounded, logged in the exception); the client never retries.
        self._client = openai.OpenAI(
            base_url=base_url, api_key=key, timeout=self.timeout, max_retries=0
        )
        self._jitter = random.Random(0)
        self._jitter_lock = threading.Lock()
        self._closed = threading.Event()  # wakes up backoff sleeps; no retry after close()

    def _transient(self, exc: BaseException) -> bool:
        openai = self._openai
        if isinstance(exc, (openai.APIConnectionError, openai.APITimeoutError)):
            return True
        if isinstance(exc, openai.APIStatusError):
            return int(exc.status_code) in _TRANSIENT_STATUS
        return False

    def _delay(self, attempt: int) -> float:
        with self._jitter_lock:
            jitter = self._jitter.uniform(0.0, 0.25)
        return float(min(30.0, self.retry_backoff * (2**attempt)) * (1.0 + jitter))

    def request(self, messages: Sequence[Message]) -> dict[str, Any]:
        """The keyword arguments of one chat-completions request."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai(messages),
            "temperature": self.temperature,
        }
        if self.max_tokens is not None:
            kwargs["max_tokens"] = self.max_tokens
        if self.seed is not None:
            kwargs["seed"] = self.seed
        if self.extra_body:
            kwargs["extra_body"] = dict(self.extra_body)
        return kwargs

    def __call__(self, messages: list[Message], *, env: gym.Env[Any, Any] | None = None) -> str:
        """Send the conversation, return the first choice's text (``""`` if none)."""
        kwargs = self.request(messages)
        attempt = 0
        while True:
            try:
                response = self._client.chat.completions.create(**kwargs)
                break
            except Exception as exc:
                if not self._transient(exc) or attempt >= self.max_retries:
                    raise
                if self._closed.wait(self._delay(attempt)):
                    raise
                attempt += 1
        choices = getattr(response, "choices", None) or []
        if not choices:
            return ""
        content = choices[0].message.content
        return content if isinstance(content, str) else ""

    def close(self) -> None:
        """Close the HTTP connections (requests in flight fail without retries)."""
        self._closed.set()
        self._client.close()


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
        seed: Sent as the request seed by ``"openai"``; the other built-ins take
            their randomness from the environment (seeded per episode).
        **options: Keyword options of the policy (``"openai"``: ``temperature``,
            ``max_tokens``, ``timeout``, ``max_retries``, ``retry_backoff``,
            ``api_key``, ``extra_body``). ``None`` values are ignored.

    Raises:
        ValueError: An unknown spec, a missing ``base_url``/``model`` for
            ``"openai"``, or options the policy does not take.
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
