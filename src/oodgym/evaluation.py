"""Evaluating a policy on registered ids: resumable JSONL records, a summary, a table, a plot.

:func:`evaluate` plays ``episodes`` seeded episodes of every id (episode ``i``
uses seed ``seed + i``) in the paper's multi-turn setting: after each step the
answer is appended to the conversation as an ``assistant`` message and the
next observation (which carries the feedback on a failed attempt) as a
``user`` message, until the episode terminates or is truncated.

Output layout (``out``)::

    out/
      .lock                                 # held while a run writes here (one writer)
      summary.json                          # one entry per id + the run settings (atomic)
      cardenvs__GeneralPoints-v0/
        episodes.jsonl                      # one record per episode played (append-only)

Records are appended whole (:func:`oodgym.atomic.append_line`) as each
episode finishes, so a run stopped at any point (Ctrl-C, ``kill -9``) resumes
by rerunning the same call: seeds with a completed record are skipped, a torn
last line is cut off before anything is appended, and the summary is computed
from the latest completed record of each requested seed, sorted by seed (so it
does not depend on ``concurrency``).

An episode whose policy raised :class:`~oodgym.policies.ServerError` (the
server gave no usable answer, retries spent) is recorded with ``"status":
"error"`` and the error message: it is not judged, not counted in the success
rates (``not_run`` in the summary), :func:`evaluate` raises
:class:`IncompleteEvaluationError` at the end, and rerunning the same call
plays exactly those episodes again. Completed records have ``"status":
"completed"`` (records without a status, from older versions, count as
completed).

Assistant answers are stored in the transcript up to :data:`STORED_ANSWER_CHARS`
characters; a longer one is cut there and its message gets ``answer_chars`` (the
full length) and ``answer_sha256`` (of the full UTF-8 text).
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib
import io
import json
import math
import os
import queue
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import gymnasium as gym

from oodgym._version import __version__
from oodgym.atomic import append_line, write_bytes_atomic, write_text_atomic
from oodgym.conversation import Message, assistant_message, observation_message, without_images
from oodgym.families import load_families, presets
from oodgym.policies import Policy, ServerError, as_policy, make_policy, policy_name

__all__ = [
    "STORED_ANSWER_CHARS",
    "EnvSummary",
    "EvaluationError",
    "IncompleteEvaluationError",
    "OutputInUseError",
    "Summary",
    "episodes_path",
    "evaluate",
    "is_completed",
    "plot",
    "read_records",
    "resolve_ids",
    "summarize",
]

EPISODES_FILE = "episodes.jsonl"
SUMMARY_FILE = "summary.json"
LOCK_FILE = ".lock"

#: Longest answer kept whole in a record's transcript, in characters. Paper-style
#: answers are a few hundred characters and a long chain of thought a few thousand;
#: 16 KiB keeps those whole while a runaway 5 MB answer costs 16 KiB per record.
STORED_ANSWER_CHARS = 16_384

#: Longest error message kept in a not-run record, in characters.
_ERROR_CHARS = 2_000

COMPLETED = "completed"
FAILED = "error"


class EvaluationError(RuntimeError):
    """An episode failed while running (the policy or the environment raised)."""


class IncompleteEvaluationError(EvaluationError):
    """Some episodes did not run (their server failed); rerun the same call to run them.

    Raised by :func:`evaluate` after every other episode has run and
    ``summary.json`` has been written.

    Attributes:
        summary: The summary of the completed episodes (``not_run`` per id).
        not_run: How many requested episodes have no completed record.
    """

    def __init__(self, message: str, *, summary: Summary, not_run: int) -> None:
        super().__init__(message)
        self.summary = summary
        self.not_run = not_run


class OutputInUseError(RuntimeError):
    """Another evaluation is writing to the output folder (its ``.lock`` is held)."""


# --------------------------------------------------------------------------- ids


def resolve_ids(env_ids: str | Sequence[str]) -> list[tuple[str, str, str]]:
    """Expand ids and glob patterns to ``(id, split, family)``, in order, without repeats.

    Patterns (``*``, ``?``, ``[...]``) match the ids announced by the
    families; an exact id may also be any id registered with Gymnasium.
    ``"module:id"`` (as ``gym.make`` takes) imports ``module`` first.

    Raises:
        ValueError: An id or pattern matches nothing (the message lists the ids).
    """
    requested = [env_ids] if isinstance(env_ids, str) else list(env_ids)
    if not requested:
        raise ValueError("no environment id given")
    load_families()
    announced = {p.id: p for p in presets()}
    out: dict[str, tuple[str, str, str]] = {}
    for item in requested:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"environment ids must be non-empty strings, got {item!r}")
        item = item.strip()
        if ":" in item:  # "module:id", as gym.make takes: import the module registering the id
            module, _, item = item.partition(":")
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise ValueError(
                    f"cannot import module {module!r} for ids {item!r}: {exc}"
                ) from exc
        if any(ch in item for ch in "*?["):
            matches = [i for i in announced if fnmatch.fnmatchcase(i, item)]
            if not matches:
                matches = sorted(i for i in gym.registry if fnmatch.fnmatchcase(i, item))
        else:
            matches = [item] if item in announced or item in gym.registry else []
        if not matches:
            listing = "\n  ".join(announced) or "(none)"
            raise ValueError(
                f"unknown environment id or pattern {item!r}; registered:\n  {listing}"
            )
        for env_id in matches:
            preset = announced.get(env_id)
            split = preset.split if preset else "unknown"
            family = preset.family if preset else env_id.split("/")[0]
            out.setdefault(env_id, (env_id, split, family))
    return list(out.values())


def episodes_path(out: str | os.PathLike[str], env_id: str) -> Path:
    """Where the records of ``env_id`` live under ``out``."""
    return Path(out) / env_id.replace("/", "__") / EPISODES_FILE


# --------------------------------------------------------------------------- records


def read_records(path: str | os.PathLike[str], *, repair: bool = False) -> list[dict[str, Any]]:
    """The records of an ``episodes.jsonl`` file (``[]`` if it does not exist).

    A torn last line (no trailing newline, or not valid JSON, as left by a
    killed process) is ignored; with ``repair=True`` the file is also truncated
    to its last complete record, so that appends start on a fresh line. An
    invalid line elsewhere (never written by this module) is skipped with a
    warning.
    """
    target = Path(path)
    if not target.exists():
        return []
    data = target.read_bytes()
    keep = len(data)
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1  # 0 when there is no complete line at all
    lines = data[:keep].split(b"\n")[:-1] if keep else []
    records: list[dict[str, Any]] = []
    bad: list[int] = []
    for number, raw in enumerate(lines, start=1):
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            record = None
        if isinstance(record, dict) and "seed" in record:
            records.append(record)
        elif raw.strip():
            bad.append(number)
    # A complete but invalid *last* line is a torn write too: drop it from the file.
    while bad and bad[-1] == len(lines):
        keep -= len(lines.pop()) + 1
        bad.pop()
    if bad:
        warnings.warn(f"{target}: skipped invalid line(s) {bad}", RuntimeWarning, stacklevel=2)
    if repair and keep != len(data):
        with open(target, "r+b") as handle:
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
    return records


def is_completed(record: Mapping[str, Any]) -> bool:
    """Whether a record is of an episode that ran to its end (not a failed-to-run one)."""
    return bool(record.get("status", COMPLETED) == COMPLETED)


def _check_compatible(
    records: Iterable[Mapping[str, Any]], path: Path, policy: str, env_kwargs: Mapping[str, Any]
) -> None:
    for record in records:
        if record.get("policy") != policy:
            raise ValueError(
                f"{path} holds episodes of policy {record.get('policy')!r}, not {policy!r}: "
                "use another output folder"
            )
        if record.get("env_kwargs", {}) != dict(env_kwargs):
            raise ValueError(
                f"{path} holds episodes played with env_kwargs {record.get('env_kwargs')!r}, "
                f"not {dict(env_kwargs)!r}: use another output folder"
            )


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class EnvSummary:
    """Results of one id.

    Attributes:
        env_id: The Gymnasium id.
        split: ``in-distribution``, ``rule-ood``, ``visual-ood`` (``unknown``
            for ids no family announces).
        family: The family that registers the id.
        episodes: Episodes counted (completed records of the requested seeds).
        successes: Episodes that ended in success.
        success_rate: ``successes / episodes``.
        stderr: Standard error of the success rate, ``sqrt(p (1 - p) / N)``.
        mean_return: Mean undiscounted return.
        mean_attempts: Mean number of steps per episode.
        verdict_counts: How often each verdict occurred, over all attempts.
        mean_step_accuracy: Mean final ``step_accuracy`` (``None`` unless the
            environment reports it, as navigation does).
        not_run: Requested episodes without a completed record (their server
            failed); not counted anywhere else. A rerun plays them.
    """

    env_id: str
    split: str
    family: str
    episodes: int
    successes: int
    success_rate: float
    stderr: float
    mean_return: float
    mean_attempts: float
    verdict_counts: dict[str, int]
    mean_step_accuracy: float | None = None
    not_run: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for ``summary.json``)."""
        return {
            "env_id": self.env_id,
            "split": self.split,
            "family": self.family,
            "episodes": self.episodes,
            "successes": self.successes,
            "success_rate": self.success_rate,
            "stderr": self.stderr,
            "mean_return": self.mean_return,
            "mean_attempts": self.mean_attempts,
            "verdict_counts": dict(self.verdict_counts),
            "mean_step_accuracy": self.mean_step_accuracy,
            "not_run": self.not_run,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EnvSummary:
        """Inverse of :meth:`to_dict`."""
        accuracy = data.get("mean_step_accuracy")
        return cls(
            env_id=str(data["env_id"]),
            split=str(data.get("split", "unknown")),
            family=str(data.get("family", "")),
            episodes=int(data["episodes"]),
            successes=int(data.get("successes", 0)),
            success_rate=float(data["success_rate"]),
            stderr=float(data["stderr"]),
            mean_return=float(data.get("mean_return", 0.0)),
            mean_attempts=float(data.get("mean_attempts", 0.0)),
            verdict_counts={
                str(k): int(v) for k, v in dict(data.get("verdict_counts", {})).items()
            },
            mean_step_accuracy=None if accuracy is None else float(accuracy),
            not_run=int(data.get("not_run", 0)),
        )


@dataclass(frozen=True)
class Summary:
    """Results of an evaluation: one :class:`EnvSummary` per id, plus the run settings."""

    results: dict[str, EnvSummary]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the content of ``summary.json``)."""
        return {
            "settings": dict(self.settings),
            "results": {k: v.to_dict() for k, v in self.results.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Summary:
        """Inverse of :meth:`to_dict`."""
        results = {str(k): EnvSummary.from_dict(v) for k, v in dict(data["results"]).items()}
        return cls(results=results, settings=dict(data.get("settings", {})))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Summary:
        """Read a ``summary.json`` (a file, or the output folder holding it)."""
        target = Path(path)
        if target.is_dir():
            target = target / SUMMARY_FILE
        return cls.from_dict(json.loads(target.read_text(encoding="utf-8")))

    def table(self) -> str:
        """A paper-style table: id, split, N, success rate ± stderr (%), mean return."""
        rows = list(self.results.values())
        navigation = any(r.mean_step_accuracy is not None for r in rows)
        failures = any(r.not_run for r in rows)
        header = ["env id", "split", "N", "success (%)", "mean return"]
        if navigation:
            header.append("step acc. (%)")
        if failures:
            header.append("not run")
        body: list[list[str]] = []
        for r in rows:
            row = [
                r.env_id,
                r.split,
                str(r.episodes),
                f"{100 * r.success_rate:5.1f} ± {100 * r.stderr:4.1f}",
                f"{r.mean_return:+.2f}",
            ]
            if navigation:
                accuracy = r.mean_step_accuracy
                row.append("-" if accuracy is None else f"{100 * accuracy:5.1f}")
            if failures:
                row.append(str(r.not_run))
            body.append(row)
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
        right = set(range(2, len(header)))

        def fmt(line: list[str]) -> str:
            cells = [
                cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                for i, cell in enumerate(line)
            ]
            return "  ".join(cells).rstrip()

        rule = "  ".join("-" * w for w in widths)
        return "\n".join([fmt(header), rule, *(fmt(line) for line in body)])


def summarize(
    records: Sequence[Mapping[str, Any]],
    *,
    env_id: str,
    split: str = "unknown",
    family: str = "",
    seeds: Iterable[int] | None = None,
) -> EnvSummary:
    """Summarise the records of one id (only ``seeds`` if given).

    Each seed counts once, by its latest completed record. ``not_run`` counts
    the seeds without one: with ``seeds``, every requested seed; without, the
    seeds that have only failed-to-run records.
    """
    wanted = None if seeds is None else set(seeds)
    by_seed: dict[int, Mapping[str, Any]] = {}
    seen: set[int] = set()
    for record in records:
        seed = int(record["seed"])
        if wanted is not None and seed not in wanted:
            continue
        seen.add(seed)
        if is_completed(record):
            by_seed[seed] = record  # the latest completed record wins
    not_run = len((seen if wanted is None else wanted) - set(by_seed))
    chosen = [by_seed[s] for s in sorted(by_seed)]
    n = len(chosen)
    successes = sum(bool(r.get("success")) for r in chosen)
    p = successes / n if n else 0.0
    verdicts: Counter[str] = Counter()
    for r in chosen:
        verdicts.update(str(v) for v in r.get("verdicts", []))
    accuracies = [float(r["step_accuracy"]) for r in chosen if r.get("step_accuracy") is not None]
    return EnvSummary(
        env_id=env_id,
        split=split,
        family=family,
        episodes=n,
        successes=successes,
        success_rate=p,
        stderr=math.sqrt(p * (1 - p) / n) if n else 0.0,
        mean_return=sum(float(r.get("return", 0.0)) for r in chosen) / n if n else 0.0,
        mean_attempts=sum(int(r.get("attempts", 0)) for r in chosen) / n if n else 0.0,
        verdict_counts=dict(sorted(verdicts.items())),
        mean_step_accuracy=sum(accuracies) / len(accuracies) if accuracies else None,
        not_run=not_run,
    )


# --------------------------------------------------------------------------- progress


class _Progress:
    """A plain-text progress bar on a TTY, else a line every ~10%."""

    def __init__(self, total: int, *, enabled: bool, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and total > 0
        isatty = getattr(self.stream, "isatty", None)
        self.bar = self.enabled and bool(isatty and isatty())
        self.done = 0
        self.successes = 0
        self.not_run = 0
        self.start = time.monotonic()
        self._last_draw = 0.0
        self._next_decile = 1

    def update(self, success: bool | None) -> None:
        """Count one episode: solved, unsolved, or ``None`` for not run."""
        self.done += 1
        self.successes += int(bool(success))
        self.not_run += int(success is None)
        if not self.enabled:
            return
        if self.bar:
            now = time.monotonic()
            if now - self._last_draw >= 0.1 or self.done == self.total:
                self._last_draw = now
                self._draw()
        elif self.done * 10 >= self._next_decile * self.total:
            while self.done * 10 >= self._next_decile * self.total:
                self._next_decile += 1
            print(f"eval: {self._status()}", file=self.stream, flush=True)

    def _status(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        percent = 100 * self.done // self.total
        failed = f", {self.not_run} not run" if self.not_run else ""
        return (
            f"{self.done}/{self.total} episodes ({percent}%), {self.successes} solved{failed}, "
            f"{elapsed:.0f}s elapsed, ~{eta:.0f}s left"
        )

    def _draw(self) -> None:
        width = 30
        filled = width * self.done // self.total
        bar = "#" * filled + "." * (width - filled)
        self.stream.write(f"\r[{bar}] {self._status()}   ")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()

    def close(self) -> None:
        if self.bar and 0 < self.done < self.total:
            self.stream.write("\n")
            self.stream.flush()


# --------------------------------------------------------------------------- episodes


def _jsonable(value: Any) -> Any:
    """Plain JSON data (numpy scalars become Python numbers)."""
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item):
        return _jsonable(item())
    return str(value)


@dataclass(frozen=True)
class _Job:
    env_id: str
    split: str
    seed: int
    path: Path


class _AbandonedError(Exception):
    """The run is stopping: the episode is abandoned (no record)."""


def _stored_answer(message: dict[str, Any]) -> dict[str, Any]:
    """An assistant message as stored: content cut at :data:`STORED_ANSWER_CHARS`."""
    content = message.get("content")
    if (
        message.get("role") != "assistant"
        or not isinstance(content, str)
        or len(content) <= STORED_ANSWER_CHARS
    ):
        return message
    digest = hashlib.sha256(content.encode("utf-8", errors="surrogatepass")).hexdigest()
    return {
        **message,
        "content": content[:STORED_ANSWER_CHARS],
        "answer_chars": len(content),
        "answer_sha256": digest,
    }


def _record_line(record: Mapping[str, Any]) -> str:
    """One JSON line (ASCII escapes if a text holds lone surrogates, invalid in UTF-8)."""
    line = json.dumps(record, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(record, ensure_ascii=True)
    return line


def _play(
    job: _Job,
    policy: Policy,
    *,
    name: str,
    env_kwargs: Mapping[str, Any],
    max_steps: int,
    stop: threading.Event,
) -> dict[str, Any]:
    """Play one episode; its record (``"status": "error"`` if the policy's server failed)."""
    env = gym.make(job.env_id, **dict(env_kwargs))
    head: dict[str, Any] = {
        "env_id": job.env_id,
        "split": job.split,
        "seed": job.seed,
        "policy": name,
        "env_kwargs": dict(env_kwargs),
    }
    try:
        observation, _ = env.reset(seed=job.seed)
        env.action_space.seed(job.seed)  # the random policy's answers depend on the seed only
        messages: list[Message] = [observation_message(observation)]
        rewards: list[float] = []
        verdicts: list[str] = []
        info: dict[str, Any] = {}
        terminated = truncated = False
        while len(rewards) < max_steps:
            if stop.is_set():
                raise _AbandonedError
            try:
                answer = policy(list(messages), env=env)
            except ServerError as exc:  # a failed request, not an answer: nothing to judge
                error = f"step {len(rewards) + 1}: {type(exc).__name__}: {exc}"
                return {**head, "status": FAILED, "error": error[:_ERROR_CHARS]}
            except Exception as exc:
                raise EvaluationError(
                    f"{job.env_id} seed {job.seed}: the policy {name!r} failed at step "
                    f"{len(rewards) + 1}: {type(exc).__name__}: {exc}"
                ) from exc
            if not isinstance(answer, str):
                raise EvaluationError(
                    f"{job.env_id} seed {job.seed}: the policy {name!r} returned "
                    f"{type(answer).__name__}, expected str"
                )
            messages.append(assistant_message(answer))
            observation, reward, terminated, truncated, info = env.step(answer)
            rewards.append(float(reward))
            verdicts.append(str(info.get("verdict", "")))
            if terminated or truncated:
                break
            messages.append(observation_message(observation))
        record: dict[str, Any] = {
            **head,
            "status": COMPLETED,
            "attempts": len(rewards),
            "success": bool(info.get("is_success", False)),
            "return": sum(rewards),
            "rewards": rewards,
            "verdicts": verdicts,
            "terminated": bool(terminated),
            "truncated": bool(truncated),
            "max_steps_reached": not (terminated or truncated),
        }
        if info.get("step_accuracy") is not None:
            record["step_accuracy"] = float(info["step_accuracy"])
        record["transcript"] = [_stored_answer(m) for m in _jsonable(without_images(messages))]
        return record
    finally:
        env.close()


# --------------------------------------------------------------------------- evaluate


def evaluate(
    env_ids: str | Sequence[str],
    policy: str | Policy,
    *,
    episodes: int,
    out: str | os.PathLike[str],
    seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
    concurrency: int = 1,
    progress: bool = True,
    base_url: str | None = None,
    model: str | None = None,
    max_steps: int = 500,
    policy_options: Mapping[str, Any] | None = None,
) -> Summary:
    """Evaluate ``policy`` on ``episodes`` seeded episodes of every id; resumable.

    Args:
        env_ids: Ids or glob patterns over the registered ids
            (``"cardenvs/GeneralPoints-*"`` evaluates every split).
        policy: A :class:`~oodgym.policies.Policy` or a spec for
            :func:`~oodgym.policies.make_policy` (``"random"``, ``"oracle"``,
            ``"openai"``, ``"MODULE:CALLABLE"``).
        episodes: Episodes per id; episode ``i`` uses seed ``seed + i``.
        out: Output folder (see the module docstring); reusing it resumes.
        seed: First seed.
        env_kwargs: Keyword arguments of ``gym.make`` for every id (plain JSON data).
        concurrency: Episodes played at once in a thread pool (useful for HTTP
            policies; every episode has its own environment). Results do not
            depend on it.
        progress: Show progress on stderr (a bar on a TTY, else a line every
            ~10%) and print the table on stdout at the end.
        base_url: The endpoint of the ``"openai"`` policy.
        model: The model of the ``"openai"`` policy.
        max_steps: Safety cap on steps per episode (an episode reaching it ends
            unsuccessfully, ``max_steps_reached`` in its record).
        policy_options: More options of a spec policy (e.g. ``{"max_tokens": 512}``).

    Returns:
        The summary (also written to ``out/summary.json``).

    Raises:
        ValueError: Bad arguments: unknown ids, bad policy spec or options,
            environment arguments ``gym.make`` refuses, an output folder
            holding another policy's or other arguments' episodes.
        OutputInUseError: Another evaluation is writing to ``out`` (raised at
            once, before anything is played).
        IncompleteEvaluationError: Some episodes did not run because the
            policy's server failed (:class:`~oodgym.policies.ServerError`);
            raised after all the others ran and the summary was written.
            Rerun the same call to run them.
        EvaluationError: The policy or an environment failed during an episode
            (episodes finished before are kept).
        KeyboardInterrupt: Interrupted; rerun the same call to resume.
    """
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be an int >= 1, got {episodes!r}")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be an int >= 1, got {concurrency!r}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be an int >= 1, got {max_steps!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    kwargs = dict(env_kwargs or {})
    try:
        canonical = json.loads(json.dumps(kwargs))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"env_kwargs must be plain JSON data: {exc}") from exc
    if canonical != kwargs:
        raise ValueError(f"env_kwargs must be plain JSON data (str keys, lists), got {kwargs!r}")
    targets = resolve_ids(env_ids)
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
    root = Path(out)
    requested = range(seed, seed + episodes)
    with ExitStack() as held:
        try:
            _check_envs(targets, kwargs)
            root.mkdir(parents=True, exist_ok=True)
            held.enter_context(_lock_output(root))
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
            max_steps=max_steps,
            concurrency=concurrency,
            progress=progress,
        )
        # Closed after a complete run only: after an error or Ctrl-C, abandoned episodes
        # may still have a request in flight on another thread.
        if callable(close):
            close()
        summary = _write_summary(
            targets,
            root=root,
            requested=requested,
            settings={
                "env_ids": [t[0] for t in targets],
                "policy": policy_name(resolved),
                "episodes": episodes,
                "seed": seed,
                "seeds": [seed, seed + episodes - 1],
                "env_kwargs": kwargs,
                "max_steps": max_steps,
                "base_url": base_url,
                "model": model,
                "policy_options": _jsonable(options),
                "ood_gym_version": __version__,
            },
        )
    if progress:
        print(summary.table(), flush=True)
    not_run = sum(r.not_run for r in summary.results.values())
    if not_run:
        raise IncompleteEvaluationError(
            f"{not_run} of {episodes * len(targets)} episode(s) did not run: the policy's "
            f"server gave no usable answer ({_first_error(root, targets, requested)}). "
            'Their records have "status": "error" and are not scored; run the same '
            "command again to run them.",
            summary=summary,
            not_run=not_run,
        )
    return summary


