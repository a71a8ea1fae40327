"""Adapters for training loops: TRL, verl, and generic multi-turn rollouts.

* :mod:`oodgym.integrations.trl`: :func:`prompt_dataset`, :func:`reward_function`
  (single-turn GRPO rewards) and :class:`GymEnvironment` (multi-turn episodes
  through ``GRPOTrainer(environment_factory=...)``). TRL is not imported.
* :mod:`oodgym.integrations.verl`: ``make_dataset`` (verl's parquet schema),
  ``compute_score`` (verl's custom reward function) and ``GymInteraction``
  (verl's multi-turn interaction). verl is not imported.
* :mod:`oodgym.integrations.rollout`: :func:`rollout`, :func:`rollout_batch`
  and :func:`group_rollouts` for custom PPO / GRPO loops.
* :mod:`oodgym.integrations.scoring`: the shared state cache behind the reward
  functions (one replay per state, image ids judged without rendering where
  the verdicts allow).

A count of seeds (``seeds=n``) always means the training seeds
``TRAINING_SEED_START .. TRAINING_SEED_START + n - 1`` (1,000,000 on), never the
evaluation seeds ``0 .. N-1`` of the registered ids.
"""

from oodgym.integrations.rollout import (
    TRAINING_SEED_START,
    Trajectory,
    group_rollouts,
    rollout,
    rollout_batch,
)
from oodgym.integrations.trl import (
    EnvReward,
    GymEnvironment,
    completion_text,
    prompt_dataset,
    reward_function,
)

__all__ = [
    "TRAINING_SEED_START",
    "EnvReward",
    "GymEnvironment",
    "Trajectory",
    "completion_text",
    "group_rollouts",
    "prompt_dataset",
    "reward_function",
    "rollout",
    "rollout_batch",
]
