"""Episode records on disk: paths, append-only JSONL, torn-line repair, resume checks, the lock."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from oodgym.evaluation.errors import OutputInUseError

__all__ = [
    "COMPLETED",
    "EPISODES_FILE",
    "FAILED",
    "LOCK_FILE",
    "STORED_ANSWER_CHARS",
    "SUMMARY_FILE",
    "check_compatible",
    "episodes_path",
    "is_completed",
    "jsonable",
    "lock_output",
    "read_records",
    "record_line",
    "stored_answer",
]

EPISODES_FILE = "episodes.jsonl"
SUMMARY_FILE = "summary.json"
LOCK_FILE = ".lock"

#: Longest answer kept whole in a record's transcript, in characters. Paper-style
#: answers are a few hundred characters and a long chain of thought a few thousand;
#: 16 KiB keeps those whole while a runaway 5 MB answer costs 16 KiB per record.
STORED_ANSWER_CHARS = 16_384

COMPLETED = "completed"
FAILED = "error"


def episodes_path(out: str | os.PathLike[str], env_id: str) -> Path:
    """Where the records of ``env_id`` live under ``out``."""
    return Path(out) / env_id.replace("/", "__") / EPISODES_FILE


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


def check_compatible(
    records: Iterable[Mapping[str, Any]],
    path: Path,
    policy: str,
    env_kwargs: Mapping[str, Any],
    conversation: str,
) -> None:
    """Refuse to add episodes to records of another policy, env_kwargs or protocol.

    Records written before protocols existed were played with ``"full"``.
    """
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
        played = record.get("conversation", "full")
        if played != conversation:
            raise ValueError(
                f"{path} holds episodes played with conversation {played!r}, not "
                f"{conversation!r}: use another output folder"
            )


def jsonable(value: Any) -> Any:
    """Plain JSON data (numpy scalars become Python numbers)."""
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item):
        return jsonable(item())
    return str(value)


def stored_answer(message: dict[str, Any]) -> dict[str, Any]:
    """A message as stored: an assistant content cut at :data:`STORED_ANSWER_CHARS`.

    A cut message also holds ``answer_chars`` (the full length) and
    ``answer_sha256`` (of the full UTF-8 text).
    """
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


def record_line(record: Mapping[str, Any]) -> str:
    """One JSON line (ASCII escapes if a text holds lone surrogates, invalid in UTF-8)."""
    line = json.dumps(record, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(record, ensure_ascii=True)
    return line


@contextmanager
def lock_output(root: Path) -> Iterator[None]:
    """Hold ``root/.lock`` (an OS lock, released when the process dies) for one writer.

    Raises:
        OutputInUseError: Another process holds it.
    """
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
