"""Workers starting together on a fresh database: the one that loses a CREATE TABLE race checks again, quietly."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy import inspect
from sqlalchemy import text
from sqlalchemy.schema import CreateTable

from service.store.db import Base
from service.store.db import create_tables
from service.store.db import make_engine


def test_a_table_another_process_made_first_is_not_an_unreachable_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}", create=False)
    first = Base.metadata.sorted_tables[0]
    rival = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}", create=False)

    raced: list[bool] = []

    def another_worker_creates_it(target: Any, connection: Any, **_: Any) -> None:
        # Between this process's check and its CREATE, another worker creates the table (once).
        if not raced:
            raced.append(True)
            with rival.begin() as other:
                other.execute(text(str(CreateTable(first).compile(rival))))

    event.listen(first, "before_create", another_worker_creates_it)
    try:
        with caplog.at_level(logging.ERROR):
            create_tables(engine)
    finally:
        event.remove(first, "before_create", another_worker_creates_it)
    assert raced
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # was "database unreachable while starting"
    assert set(inspect(engine).get_table_names()) >= {t.name for t in Base.metadata.sorted_tables}
    with engine.connect() as connection:
        assert connection.execute(text(f"SELECT count(*) FROM {first.name}")).scalar() == 0
    engine.dispose()
    rival.dispose()
