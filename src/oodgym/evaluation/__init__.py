"""Evaluating a policy on registered ids: resumable JSONL records, a summary, a table, a plot.

:func:`evaluate` plays seeded episodes of every id (episode ``i`` uses seed
``seed + i``; without ``episodes``, each id's preset count) in the paper's
multi-turn setting: a failed attempt is answered with feedback and the policy
tries again, until the episode terminates or is truncated. How the steps
become chat messages is the ``conversation`` protocol (:mod:`oodgym.conversation`):
``"full"`` (one growing conversation, the whole observation after each step)
or ``"paper"`` (the reference's: the prompt once, short failure messages, a
fresh conversation per navigation step).

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
does not depend on ``concurrency``). With ``backend=RayBackend(...)``
(:mod:`oodgym.distributed`) the episodes are Ray tasks across a cluster and
this process still writes every record: the same records, summary and resume.

An episode whose policy raised :class:`~oodgym.policies.ServerError` (the
server gave no usable answer, retries spent) is recorded with ``"status":
"error"`` and the error message: it is not judged, not counted in the rates
(``not_run`` in the summary), :func:`evaluate` raises
:class:`IncompleteEvaluationError` at the end, and rerunning the same call
plays exactly those episodes again. Completed records have ``"status":
"completed"`` (records without a status, from older versions, count as
completed).

A completed record holds ``attempts``, ``correct_attempts``, the per-attempt
``rewards`` and ``verdicts``, ``misread_attempts`` (image GeneralPoints),
``step_accuracy`` (navigation, per episode), the ``conversation`` protocol,
the ``transcript`` (every message once, in order, images replaced by
``"<image>"``) and ``conversation_starts`` (where each conversation of the
transcript starts). Assistant answers are stored up to
:data:`STORED_ANSWER_CHARS` characters; a longer one is cut there and its
message gets ``answer_chars`` (the full length) and ``answer_sha256`` (of the
full UTF-8 text).

Modules: :mod:`~oodgym.evaluation.ids` (ids, splits, default episode counts),
:mod:`~oodgym.evaluation.records` (records on disk, resume, the lock),
:mod:`~oodgym.evaluation.running` (:func:`evaluate`),
:mod:`~oodgym.evaluation.metrics` (success rate, pooled step accuracy,
recognition accuracy, standard errors), :mod:`~oodgym.evaluation.summary`
(summaries and the table), :mod:`~oodgym.evaluation.plot`.
"""

from __future__ import annotations

from oodgym.evaluation.errors import EvaluationError, IncompleteEvaluationError, OutputInUseError
from oodgym.evaluation.ids import DEFAULT_EPISODES, default_episodes, resolve_ids
from oodgym.evaluation.metrics import Estimate
from oodgym.evaluation.plot import plot
from oodgym.evaluation.records import (
    STORED_ANSWER_CHARS,
    episodes_path,
    is_completed,
    read_records,
)
from oodgym.evaluation.running import REQUEST_SEED_FORMULA, evaluate
from oodgym.evaluation.summary import EnvSummary, Summary, summarize

__all__ = [
    "DEFAULT_EPISODES",
    "REQUEST_SEED_FORMULA",
    "STORED_ANSWER_CHARS",
    "EnvSummary",
    "Estimate",
    "EvaluationError",
    "IncompleteEvaluationError",
    "OutputInUseError",
    "Summary",
    "default_episodes",
    "episodes_path",
    "evaluate",
    "is_completed",
    "plot",
    "read_records",
    "resolve_ids",
    "summarize",
]
