"""verl adapters: parquet datasets, ``compute_score`` and a multi-turn interaction.

This module does not import verl. It follows the interfaces verl documents and
calls (checked against verl's main branch of January 2026, the
``ToolAgentLoop`` / ``naive`` reward manager generation, and the older
SGLang multi-turn rollout where noted):

* :func:`make_dataset` builds rows in the schema of verl's ``RLHFDataset``:
  ``data_source`` (the env id), ``prompt`` (chat messages; image rows put an
  ``<image>`` placeholder in the text and the pictures in ``images``),
  ``ability``, ``reward_model = {"style": "rule", "ground_truth": <state>}``
  and ``extra_info`` (``split``, ``index``, the state and its ``env_kwargs``,
  and ``interaction_kwargs`` for multi-turn rollouts). Given a path it also
  writes them to parquet (needs ``pip install 'ood-gym[hf]'``).
* :func:`compute_score` is a custom reward function with verl's signature,
  ``compute_score(data_source, solution_str, ground_truth, extra_info)``. It
  is thread-safe (verl's reward loop calls it from a thread pool), reuses
  replayed states and judges image ids without rendering where possible
  (:mod:`oodgym.integrations.scoring`). Point verl at it with a one-line file::

      # oodgym_reward.py
      from oodgym.integrations.verl import compute_score

  and ``custom_reward_function.path=oodgym_reward.py
  custom_reward_function.name=compute_score``.
* :class:`GymInteraction` implements the methods verl's multi-turn rollout
  calls on an interaction (``start_interaction``, ``generate_response``,
  ``calculate_score``, ``finalize_interaction``), so verl trains on whole
  episodes: each assistant turn is one answer, and the interaction replies
  with the protocol's next user message (feedback, next observation) and the
  environment's reward for that turn.

Seeds: ``make_dataset(seeds=n)`` uses the training seeds ``1_000_000 ..
1_000_000 + n - 1``, disjoint from the evaluation seeds ``0 .. N-1``.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from oodgym.atomic import replacing
from oodgym.conversation import Conversation, Message, check_protocol, images_as_placeholders
from oodgym.integrations.scoring import (
    canonical_kwargs,
    expert_states,
    has_image,
    make_env,
    parse_kwargs,
    replay_conversation,
    state_scorer,
)
from oodgym.integrations.trl import completion_text

__all__ = [
    "ABILITY",
    "INTERACTION_NAME",
    "GymInteraction",
    "compute_score",
    "make_dataset",
    "parse_state",
]

#: The ``ability`` column of the rows.
ABILITY = "ood-gym"
#: The default interaction name (``interaction_kwargs["name"]``; the ``name`` of the
#: interaction in verl's interaction config must match it).
INTERACTION_NAME = "oodgym"
#: verl splits image rows' text on these placeholders.
_PLACEHOLDERS = ("<image>", "<video>")


# --------------------------------------------------------------------------- states


@dataclass(frozen=True)
class State:
    """A state of an environment configuration: what a row's ``ground_truth`` names."""

    env_id: str
    env_kwargs: str
    seed: int
    step: int

    def to_json(self) -> str:
        """The ``reward_model.ground_truth`` string of the state."""
        return json.dumps(
            {
                "env_id": self.env_id,
                "env_kwargs": json.loads(self.env_kwargs),
                "seed": self.seed,
                "step": self.step,
            },
            sort_keys=True,
            separators=(",", ":"),
        )


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r:.80}")
    return value


def parse_state(ground_truth: object) -> State:
    """The state a row's ``reward_model.ground_truth`` names (as :func:`make_dataset` writes it).

    Raises:
        ValueError: Not an ood-gym state.
    """
    try:
        data = json.loads(ground_truth) if isinstance(ground_truth, str) else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("env_id"), str):
        raise ValueError(
            f"ground_truth {ground_truth!r:.120} is not an ood-gym state: rows from "
            "oodgym.integrations.verl.make_dataset carry "
            '\'{"env_id": ..., "env_kwargs": {...}, "seed": ..., "step": ...}\''
        )
    return State(
        env_id=data["env_id"],
        env_kwargs=canonical_kwargs(parse_kwargs(data.get("env_kwargs"))),
        seed=_int(data.get("seed"), "ground_truth seed"),
        step=_int(data.get("step", 0), "ground_truth step"),
    )


