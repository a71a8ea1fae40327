"""Multi-turn rollouts for custom PPO / GRPO loops (no trainer library needed).

A *policy* is any callable that takes the conversation so far (a list of
messages in the format of :mod:`oodgym.conversation`) and returns the answer
text, or a :class:`~oodgym.policies.PolicyOutput` (the text plus the sampled
token ids, their log-probabilities and metadata, kept per step in
``Trajectory.outputs``). A policy whose signature names ``env`` (or takes
``**kwargs``) is also given ``env=`` the environment, like the policies of
:mod:`oodgym.policies`.

:func:`rollout` plays one episode and returns a :class:`Trajectory`: the
messages (observations as ``user`` messages, answers as ``assistant``
messages, images kept), the per-step rewards and infos, and how the episode
ended. ``conversation=`` chooses the protocol the policy is spoken to with
(:mod:`oodgym.conversation`): ``"full"`` (default: one growing
conversation) or ``"paper"`` (the reference's: the prompt once, short
failure messages, a fresh conversation per navigation step).
:func:`rollout_batch` plays one episode per seed; :func:`group_rollouts`
plays a GRPO group (several samples from one seed).

Example:
    >>> import gymnasium as gym
    >>> from oodgym.families import load_families
    >>> from oodgym.integrations import rollout
    >>> _ = load_families()
    >>> def oracle(messages, *, env):  # answers with the environment's expert
    ...     return env.unwrapped.expert_action()
    >>> trajectory = rollout(gym.make("cardenvs/GeneralPoints-v0"), oracle, seed=0)
    >>> trajectory.success, trajectory.episode_return, len(trajectory.messages)
    (True, 5.0, 2)

Everything here is sequential and deterministic: the same seeds and the same
(deterministic) policy give the same trajectories.

Seeds: the registered ids evaluate on seeds ``0 .. N-1`` (``oodgym eval``; N is
the preset's episode count, at most a few hundred). Wherever a training helper
takes a *count* of seeds (``seeds=n``), it means ``TRAINING_SEED_START ..
TRAINING_SEED_START + n - 1`` (:data:`TRAINING_SEED_START` = 1,000,000), a
range disjoint from the evaluation seeds. Pass explicit seeds (``range(n)``)
to choose others.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from oodgym.conversation import Conversation, Message, check_protocol, without_images
from oodgym.integrations.scoring import make_env
from oodgym.policies import PolicyOutput, accepts_keyword, as_policy_output

__all__ = [
    "TRAINING_SEED_START",
    "Policy",
    "Trajectory",
    "accepts_keyword",
    "group_rollouts",
    "make_env",
    "rollout",
    "rollout_batch",
    "seed_list",
]

#: A policy: the conversation so far -> the answer text (or a PolicyOutput). It may also
#: take the keywords ``env`` (the environment) and, with :func:`group_rollouts`, ``sample: int``.
Policy = Callable[..., str | PolicyOutput]

#: First seed of the training helpers' default range (``seeds=n`` means
#: ``TRAINING_SEED_START .. TRAINING_SEED_START + n - 1``), far above the evaluation seeds
#: ``0 .. N-1`` of the registered ids (N = 234 for GeneralPoints, 48 or 18 for navigation).
TRAINING_SEED_START = 1_000_000


@dataclass(frozen=True)
class Trajectory:
    """One episode played by a policy.

    Attributes:
        messages: Every message of the episode once, in order: ``user``
            observation (or, with ``"paper"``, a short failure message),
            ``assistant`` answer, ... ending with the last answer. Image
            observations keep their numpy image (see :mod:`oodgym.conversation`).
        rewards: The reward of every step (one per answer).
        infos: The ``info`` dict of every step.
        terminated: The environment ended the episode (for ood-gym envs: solved).
        truncated: The environment truncated it (attempts exhausted) or
            ``max_steps`` ran out.
        success: ``info["is_success"]`` of the last step (``False`` if no step ran).
        env_id: The Gymnasium id, if the environment has a spec.
        seed: The reset seed.
        sample: The index within a :func:`group_rollouts` group, else ``None``.
        conversation: The protocol the policy was spoken to with.
        conversation_starts: Where each conversation starts in ``messages``
            (``[0]`` for ``"full"``; one per navigation step for ``"paper"``).
        outputs: What the policy returned at every step, as
            :class:`~oodgym.policies.PolicyOutput` (text, and the token ids,
            log-probabilities and metadata when the policy gave them).
    """

    messages: list[Message]
    rewards: list[float]
    infos: list[dict[str, Any]]
    terminated: bool
    truncated: bool
    success: bool
    env_id: str | None = None
    seed: int | None = None
    sample: int | None = None
    conversation: str = "full"
    conversation_starts: list[int] = field(default_factory=lambda: [0])
    outputs: list[PolicyOutput] = field(default_factory=list)

    @property
    def conversations(self) -> list[list[Message]]:
        """``messages`` cut into the conversations the policy was sent (each with its answers)."""
        bounds = [*self.conversation_starts, len(self.messages)]
        return [self.messages[a:b] for a, b in itertools.pairwise(bounds) if a < b]

    @property
    def episode_return(self) -> float:
        """The (undiscounted) return: the sum of the rewards."""
        return float(sum(self.rewards))

    @property
    def length(self) -> int:
        """Number of steps (answers)."""
        return len(self.rewards)

    def to_dict(self, *, images: bool = False) -> dict[str, Any]:
        """A plain dict (JSON-serialisable unless ``images``; images become ``"<image>"``)."""
        return {
            "env_id": self.env_id,
            "seed": self.seed,
            "sample": self.sample,
            "messages": list(self.messages) if images else without_images(self.messages),
            "rewards": list(self.rewards),
            "infos": list(self.infos),
            "terminated": self.terminated,
            "truncated": self.truncated,
            "success": self.success,
            "episode_return": self.episode_return,
            "conversation": self.conversation,
            "conversation_starts": list(self.conversation_starts),
            "outputs": [output.to_dict() for output in self.outputs],
        }


def seed_list(seeds: Iterable[int] | int, start: int = TRAINING_SEED_START) -> list[int]:
    """Seeds as a list: an int ``n`` means ``start .. start + n - 1``; an iterable is taken as is.

    ``start`` defaults to :data:`TRAINING_SEED_START`, so a count never names
    evaluation seeds.

    Raises:
        ValueError: for a negative count or a negative seed.
        TypeError: for a seed that is not an integer.
    """
    if isinstance(seeds, bool):
        raise TypeError("seeds must be an int count or an iterable of ints, got a bool")
    if isinstance(seeds, int):
        if seeds < 0:
            raise ValueError(f"seeds: a count must be >= 0, got {seeds}")
        return list(range(start, start + seeds))
    out: list[int] = []
    for seed in seeds:
        if isinstance(seed, bool):
            raise TypeError(f"seeds must be ints, got {seed!r}")
        try:
            value = operator.index(seed)
        except TypeError:
            raise TypeError(f"seeds must be ints, got {seed!r}") from None
        if value < 0:
            raise ValueError(f"seeds must be >= 0, got {value}")
        out.append(value)
    return out


def _check_max_steps(max_steps: int) -> None:
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 0:
        raise ValueError(f"max_steps must be an int >= 0, got {max_steps!r}")


def _play(
    env: gym.Env[Any, Any],
    policy: Policy,
    seed: int | None,
    max_steps: int,
    sample: int | None,
    protocol: str,
) -> Trajectory:
    if accepts_keyword(policy, "env"):
        policy = functools.partial(policy, env=env)
    observation, _ = env.reset(seed=seed)
    conversation = Conversation(protocol)
    conversation.reset(observation)
    rewards: list[float] = []
    infos: list[dict[str, Any]] = []
    outputs: list[PolicyOutput] = []
    terminated = truncated = False
    for _ in range(max_steps):
        output = as_policy_output(policy(conversation.messages))
        outputs.append(output)
        answer = output.text
        observation, reward, terminated, truncated, info = env.step(answer)
        conversation.step(answer, observation, info, terminated, truncated)
        rewards.append(float(reward))
        infos.append(dict(info))
        if terminated or truncated:
            break
    else:
        truncated = True  # max_steps ran out (or was 0)
    # The transcript ends with the last answer (an observation after it was never answered).
    messages = conversation.transcript
    starts = conversation.starts
    if messages and messages[-1]["role"] != "assistant" and rewards:
        messages.pop()
        if starts[-1] >= len(messages):
            starts.pop()
    elif not rewards:
        messages, starts = [], [0]
    success = bool(infos[-1].get("is_success", terminated)) if infos else False
    spec = env.spec
    return Trajectory(
        messages=messages,
        rewards=rewards,
        infos=infos,
        terminated=bool(terminated),
        truncated=bool(truncated),
        success=success,
        env_id=spec.id if spec is not None else None,
        seed=seed,
        sample=sample,
        conversation=protocol,
        conversation_starts=starts,
        outputs=outputs,
    )


def rollout(
    env: gym.Env[Any, Any] | str,
    policy: Policy,
    *,
    seed: int | None = None,
    max_steps: int = 500,
    conversation: str = "full",
) -> Trajectory:
    """Play one episode of ``env`` with ``policy``.

    Args:
        env: An environment, or a registered id (made, then closed).
        policy: The conversation so far -> the answer text or a
            :class:`~oodgym.policies.PolicyOutput`. It receives a copy of the
            current conversation, ending with the current observation or
            failure message (and ``env=env`` if its signature accepts it).
        seed: The reset seed (``None``: continue the environment's stream).
        max_steps: Stop after this many answers (the trajectory is then marked
            ``truncated``).
        conversation: The protocol, ``"full"`` or ``"paper"`` (see
            :mod:`oodgym.conversation`).

    Returns:
        The trajectory.

    Raises:
        TypeError: if the policy returns something other than a ``str`` or a
            :class:`~oodgym.policies.PolicyOutput` (or its record form).
        ValueError: an unknown ``conversation`` or a bad ``max_steps``.
    """
    _check_max_steps(max_steps)
    protocol = check_protocol(conversation)
    if isinstance(env, str):
        made = make_env(env)
        try:
            return _play(made, policy, seed, max_steps, None, protocol)
        finally:
            made.close()
    return _play(env, policy, seed, max_steps, None, protocol)


def _environment(
    env: gym.Env[Any, Any] | str, env_kwargs: Mapping[str, Any] | None
) -> tuple[gym.Env[Any, Any], bool]:
    if isinstance(env, str):
        return make_env(env, env_kwargs), True
    if env_kwargs:
        raise ValueError("env_kwargs can only be given with an environment id, not an instance")
    return env, False


def rollout_batch(
    env_id: gym.Env[Any, Any] | str,
    policy: Policy,
    seeds: Iterable[int] | int,
    *,
    env_kwargs: Mapping[str, Any] | None = None,
    max_steps: int = 500,
    conversation: str = "full",
) -> list[Trajectory]:
    """One episode per seed, played one after the other in a single environment.

    Args:
        env_id: A registered id (or an environment instance).
        policy: As for :func:`rollout`.
        seeds: The seeds, or a count ``n`` for the training seeds
            ``TRAINING_SEED_START .. TRAINING_SEED_START + n - 1``.
        env_kwargs: Keyword arguments of ``gym.make`` (with an id only).
        max_steps: As for :func:`rollout`.
        conversation: As for :func:`rollout`.

    Returns:
        The trajectories, in seed order.
    """
    _check_max_steps(max_steps)
    protocol = check_protocol(conversation)
    chosen = seed_list(seeds)
    env, owned = _environment(env_id, env_kwargs)
    try:
        return [_play(env, policy, seed, max_steps, None, protocol) for seed in chosen]
    finally:
        if owned:
            env.close()


def group_rollouts(
    env_id: gym.Env[Any, Any] | str,
    policy: Policy,
    seed: int,
    group_size: int,
    *,
    env_kwargs: Mapping[str, Any] | None = None,
    max_steps: int = 500,
    conversation: str = "full",
) -> list[Trajectory]:
    """A GRPO-style group: ``group_size`` episodes from the same seed (the same start state).

    The samples differ only through the policy: if it accepts a keyword
    ``sample`` (or ``**kwargs``), it is called with ``sample=i`` for the
    ``i``-th episode (use it to seed the sampler of a model); otherwise it is
    called as in :func:`rollout`.

    Args:
        env_id: A registered id (or an environment instance).
        policy: The conversation so far (and optionally ``sample=i``) -> the answer.
        seed: The reset seed shared by the group.
        group_size: Episodes in the group, >= 1.
        env_kwargs: Keyword arguments of ``gym.make`` (with an id only).
        max_steps: As for :func:`rollout`.
        conversation: As for :func:`rollout`.

    Returns:
        The trajectories, ``sample`` = 0 .. group_size-1.
    """
    _check_max_steps(max_steps)
    protocol = check_protocol(conversation)
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size must be an int >= 1, got {group_size!r}")
    (seed,) = seed_list([seed])
    keyword = accepts_keyword(policy, "sample")
    env, owned = _environment(env_id, env_kwargs)
    try:
        out = []
        for index in range(group_size):
            play: Policy = functools.partial(policy, sample=index) if keyword else policy
            out.append(_play(env, play, seed, max_steps, index, protocol))
        return out
    finally:
        if owned:
            env.close()
