"""Progress of an evaluation on stderr: a bar on a terminal, else a line every ~10%."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
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
        """End the bar's line if the run stopped before its end."""
        if self.bar and 0 < self.done < self.total:
            self.stream.write("\n")
            self.stream.flush()
