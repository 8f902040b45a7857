"""The issued-card buffer: rows leave the request path, and still reach the database (flush, thread, exit)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import time
import weakref
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from service.store.db import IssuedCard
from service.store.db import make_engine
from service.store.feedback import CardBuffer
from service.store.feedback import Row
from service.store.feedback import write_issued_cards

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def record_now(
    engine: Engine, service_id: str, hook_instance: str, issued: Sequence[tuple[str, str]], now: datetime
) -> None:
    """Record one response's cards through the service's recorder and write them at once."""
    buffer = CardBuffer(write_issued_cards(engine), interval=3600)
    buffer(service_id, hook_instance, issued, now)
    buffer.flush()


def _stored(url: str) -> list[tuple[str, str, str]]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            rows = session.scalars(select(IssuedCard).order_by(IssuedCard.uuid)).all()
            return [(r.uuid, r.rule_id, r.hook_instance) for r in rows]
    finally:
        engine.dispose()


def _wait_for(predicate: Any, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def test_recording_only_queues_and_flush_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cards.sqlite3'}"
    buffer = CardBuffer(write_issued_cards(make_engine(url)), interval=3600)
    buffer("bme-patient-view", "hook-1", [("c1", "R21"), ("c2", "S08")], NOW)
    assert buffer.pending() == 2 and _stored(url) == []
    buffer.flush()
    assert buffer.pending() == 0
    assert _stored(url) == [("c1", "R21", "hook-1"), ("c2", "S08", "hook-1")]


def test_the_background_thread_writes_without_a_flush(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cards.sqlite3'}"
    buffer = CardBuffer(write_issued_cards(make_engine(url)), interval=0.05)
    buffer("bme-patient-view", "hook-1", [("c1", "R21")], NOW)
    assert _wait_for(lambda: _stored(url) == [("c1", "R21", "hook-1")])
    assert buffer.pending() == 0


def test_a_full_buffer_is_written_by_the_caller_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cards.sqlite3'}"
    buffer = CardBuffer(write_issued_cards(make_engine(url)), interval=3600, max_rows=3)
    buffer("bme-patient-view", "hook-1", [("c1", "R21"), ("c2", "R22")], NOW)
    assert buffer.pending() == 2
    buffer("bme-patient-view", "hook-2", [("c3", "R23"), ("c4", "R24")], NOW)
    assert buffer.pending() == 0 and [uuid for uuid, _, _ in _stored(url)] == ["c1", "c2", "c3", "c4"]


def test_a_repeated_uuid_in_one_batch_keeps_the_last_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cards.sqlite3'}"
    buffer = CardBuffer(write_issued_cards(make_engine(url)), interval=3600)
    buffer("bme-patient-view", "hook-1", [("c1", "R21")], NOW)
    buffer("bme-order-sign", "hook-2", [("c1", "S01")], NOW)
    buffer.flush()
    assert _stored(url) == [("c1", "S01", "hook-2")]


def test_rows_survive_a_failed_write_up_to_the_bound(caplog: pytest.LogCaptureFixture) -> None:
    written: list[Sequence[Row]] = []
    failing = [True]

    def write(rows: Sequence[Row]) -> None:
        if failing[0]:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        written.append(list(rows))

    buffer = CardBuffer(write, interval=3600, max_rows=5)
    buffer("bme-patient-view", "hook-1", [("c1", "R21"), ("c2", "R22"), ("c3", "R23")], NOW)
    buffer.flush()
    assert buffer.pending() == 3
    assert "3 kept for retry, 0 dropped" in caplog.text
    buffer("bme-patient-view", "hook-2", [("c4", "R24"), ("c5", "R25"), ("c6", "R26")], NOW)  # full: flushes
    assert buffer.pending() == 5  # the oldest row is dropped, never unbounded growth
    assert "5 kept for retry, 1 dropped" in caplog.text
    failing[0] = False
    buffer.flush()
    assert [row["uuid"] for row in written[0]] == ["c2", "c3", "c4", "c5", "c6"]


def test_a_forked_worker_starts_with_no_rows_and_no_thread(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cards.sqlite3'}"
    buffer = CardBuffer(write_issued_cards(make_engine(url)), interval=3600)
    buffer("bme-patient-view", "hook-parent", [("parent-card", "R21")], NOW)
    pid = os.fork()
    if pid == 0:  # the child: what gunicorn's workers are
        clean = buffer.pending() == 0 and buffer._thread is None
        os._exit(0 if clean else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert buffer.pending() == 1  # the parent keeps its own row


def test_rows_are_written_when_the_process_exits(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cards.sqlite3'}"
    script = textwrap.dedent(
        f"""
        from datetime import UTC, datetime
        from service.store.db import make_engine
        from service.store.feedback import CardBuffer, write_issued_cards
        buffer = CardBuffer(write_issued_cards(make_engine({url!r})), interval=3600)
        buffer("bme-patient-view", "hook-exit", [("exit-card", "R21")], datetime.now(UTC))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert _stored(url) == [("exit-card", "R21", "hook-exit")]


def test_a_dropped_buffer_is_collected_and_its_thread_ends(tmp_path: Path) -> None:
    """Apps built and dropped (tests, the CLI's start-up probe) leave no buffer, engine or thread behind."""
    url = f"sqlite:///{tmp_path / 'cards.sqlite3'}"
    buffer = CardBuffer(write_issued_cards(make_engine(url)), interval=0.02)
    buffer("bme-patient-view", "hook-1", [("c1", "R21")], NOW)
    thread = buffer._thread
    assert thread is not None and thread.is_alive()
    alive = weakref.ref(buffer)
    del buffer
    gc.collect()
    assert alive() is None
    assert _wait_for(lambda: not thread.is_alive())
