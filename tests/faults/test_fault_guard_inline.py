"""The database guard's inline mode (SQLite): calls run in the caller's thread, one at a time per process,
and a caller queued behind a stuck call gets DatabaseDown within the deadline instead of waiting with it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from service.store.db import make_engine
from service.store.health import DatabaseDown
from service.store.health import DbGuard

TIMEOUT = 0.5


def _guard(tmp_path: Path) -> DbGuard:
    return DbGuard(make_engine(f"sqlite:///{tmp_path / 'g.db'}"), timeout=TIMEOUT, retry_after=1)


def test_inline_calls_run_in_the_callers_thread(tmp_path: Path) -> None:
    guard = _guard(tmp_path)
    assert guard.call(threading.get_ident) == threading.get_ident()
    guard.probe("w1")  # the readiness write works inline too
    assert not guard.down


def test_a_caller_queued_behind_a_stuck_call_gets_database_down_within_the_deadline(tmp_path: Path) -> None:
    guard = _guard(tmp_path)
    release = threading.Event()
    entered = threading.Event()

    def stuck() -> None:
        entered.set()
        release.wait(10)

    holder = threading.Thread(target=lambda: guard.call(stuck))
    holder.start()
    try:
        assert entered.wait(5)
        started = time.monotonic()
        with pytest.raises(DatabaseDown):
            guard.call(lambda: 1)
        waited = time.monotonic() - started
        assert TIMEOUT * 0.8 <= waited < TIMEOUT + 1.0
        assert guard.down
        with pytest.raises(DatabaseDown):  # the circuit is open: no second wait
            started = time.monotonic()
            guard.call(lambda: 1)
        assert time.monotonic() - started < 0.1
    finally:
        release.set()
        holder.join(5)


def test_a_driver_error_opens_the_circuit_and_a_later_success_closes_it(tmp_path: Path) -> None:
    clock = [0.0]
    guard = DbGuard(make_engine(f"sqlite:///{tmp_path / 'g.db'}"), timeout=TIMEOUT, retry_after=1,
                    clock=lambda: clock[0])

    def broken() -> None:
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    with pytest.raises(DatabaseDown):
        guard.call(broken)
    assert guard.down
    with pytest.raises(DatabaseDown):
        guard.call(lambda: 1)  # within retry_after: refused at once
    clock[0] += 1.5
    assert guard.call(lambda: 2) == 2  # the trial call succeeds and closes the circuit
    assert not guard.down


def test_the_trial_call_after_an_outage_starts_from_fresh_connections(tmp_path: Path) -> None:
    """A connection opened during the outage (e.g. read-only SQLite) is never what the trial call gets."""
    clock = [0.0]
    guard = DbGuard(make_engine(f"sqlite:///{tmp_path / 'g.db'}"), timeout=TIMEOUT, retry_after=1,
                    clock=lambda: clock[0])
    disposed = []
    real_dispose = guard.engine.dispose
    guard.engine.dispose = lambda *a, **k: (disposed.append(clock[0]), real_dispose(*a, **k))  # type: ignore[method-assign]

    def broken() -> None:
        raise OperationalError("INSERT", {}, Exception("attempt to write a readonly database"))

    with pytest.raises(DatabaseDown):
        guard.call(broken)
    disposed.clear()
    clock[0] += 1.5
    assert guard.call(lambda: 3) == 3
    assert disposed == [1.5]  # once, before the trial ran
    assert guard.call(lambda: 4) == 4 and disposed == [1.5]  # a healthy call disposes nothing
