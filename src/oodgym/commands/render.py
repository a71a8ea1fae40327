"""``oodgym render``: write an episode's image to a PNG.

``oodgym render ENV_ID --seed S --out FILE.png [--env KEY=VALUE ...]`` resets
the environment with the seed and writes the observation image (image
observations) or the ``render_mode="rgb_array"`` frame (other environments
that support it). Exit status 2 if the environment has neither.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import numpy as np

from oodgym.commands._common import USAGE_ERRORS, add_env_option, env_kwargs, error

__all__ = ["add_arguments", "frame_of", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``oodgym render``."""
    parser.add_argument("env_id", metavar="ENV_ID", help="registered id (or module:id)")
    parser.add_argument("--seed", type=int, default=0, help="reset seed (default 0)")
    parser.add_argument("--out", required=True, metavar="FILE.png", help="PNG file to write")
    add_env_option(parser)


def frame_of(env_id: str, seed: int, kwargs: Mapping[str, Any]) -> np.ndarray | None:
    """The image of ``env_id`` reset with ``seed``, or ``None`` if it has no image."""
    import gymnasium as gym

    env = gym.make(env_id, **kwargs)
    try:
        obs, _ = env.reset(seed=seed)
        if isinstance(obs, Mapping) and isinstance(obs.get("image"), np.ndarray):
            return np.asarray(obs["image"])
        modes = env.unwrapped.metadata.get("render_modes", [])
    finally:
        env.close()
    if "rgb_array" not in modes:
        return None
    env = gym.make(env_id, **{**kwargs, "render_mode": "rgb_array"})
    try:
        env.reset(seed=seed)
        frame = env.render()
    finally:
        env.close()
    return np.asarray(frame) if frame is not None else None


def run(args: argparse.Namespace) -> int:
    """Render and write the PNG."""
    from oodgym.atomic import write_bytes_atomic
    from oodgym.conversation import image_to_png
    from oodgym.families import load_families

    load_families()
    try:
        frame = frame_of(args.env_id, args.seed, env_kwargs(args.env))
    except USAGE_ERRORS as err:
        return error("render", err)
    if frame is None:
        return error(
            "render",
            f"{args.env_id} has no image: neither image observations nor render_mode='rgb_array'",
        )
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] not in (3, 4):
        return error(
            "render", f"{args.env_id}: the image is not uint8 HxWx3 ({frame.dtype} {frame.shape})"
        )
    write_bytes_atomic(args.out, image_to_png(frame))
    height, width = frame.shape[:2]
    print(f"wrote {args.out} ({width}x{height}) of {args.env_id} seed {args.seed}")
    return 0
