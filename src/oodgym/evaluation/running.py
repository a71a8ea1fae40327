"""Running an evaluation: episodes played (threads or Ray), records appended, summary written."""

from __future__ import annotations

import json
import os
import queue
import threading
import uuid
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym

from oodgym._version import __version__
from oodgym.atomic import append_line, write_text_atomic
from oodgym.conversation import Conversation, check_protocol, without_images
from oodgym.distributed import (
    RayBackend,
    WorkerLostError,
    as_backend,
    check_picklable,
    import_ray,
    run_tasks,
    session,
)
from oodgym.evaluation.errors import EvaluationError, IncompleteEvaluationError
from oodgym.evaluation.ids import default_episodes, id_modules, resolve_ids
from oodgym.evaluation.metrics import MISREAD, EpisodeCounts
from oodgym.evaluation.progress import Progress
from oodgym.evaluation.records import (
    COMPLETED,
    FAILED,
    SUMMARY_FILE,
    check_compatible,
    episodes_path,
    is_completed,
    jsonable,
    lock_output,
    read_records,
    record_line,
    stored_answer,
)
from oodgym.evaluation.summary import EnvSummary, Summary, summarize
from oodgym.policies import (
    Policy,
    ServerError,
    accepts_keyword,
    as_policy,
    make_policy,
    policy_name,
    request_seed,
)

__all__ = ["REQUEST_SEED_FORMULA", "evaluate"]

#: Longest error message kept in a not-run record, in characters.
_ERROR_CHARS = 2_000

#: How :func:`~oodgym.policies.request_seed` derives a request's seed (stored in the settings).
REQUEST_SEED_FORMULA = "(episode_seed * 1000 + turn) % 2**31"

Target = tuple[str, str, str]


@dataclass(frozen=True)
class _Job:
    env_id: str
    split: str
    seed: int
    path: Path


class _AbandonedError(Exception):
    """The run is stopping: the episode is abandoned (no record)."""