def _write_summary(
    targets: Sequence[tuple[str, str, str]],
    *,
    root: Path,
    requested: range,
    settings: dict[str, Any],
) -> Summary:
    results: dict[str, EnvSummary] = {}
    for env_id, split, family in targets:
        records = read_records(episodes_path(root, env_id))
        results[env_id] = summarize(
            records, env_id=env_id, split=split, family=family, seeds=requested
        )
    summary = Summary(results=results, settings=settings)
    write_text_atomic(root / SUMMARY_FILE, json.dumps(summary.to_dict(), indent=2) + "\n")
    return summary


def _first_error(root: Path, targets: Sequence[tuple[str, str, str]], requested: range) -> str:
    """The error of the first not-run episode, for the final message."""
    for env_id, _, _ in targets:
        records = [r for r in read_records(episodes_path(root, env_id)) if r["seed"] in requested]
        completed = {r["seed"] for r in records if is_completed(r)}
        for record in records:
            if record["seed"] not in completed:
                error = str(record.get("error", "no error recorded"))
                return f"first: {env_id} seed {record['seed']}: {error[:300]}"
    return "no error recorded"


@contextmanager
def _lock_output(root: Path) -> Iterator[None]:
    """Hold ``root/.lock`` (an OS lock, released when the process dies) for one writer."""
    path = root / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            _try_lock(fd)
        except OSError:
            holder = _read_pid(fd)
            who = f" (pid {holder})" if holder else ""
            raise OutputInUseError(
                f"another evaluation{who} is writing to {root} (it holds {path}); "
                "wait for it to finish or use another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def _read_pid(fd: int) -> str:
    """The pid written in a lock file by its holder (``""`` if unreadable)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", errors="replace").strip()
    except OSError:  # a byte-range lock (Windows) also forbids reading
        return ""
    return text if text.isdigit() else ""


def _try_lock(fd: int) -> None:
    """Lock ``fd`` without waiting; ``OSError`` if another process holds it."""
    os.lseek(fd, 0, os.SEEK_SET)  # msvcrt locks from the current position
    if sys.platform == "win32":
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _check_envs(targets: Sequence[tuple[str, str, str]], env_kwargs: Mapping[str, Any]) -> None:
    """Fail on bad environment arguments before playing anything (and warm the caches)."""
    for env_id, _, _ in targets:
        try:
            gym.make(env_id, **dict(env_kwargs)).close()
        except Exception as exc:
            raise ValueError(f"cannot make {env_id} with env_kwargs {env_kwargs}: {exc}") from exc


def _run(
    targets: Sequence[tuple[str, str, str]],
    policy: Policy,
    *,
    root: Path,
    requested: range,
    env_kwargs: Mapping[str, Any],
    max_steps: int,
    concurrency: int,
    progress: bool,
) -> None:
    name = policy_name(policy)
    jobs: list[_Job] = []
    for env_id, split, _ in targets:
        path = episodes_path(root, env_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        existing = read_records(path, repair=True)
        _check_compatible(existing, path, name, env_kwargs)
        done = {int(r["seed"]) for r in existing if is_completed(r)}
        jobs.extend(_Job(env_id, split, s, path) for s in requested if s not in done)
    _run_jobs(
        jobs,
        policy,
        name=name,
        env_kwargs=env_kwargs,
        max_steps=max_steps,
        concurrency=concurrency,
        progress=progress,
    )


def _run_jobs(
    jobs: Sequence[_Job],
    policy: Policy,
    *,
    name: str,
    env_kwargs: Mapping[str, Any],
    max_steps: int,
    concurrency: int,
    progress: bool,
) -> None:
    bar = _Progress(len(jobs), enabled=progress)
    stop = threading.Event()
    lock = threading.Lock()

    def run(job: _Job) -> bool | None:
        record = _play(
            job, policy, name=name, env_kwargs=env_kwargs, max_steps=max_steps, stop=stop
        )
        line = _record_line(record)
        with lock:
            if stop.is_set():  # the run is over (and its output lock released): no writes
                raise _AbandonedError
            append_line(job.path, line)
        return bool(record["success"]) if is_completed(record) else None

    try:
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


# --------------------------------------------------------------------------- plot

_SPLIT_ORDER = ("in-distribution", "rule-ood", "visual-ood")
_SPLIT_COLOURS = {
    "in-distribution": "#4C72B0",
    "rule-ood": "#DD8452",
    "visual-ood": "#55A868",
}


def plot(
    summary: Summary | Mapping[str, Any] | str | os.PathLike[str], path: str | os.PathLike[str]
) -> Path:
    """Bar chart (PNG) of the success rate per id, coloured by split, with stderr error bars.

    Args:
        summary: A :class:`Summary`, its ``to_dict()`` data, or a ``summary.json``
            path (or the folder holding it).
        path: The PNG to write (atomically).

    Raises:
        ImportError: matplotlib is missing (``pip install 'ood-gym[plot]'``).
    """
    if isinstance(summary, (str, os.PathLike)):
        summary = Summary.load(summary)
    elif not isinstance(summary, Summary):
        summary = Summary.from_dict(summary)
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plot() needs matplotlib: pip install 'ood-gym[plot]'") from exc

    rank = {s: i for i, s in enumerate(_SPLIT_ORDER)}
    order = list(summary.results.values())
    rows = sorted(order, key=lambda r: (r.family, rank.get(r.split, len(rank)), order.index(r)))
    figure = Figure(figsize=(max(4.0, 1.1 * len(rows) + 1.5), 4.2), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    xs = list(range(len(rows)))
    heights = [100 * r.success_rate for r in rows]
    errors = [100 * r.stderr for r in rows]
    colours = [_SPLIT_COLOURS.get(r.split, "#8C8C8C") for r in rows]
    axes.bar(xs, heights, yerr=errors, capsize=4, color=colours, edgecolor="black", linewidth=0.5)
    for x, height, error in zip(xs, heights, errors, strict=True):
        top = min(height + error + 1.5, 103.0)
        axes.text(x, top, f"{height:.1f}", ha="center", va="bottom", fontsize=8)
    labels = [r.env_id.split("/")[-1] + f"\nN={r.episodes}" for r in rows]
    axes.set_xticks(xs)
    axes.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    axes.set_ylim(0, 122)
    axes.set_yticks([0, 20, 40, 60, 80, 100])
    axes.set_ylabel("success rate (%)")
    policy = summary.settings.get("policy")
    axes.set_title(f"success per split ({policy})" if policy else "success per split")
    seen = [s for s in [*_SPLIT_ORDER, "unknown"] if any(r.split == s for r in rows)]
    seen += sorted({r.split for r in rows} - set(seen))
    from matplotlib.patches import Patch

    axes.legend(
        handles=[Patch(color=_SPLIT_COLOURS.get(s, "#8C8C8C"), label=s) for s in seen],
        fontsize=8,
        loc="upper center",
        ncol=max(1, len(seen)),
        frameon=False,
    )
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    target = Path(path)
    write_bytes_atomic(target, buffer.getvalue())
    return target
