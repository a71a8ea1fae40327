"""The exceptions of :mod:`oodgym.evaluation`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oodgym.evaluation.summary import Summary

__all__ = ["EvaluationError", "IncompleteEvaluationError", "OutputInUseError"]


class EvaluationError(RuntimeError):
    """An episode failed while running (the policy or the environment raised)."""


class IncompleteEvaluationError(EvaluationError):
    """Some episodes did not run (their server failed); rerun the same call to run them.

    Raised by :func:`~oodgym.evaluation.evaluate` after every other episode has
    run and ``summary.json`` has been written.

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