def _check_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def evaluate(
    env_ids: str | Sequence[str],
    policy: str | Policy,
    *,
    out: str | os.PathLike[str],
    episodes: int | None = None,
    seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
    conversation: str = "full",
    concurrency: int = 1,
    progress: bool = True,
    base_url: str | None = None,
    model: str | None = None,
    max_steps: int = 500,
    policy_options: Mapping[str, Any] | None = None,
    backend: RayBackend | str | None = None,
) -> Summary:
    """Evaluate ``policy`` on seeded episodes of every id; resumable.

    Args:
        env_ids: Ids or glob patterns over the registered ids
            (``"cardenvs/GeneralPoints-*"`` evaluates every split).
        policy: A :class:`~oodgym.policies.Policy` or a spec for
            :func:`~oodgym.policies.make_policy` (``"random"``, ``"oracle"``,
            ``"openai"``, ``"MODULE:CALLABLE"``).
        out: Output folder (see :mod:`oodgym.evaluation`); reusing it resumes.
        episodes: Episodes per id; episode ``i`` uses seed ``seed + i``.
            ``None`` (default): each id's preset count
            (:func:`~oodgym.evaluation.ids.default_episodes`: the paper's
            count for its split, else 100).
        seed: First seed.
        env_kwargs: Keyword arguments of ``gym.make`` for every id (plain JSON data).
        conversation: The protocol the policy is spoken to with, ``"full"`` or
            ``"paper"`` (see :mod:`oodgym.conversation`). An output folder holds
            one protocol.
        concurrency: Episodes played at once in a thread pool (useful for HTTP
            policies; every episode has its own environment). Results do not
            depend on it.
        progress: Show progress on stderr (a bar on a TTY, else a line every
            ~10%) and print the table on stdout at the end.
        base_url: The endpoint of the ``"openai"`` policy.
        model: The model of the ``"openai"`` policy.
        max_steps: Safety cap on steps per episode (an episode reaching it ends
            unsuccessfully, ``max_steps_reached`` in its record).
        policy_options: More options of a spec policy (e.g. ``{"temperature":
            0.7, "top_p": 0.9, "max_tokens": 512}``).
        backend: Where episodes are played: ``None`` (default) in this process,
            on ``concurrency`` threads; a :class:`~oodgym.distributed.RayBackend`
            (or ``"ray"``, its defaults) one Ray task per episode across a Ray
            cluster (``concurrency`` must then be 1; ``cpus_per_task`` sets how
            many episodes share a CPU). The records, summary and resume are the
            same either way: this process appends each record as its episode
            returns and holds the ``out`` lock. The policy is sent to the
            workers pickled (a spec's policy too; ``"openai"`` as its
            configuration, API key included).

    A policy whose signature accepts ``seed`` (the ``"openai"`` policy does)
    is called with the seed of each request,
    :func:`~oodgym.policies.request_seed` ``(episode_seed, turn)`` =
    ``(episode_seed * 1000 + turn) % 2**31``, ``turn`` counting the requests
    of the episode from 0.

    Returns:
        The summary (also written to ``out/summary.json``).

    Raises:
        ValueError: Bad arguments: unknown ids, bad policy spec or options, an
            unknown ``conversation``, environment arguments ``gym.make``
            refuses, an output folder holding another policy's, other
            arguments' or another protocol's episodes, a bad ``backend``,
            ``concurrency`` above 1 with Ray, a policy that does not pickle
            (Ray).
        ImportError: A Ray backend without the ``ray`` package, or ``"openai"``
            without ``openai``.
        ConnectionError: Ray could not start or connect (nothing was played).
        OutputInUseError: Another evaluation is writing to ``out`` (raised at
            once, before anything is played).
        IncompleteEvaluationError: Some episodes did not run because the
            policy's server failed (:class:`~oodgym.policies.ServerError`);
            raised after all the others ran and the summary was written.
            Rerun the same call to run them.
        EvaluationError: The policy or an environment failed during an episode
            (episodes finished before are kept); with Ray also an episode whose
            worker died more often than ``max_retries``.
        KeyboardInterrupt: Interrupted; rerun the same call to resume.
    """
    if episodes is not None:
        _check_count("episodes", episodes, 1)
    _check_count("concurrency", concurrency, 1)
    _check_count("max_steps", max_steps, 1)
    _check_count("seed", seed, 0)
    protocol = check_protocol(conversation)
    ray_backend = as_backend(backend)
    if ray_backend is not None and concurrency != 1:
        raise ValueError(
            "concurrency applies to the threads of a local run; with Ray every episode is a "
            "task: set RayBackend(cpus_per_task=...) to play several episodes per CPU"
        )
    kwargs = dict(env_kwargs or {})
    try:
        canonical = json.loads(json.dumps(kwargs))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"env_kwargs must be plain JSON data: {exc}") from exc
    if canonical != kwargs:
        raise ValueError(f"env_kwargs must be plain JSON data (str keys, lists), got {kwargs!r}")
    targets = resolve_ids(env_ids)
    counts = {
        env_id: episodes if episodes is not None else default_episodes(env_id)
        for env_id, _, _ in targets
    }
    requested = {env_id: range(seed, seed + n) for env_id, n in counts.items()}
    options = dict(policy_options or {})
    owned = isinstance(policy, str)
    if isinstance(policy, str):
        resolved: Policy = make_policy(policy, base_url=base_url, model=model, seed=seed, **options)
    elif callable(policy):
        if options:
            raise ValueError("policy_options apply to a policy spec string, not a Policy object")
        resolved = as_policy(policy)
    else:
        raise ValueError(f"policy must be a spec string or a callable, got {policy!r}")
    close = getattr(resolved, "close", None) if owned else None
    if ray_backend is not None:
        try:
            check_picklable(resolved, f"the policy {policy_name(resolved)!r}")
        except BaseException:
            if callable(close):
                close()
            raise
    root = Path(out)
    settings: dict[str, Any] = {
        "env_ids": [t[0] for t in targets],
        "policy": policy_name(resolved),
        "episodes": episodes,
        "episodes_per_id": dict(counts),
        "seed": seed,
        "seeds": [seed, seed + max(counts.values()) - 1],
        "env_kwargs": kwargs,
        "conversation": protocol,
        "max_steps": max_steps,
        "base_url": base_url,
        "model": model,
        "policy_options": jsonable(options),
        "request_seed": REQUEST_SEED_FORMULA if accepts_keyword(resolved, "seed") else None,
        "ood_gym_version": __version__,
    }
    with ExitStack() as held:
        try:
            _check_envs(targets, kwargs)
            root.mkdir(parents=True, exist_ok=True)
            held.enter_context(lock_output(root))
            if ray_backend is not None:
                held.enter_context(session(ray_backend))
        except BaseException:
            if callable(close):
                close()  # nothing was played: no request in flight
            raise
        _run(
            targets,
            resolved,
            root=root,
            requested=requested,
            env_kwargs=kwargs,
            conversation=protocol,
            max_steps=max_steps,
            concurrency=concurrency,
            progress=progress,
            on_ray=None if ray_backend is None else (ray_backend, id_modules(env_ids)),
        )
        # Closed after a complete run only: after an error or Ctrl-C, abandoned episodes
        # may still have a request in flight on another thread.
        if callable(close):
            close()
        summary = _write_summary(targets, root=root, requested=requested, settings=settings)
    if progress:
        print(summary.table(), flush=True)
    not_run = sum(r.not_run for r in summary.results.values())
    if not_run:
        raise IncompleteEvaluationError(
            f"{not_run} of {sum(counts.values())} episode(s) did not run: the policy's "
            f"server gave no usable answer ({_first_error(root, targets, requested)}). "
            'Their records have "status": "error" and are not scored; run the same '
            "command again to run them.",
            summary=summary,
            not_run=not_run,
        )
    return summary


