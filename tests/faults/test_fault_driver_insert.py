"""DriverInsert (the replay store's per-call insert): what Core would store, a duplicate as False, errors as Core's."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy import event
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from service.store.db import Base
from service.store.db import DriverInsert
from service.store.db import SeenJwt
from service.store.db import make_engine
from tests.pg import TempPostgres

TABLE = Base.metadata.tables[SeenJwt.__tablename__]
WHEN = datetime(2026, 12, 5, 10, 30, 15, 123456, tzinfo=UTC)


def _check_like_core(engine: Engine) -> None:
    write = DriverInsert(engine, TABLE)
    assert write({"issuer": "https://ehr.example", "jti": "a", "expires_at": WHEN}) is True
    assert write({"issuer": "https://ehr.example", "jti": "a", "expires_at": WHEN}) is False  # a replay
    assert write({"issuer": "https://other.example", "jti": "a", "expires_at": WHEN}) is True
    with engine.begin() as connection:
        connection.execute(insert(SeenJwt), {"issuer": "core", "jti": "a", "expires_at": WHEN})
        rows = {row.issuer: row.expires_at for row in connection.execute(select(SeenJwt))}
        stored = dict(connection.execute(text("SELECT issuer, CAST(expires_at AS TEXT) FROM seen_jwt")).all())
    assert set(rows) == {"https://ehr.example", "https://other.example", "core"}
    assert len(set(rows.values())) == 1  # read back as the same datetime however it was written
    assert stored["https://ehr.example"] == stored["core"]  # and stored in the same form (purges compare it)
    engine.dispose()


def test_sqlite_rows_are_what_core_writes(tmp_path: Path) -> None:
    _check_like_core(make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}"))


def test_postgresql_rows_are_what_core_writes(postgres: TempPostgres) -> None:
    _check_like_core(make_engine(postgres.url))  # type: ignore[attr-defined]


def test_a_driver_error_is_raised_as_core_raises_it(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    write = DriverInsert(engine, TABLE)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE seen_jwt"))
    with pytest.raises(OperationalError) as raised:
        write({"issuer": "i", "jti": "secret-jti", "expires_at": WHEN})
    assert "secret-jti" not in str(raised.value)  # parameters stay out of messages and logs
    engine.dispose()


def test_sqlite_insert_commits_by_itself_and_leaves_the_connection_as_it_was(tmp_path: Path) -> None:
    """The INSERT is its own transaction (no BEGIN ... COMMIT around it: the write lock is held only while it runs),
    and the pooled connection goes back with sqlite3's transaction handling as it was."""
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    traced: list[str] = []
    event.listen(engine, "connect", lambda dbapi_connection, _: dbapi_connection.set_trace_callback(traced.append))
    engine.dispose()  # every connection from here on is traced
    write = DriverInsert(engine, TABLE)
    row = {"issuer": "i", "jti": "j", "expires_at": WHEN}
    with engine.connect() as connection:
        before = connection.connection.driver_connection.isolation_level  # type: ignore[union-attr]
    traced.clear()
    assert write(row) is True
    assert write(row) is False  # a replay, refused by the unique key
    assert [t.split()[0].upper() for t in traced] == ["INSERT", "INSERT"]
    raw = engine.raw_connection()
    try:
        assert raw.driver_connection.isolation_level == before  # type: ignore[union-attr]
    finally:
        raw.close()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM seen_jwt")).scalar() == 1


def test_a_write_lock_held_past_the_timeout_fails_the_insert_then_it_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    engine = make_engine(f"sqlite:///{path}", timeout=0.1)
    holder = make_engine(f"sqlite:///{path}")
    write = DriverInsert(engine, TABLE)
    with holder.connect() as connection:
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # another worker holds the write lock past the timeout
        with pytest.raises(OperationalError):
            write({"issuer": "i", "jti": "j", "expires_at": WHEN})
        connection.exec_driver_sql("ROLLBACK")
    assert write({"issuer": "i", "jti": "j", "expires_at": WHEN}) is True
