"""Database health: every request-path database call under a deadline, a short circuit while the database is
down, and the readiness probe (a real write, under the same deadline).

Driver timeouts (store/db.py) cover a refused or slow connection and a long statement, but not a database that
has stopped answering mid-call (a frozen PostgreSQL: the server never enforces its own statement_timeout).
So each call runs on a small per-process thread pool and the request waits at most `timeout`; a call that
misses it, or fails, marks the database down for `retry_after` seconds, during which calls fail at once
(no worker piles up behind a dead database) except one trial call per interval that closes the circuit again.
A local SQLite file cannot freeze that way (its waits are its own busy timeout): its calls run inline, one at a
time per process, and a request waits at most `timeout` for its turn (request threads left to SQLite's own busy
handler slept in it, which gave p99s of several 100 ms).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import SQLAlchemyError

from service.store.db import ReadinessProbe
from service.store.lograte import RateLimitedLog

LOG = logging.getLogger("bme.db")
T = TypeVar("T")

DEFAULT_RETRY_AFTER_SECONDS = 5


class DatabaseDown(Exception):
    """The database did not answer in time or failed; `reason` names the driver error type only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DbGuard:
    """Runs database calls with a deadline and remembers, per process, whether the database is down."""

    def __init__(self, engine: Engine, *, timeout: float, retry_after: int = DEFAULT_RETRY_AFTER_SECONDS,
                 threads: int = 8, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.timeout = timeout
        self.retry_after = retry_after
        self._threads = threads
        # SQLite calls run inline: the hand-off to a database thread cost more under load than the insert itself.
        self._inline = threading.Lock() if engine.dialect.name == "sqlite" else None
        self._clock = clock
        self._lock = threading.Lock()
        self._down = False
        self._retry_at = 0.0
        self._trial_running = False
        self._log = RateLimitedLog(LOG, interval=30.0)
        self._executor = self._new_executor()
        os.register_at_fork(after_in_child=self._after_fork)

    def _new_executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="bme-db")

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        if self._inline is not None:
            self._inline = threading.Lock()
        self._executor = self._new_executor()

    @property
    def down(self) -> bool:
        """True from a failed call until a later call succeeds."""
        return self._down

    def call(self, fn: Callable[[], T]) -> T:
        """fn() within the deadline; raises DatabaseDown on a timeout, a driver error or an open circuit."""
        trial = False
        with self._lock:
            if self._down:
                if self._trial_running or self._clock() < self._retry_at:
                    raise DatabaseDown("the database is down (waiting for it to recover)")
                self._trial_running = trial = True  # one call per interval tests whether it is back
        if trial and self._inline is not None:
            # SQLite opens a file it cannot write read-only, and such a connection (this guard's or a background
            # writer's) stays read-only after the outage: the trial starts from fresh ones. PostgreSQL's pool
            # checks its connections itself (pool_pre_ping).
            self.engine.dispose()
        try:
            try:
                result = self._run_inline(fn) if self._inline is not None else self._run_on_pool(fn)
            except FutureTimeout:
                self._mark_down(f"no answer within {self.timeout:g} s")
                raise DatabaseDown(f"the database did not answer within {self.timeout:g} s") from None
            except SQLAlchemyError as exc:
                self._mark_down(type(exc).__name__ + _orig(exc))
                # Open new connections for the next call: SQLite opens a file it cannot write read-only, and
                # that connection stays read-only after the file is writable again (until a reload, before).
                self.engine.dispose()
                raise DatabaseDown(type(exc).__name__) from None
            self._mark_up()
            return result
        finally:
            if trial:
                with self._lock:
                    self._trial_running = False

    def _run_on_pool(self, fn: Callable[[], T]) -> T:
        future = self._executor.submit(fn)
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            future.cancel()
            raise

    def _run_inline(self, fn: Callable[[], T]) -> T:
        lock = self._inline
        assert lock is not None
        if not lock.acquire(timeout=self.timeout):  # the call ahead of us is stuck: the database counts as down
            raise FutureTimeout
        try:
            return fn()
        finally:
            lock.release()

    def _mark_down(self, reason: str) -> None:
        with self._lock:
            was_up = not self._down
            self._down = True
            self._retry_at = self._clock() + self.retry_after
        if was_up:
            LOG.error("database unavailable (%s): answering 503 and spooling records", reason)
        else:
            self._log.error("database still unavailable (%s)", reason)

    def _mark_up(self) -> None:
        with self._lock:
            was_down = self._down
            self._down = False
        if was_down:
            LOG.warning("database available again")

    def probe(self, worker: str) -> None:
        """Readiness: write this process's probe row within the deadline; raises DatabaseDown."""
        self.call(lambda: write_probe(self.engine, worker))


def _orig(exc: SQLAlchemyError) -> str:
    """The driver's own error class, e.g. ': ReadOnly' or ': DiskFull' (never its message: it may quote SQL)."""
    original = getattr(exc, "orig", None)
    if original is None:
        return ""
    # SQLite's result code (SQLITE_READONLY, SQLITE_FULL) or PostgreSQL's SQLSTATE says more than the class.
    code = getattr(original, "sqlite_errorname", None) or getattr(original, "sqlstate", None)
    return f": {type(original).__name__}" + (f" {code}" if code else "")


_UPSERTS: dict[str, Callable[[Any], Any]] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def write_probe(engine: Engine, worker: str) -> None:
    """Upsert one probe row: fails on a read-only file, a full disk or a database that takes no writes."""
    row = {"worker": worker[:64], "probed_at": datetime.now(UTC)}
    make_insert = _UPSERTS.get(engine.dialect.name)
    with engine.begin() as connection:
        if make_insert is None:
            connection.execute(delete(ReadinessProbe).where(ReadinessProbe.worker == row["worker"]))
            connection.execute(insert(ReadinessProbe), row)
            return
        statement: Any = make_insert(ReadinessProbe)
        connection.execute(
            statement.on_conflict_do_update(index_elements=[ReadinessProbe.worker],
                                            set_={"probed_at": statement.excluded.probed_at}),
            row,
        )