# --------------------------------------------------------------------------- datasets


def _verl_messages(messages: list[Message], image: bool) -> tuple[list[Any], list[Any]]:
    """Messages with string contents (``<image>`` placeholders) and their images, in order."""
    if not image:
        return [{"role": m["role"], "content": m["content"]} for m in messages], []
    listed, images = images_as_placeholders(messages)
    out = []
    for message in listed:
        texts = []
        for part in message["content"]:
            if part["type"] == "image":
                texts.append("<image>")
                continue
            text = part["text"]
            found = [p for p in _PLACEHOLDERS if p in text]
            if found:
                raise ValueError(
                    f"a prompt contains {found[0]!r}, which verl reads as an image placeholder"
                )
            texts.append(text)
        out.append({"role": message["role"], "content": "".join(texts)})
    return out, [_pil(i) for i in images]


def _pil(image: Any) -> Any:
    from PIL import Image

    return Image.fromarray(np.asarray(image, dtype=np.uint8))


def make_dataset(
    env_id: str,
    seeds: Iterable[int] | int,
    *,
    steps: str = "first",
    env_kwargs: Mapping[str, Any] | None = None,
    conversation: str = "paper",
    split: str = "train",
    interaction_name: str = INTERACTION_NAME,
    path: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """Rows of an environment's states in verl's dataset schema (and, given ``path``, parquet).

    Each row::

        {"data_source": env_id,
         "prompt": [{"role": "user", "content": <prompt text>}],   # the state's conversation
         "images": [PIL.Image, ...],                                # image ids only
         "ability": "ood-gym",
         "reward_model": {"style": "rule", "ground_truth": <state JSON>},
         "extra_info": {"split": split, "index": i, "env_id": ..., "env_kwargs": <JSON>,
                        "seed": ..., "step": ..., "conversation": ...,
                        "interaction_kwargs": {"name": interaction_name, "env_id": ...,
                                               "env_kwargs": ..., "seed": ..., "step": ...,
                                               "conversation": ...}}}

    The state JSON is ``{"env_id", "env_kwargs", "seed", "step"}``: no answer
    key; :func:`compute_score` replays the state and judges the answer with
    the environment. Image rows put one ``<image>`` placeholder in the text per
    picture (verl's ``RLHFDataset`` convention).

    Args:
        env_id: A registered id.
        seeds: The reset seeds, or a count ``n`` for the training seeds
            ``1_000_000 .. 1_000_000 + n - 1``.
        steps: ``"first"`` (one row per seed) or ``"expert"`` (one row per
            state of the expert's episode; navigation).
        env_kwargs: Keyword arguments of ``gym.make`` (plain JSON data).
        conversation: The protocol of the prompts and of the interaction,
            ``"paper"`` (default) or ``"full"``.
        split: The ``extra_info["split"]`` value.
        interaction_name: ``interaction_kwargs["name"]``: the name of the
            :class:`GymInteraction` entry in verl's interaction config.
        path: Write the rows to this parquet file too (atomically; needs the
            ``datasets`` package, ``pip install 'ood-gym[hf]'``).

    Returns:
        The rows (images as ``PIL.Image``).

    Raises:
        ValueError: Bad ``steps``, ``conversation``, seeds or kwargs, or a
            prompt holding ``<image>``/``<video>`` text in an image row.
        ImportError: ``path`` without the ``datasets`` package.
    """
    datasets = _import_datasets() if path is not None else None
    rows: list[dict[str, Any]] = []
    image = False
    for env, state, messages in expert_states(
        env_id, seeds, steps=steps, env_kwargs=env_kwargs, conversation=conversation
    ):
        image = has_image(env)
        prompt, images = _verl_messages(messages, image)
        ground_truth = State(env_id, state["env_kwargs"], state["seed"], state["step"]).to_json()
        row: dict[str, Any] = {"data_source": env_id, "prompt": prompt}
        if image:
            row["images"] = images
        row["ability"] = ABILITY
        row["reward_model"] = {"style": "rule", "ground_truth": ground_truth}
        row["extra_info"] = {
            "split": split,
            "index": len(rows),
            **state,
            "interaction_kwargs": {"name": interaction_name, **state},
        }
        rows.append(row)
    if datasets is not None and path is not None:
        _write_parquet(datasets, rows, image, Path(path))
    return rows


def _import_datasets() -> Any:
    try:
        import datasets
    except ImportError as err:
        raise ImportError(
            "writing parquet needs the Hugging Face 'datasets' package: "
            "pip install 'ood-gym[hf]' (or pip install datasets)"
        ) from err
    return datasets


def _write_parquet(datasets: Any, rows: list[dict[str, Any]], image: bool, path: Path) -> None:
    text, integer = datasets.Value("string"), datasets.Value("int64")
    state = {
        "env_id": text,
        "env_kwargs": text,
        "seed": integer,
        "step": integer,
        "conversation": text,
    }
    columns: dict[str, Any] = {
        "data_source": text,
        "prompt": [{"role": text, "content": text}],
    }
    if image:
        columns["images"] = [datasets.Image()]
    columns["ability"] = text
    columns["reward_model"] = {"style": text, "ground_truth": text}
    columns["extra_info"] = {
        "split": text,
        "index": integer,
        **state,
        "interaction_kwargs": {"name": text, **state},
    }
    dataset = datasets.Dataset.from_list(rows, features=datasets.Features(columns))
    # No progress bars on the terminal (restored afterwards; datasets >= 2.15 has these).
    disabled = getattr(datasets, "are_progress_bars_disabled", None)
    quiet = disabled() if callable(disabled) else True
    if not quiet:
        datasets.disable_progress_bars()
    try:
        with replacing(path) as tmp:
            dataset.to_parquet(str(tmp))
    finally:
        if not quiet:
            datasets.enable_progress_bars()


# --------------------------------------------------------------------------- compute_score


def _turn_scores(extra_info: object) -> list[float] | None:
    """The interaction's per-turn rewards, as verl hands them to the reward function.

    verl's agent loop adds ``extra_info["turn_scores"]``; the older SGLang
    rollout ``extra_info["rollout_reward_scores"]["user_turn_rewards"]``.
    ``None`` when there are none (a single-turn rollout).
    """
    if not isinstance(extra_info, Mapping):
        return None
    scores: object = extra_info.get("turn_scores")
    if scores is None:
        rollout = extra_info.get("rollout_reward_scores")
        if isinstance(rollout, Mapping):
            scores = rollout.get("user_turn_rewards")
    if not isinstance(scores, (Sequence, np.ndarray)) or isinstance(scores, (str, bytes)):
        return None
    try:
        values = [float(v) for v in scores]
    except (TypeError, ValueError):
        return None
    return values or None


def compute_score(
    data_source: object,
    solution_str: object,
    ground_truth: object,
    extra_info: object = None,
    *,
    return_dict: bool = True,
    **kwargs: Any,
) -> dict[str, Any] | float:
    """The environment's reward for a response: a custom reward function for verl.

    Single-turn (no interaction): ``solution_str`` is one answer, judged at
    the state ``ground_truth`` names by the environment of the state's kwargs;
    the score is that step's reward (GeneralPoints +5 / -1 / -2 / -3 / -1.5,
    navigation +1 / -1 / -1.5), exactly the environment's.

    Multi-turn (:class:`GymInteraction`): verl passes the interaction's
    per-turn rewards in ``extra_info`` (``turn_scores``; older versions
    ``rollout_reward_scores["user_turn_rewards"]``), and the score is their
    sum, the episode's return. A rollout that verl cut before the episode
    ended (``max_assistant_turns``, response length) gets the sum of the turns
    played: allow at least the environment's attempts (GeneralPoints 5,
    navigation 2 per step times the route's steps).

    Args:
        data_source: The row's ``data_source`` (the env id; not used to score).
        solution_str: The decoded response.
        ground_truth: The row's ``reward_model.ground_truth``.
        extra_info: The row's ``extra_info`` (as verl extends it).
        return_dict: Return the dict below (default) or the score alone; set
            ``custom_reward_function.reward_kwargs.return_dict=false`` for
            reward managers that expect a number (verl's ``prime``).
        **kwargs: Other keywords some verl versions pass (ignored).

    Returns:
        ``{"score": float, "acc": float, "verdict": str, "turns": int}`` (same
        keys for every row, as verl's reward managers need): ``acc`` is 1.0 for
        a correct answer (single-turn) or a solved episode (multi-turn: as
        many correct turns as the expert's episode from the state has steps,
        a correct turn being one whose reward equals the expert's), else 0.0;
        ``verdict`` the environment's verdict (``"episode"`` for multi-turn);
        ``turns`` the answers judged. Or ``score`` alone.

    Raises:
        ValueError: ``ground_truth`` is not an ood-gym state.
    """
    state = parse_state(ground_truth)
    scorer = state_scorer(state.env_id, state.env_kwargs)
    turns = _turn_scores(extra_info)
    if turns is None:
        answer = solution_str if isinstance(solution_str, str) else completion_text(solution_str)
        result = scorer.score(answer, state.seed, state.step)
        score, verdict, count = result.reward, result.verdict or "", 1
        acc = 1.0 if result.verdict == "correct" else 0.0
    else:
        score, verdict, count = float(sum(turns)), "episode", len(turns)
        expert = scorer.expert_rewards(state.seed, state.step)
        correct_rewards = set(expert)
        correct = sum(1 for t in turns if t in correct_rewards)
        acc = 1.0 if correct >= len(expert) else 0.0
    if not return_dict:
        return score
    return {"score": score, "acc": acc, "verdict": verdict, "turns": count}


# --------------------------------------------------------------------------- interaction


@dataclass
class _Episode:
    key: tuple[str, str]
    env: gym.Env[Any, Any] | None
    talk: Conversation
    rewards: list[float] = field(default_factory=list)
    verdicts: list[str | None] = field(default_factory=list)
    done: bool = False


def _no_later_images(env_id: str, kwargs_json: str, protocol: str) -> str | None:
    """Why an image id cannot be played through verl's text-only interaction turns, if so."""
    if protocol == "full":
        return (
            f"under conversation='full' every observation of {env_id} repeats its image, "
            "and verl's interaction turns carry text only; use conversation='paper'"
        )
    if len(state_scorer(env_id, kwargs_json).expert_rewards(1_000_000)) > 1:
        return (
            f"{env_id} shows a new image after every correct step (a fresh conversation "
            "under 'paper'), and verl's interaction turns carry text only; train it with "
            "single-turn rows and compute_score, or with TRL's GymEnvironment"
        )
    return None


class GymInteraction:
    """ood-gym episodes as a verl interaction (multi-turn RL on whole episodes).

    verl's multi-turn rollout (``actor_rollout_ref.rollout.multi_turn``, with
    ``interaction_config_path``) makes one instance from the config and calls,
    per rollout: ``start_interaction(request_id, **interaction_kwargs)`` (the
    row's ``extra_info["interaction_kwargs"]``, see :func:`make_dataset`),
    then after every assistant turn ``generate_response(request_id, messages,
    **interaction_kwargs)``, which judges the last assistant message and
    returns ``(episode_over, reply, reward, metrics)``: verl appends ``reply``
    as the next user message and records ``reward`` as the turn's score.
    The reply is what the conversation protocol (:mod:`oodgym.conversation`)
    sends next: under ``"paper"`` the short feedback after a failure and the
    next prompt after a correct navigation step (verl keeps one growing
    conversation, so that prompt is appended rather than starting a fresh
    one); under ``"full"`` the whole next observation. When the episode ends
    the reply is the last feedback and ``episode_over`` is true.

    verl's interaction turns are text: image ids work where no later message
    needs a new image (GeneralPoints image ids under ``"paper"``: the table is
    shown once, in the row's prompt); other image ids are refused at
    ``start_interaction`` with the reason.

    Interaction config (YAML)::

        interaction:
          - name: oodgym
            class_name: oodgym.integrations.verl.GymInteraction
            config: {}

    Args:
        config: verl's ``config`` mapping: ``name`` (injected by verl; default
            ``"oodgym"``) and optionally ``max_episodes``: episodes kept at
            once (default 10,000; the oldest is dropped beyond, since some verl
            versions never call ``finalize_interaction``).

    Raises:
        ValueError: Unknown config keys, or a bad ``max_episodes``.
    """

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.config = dict(config or {})
        unknown = sorted(set(self.config) - {"name", "max_episodes"})
        if unknown:
            raise ValueError(
                f"GymInteraction config: unknown key(s) {unknown}; allowed: ['max_episodes', "
                "'name'] (the environment comes from each row's interaction_kwargs)"
            )
        self.name = str(self.config.get("name", INTERACTION_NAME))
        limit = self.config.get("max_episodes", 10_000)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(
                f"GymInteraction config: max_episodes must be an int >= 1, got {limit!r}"
            )
        self.max_episodes = limit
        self._episodes: OrderedDict[str, _Episode] = OrderedDict()
        self._idle: dict[tuple[str, str], list[gym.Env[Any, Any]]] = {}
        self._refusals: dict[tuple[str, str, str], str | None] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ environments
    def _acquire(self, key: tuple[str, str]) -> gym.Env[Any, Any]:
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop()
        return make_env(key[0], parse_kwargs(key[1]))

    def _release(self, episode: _Episode) -> None:
        env, episode.env = episode.env, None
        if env is not None:
            with self._lock:
                self._idle.setdefault(episode.key, []).append(env)

    def _refusal(self, env: gym.Env[Any, Any], key: tuple[str, str], protocol: str) -> str | None:
        if not has_image(env):
            return None
        check = (*key, protocol)
        with self._lock:
            if check in self._refusals:
                return self._refusals[check]
        reason = _no_later_images(key[0], key[1], protocol)
        with self._lock:
            self._refusals[check] = reason
        return reason

    # ------------------------------------------------------------------ verl's calls
    async def start_interaction(self, instance_id: str | None = None, **kwargs: Any) -> str:
        """Start the episode ``kwargs`` (a row's ``interaction_kwargs``) names; return its id.

        Reads ``env_id``, ``env_kwargs``, ``seed``, ``step`` (default 0) and
        ``conversation`` (default ``"paper"``); other keys (``name``) are
        ignored.

        Raises:
            ValueError: Missing or bad keys, a step past the expert's episode,
                or an image id whose later messages need images (see the class doc).
        """
        instance = instance_id if instance_id is not None else uuid.uuid4().hex
        env_id = kwargs.get("env_id")
        if not isinstance(env_id, str) or not env_id:
            raise ValueError(
                "start_interaction: interaction_kwargs needs an 'env_id' "
                "(rows from oodgym.integrations.verl.make_dataset carry one)"
            )
        key = (env_id, canonical_kwargs(parse_kwargs(kwargs.get("env_kwargs"))))
        seed = _int(kwargs.get("seed"), "interaction_kwargs seed")
        step = _int(kwargs.get("step", 0), "interaction_kwargs step")
        protocol = check_protocol(kwargs.get("conversation") or "paper")
        episode = await asyncio.to_thread(self._start, key, seed, step, protocol)
        dropped: list[_Episode] = []
        with self._lock:
            old = self._episodes.pop(instance, None)
            if old is not None:
                dropped.append(old)
            self._episodes[instance] = episode
            while len(self._episodes) > self.max_episodes:
                dropped.append(self._episodes.popitem(last=False)[1])
        for gone in dropped:
            self._release(gone)
        return instance

    def _start(self, key: tuple[str, str], seed: int, step: int, protocol: str) -> _Episode:
        env = self._acquire(key)
        try:
            reason = self._refusal(env, key, protocol)
            if reason is not None:
                raise ValueError(f"GymInteraction: {reason}")
            _, talk = replay_conversation(env, seed, step, protocol)
        except BaseException:
            with self._lock:
                self._idle.setdefault(key, []).append(env)
            raise
        return _Episode(key=key, env=env, talk=talk)

    def _episode(self, instance_id: str | None) -> _Episode:
        with self._lock:
            if instance_id is None:
                if len(self._episodes) != 1:
                    raise ValueError(
                        f"instance_id is required ({len(self._episodes)} episodes are running)"
                    )
                return next(iter(self._episodes.values()))
            episode = self._episodes.get(instance_id)
        if episode is None:
            raise ValueError(
                f"no episode {instance_id!r}: call start_interaction first (or it was "
                f"finalized, or dropped beyond max_episodes={self.max_episodes})"
            )
        return episode

    async def generate_response(
        self, instance_id: str, messages: list[dict[str, Any]], **kwargs: Any
    ) -> tuple[bool, str, float, dict[str, Any]]:
        """Judge the last assistant message of ``messages``; return verl's 4-tuple.

        Returns:
            ``(episode_over, reply, reward, metrics)``: the reply is the next
            user message of the protocol (or the last feedback when the
            episode ends), the reward the environment's for this answer;
            metrics hold ``verdict``, ``episode_return`` and ``done``.
        """
        episode = self._episode(instance_id)
        if episode.done or episode.env is None:
            return True, "The episode is over.", 0.0, self._metrics(episode)
        answer = completion_text(messages)
        return await asyncio.to_thread(self._play, episode, answer)

    @staticmethod
    def _metrics(episode: _Episode) -> dict[str, Any]:
        return {
            "verdict": episode.verdicts[-1] if episode.verdicts else None,
            "episode_return": float(sum(episode.rewards)),
            "done": episode.done,
        }

    def _play(self, episode: _Episode, answer: str) -> tuple[bool, str, float, dict[str, Any]]:
        assert episode.env is not None
        before = len(episode.talk.transcript)
        observation, reward, terminated, truncated, info = episode.env.step(answer)
        episode.talk.step(answer, observation, info, terminated, truncated)
        episode.rewards.append(float(reward))
        verdict = info.get("verdict")
        episode.verdicts.append(verdict if isinstance(verdict, str) else None)
        if terminated or truncated:
            episode.done = True
            self._release(episode)
            feedback = info.get("feedback")
            reply = f"{feedback}\nThe episode is over." if isinstance(feedback, str) else ""
            return True, reply or "The episode is over.", float(reward), self._metrics(episode)
        new = episode.talk.transcript[before + 1 :]
        listed, images = images_as_placeholders(new)
        if images:
            raise RuntimeError(
                "GymInteraction: the next message carries an image, which verl's interaction "
                "turns cannot send"
            )
        reply = "\n\n".join(
            "".join(p.get("text", "") for p in message["content"]) for message in listed
        )
        return False, reply, float(reward), self._metrics(episode)

    async def calculate_score(self, instance_id: str | None = None, **kwargs: Any) -> float:
        """The episode's return so far (the sum of its turns' rewards)."""
        return float(sum(self._episode(instance_id).rewards))

    async def finalize_interaction(self, instance_id: str | None = None, **kwargs: Any) -> None:
        """Forget the episode and return its environment to the pool (unknown ids: no-op)."""
        with self._lock:
            if instance_id is None and len(self._episodes) == 1:
                instance_id = next(iter(self._episodes))
            found = self._episodes.pop(instance_id, None) if instance_id is not None else None
        if found is not None:
            self._release(found)
