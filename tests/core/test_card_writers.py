"""The issued-card writers: SQLite's one-statement upserts store exactly what Core's executemany upserts store."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy import event
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from service.store.db import IssuedCard
from service.store.db import make_engine
from service.store.feedback import CARRIED
from service.store.feedback import Row
from service.store.feedback import core_card_writer
from service.store.feedback import sqlite_card_writer
from service.store.feedback import write_issued_cards

WHEN = datetime(2026, 12, 5, 10, 30, 15, 123456, tzinfo=UTC)

BATCHES: list[list[Row]] = [
    [
        {"uuid": "c1", "service_id": "bme-patient-view", "rule_id": "S08", "hook_instance": "h1", "issued_at": WHEN},
        {"uuid": "c2", "service_id": "bme-patient-view", "rule_id": "R21", "hook_instance": "h1", "issued_at": WHEN,
         CARRIED: ("R21", "R19", "R28")},
        # the same uuid again in one batch: the last row wins
        {"uuid": "c1", "service_id": "bme-order-sign", "rule_id": "S09", "hook_instance": "h2",
         "issued_at": WHEN + timedelta(seconds=1)},
    ],
    [],
    [
        # text JSON must carry exactly: quotes, backslashes, non-ASCII, a JSON-looking string
        {"uuid": 'c"3\\', "service_id": "bme-patient-view", "rule_id": "R37", "hook_instance": "œdème 骨 {\"a\": 1}",
         "issued_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5)))},
        # a uuid from an earlier batch: overwritten, and its carried rules kept and added to
        {"uuid": "c2", "service_id": "bme-patient-view", "rule_id": "R21", "hook_instance": "h3", "issued_at": WHEN,
         CARRIED: ("R21", "R30")},
    ],
]


def _tables(engine: Engine) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[datetime]]:
    """Both tables as stored (datetimes as their stored text) and the card times as SQLAlchemy reads them back."""
    with engine.connect() as connection:
        cards = connection.execute(text(
            "SELECT uuid, service_id, rule_id, hook_instance, CAST(issued_at AS TEXT) FROM issued_card ORDER BY uuid"
        )).all()
        rules = connection.execute(text("SELECT card_uuid, rule_id FROM issued_card_rule ORDER BY 1, 2")).all()
        times = list(connection.scalars(select(IssuedCard.issued_at).order_by(IssuedCard.uuid)))
    return [tuple(row) for row in cards], [tuple(row) for row in rules], times


def _written(tmp_path: Path, name: str, writer: Callable[[Engine], Callable[[Sequence[Row]], None]]) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / name}")
    write = writer(engine)
    for batch in BATCHES:
        write(batch)
    return engine


def test_sqlite_writer_stores_what_the_core_writer_stores(tmp_path: Path) -> None:
    ours = _tables(_written(tmp_path, "json.sqlite3", sqlite_card_writer))
    core = _tables(_written(tmp_path, "core.sqlite3", core_card_writer))
    assert ours == core
    cards, rules, _ = ours
    assert [row[:4] for row in cards] == [
        ('c"3\\', "bme-patient-view", "R37", "œdème 骨 {\"a\": 1}"),
        ("c1", "bme-order-sign", "S09", "h2"),
        ("c2", "bme-patient-view", "R21", "h3"),
    ]
    assert rules == [("c2", "R19"), ("c2", "R21"), ("c2", "R28"), ("c2", "R30")]


def test_sqlite_is_written_by_the_one_statement_writer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    write_issued_cards(engine)(BATCHES[0])
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 2 and all("json_each" in s for s in inserts)  # cards, then carried rules


def test_each_statement_commits_by_itself(tmp_path: Path) -> None:
    """No transaction stays open around the statements (the write lock is held only while one runs)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    seen: list[bool] = []
    event.listen(engine, "after_cursor_execute",
                 lambda conn, *args: seen.append(conn.connection.driver_connection.in_transaction))
    sqlite_card_writer(engine)(BATCHES[0])
    assert seen and not any(seen)


def test_a_locked_database_raises_for_the_buffer_to_keep_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    engine = make_engine(f"sqlite:///{path}", timeout=0.1)
    holder = make_engine(f"sqlite:///{path}")
    with holder.connect() as connection:
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # another process holding the write lock
        with pytest.raises(OperationalError):
            sqlite_card_writer(engine)(BATCHES[0])
        connection.exec_driver_sql("ROLLBACK")
    sqlite_card_writer(engine)(BATCHES[0])
    assert len(_tables(engine)[0]) == 2


def test_a_nul_character_is_stored_whole(tmp_path: Path) -> None:
    """A hookInstance may hold U+0000 (JSON allows it escaped): SQLite's JSON functions end a string there."""
    batch: list[Row] = [{"uuid": "c9", "service_id": "bme-patient-view", "rule_id": "R01",
                         "hook_instance": "before\x00after", "issued_at": WHEN, CARRIED: ("R01", "R02")}]
    stored = []
    for name, writer in (("json.sqlite3", sqlite_card_writer), ("core.sqlite3", core_card_writer)):
        engine = make_engine(f"sqlite:///{tmp_path / name}")
        writer(engine)(batch)
        stored.append(_tables(engine))
    assert stored[0] == stored[1]
    assert stored[0][0][0][3] == "before\x00after"
