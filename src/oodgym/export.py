"""Export an SFT dataset from an environment's expert (``oodgym export``).

Every ood-gym environment has an expert: ``env.unwrapped.expert_action()``
returns a correct answer for the current step, in the paper's answer shape.
:func:`export` plays episodes ``seed, seed + 1, ...`` with it (``seed``
defaults to :data:`~oodgym.integrations.rollout.TRAINING_SEED_START`,
1,000,000: training data never comes from the evaluation seeds ``0 .. N-1``
of the registered ids) and writes one
record per step: the conversation the policy is sent at that step, under the
chosen protocol (:mod:`oodgym.conversation`), followed by the expert's answer::

    {"id": "<env_id>/<seed>/<step>", "env_id": ..., "seed": ..., "step": ...,
     "conversation": "paper",
     "messages": [{"role": "user", "content": <prompt>},
                  {"role": "assistant", "content": <expert answer>}],
     "answer": <expert answer>}

With ``conversation="paper"`` (the default) every record is one prompt and its
answer (a navigation step's prompt holds the instruction and the history);
with ``"full"`` a navigation record holds the episode so far (earlier
observations and answers, then the current observation and answer). The
records load as they are in TRL's ``SFTTrainer`` (conversational
``messages``; the other columns are metadata).

Image observations: every message's content is a list of parts,
``[{"type": "text", "text": ...}, {"type": "image"}]`` (text only for
answers), and ``"images"`` lists the PNG files of the ``{"type": "image"}``
placeholders in order (``images/<seed>-<step>.png``, the observation of that
step): the layout of TRL and Hugging Face processors.

The expert's answer is drawn among all correct answers of the state where the
environment knows several (GeneralPoints: all distinct formulas of the hand):
``expert_action(rng=...)`` is given ``numpy.random.default_rng((seed, 1))``,
a stream of the episode seed, when its signature takes ``rng``.

Layout of ``format="jsonl"`` (the default)::

    out/data.jsonl        one record per line
    out/images/*.png      observation images (paths in records are relative to out/)
    out/manifest.json     env id, kwargs, conversation, seed range, counts, library version

``format="hf"`` writes a Hugging Face ``datasets`` folder instead
(``Dataset.save_to_disk``; load it with ``datasets.load_from_disk``; images
in an ``images`` column of ``datasets.Image``) plus ``manifest.json``. It needs
the optional extra: ``pip install "ood-gym[hf]"``.

The output is a function of the arguments (same arguments, byte-identical
``jsonl`` output) and appears atomically: everything is written into a hidden
temporary sibling folder that is renamed to ``out`` only when complete, so an
interrupted export never leaves a dataset that looks complete. (An exception
removes that folder; a killed process leaves it behind as ``.<name>.partial-*``,
and the next successful export to the same ``out`` removes it. On POSIX each
export holds a lock on its own staging folder, so the staging folder of an
export still running is never removed.)

``backend=RayBackend(...)`` (``--ray`` on the command line, see
:mod:`oodgym.distributed`) plays shards of consecutive seeds as Ray tasks; each
returns its records and PNGs, and this process writes them in seed order with
the same code as a local export: the output is byte-identical.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from oodgym._version import __version__
from oodgym.atomic import write_text_atomic
from oodgym.conversation import (
    Conversation,
    assistant_message,
    check_protocol,
    image_to_png,
    images_as_placeholders,
)
from oodgym.distributed import (
    RayBackend,
    as_backend,
    cluster_cpus,
    import_ray,
    run_tasks,
    session,
)
from oodgym.integrations.rollout import TRAINING_SEED_START
from oodgym.policies import accepts_keyword

__all__ = ["FORMATS", "LAYOUTS", "ExportReport", "export"]

#: Record layouts accepted by :func:`export`.
LAYOUTS: tuple[str, ...] = ("messages", "prompt-completion")
#: Output formats accepted by :func:`export`.
FORMATS: tuple[str, ...] = ("jsonl", "hf")

#: Version of the record and manifest layout (2: conversations by protocol, no ``prompt``
#: string, ``images`` lists).
SCHEMA_VERSION = 2

#: Most episodes in one Ray task of an export (fewer for short exports, to use every CPU).
_MAX_SHARD_EPISODES = 64

_HF_HINT = 'format="hf" needs the optional extra: pip install "ood-gym[hf]" (the datasets package)'


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export` wrote."""

    #: The dataset folder.
    path: Path
    format: str
    env_id: str
    episodes: int
    #: One per expert step.
    records: int
    #: PNG images (0 for text environments).
    images: int
    #: Episodes that the expert finished successfully (``info["is_success"]`` if the
    #: environment reports it, else terminated).
    solved: int