def _write_summary(
    targets: Sequence[Target],
    *,
    root: Path,
    requested: Mapping[str, range],
    settings: dict[str, Any],
) -> Summary:
    results: dict[str, EnvSummary] = {}
    for env_id, split, family in targets:
        records = read_records(episodes_path(root, env_id))
        results[env_id] = summarize(
            records, env_id=env_id, split=split, family=family, seeds=requested[env_id]
        )
    summary = Summary(results=results, settings=settings)
    write_text_atomic(root / SUMMARY_FILE, json.dumps(summary.to_dict(), indent=2) + "\n")
    return summary


def _first_error(root: Path, targets: Sequence[Target], requested: Mapping[str, range]) -> str:
    """The error of the first not-run episode, for the final message."""
    for env_id, _, _ in targets:
        wanted = requested[env_id]
        records = [r for r in read_records(episodes_path(root, env_id)) if r["seed"] in wanted]
        completed = {r["seed"] for r in records if is_completed(r)}
        for record in records:
            if record["seed"] not in completed:
                error = str(record.get("error", "no error recorded"))
                return f"first: {env_id} seed {record['seed']}: {error[:300]}"
    return "no error recorded"


def _check_envs(targets: Sequence[Target], env_kwargs: Mapping[str, Any]) -> None:
    """Fail on bad environment arguments before playing anything (and warm the caches)."""
    for env_id, _, _ in targets:
        try:
            gym.make(env_id, **dict(env_kwargs)).close()
        except Exception as exc:
            raise ValueError(f"cannot make {env_id} with env_kwargs {env_kwargs}: {exc}") from exc


