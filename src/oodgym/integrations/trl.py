"""TRL adapters: prompt datasets, GRPO reward functions and a multi-turn environment.

This module does not import TRL (TRL is the user's dependency); it produces
the plain data, callables and classes that ``trl.GRPOTrainer`` consumes. It
follows the interfaces of TRL 1.x as documented for ``GRPOTrainer`` (written
against TRL's main branch of July 2026, 1.10.dev; ``environment_factory`` needs
``transformers>=5.2``):

* :func:`prompt_dataset`: a conversational prompt-only dataset whose rows name
  states (``env_id``, ``seed``, ``step``) and carry their ``env_kwargs`` and
  ``conversation`` protocol;
* :func:`reward_function` (:class:`EnvReward`): single-turn GRPO rewards, the
  environment's own reward for each completion at the row's state; verdict
  counts through TRL's ``log_metric``;
* :class:`GymEnvironment`: for ``GRPOTrainer(environment_factory=...)``, whole
  multi-turn episodes: ``reset(**row)`` starts the row's state, the tool
  ``answer(text)`` plays one answer and returns the feedback and the next
  observation, ``get_reward()`` returns the episode's return.

Example::

    from trl import GRPOConfig, GRPOTrainer
    from oodgym.integrations.trl import prompt_dataset, reward_function

    env_id = "cardenvs/GeneralPoints-v0"
    trainer = GRPOTrainer(
        model="Qwen/Qwen2.5-0.5B-Instruct",
        reward_funcs=reward_function(env_id),
        train_dataset=prompt_dataset(env_id, seeds=1000, as_hf=True),
        args=GRPOConfig(output_dir="gp-grpo"),
    )

``seeds=1000`` means the training seeds ``1_000_000 .. 1_000_999``
(:data:`~oodgym.integrations.rollout.TRAINING_SEED_START`), never the
evaluation seeds ``0 .. N-1``.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from oodgym.conversation import (
    Conversation,
    Message,
    check_protocol,
    images_as_placeholders,
    observation_text,
)
from oodgym.integrations.scoring import (
    MAX_EXPERT_STEPS,
    STEPS,
    canonical_kwargs,
    expert_states,
    has_image,
    make_env,
    parse_kwargs,
    replay_conversation,
    state_scorer,
)

__all__ = [
    "STEPS",
    "EnvReward",
    "GymEnvironment",
    "completion_text",
    "prompt_dataset",
    "reward_function",
]


def _pil(image: Any) -> Any:
    from PIL import Image

    return Image.fromarray(np.asarray(image, dtype=np.uint8))


def _row(
    state: dict[str, Any], messages: list[Message], image: bool, parts: bool
) -> dict[str, Any]:
    """A dataset row whose prompt is ``messages`` (the conversation the policy is sent).

    ``parts``: contents as lists of parts with ``{"type": "image"}`` placeholders
    (image rows of ``"full"`` conversations); else image rows have one user
    message with a string content, where TRL inserts the placeholder itself.
    """
    if not image:
        prompt = [{"role": m["role"], "content": m["content"]} for m in messages]
        return {"prompt": prompt, **state}
    listed, images = images_as_placeholders(messages)
    if parts:
        prompt = [{"role": m["role"], "content": m["content"]} for m in listed]
    else:
        (message,) = listed
        text = "".join(p["text"] for p in message["content"] if p["type"] == "text")
        prompt = [{"role": "user", "content": text}]
    return {"prompt": prompt, **state, "images": [_pil(i) for i in images]}


def _import_datasets() -> Any:
    try:
        import datasets
    except ImportError as err:
        raise ImportError(
            "as_hf=True needs the Hugging Face 'datasets' package: "
            "pip install 'ood-gym[hf]' (or pip install datasets)"
        ) from err
    return datasets


def _features(datasets: Any, image: bool, parts: bool) -> Any:
    text = datasets.Value("string")
    content: Any = [{"type": text, "text": text}] if parts else text
    columns: dict[str, Any] = {
        "prompt": [{"role": text, "content": content}],
        "env_id": text,
        "seed": datasets.Value("int64"),
        "step": datasets.Value("int64"),
        "env_kwargs": text,
        "conversation": text,
    }
    if image:
        columns["images"] = [datasets.Image()]
    return datasets.Features(columns)


def prompt_dataset(
    env_id: str,
    *,
    seeds: Iterable[int] | int,
    steps: str = "first",
    env_kwargs: Mapping[str, Any] | None = None,
    conversation: str = "paper",
    as_hf: bool = False,
) -> Any:
    """Prompts of an environment as a TRL prompt-only, conversational dataset.

    Every row has ``"prompt"`` (the conversation the policy is sent at the
    state, e.g. ``[{"role": "user", "content": <prompt text>}]``), the state
    ``"env_id"``, ``"seed"`` and ``"step"``, and how it was made:
    ``"env_kwargs"`` (canonical JSON, ``"{}"`` for none) and ``"conversation"``.
    Rows of image observations also have ``"images"`` (a list of
    ``PIL.Image``, TRL's column for vision-language models). The reward
    function and :class:`GymEnvironment` read these columns, so a dataset built
    with other kwargs is never scored by the wrong environment.

    Args:
        env_id: A registered id.
        seeds: The reset seeds, or a count ``n`` for the training seeds
            ``1_000_000 .. 1_000_000 + n - 1`` (disjoint from the evaluation
            seeds ``0 .. N-1``; see :data:`~oodgym.integrations.rollout.TRAINING_SEED_START`).
        steps: ``"first"``: one row per seed, the first observation.
            ``"expert"``: one row per step of the expert's episode (the states
            reached by replaying the expert's answers), for multi-step
            environments such as navigation. For GeneralPoints, whose expert
            solves at once, both give the same rows.
        env_kwargs: Keyword arguments of ``gym.make`` (plain JSON data).
        conversation: The protocol of the prompts (see :mod:`oodgym.conversation`):
            ``"paper"`` (default): the prompt of the state alone (a navigation
            step's prompt holds the instruction and the history); ``"full"``:
            the episode so far, earlier observations and expert answers
            included; its image rows have list contents (text parts and
            ``{"type": "image"}`` placeholders, one per entry of ``"images"``).
        as_hf: Return a ``datasets.Dataset`` (needs ``pip install 'ood-gym[hf]'``)
            instead of a list of dicts.

    Returns:
        A list of row dicts, or a ``datasets.Dataset``.

    Raises:
        ValueError: for an unknown ``steps`` or ``conversation``, bad seeds,
            or ``env_kwargs`` that are not plain data.
        ImportError: if ``as_hf`` and ``datasets`` is missing.
    """
    datasets = _import_datasets() if as_hf else None
    rows: list[dict[str, Any]] = []
    image = parts = False
    for env, state, messages in expert_states(
        env_id, seeds, steps=steps, env_kwargs=env_kwargs, conversation=conversation
    ):
        image = has_image(env)
        parts = image and state["conversation"] == "full"
        rows.append(_row(state, messages, image, parts))
    if datasets is None:
        return rows
    return datasets.Dataset.from_list(rows, features=_features(datasets, image, parts))


# --------------------------------------------------------------------------- completions


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, (bytes, bytearray)):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return ""


def completion_text(completion: object) -> str:
    """The answer text of a TRL completion.

    Accepts a string (standard format), a conversational completion
    ``[{"role": "assistant", "content": ...}]`` (the last assistant message
    counts; content may be a string or a list of text parts) or a single
    message dict. Anything else gives ``""``, which the environments judge as
    an unparsable answer.
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return _content_text(completion.get("content"))
    if isinstance(completion, Sequence) and not isinstance(completion, (bytes, bytearray)):
        messages = [m for m in completion if isinstance(m, Mapping)]
        answers = [m for m in messages if m.get("role") == "assistant"] or messages
        if answers:
            return _content_text(answers[-1].get("content"))
    return ""


# --------------------------------------------------------------------------- reward functions


def _is_list(value: object) -> bool:
    return isinstance(value, (Sequence, np.ndarray)) and not isinstance(
        value, (str, bytes, bytearray)
    )


def _column(kwargs: Mapping[str, Any], name: str, count: int, default: Any) -> list[Any]:
    value = kwargs.get(name, default)
    if value is None:
        if default is None:
            raise ValueError(
                f"the reward function needs a {name!r} column (prompt_dataset makes one); "
                f"got columns {sorted(k for k in kwargs if k not in _TRL_KEYWORDS)}"
            )
        value = default
    if not _is_list(value):
        return [value] * count
    values = list(value)
    if len(values) != count:
        raise ValueError(f"column {name!r} has {len(values)} values for {count} completions")
    return values


def _index(value: object, name: str, row: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"row {row}: {name} must be an int >= 0, got {value!r}")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"row {row}: {name} must be an int >= 0, got {value!r:.80}") from None
    if number < 0:
        raise ValueError(f"row {row}: {name} must be an int >= 0, got {number}")
    return number


def _reward_name(env_id: str) -> str:
    return "reward_" + re.sub(r"[^0-9A-Za-z_.-]+", "_", env_id).strip("_")


#: Keywords TRL passes to reward functions besides the dataset's columns.
_TRL_KEYWORDS = frozenset(
    {"prompts", "completions", "completion_ids", "trainer_state", "log_extra", "log_metric"}
    | {"environments"}
)


def _split_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Sequence[Any]]:
    """``(prompts, completions)`` from a call: ``completions`` by keyword, first, or second."""
    if "completions" in kwargs:
        completions = kwargs.pop("completions")
        if len(args) > 1 or (args and "prompts" in kwargs):
            raise TypeError(
                "the reward function takes at most the prompts positionally when "
                f"completions= is given; got {len(args)} positional argument(s)"
            )
        prompts = args[0] if args else kwargs.pop("prompts", None)
    elif len(args) == 1:
        completions, prompts = args[0], kwargs.pop("prompts", None)
    elif len(args) == 2:
        if "prompts" in kwargs:
            raise TypeError("the reward function got prompts twice (positionally and prompts=)")
        prompts, completions = args
    elif not args:
        raise TypeError(
            "the reward function needs the completions: reward(completions=[...], seed=[...]), "
            "reward(completions, seed=...) or reward(prompts, completions, seed=...)"
        )
    else:
        raise TypeError(
            f"the reward function takes (prompts, completions) or (completions) positionally, "
            f"got {len(args)} positional arguments"
        )
    if not _is_list(completions) or isinstance(completions, Mapping):
        raise TypeError(
            "completions must be a list (one completion per row: a str or a list of messages), "
            f"got {type(completions).__name__}"
        )
    if _is_list(prompts) and len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts for {len(completions)} completions")
    return prompts, list(completions)


