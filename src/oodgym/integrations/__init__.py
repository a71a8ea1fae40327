"""Adapters for training loops: TRL GRPO datasets and rewards, generic multi-turn rollouts.

* :mod:`oodgym.integrations.trl`: :func:`prompt_dataset` and
  :func:`reward_function` for ``trl.GRPOTrainer`` (TRL itself is not imported).
* :mod:`oodgym.integrations.rollout`: :func:`rollout`, :func:`rollout_batch`
  and :func:`group_rollouts` for custom PPO / GRPO loops.
"""

from oodgym.integrations.rollout import Trajectory, group_rollouts, rollout, rollout_batch
from oodgym.integrations.trl import EnvReward, completion_text, prompt_dataset, reward_function

__all__ = [
    "EnvReward",
    "Trajectory",
    "completion_text",
    "group_rollouts",
    "prompt_dataset",
    "reward_function",
    "rollout",
    "rollout_batch",
]
