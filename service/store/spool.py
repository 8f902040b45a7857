"""A durable, bounded local spool for records the database could not take (issued cards, feedback).

Each process appends JSON lines to its own open segment (`<pid>.open`, fsync'd per append). Replay seals the
segment (rename to `<pid>-<n>.sealed`) and hands every sealed segment, and the open segments of processes
that have died, to a writer; a segment is deleted only once all of its lines were written. Writers are
idempotent (cards are upserts, feedback inserts skip duplicates), so a replay cut short is simply repeated.
The spool holds at most `max_bytes`; past that, appends are refused with a rate-limited log line.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from service.store.lograte import RateLimitedLog

LOG = logging.getLogger("bme.spool")

# (kind, records) -> None; raises when the database cannot take them yet.
Writer = Callable[[str, list[dict[str, Any]]], None]


class Spool:
    """Append-only JSON-lines segments in one folder, shared by every worker of the service."""

    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._sequence = itertools.count()
        self._log = RateLimitedLog(LOG, interval=30.0)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _open_segment(self) -> Path:
        return self.directory / f"{os.getpid()}.open"

    def size(self) -> int:
        """Bytes held by every segment."""
        total = 0
        try:
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    if entry.name.endswith((".open", ".sealed")):
                        try:
                            total += entry.stat().st_size
                        except FileNotFoundError:
                            continue
        except FileNotFoundError:
            return 0  # the folder vanished: append() makes it again
        return total

    def pending(self) -> bool:
        """Whether any segment waits for replay or is being replayed (a vanished folder holds none)."""
        try:
            with os.scandir(self.directory) as entries:
                return any(e.name.endswith((".open", ".sealed")) or ".replaying-" in e.name for e in entries)
        except FileNotFoundError:
            return False

    def append(self, kind: str, records: list[dict[str, Any]]) -> bool:
        """Store records durably (written and fsync'd); False when the spool is full or the disk refuses."""
        line = (json.dumps({"kind": kind, "records": records}, default=str, separators=(",", ":")) + "\n").encode()
        with self._lock:
            if self.size() + len(line) > self.max_bytes:
                self._log.error("spool full (%d bytes): %s records refused", self.max_bytes, kind)
                return False
            try:
                self.directory.mkdir(parents=True, exist_ok=True)  # the folder may have been removed under us
                fd = os.open(self._open_segment(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    written = os.write(fd, line)
                    if written != len(line):
                        raise OSError("short write")
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                self._log.error("spool write failed (%s): %s records refused", exc.strerror or exc, kind)
                return False
        return True

    def replay(self, write: Writer) -> int:
        """Write every spooled record through `write`; returns how many records were written."""
        with self._lock:
            mine = self._open_segment()
            if mine.exists():
                os.replace(mine, self.directory / f"{os.getpid()}-{next(self._sequence)}.sealed")
        written = 0
        for path in sorted(self.directory.iterdir()):
            if path.suffix == ".open" and _alive(path.stem):
                continue  # another worker is still appending to it
            if path.suffix not in (".open", ".sealed"):
                continue
            claimed = path.with_name(f"{path.name}.replaying-{os.getpid()}")
            try:
                os.replace(path, claimed)
            except FileNotFoundError:
                continue  # another worker claimed it first
            try:
                written += _replay_segment(claimed, write)
            except Exception:
                os.replace(claimed, path)  # back for the next attempt; replaying is idempotent
                raise
            claimed.unlink()
        if written:
            LOG.warning("spool: %d records written to the database", written)
        return written


def _replay_segment(path: Path, write: Writer) -> int:
    count = 0
    with path.open("rb") as lines:
        for raw in lines:
            if not raw.endswith(b"\n"):
                break  # a line cut short by a crash mid-append was never acknowledged
            try:
                entry = json.loads(raw)
            except ValueError:
                LOG.error("spool: an unreadable line in %s was skipped", path.name)
                continue
            records = entry.get("records") if isinstance(entry, dict) else None
            if isinstance(records, list):
                write(str(entry.get("kind")), records)
                count += len(records)
    return count


def _alive(pid_text: str) -> bool:
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return False  # our own open segment was sealed above; a leftover with our pid is from a previous life
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