class EnvReward:
    """A TRL reward function scoring completions with an environment's own reward.

    Called the way TRL calls reward functions: ``reward(prompts=...,
    completions=..., **columns)`` with the dataset's other columns as keyword
    lists. ``completions`` may also come first (``reward(completions,
    seed=...)``) or second (``reward(prompts, completions, ...)``); any other
    call raises ``TypeError`` (never a silent ``[]``).

    Every completion is judged at its row's state (``seed``, ``step``, default
    0) by the environment of the row's ``env_kwargs``: one ``env.step`` on the
    state reached by the expert's answers, so the reward is exactly the
    environment's. States are replayed once and reused for every completion
    on them (a GRPO group replays once), and image ids are judged without
    rendering where verdicts do not depend on pixels (see
    :mod:`oodgym.integrations.scoring`).

    Rows whose ``env_id`` column names another id get ``None`` (TRL's "not
    applicable"), so one reward function per id combines on a mixed dataset.

    When TRL passes ``log_metric``, the counts of each verdict category among
    this call's completions are logged as ``verdicts/<name>/<category>``
    (every category of the environment's reward table every time, so all
    processes log the same keys); ``log_extra`` gets each completion's verdict
    in the column ``verdict/<name>``.

    Args:
        env_id: A registered id.
        env_kwargs: Keyword arguments of ``gym.make``. ``None`` (default): take
            them from the rows' ``env_kwargs`` column (``{}`` for rows without
            one). A mapping: the rows must carry the same kwargs, or the call
            raises ``ValueError`` naming both (a dataset built with
            ``rule="face-11-12-13"`` is never scored with the default rule).
        name: ``__name__``, TRL's logging key (``rewards/<name>``); default
            ``reward_<env id>``.

    Raises:
        gymnasium.error.Error: An unknown id.
        ValueError: ``env_kwargs`` that are not plain data.
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
    ) -> None:
        if env_id not in gym.registry:
            make_env(env_id, env_kwargs).close()  # registers families; fails for an unknown id
        self.env_id = env_id
        self.env_kwargs = None if env_kwargs is None else parse_kwargs(env_kwargs)
        self._kwargs_json = None if env_kwargs is None else canonical_kwargs(env_kwargs)
        self.__name__ = name or _reward_name(env_id)

    def __repr__(self) -> str:
        return f"EnvReward({self.env_id!r}, env_kwargs={self.env_kwargs!r})"

    def score(self, completion: object, seed: int, step: int = 0) -> float:
        """The reward of one completion at the state ``(seed, step)`` (this function's kwargs)."""
        scorer = state_scorer(self.env_id, self._kwargs_json or "{}")
        return scorer.score(completion_text(completion), seed, step).reward

    def _row_kwargs(self, value: object, row: int) -> str:
        if value is None:
            return self._kwargs_json or "{}"
        given = canonical_kwargs(parse_kwargs(value))
        if self._kwargs_json is not None and given != self._kwargs_json:
            raise ValueError(
                f"row {row}: the dataset's env_kwargs {given} differ from this reward "
                f"function's {self._kwargs_json}: it would judge another environment. "
                "Build the reward function with the dataset's env_kwargs, or without "
                "env_kwargs to take them from the rows"
            )
        return given

    def __call__(self, *args: Any, **kwargs: Any) -> list[float | None]:
        """Rewards of the completions (one per completion, ``None`` for other ids' rows)."""
        _, completions = _split_arguments(args, kwargs)
        count = len(completions)
        log_metric, log_extra = kwargs.get("log_metric"), kwargs.get("log_extra")
        rewards: list[float | None] = []
        verdicts: list[str] = []
        if count:
            seeds = _column(kwargs, "seed", count, None)
            steps = _column(kwargs, "step", count, 0)
            ids = _column(kwargs, "env_id", count, self.env_id)
            configs = _column(kwargs, "env_kwargs", count, "")
            for row, (completion, seed, step, env_id, config) in enumerate(
                zip(completions, seeds, steps, ids, configs, strict=True)
            ):
                if env_id != self.env_id:
                    rewards.append(None)
                    verdicts.append("")
                    continue
                scorer = state_scorer(self.env_id, self._row_kwargs(config or None, row))
                result = scorer.score(
                    completion_text(completion),
                    _index(seed, "seed", row),
                    _index(step, "step", row),
                )
                rewards.append(result.reward)
                verdicts.append(result.verdict or "")
        if callable(log_metric):
            categories = state_scorer(self.env_id, self._kwargs_json or "{}").categories
            for category in sorted({*categories, *(v for v in verdicts if v)}):
                count_of = sum(v == category for v in verdicts)
                log_metric(f"verdicts/{self.__name__}/{category}", float(count_of))
        if callable(log_extra):
            log_extra(f"verdict/{self.__name__}", verdicts)
        return rewards


def reward_function(
    env_id: str, *, env_kwargs: Mapping[str, Any] | None = None, name: str | None = None
) -> Callable[..., list[float | None]]:
    """A TRL GRPO reward function for ``env_id`` (see :class:`EnvReward`).

    Args:
        env_id: A registered id.
        env_kwargs: Keyword arguments of ``gym.make``; ``None`` (default) takes
            them from the rows (the ``env_kwargs`` column of :func:`prompt_dataset`).
            Given, the rows must match them.
        name: The function's ``__name__`` (TRL logs ``rewards/<name>``);
            default ``"reward_<env id>"``.

    Returns:
        ``reward(prompts, completions, **columns) -> list[float | None]``.
        Completions may be strings or conversational lists; anything else is
        scored as an empty answer.

    Example:
        >>> from oodgym.integrations.trl import prompt_dataset, reward_function
        >>> rows = prompt_dataset("cardenvs/GeneralPoints-v0", seeds=[0])
        >>> reward = reward_function("cardenvs/GeneralPoints-v0")
        >>> reward(
        ...     completions=[[{"role": "assistant", "content": "formula: 1+1"}]],
        ...     seed=[0], step=[0],
        ... )
        [-2.0]
    """
    return EnvReward(env_id, env_kwargs, name=name)


# --------------------------------------------------------------------------- environment_factory


def _message_text(message: Mapping[str, Any]) -> str:
    return _content_text(message.get("content"))


def _answer_str(text: object) -> str:
    """The tool argument as answer text (a model may pass an object instead of a string)."""
    if isinstance(text, str):
        return text
    if isinstance(text, (Mapping, list)):
        try:
            return json.dumps(text, ensure_ascii=False)
        except (TypeError, ValueError):
            return ""
    return "" if text is None else str(text)


class GymEnvironment:
    """An ood-gym episode for ``trl.GRPOTrainer(environment_factory=...)``.

    TRL makes one instance per rollout and calls ``reset(**row)`` with the
    columns of a :func:`prompt_dataset` row; the row's prompt is what the
    model sees first. The model then plays by calling the one tool,
    :meth:`answer`, whose result (the feedback on the answer and the next
    observation, under the row's ``conversation`` protocol) becomes the tool
    message. After the rollout TRL calls :meth:`get_reward`: the episode's
    return, the sum of the environment's rewards (the environment owns the
    reward, logged under ``rewards/GymEnvironment``).

    A rollout that stops calling :meth:`answer` before the episode ends
    forfeits the rest: :meth:`get_reward` first judges empty answers until the
    environment ends the episode (``forfeit=False``: just the sum so far), so
    giving up never pays better than trying.

    Images: the row's first image is TRL's ``images`` column; a later
    observation with an image (a navigation street view after a correct
    step, or every observation under ``"full"``) is returned as a multimodal
    tool response, ``[{"type": "image", "image": PIL.Image}, {"type": "text",
    "text": ...}]``.

    Args:
        env_id: The id; ``None`` (default): the row's ``env_id``. Given, rows
            naming another id raise ``ValueError``.
        env_kwargs: ``None`` (default): the row's ``env_kwargs``. Given, rows
            must carry the same ones.
        conversation: ``None`` (default): the row's ``conversation`` (else
            ``"paper"``). Given, rows must use the same protocol.
        forfeit: See above (default ``True``).

    Only :meth:`answer` is a public method (TRL exposes every public method
    of the environment as a tool, except ``reset`` and ``get_reward``).
    Attributes: ``rewards`` and ``verdicts`` (one per judged answer), ``done``.

    Example:
        >>> from oodgym.integrations.trl import GymEnvironment, prompt_dataset
        >>> row = prompt_dataset("cardenvs/GeneralPoints-v0", seeds=[0])[0]
        >>> env = GymEnvironment()
        >>> env.reset(**row)
        >>> env.answer('{"formula": "10+10+4+6"}').split(".")[0]
        'Your answer failed (wrong value)'
        >>> env.answer('{"formula": "(6+10-10)*4"}').splitlines()[-1], env.done
        ('The episode is over.', True)
        >>> env.rewards, env.get_reward()
        ([-1.0, 5.0], 4.0)
    """

    def __init__(
        self,
        env_id: str | None = None,
        *,
        env_kwargs: Mapping[str, Any] | None = None,
        conversation: str | None = None,
        forfeit: bool = True,
    ) -> None:
        self._env_id = env_id
        self._kwargs_json = None if env_kwargs is None else canonical_kwargs(env_kwargs)
        self._protocol = None if conversation is None else check_protocol(conversation)
        self._forfeit = bool(forfeit)
        self._env: gym.Env[Any, Any] | None = None
        self._env_key: tuple[str, str] | None = None
        self._talk: Conversation | None = None
        self.rewards: list[float] = []
        self.verdicts: list[str | None] = []
        self.done = True

    def __repr__(self) -> str:
        key = self._env_key or (self._env_id, self._kwargs_json)
        return f"GymEnvironment({key[0]!r}, env_kwargs={key[1]})"

    def _choose(self, name: str, row_value: object, mine: str | None) -> str | None:
        if row_value is None or row_value == "":
            return mine
        if not isinstance(row_value, str):
            raise ValueError(f"reset(): the row's {name} must be a str, got {row_value!r:.80}")
        if mine is not None and row_value != mine:
            raise ValueError(
                f"reset(): the row's {name} {row_value!r} differs from this environment's {mine!r}"
            )
        return row_value

    def _environment(self, env_id: str, kwargs_json: str) -> gym.Env[Any, Any]:
        if self._env is None or self._env_key != (env_id, kwargs_json):
            if self._env is not None:
                self._env.close()
            self._env = make_env(env_id, parse_kwargs(kwargs_json))
            self._env_key = (env_id, kwargs_json)
        return self._env

    def reset(self, **row: Any) -> None:
        """Start the episode a dataset row names (TRL passes the row's columns).

        Reads ``env_id``, ``seed``, ``step`` (default 0), ``env_kwargs`` and
        ``conversation``; other columns are ignored. The last message of the
        row's ``prompt`` must contain the state's observation text (a row made
        with other kwargs raises; added instructions around it are fine).

        Raises:
            ValueError: A missing ``seed`` or ``env_id``, a row that disagrees
                with this environment's settings, a ``step`` past the end of
                the expert's episode, or a prompt that is not the state's.
        """
        env_id = self._choose("env_id", row.get("env_id"), self._env_id)
        if env_id is None:
            raise ValueError("reset(): the row has no env_id (or give GymEnvironment(env_id))")
        kwargs_value = row.get("env_kwargs")
        kwargs_json = (
            self._kwargs_json or "{}"
            if kwargs_value is None or kwargs_value == ""
            else canonical_kwargs(parse_kwargs(kwargs_value))
        )
        if self._kwargs_json is not None and kwargs_json != self._kwargs_json:
            raise ValueError(
                f"reset(): the row's env_kwargs {kwargs_json} differ from this environment's "
                f"{self._kwargs_json}"
            )
        protocol = check_protocol(
            self._choose("conversation", row.get("conversation"), self._protocol) or "paper"
        )
        if row.get("seed") is None:
            raise ValueError("reset(): the row has no seed (use prompt_dataset rows)")
        seed = _index(row["seed"], "seed", 0)
        step = _index(row.get("step", 0) or 0, "step", 0)
        env = self._environment(env_id, kwargs_json)
        observation, talk = replay_conversation(env, seed, step, protocol, who="reset(): ")
        prompt = row.get("prompt")
        if isinstance(prompt, list) and prompt and isinstance(prompt[-1], Mapping):
            # Contained, not equal: a prompt may be given extra instructions around it.
            if observation_text(observation) not in _message_text(prompt[-1]):
                raise ValueError(
                    f"reset(): the row's prompt is not the observation of {env_id} at seed "
                    f"{seed}, step {step} with env_kwargs {kwargs_json} and conversation "
                    f"{protocol!r}: was the dataset built with other settings?"
                )
        self._talk = talk
        self.rewards = []
        self.verdicts = []
        self.done = False

    def answer(self, text: str) -> str | list[dict[str, Any]]:
        """Submit your answer for the current step and get the environment's reply.

        Args:
            text: Your complete answer, in the format the task asks for.

        Returns:
            The feedback on the answer and, while the episode goes on, the next
            observation (with its image for image tasks).
        """
        if self._talk is None or self._env is None:
            return "No episode is running."
        if self.done:
            return "The episode is over: no more answers are judged."
        return self._play(_answer_str(text))

    def _play(self, answer: str) -> str | list[dict[str, Any]]:
        assert self._talk is not None and self._env is not None
        before = len(self._talk.transcript)
        observation, reward, terminated, truncated, info = self._env.step(answer)
        self._talk.step(answer, observation, info, terminated, truncated)
        self.rewards.append(float(reward))
        verdict = info.get("verdict")
        self.verdicts.append(verdict if isinstance(verdict, str) else None)
        if terminated or truncated:
            self.done = True
            feedback = info.get("feedback")
            ending = "The episode is over."
            return f"{feedback}\n{ending}" if isinstance(feedback, str) and feedback else ending
        texts: list[str] = []
        images: list[Any] = []
        for message in self._talk.transcript[before + 1 :]:
            content = message.get("content")
            if isinstance(content, list):
                for part in content:
                    if isinstance(part, Mapping) and part.get("type") == "image":
                        images.append(_pil(part["image"]))
                    elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                        texts.append(part["text"])
            elif isinstance(content, str):
                texts.append(content)
        text = "\n\n".join(texts)
        if not images:
            return text
        return [*({"type": "image", "image": i} for i in images), {"type": "text", "text": text}]

    def get_reward(self) -> float:
        """The episode's return: the sum of the environment's rewards (see the class doc).

        Raises:
            RuntimeError: Before the first ``reset``.
        """
        if self._talk is None or self._env is None:
            raise RuntimeError("get_reward() before reset(): no episode")
        if self._forfeit:
            for _ in range(MAX_EXPERT_STEPS):
                if self.done:
                    break
                self._play("")
        return float(sum(self.rewards))