@dataclass(frozen=True)
class _Record:
    data: dict[str, Any]
    #: The PNG of this step's observation (written once, at this step), if it has an image.
    png: bytes | None
    #: The PNGs of the record's image placeholders, in order (for the ``hf`` format).
    pngs: tuple[bytes, ...] = ()


def export(
    env_id: str,
    *,
    episodes: int,
    out: str | os.PathLike[str],
    seed: int = TRAINING_SEED_START,
    format: str = "jsonl",
    env_kwargs: Mapping[str, Any] | None = None,
    conversation: str = "paper",
    overwrite: bool = False,
    max_steps: int = 1000,
    backend: RayBackend | str | None = None,
    layout: str = "messages",
) -> ExportReport:
    """Play ``episodes`` expert episodes and write them as an SFT dataset.

    Args:
        env_id: A registered id (``"module:id"`` imports the module first).
        episodes: Number of episodes (>= 1); episode ``i`` is reset with ``seed + i``.
        out: The dataset folder to create.
        seed: First seed (>= 0); default 1,000,000
            (:data:`~oodgym.integrations.rollout.TRAINING_SEED_START`), far from the
            evaluation seeds ``0 .. N-1`` that ``oodgym eval`` plays.
        format: ``"jsonl"`` (JSON lines plus PNG files) or ``"hf"`` (a ``datasets`` folder).
        env_kwargs: Keyword arguments for ``gym.make`` (plain data; stored in the manifest).
        conversation: The protocol of the records' messages, ``"paper"`` (default:
            one prompt per record) or ``"full"`` (see :mod:`oodgym.conversation`).
        overwrite: Replace ``out`` if it already exists and is not empty.
        max_steps: Safety bound on the steps of one episode.
        layout: ``"messages"`` (default: one conversational ``messages`` column, the
            expert's answer last) or ``"prompt-completion"`` (TRL's conversational
            prompt-completion form: ``prompt`` = the messages before the answer,
            ``completion`` = ``[the answer]``, so the loss covers the answer only).
        backend: ``None`` (default): play the episodes in this process; a
            :class:`~oodgym.distributed.RayBackend` (or ``"ray"``): play shards
            of consecutive seeds as Ray tasks, written here in seed order (the
            same bytes as a local export).

    Returns:
        An :class:`ExportReport`.

    Raises:
        ValueError: Unknown ``format`` or ``conversation``, bad ``episodes``/``seed``, an
            environment without
            ``expert_action()``, or an expert answer that the environment rejects.
        FileExistsError: ``out`` exists, is not empty and ``overwrite`` is false.
        ImportError: ``format="hf"`` without the ``datasets`` package, or a Ray
            backend without ``ray``.
        ConnectionError: Ray could not start or connect.
        WorkerLostError: (Ray) a shard's worker died more often than retried.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {list(FORMATS)}; got {format!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {list(LAYOUTS)}; got {layout!r}")
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be an int >= 1; got {episodes!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0; got {seed!r}")
    protocol = check_protocol(conversation)
    ray_backend = as_backend(backend)
    if ray_backend is not None:
        import_ray()  # fail before anything is played
    kwargs = dict(env_kwargs or {})
    try:
        json.dumps(kwargs)
    except TypeError as err:
        raise ValueError(f"env_kwargs must be plain JSON data (for the manifest): {err}") from err
    target = Path(out)
    if target.exists() and not overwrite and (not target.is_dir() or any(target.iterdir())):
        raise FileExistsError(
            f"{target} exists and is not empty "
            "(pass overwrite=True, or --overwrite on the command line)"
        )
    hf = _import_datasets() if format == "hf" else None

    from oodgym.families import load_families

    load_families()
    env = gym.make(env_id, **kwargs)
    try:
        if not callable(getattr(env.unwrapped, "expert_action", None)):
            raise ValueError(
                f"{env_id} has no expert_action() method: cannot export an SFT dataset "
                f"({type(env.unwrapped).__name__} must define expert_action() -> str)"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=_partial_prefix(target)))
        held = _lock_folder(staging)
        try:
            seeds = range(seed, seed + episodes)
            counts = {"records": 0, "images": 0, "solved": 0}
            with ExitStack() as stack:
                if ray_backend is None:
                    played = _played(_Episodes(env, env_id, protocol, max_steps), seeds)
                else:
                    stack.enter_context(session(ray_backend))
                    task = (env_id, kwargs, protocol, max_steps, hf is not None)
                    played = stack.enter_context(closing(_played_on_ray(task, seeds, ray_backend)))
                _write(_laid_out(_counted(played, counts), layout), staging, hf, counts)
            manifest = {
                "schema_version": SCHEMA_VERSION,
                "library": "ood-gym",
                "version": __version__,
                "env_id": env_id,
                "env_kwargs": kwargs,
                "format": format,
                "conversation": protocol,
                "layout": layout,
                "seed_start": seed,
                "seed_stop": seed + episodes,
                "episodes": episodes,
                **counts,
            }
            write_text_atomic(staging / "manifest.json", _dumps(manifest, indent=2) + "\n")
            os.chmod(staging, 0o755)  # mkdtemp makes it 0o700
            _move_into_place(staging, target, overwrite)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            if held is not None:
                os.close(held)
        _remove_stale_partials(target)
    finally:
        env.close()
    return ExportReport(
        path=target,
        format=format,
        env_id=env_id,
        episodes=episodes,
        records=counts["records"],
        images=counts["images"],
        solved=counts["solved"],
    )


def _dumps(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent, allow_nan=False)


def _import_datasets() -> Any:
    try:
        import datasets
    except ImportError as err:
        raise ImportError(_HF_HINT) from err
    return datasets


class _Episodes:
    """Plays expert episodes and yields their records."""

    def __init__(
        self, env: gym.Env[Any, Any], env_id: str, conversation: str, max_steps: int
    ) -> None:
        self.env = env
        self.env_id = env_id
        self.conversation = conversation
        self.max_steps = max_steps
        self.expert: Callable[..., Any] = env.unwrapped.expert_action  # type: ignore[attr-defined]
        self.pass_rng = accepts_keyword(self.expert, "rng")

    def answer(self, rng: np.random.Generator) -> str:
        answer = self.expert(rng=rng) if self.pass_rng else self.expert()
        if not isinstance(answer, str):
            raise ValueError(
                f"{self.env_id}: expert_action() returned {type(answer).__name__}, not str"
            )
        return answer

    def play(self, seed: int) -> Iterator[_Record | bool]:
        """Records of one expert episode; the last item is whether it was solved."""
        env, env_id = self.env, self.env_id
        rng = np.random.default_rng((seed, 1))  # the answers' stream of the episode seed
        obs, _ = env.reset(seed=seed)
        conversation = Conversation(self.conversation)
        conversation.reset(obs)
        files: list[tuple[np.ndarray, str, bytes]] = []  # observation images: path, PNG
        for step in range(self.max_steps):
            png = None
            if isinstance(obs, Mapping) and isinstance(obs.get("image"), np.ndarray):
                png = image_to_png(obs["image"])
                files.append((obs["image"], f"images/{seed}-{step}.png", png))
            answer = self.answer(rng)
            messages = [*conversation.messages, assistant_message(answer)]
            record: dict[str, Any] = {
                "id": f"{env_id}/{seed}/{step}",
                "env_id": env_id,
                "seed": seed,
                "step": step,
                "conversation": self.conversation,
                "messages": messages,
                "answer": answer,
            }
            pngs: tuple[bytes, ...] = ()
            if files:
                record["messages"], images = images_as_placeholders(messages)
                found = [_file_of(image, files) for image in images]
                record["images"] = [path for path, _ in found]
                pngs = tuple(data for _, data in found)
            yield _Record(record, png, pngs)
            obs, _, terminated, truncated, info = env.step(answer)
            verdict = info.get("verdict")
            if verdict is not None and verdict != "correct":
                raise ValueError(
                    f"{env_id}: the expert's answer at seed {seed}, step {step} was judged "
                    f"{verdict!r} ({info.get('feedback', '')}); refusing to export it"
                )
            conversation.step(answer, obs, info, terminated, truncated)
            if terminated or truncated:
                yield bool(info.get("is_success", terminated))
                return
        raise ValueError(
            f"{env_id}: the expert's episode at seed {seed} exceeds {self.max_steps} steps"
        )


def _file_of(image: np.ndarray, files: list[tuple[np.ndarray, str, bytes]]) -> tuple[str, bytes]:
    """The PNG path and bytes of an observation image of the episode (matched by identity)."""
    for array, path, png in files:
        if array is image:
            return path, png
    raise RuntimeError("an image of the conversation is not an observation of the episode")


def _laid_out(records: Iterable[_Record], layout: str) -> Iterator[_Record]:
    """Records in ``layout``: ``messages`` as played, or split into prompt and completion."""
    for record in records:
        if layout == "prompt-completion":
            data = dict(record.data)
            messages = data.pop("messages")
            data = {
                **{k: v for k, v in data.items() if k != "answer"},
                "prompt": messages[:-1],
                "completion": messages[-1:],
                "answer": record.data["answer"],
            }
            record = _Record(data, record.png, record.pngs)
        yield record


def _played(episodes: _Episodes, seeds: range) -> Iterator[_Record | bool]:
    """The items of :meth:`_Episodes.play` for every seed, in order."""
    for seed in seeds:
        yield from episodes.play(seed)


def _play_shard(
    env_id: str,
    env_kwargs: dict[str, Any],
    conversation: str,
    max_steps: int,
    keep_pngs: bool,
    seeds: range,
) -> list[_Record | bool]:
    """A Ray task: the items of a shard of seeds, as a local export plays them."""
    from oodgym.families import load_families

    load_families()
    env = gym.make(env_id, **env_kwargs)
    try:
        items = list(_played(_Episodes(env, env_id, conversation, max_steps), seeds))
    finally:
        env.close()
    if keep_pngs:
        return items
    # Only the hf format reads a record's placeholder images: do not send them twice.
    return [item if isinstance(item, bool) else _Record(item.data, item.png) for item in items]


def _played_on_ray(
    task: tuple[str, dict[str, Any], str, int, bool], seeds: range, backend: RayBackend
) -> Generator[_Record | bool, None, None]:
    """The items of every seed, played in shards on Ray, in seed order (as :func:`_played`)."""
    cpus = cluster_cpus(import_ray()) / backend.cpus_per_task
    # About four shards per task slot (a slow shard does not leave the others idle).
    size = max(1, min(_MAX_SHARD_EPISODES, math.ceil(len(seeds) / (4 * cpus))))
    shards = [seeds[i : i + size] for i in range(0, len(seeds), size)]
    calls = [(*task, shard) for shard in shards]

    def describe(index: int) -> str:
        shard = shards[index]
        return f"{task[0]} seeds {shard.start}..{shard.stop - 1}"

    tasks = run_tasks(_play_shard, calls, backend=backend, describe=describe, ordered=True)
    with closing(tasks):  # cancels the shards in flight if the writer stops
        for _, items in tasks:
            yield from items


def _counted(items: Iterable[_Record | bool], counts: dict[str, int]) -> Iterator[_Record]:
    """The records of ``items``, counting records, images and solved episodes in ``counts``."""
    for item in items:
        if isinstance(item, bool):
            counts["solved"] += int(item)
        else:
            counts["records"] += 1
            counts["images"] += int(item.png is not None)
            yield item


def _write(records: Iterable[_Record], folder: Path, hf: Any, counts: dict[str, int]) -> None:
    if hf is None:
        images = folder / "images"
        images.mkdir()
        with open(folder / "data.jsonl", "w", encoding="utf-8", newline="\n") as handle:
            for record in records:
                if record.png is not None:
                    (
                        folder / f"images/{record.data['seed']}-{record.data['step']}.png"
                    ).write_bytes(record.png)
                handle.write(_dumps(record.data) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if counts["images"] == 0:
            images.rmdir()
    else:
        _write_hf(hf, list(records), folder)


def _write_hf(datasets: Any, records: list[_Record], folder: Path) -> None:
    """A ``datasets`` folder: the record fields, images as a list of ``datasets.Image``."""
    text = datasets.Value("string")
    integer = datasets.Value("int64")
    chat = ("prompt", "completion") if records and "prompt" in records[0].data else ("messages",)
    names = ("id", "env_id", "seed", "step", "conversation", *chat, "answer")
    columns: dict[str, list[Any]] = {name: [r.data[name] for r in records] for name in names}
    with_images = any("images" in r.data for r in records)
    content: Any = [{"type": text, "text": text}] if with_images else text
    features: dict[str, Any] = {
        "id": text,
        "env_id": text,
        "seed": integer,
        "step": integer,
        "conversation": text,
        **{name: [{"role": text, "content": content}] for name in chat},
        "answer": text,
    }
    if with_images:
        columns["images"] = [
            [
                {"bytes": png, "path": path}
                for png, path in zip(r.pngs, r.data.get("images", []), strict=True)
            ]
            for r in records
        ]
        features["images"] = [datasets.Image()]
    dataset = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
    # No progress bars on the terminal (restored afterwards; datasets >= 2.15 has these).
    disabled = getattr(datasets, "are_progress_bars_disabled", None)
    quiet = disabled() if callable(disabled) else True
    if not quiet:
        datasets.disable_progress_bars()
    try:
        dataset.save_to_disk(str(folder))
    finally:
        if not quiet:
            datasets.enable_progress_bars()


def _partial_prefix(target: Path) -> str:
    return f".{target.name}.partial-"


def _lock_folder(folder: Path) -> int | None:
    """A descriptor holding an exclusive lock on ``folder``; ``None`` if it cannot be had.

    ``None`` when another process holds the lock, the file system has no locks,
    ``folder`` is not a directory (links are not followed), or on Windows.
    """
    if sys.platform == "win32":
        return None
    import fcntl

    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _remove_stale_partials(target: Path) -> None:
    """Remove the ``.<name>.partial-*`` folders of killed exports to ``target`` (POSIX only).

    A folder whose lock another export still holds is in use and kept. (A
    folder created by another export in the instant before it takes its lock
    could be removed; that export then fails instead of writing a dataset.)
    Without file locks (Windows, some network file systems) nothing is removed.
    """
    prefix = _partial_prefix(target)
    try:
        candidates = [p for p in target.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return
    for folder in candidates:
        held = _lock_folder(folder)
        if held is None:  # in use by another export (or not a folder we can lock)
            continue
        try:
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            os.close(held)


def _move_into_place(staging: Path, target: Path, overwrite: bool) -> None:
    """Rename the finished folder to ``target`` (replacing an old one if ``overwrite``)."""
    if not target.exists():
        os.rename(staging, target)
        return
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
        os.rename(staging, target)
        return
    if not overwrite:
        raise FileExistsError(f"{target} appeared while exporting; not replacing it")
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
    old.rmdir()
    os.rename(target, old)
    os.rename(staging, target)
    if old.is_dir():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink()
