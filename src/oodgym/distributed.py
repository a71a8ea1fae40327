"""The Ray backend of ``oodgym eval`` and ``oodgym export`` (``--ray [ADDRESS]``).

:func:`oodgym.evaluation.evaluate` and :func:`oodgym.export.export` take
``backend=RayBackend(...)`` (or ``"ray"``): evaluation runs one Ray task per
episode, export one per shard of consecutive seeds. The driver (the process
that called them) stays the only writer: it holds the ``--out`` lock, appends
each episode's record as its task returns (the same atomic append and resume
logic as a local run), writes export shards in seed order, and shows the
progress and the table. So the results are those of a local run, and a task
whose worker process died is simply run again by Ray (``max_retries``): its
result reaches the driver once, or not at all.

Ray is imported only here, and only when a backend is used (the optional extra
``pip install "ood-gym[ray]"``). Every node of the cluster needs the same
ood-gym (and policy code) installed, or a ``runtime_env`` that ships it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from oodgym.validation import check_int

__all__ = [
    "LOCAL",
    "RayBackend",
    "WorkerLostError",
    "as_backend",
    "check_picklable",
    "cluster_cpus",
    "import_ray",
    "run_tasks",
    "session",
]

#: ``RayBackend(address=LOCAL)`` always starts a new Ray on this machine.
LOCAL = "local"

_HINT = 'the Ray backend needs the ray package: pip install "ood-gym[ray]"'

#: Longest part of a Ray error quoted in a :class:`WorkerLostError`, in characters.
_QUOTE_CHARS = 600


class WorkerLostError(RuntimeError):
    """A Ray task ended without a result: its worker or node died more often than retried."""


@dataclass(frozen=True)
class RayBackend:
    """Run on a Ray cluster.

    Attributes:
        address: The cluster: ``None`` (default) is Ray's own choice (the
            ``RAY_ADDRESS`` variable, as set by ``ray job submit``, else the
            cluster ``ray start`` started on this machine, else a new local
            Ray); ``"auto"`` an existing cluster (an error if there is none);
            ``"local"`` (:data:`LOCAL`) always a new local Ray;
            ``"HOST:PORT"`` or ``"ray://HOST:10001"`` (Ray Client) a given one.
            A Ray already initialised in this process (``ray.init`` called
            before) is used as it is, and left running.
        cpus_per_task: CPUs each task asks Ray for (an evaluation episode, an
            export shard); default 1. A fraction runs several tasks per CPU:
            ``0.25`` plays four episodes per CPU at once, for policies that
            mostly wait for a model server.
        max_retries: Times Ray runs a task again after its worker process or
            node died (default 3). Exceptions raised by the task are not
            retried: they end the run as they would locally.
        num_cpus: CPUs of a local Ray this backend starts (default: all of the
            machine's). Ray refuses it when connecting to an existing cluster.
        runtime_env: The Ray runtime environment of the job when this backend
            connects (e.g. ``{"py_modules": [...], "env_vars": {...}}``), to
            ship a policy's module to the workers.

    Raises:
        ValueError: An argument out of range (the message names it).
    """

    address: str | None = None
    cpus_per_task: float = 1.0
    max_retries: int = 3
    num_cpus: int | None = None
    runtime_env: Mapping[str, Any] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if self.address is not None and (not isinstance(self.address, str) or not self.address):
            raise ValueError(f"address must be None or a non-empty str, got {self.address!r}")
        cpus = self.cpus_per_task
        if isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or not 0 < cpus < math.inf:
            raise ValueError(f"cpus_per_task must be a number > 0, got {cpus!r}")
        check_int("max_retries", self.max_retries, 0)
        if self.num_cpus is not None:
            check_int("num_cpus", self.num_cpus, 1)
        if self.runtime_env is not None and not isinstance(self.runtime_env, Mapping):
            raise ValueError(f"runtime_env must be None or a mapping, got {self.runtime_env!r}")


def as_backend(backend: RayBackend | str | None) -> RayBackend | None:
    """``None`` (run in this process), ``"ray"`` (``RayBackend()``) or a :class:`RayBackend`.

    Raises:
        ValueError: Anything else.
    """
    if backend is None or isinstance(backend, RayBackend):
        return backend
    if backend == "ray":
        return RayBackend()
    raise ValueError(f"backend must be None, 'ray' or a RayBackend, got {backend!r}")


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        ImportError: Ray is not installed (the message names the extra).
    """
    try:
        import ray
    except ImportError as exc:
        raise ImportError(_HINT) from exc
    return ray


def check_picklable(value: object, what: str) -> None:
    """Refuse early what Ray could not send to its workers.

    Raises:
        ValueError: ``value`` does not pickle (``what`` names it).
    """
    ray = import_ray()
    try:
        ray.cloudpickle.dumps(value)
    except Exception as exc:
        raise ValueError(
            f"{what} cannot be sent to Ray workers: it does not pickle ({type(exc).__name__}: "
            f"{exc}); pass a policy spec ('MODULE:CALLABLE') or a module-level function"
        ) from exc


@contextmanager
def session(backend: RayBackend) -> Iterator[Any]:
    """Ray connected as ``backend`` says for the ``with`` block; yields the ``ray`` module.

    A Ray this starts or connects to is shut down (disconnected) at the end;
    one already initialised in this process is left alone.

    Raises:
        ImportError: Ray is not installed.
        ConnectionError: Ray could not start or connect (e.g. ``"auto"`` with no
            running cluster).
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    options: dict[str, Any] = {
        "address": backend.address,
        "include_dashboard": False,
        "logging_level": logging.WARNING,
    }
    if backend.num_cpus is not None:
        options["num_cpus"] = backend.num_cpus
    if backend.runtime_env is not None:
        options["runtime_env"] = dict(backend.runtime_env)
    try:
        ray.init(**options)
    except Exception as exc:  # no cluster at "auto", a malformed address ...
        where = repr(backend.address) if backend.address else "Ray's default address"
        raise ConnectionError(f"cannot start or connect to Ray at {where}: {exc}") from exc
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_cpus(ray: Any) -> float:
    """The CPUs of the connected cluster (at least 1)."""
    return max(1.0, float(ray.cluster_resources().get("CPU", 1.0)))


def run_tasks(
    function: Callable[..., Any],
    calls: Sequence[tuple[Any, ...]],
    *,
    backend: RayBackend,
    describe: Callable[[int], str],
    ordered: bool = False,
) -> Generator[tuple[int, Any], None, None]:
    """Run ``function(*calls[i])`` as Ray tasks; yield ``(i, result)`` as they finish.

    Needs a connected Ray (:func:`session`). At most about twice as many tasks
    as the cluster has slots for are in flight, so a long run neither queues
    everything at once nor holds many finished results. With ``ordered``, the
    results are yielded in the order of ``calls`` (later ones wait, counted in
    the same bound). Tasks still in flight when the iteration stops (an error,
    Ctrl-C, the caller closing the iterator) are cancelled.

    ``function`` must be importable on the workers (a module-level function of
    an installed package). Each result reaches the caller once: a task that
    Ray ran again after its worker died has one result all the same.

    Raises:
        Exception: The exception a task raised (not retried), chained to
            Ray's error, which holds the remote traceback.
        WorkerLostError: A task gave no result after ``backend.max_retries``
            retries (its worker or node died, it ran out of memory); the
            message starts with ``describe(i)``.
    """
    ray = import_ray()
    remote = ray.remote(num_cpus=backend.cpus_per_task, max_retries=backend.max_retries)(function)
    slots = cluster_cpus(ray) / backend.cpus_per_task
    window = max(2, math.ceil(2 * slots))
    pending: dict[Any, int] = {}
    finished: dict[int, Any] = {}  # results waiting for their turn (ordered)
    submitted = yielded = 0
    try:
        while yielded < len(calls):
            while submitted < len(calls) and len(pending) + len(finished) < window:
                pending[remote.remote(*calls[submitted])] = submitted
                submitted += 1
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                index = pending.pop(ref)
                result = _result(ray, ref, describe(index))
                if not ordered:
                    yielded += 1
                    yield index, result
                    continue
                finished[index] = result
                while yielded in finished:
                    yield yielded, finished.pop(yielded)
                    yielded += 1
    finally:
        for ref in pending:
            try:
                ray.cancel(ref)
            except Exception:  # best effort: Ray may be shutting down
                pass


def _result(ray: Any, ref: Any, what: str) -> Any:
    """The result of a finished task (see :func:`run_tasks` for the errors)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, Exception):
            raise cause from exc
        raise
    except ray.exceptions.RayError as exc:
        message = str(exc)
        if len(message) > _QUOTE_CHARS:
            message = message[:_QUOTE_CHARS] + "..."
        name = type(exc).__name__
        raise WorkerLostError(f"{what}: no result from Ray: {name}: {message}") from exc
