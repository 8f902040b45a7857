"""DriverInsert (the replay store's per-call insert): what Core would store, a duplicate as False, errors as Core's."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
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