def _run(
    targets: Sequence[Target],
    policy: Policy,
    *,
    root: Path,
    requested: Mapping[str, range],
    env_kwargs: Mapping[str, Any],
    conversation: str,
    max_steps: int,
    concurrency: int,
    progress: bool,
    on_ray: tuple[RayBackend, list[str]] | None = None,
) -> None:
    name = policy_name(policy)
    jobs: list[_Job] = []
    for env_id, split, _ in targets:
        path = episodes_path(root, env_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        existing = read_records(path, repair=True)
        check_compatible(existing, path, name, env_kwargs, conversation)
        done = {int(r["seed"]) for r in existing if is_completed(r)}
        jobs.extend(_Job(env_id, split, s, path) for s in requested[env_id] if s not in done)
    bar = Progress(len(jobs), enabled=progress)
    stop = threading.Event()
    lock = threading.Lock()
    player = _Player(policy, name, env_kwargs, conversation, max_steps, stop)

    def write(job: _Job, record: Mapping[str, Any]) -> bool | None:
        line = record_line(record)
        with lock:
            if stop.is_set():  # the run is over (and its output lock released): no writes
                raise _AbandonedError
            append_line(job.path, line)
        return bool(record["success"]) if is_completed(record) else None

    def run(job: _Job) -> bool | None:
        return write(job, player.play(job))

    try:
        if on_ray is not None:
            backend, modules = on_ray
            context = _RemoteContext(
                uuid.uuid4().hex, policy, name, dict(env_kwargs), conversation, max_steps, modules
            )
            with closing(_play_on_ray(jobs, context, backend)) as played:
                for job, record in played:
                    bar.update(write(job, record))
            return
        if concurrency == 1:
            for job in jobs:
                bar.update(run(job))
            return
        _run_threads(jobs, run, concurrency=concurrency, stop=stop, on_result=bar.update)
    finally:
        with lock:
            stop.set()
        bar.close()


def _run_threads(
    jobs: Sequence[_Job],
    run: Callable[[_Job], bool | None],
    *,
    concurrency: int,
    stop: threading.Event,
    on_result: Callable[[bool | None], None],
) -> None:
    """Run ``jobs`` on ``concurrency`` daemon threads; results reach ``on_result`` here.

    Daemon threads, not a ``ThreadPoolExecutor``: on Ctrl-C (or a failed episode)
    the caller returns at once, without joining threads stuck in a slow HTTP
    request; ``stop`` makes the others abandon their episode before its next step.
    """
    pending: queue.SimpleQueue[_Job] = queue.SimpleQueue()
    for job in jobs:
        pending.put(job)
    results: queue.SimpleQueue[bool | BaseException | None] = queue.SimpleQueue()

    def worker() -> None:
        while not stop.is_set():
            try:
                job = pending.get_nowait()
            except queue.Empty:
                return
            try:
                results.put(run(job))
            except _AbandonedError:
                return
            except BaseException as exc:
                results.put(exc)
                return

    threads = [
        threading.Thread(target=worker, name=f"oodgym-eval-{i}", daemon=True)
        for i in range(min(concurrency, len(jobs)))
    ]
    try:
        for thread in threads:
            thread.start()
        for _ in range(len(jobs)):
            outcome = results.get()
            if isinstance(outcome, BaseException):
                raise outcome
            on_result(outcome)
    except BaseException:
        stop.set()  # the other episodes stop before their next step, without a record
        raise
    for thread in threads:
        thread.join()


@dataclass(frozen=True)
class _RemoteContext:
    """What a Ray worker needs to play the episodes of a run (sent once per worker)."""

    token: str
    policy: Policy
    name: str
    env_kwargs: dict[str, Any]
    conversation: str
    max_steps: int
    #: Modules of ``"module:id"`` ids, imported on the worker (they register the ids).
    modules: list[str]

    def player(self) -> _Player:
        import importlib

        from oodgym.families import load_families

        load_families()
        for module in self.modules:
            importlib.import_module(module)
        return _Player(
            self.policy,
            self.name,
            self.env_kwargs,
            self.conversation,
            self.max_steps,
            threading.Event(),  # never set: a run stops its tasks with ray.cancel
        )


#: The player of the run whose episodes this Ray worker process plays, by run token.
_WORKER_PLAYER: dict[str, _Player] = {}


def _play_remote(token: str, holder: list[Any], job: _Job) -> dict[str, Any]:
    """A Ray task: play one episode, return its record (the driver writes it).

    ``holder`` wraps the reference to the run's :class:`_RemoteContext`, so that
    Ray does not unpickle it (and its policy, with its HTTP connections) for
    every episode: a worker fetches it once per run.
    """
    player = _WORKER_PLAYER.get(token)
    if player is None:
        context: _RemoteContext = import_ray().get(holder[0])
        for old in _WORKER_PLAYER.values():  # an earlier run's; Ray runs one task at a time
            close = getattr(old.policy, "close", None)
            if callable(close):
                close()
        _WORKER_PLAYER.clear()
        player = _WORKER_PLAYER[token] = context.player()
    return player.play(job)


def _play_on_ray(
    jobs: Sequence[_Job], context: _RemoteContext, backend: RayBackend
) -> Generator[tuple[_Job, dict[str, Any]], None, None]:
    """Play ``jobs`` as Ray tasks; yield each job with its record as it finishes."""
    reference = import_ray().put(context)
    calls = [(context.token, [reference], job) for job in jobs]

    def describe(index: int) -> str:
        return f"{jobs[index].env_id} seed {jobs[index].seed}"

    tasks = run_tasks(_play_remote, calls, backend=backend, describe=describe)
    try:
        with closing(tasks):  # cancels the episodes in flight if the driver stops
            for index, record in tasks:
                yield jobs[index], record
    except WorkerLostError as exc:
        raise EvaluationError(
            f"{exc} (after {backend.max_retries} retries; finished episodes are kept, "
            "run the same command again to resume)"
        ) from exc


def _tracks_recognition(env: gym.Env[Any, Any], observation: Any) -> bool:
    """Whether cards can be misread: an image observation and a ``wrong_recognition`` verdict.

    The verdicts an environment can give are the keys of its ``rewards`` table.
    """
    rewards = getattr(env.unwrapped, "rewards", None)
    return (
        isinstance(observation, Mapping)
        and "image" in observation
        and isinstance(rewards, Mapping)
        and MISREAD in rewards
    )


class _Player:
    """Plays one episode of a job and returns its record."""

    def __init__(
        self,
        policy: Policy,
        name: str,
        env_kwargs: Mapping[str, Any],
        conversation: str,
        max_steps: int,
        stop: threading.Event,
    ) -> None:
        self.policy: Callable[..., Any] = policy
        self.name = name
        self.env_kwargs = dict(env_kwargs)
        self.conversation = conversation
        self.max_steps = max_steps
        self.stop = stop
        self.pass_seed = accepts_keyword(policy, "seed")

    def play(self, job: _Job) -> dict[str, Any]:
        """Play ``job``; its record (``"status": "error"`` if the policy's server failed)."""
        env = gym.make(job.env_id, **self.env_kwargs)
        head: dict[str, Any] = {
            "env_id": job.env_id,
            "split": job.split,
            "seed": job.seed,
            "policy": self.name,
            "env_kwargs": dict(self.env_kwargs),
            "conversation": self.conversation,
        }
        try:
            return self._episode(env, job, head)
        finally:
            env.close()

    def _episode(self, env: gym.Env[Any, Any], job: _Job, head: dict[str, Any]) -> dict[str, Any]:
        observation, _ = env.reset(seed=job.seed)
        env.action_space.seed(job.seed)  # the random policy's answers depend on the seed only
        recognition = _tracks_recognition(env, observation)
        conversation = Conversation(self.conversation)
        conversation.reset(observation)
        rewards: list[float] = []
        verdicts: list[str] = []
        info: dict[str, Any] = {}
        terminated = truncated = False
        while len(rewards) < self.max_steps:
            if self.stop.is_set():
                raise _AbandonedError
            turn = len(rewards)
            keywords: dict[str, Any] = {"env": env}
            if self.pass_seed:
                keywords["seed"] = request_seed(job.seed, turn)
            try:
                answer = self.policy(conversation.messages, **keywords)
            except ServerError as exc:  # a failed request, not an answer: nothing to judge
                error = f"step {turn + 1}: {type(exc).__name__}: {exc}"
                return {**head, "status": FAILED, "error": error[:_ERROR_CHARS]}
            except Exception as exc:
                raise EvaluationError(
                    f"{job.env_id} seed {job.seed}: the policy {self.name!r} failed at step "
                    f"{turn + 1}: {type(exc).__name__}: {exc}"
                ) from exc
            if not isinstance(answer, str):
                raise EvaluationError(
                    f"{job.env_id} seed {job.seed}: the policy {self.name!r} returned "
                    f"{type(answer).__name__}, expected str"
                )
            observation, reward, terminated, truncated, info = env.step(answer)
            conversation.step(answer, observation, info, terminated, truncated)
            rewards.append(float(reward))
            verdicts.append(str(info.get("verdict", "")))
            if terminated or truncated:
                break
        counts = EpisodeCounts.from_verdicts(verdicts)
        record: dict[str, Any] = {
            **head,
            "status": COMPLETED,
            "attempts": len(rewards),
            "correct_attempts": counts.correct,
            "success": bool(info.get("is_success", False)),
            "return": sum(rewards),
            "rewards": rewards,
            "verdicts": verdicts,
            "terminated": bool(terminated),
            "truncated": bool(truncated),
            "max_steps_reached": not (terminated or truncated),
        }
        if recognition:
            record["misread_attempts"] = counts.misread
        if info.get("step_accuracy") is not None:
            record["step_accuracy"] = float(info["step_accuracy"])
        transcript = jsonable(without_images(conversation.transcript))
        record["transcript"] = [stored_answer(m) for m in transcript]
        record["conversation_starts"] = conversation.starts
        return record
