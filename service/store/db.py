"""Database: the SQLAlchemy engine and the tables for issued cards, feedback and seen JWT ids.

SQLite by default (a file in the data folder), PostgreSQL by URL. No patient data is ever stored here:
cards are recorded by uuid, service and rule id only, so feedback can be attributed to the rule.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy import Dialect
from sqlalchemy import Engine
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import insert
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

LOG = logging.getLogger("bme.db")


class Base(DeclarativeBase):
    """Declarative base shared by every table of the service."""


class IssuedCard(Base):
    """A card the service returned: enough to attribute feedback to its rule, nothing about the patient."""

    __tablename__ = "issued_card"

    uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(16))
    hook_instance: Mapped[str] = mapped_column(String(128))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IssuedCardRule(Base):
    """Each rule a folded card carries (its `bme-cds-rules` extension), so feedback reaches every one of them.

    Written only for cards that carry more than their own rule; a card without rows here carries just the
    rule in issued_card. A table of its own, so an existing database gains it by create_all, unaltered.
    """

    __tablename__ = "issued_card_rule"

    card_uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(16), primary_key=True)


class FeedbackItem(Base):
    """One feedback item as the CDS client sent it (stored once, however often it is resent)."""

    __tablename__ = "feedback_item"
    __table_args__ = (
        UniqueConstraint(
            "service_id",
            "card_uuid",
            "outcome",
            "outcome_timestamp",
            "accepted_suggestions",
            "override_code",
            name="uq_feedback_item",
        ),
        Index("ix_feedback_card", "card_uuid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    service_id: Mapped[str] = mapped_column(String(64))
    card_uuid: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))
    outcome_timestamp: Mapped[str] = mapped_column(String(40))
    accepted_suggestions: Mapped[str] = mapped_column(
        String(1024), default=""
    )  # comma-joined suggestion uuids
    override_system: Mapped[str] = mapped_column(String(256), default="")
    override_code: Mapped[str] = mapped_column(String(128), default="")
    override_display: Mapped[str] = mapped_column(String(512), default="")
    override_comment: Mapped[str] = mapped_column(Text, default="")
    rule_id: Mapped[str] = mapped_column(String(16), default="")  # from issued_card, when the card is known
    hook_instance: Mapped[str] = mapped_column(String(128), default="")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SeenJwt(Base):
    """A client JWT id seen until its expiry, so a replay is refused by every worker and replica."""

    __tablename__ = "seen_jwt"

    issuer: Mapped[str] = mapped_column(String(512), primary_key=True)
    jti: Mapped[str] = mapped_column(String(256), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ReadinessProbe(Base):
    """One row per process, rewritten by /readyz: readiness means the database takes a write, not just a read."""

    __tablename__ = "readiness_probe"

    worker: Mapped[str] = mapped_column(String(64), primary_key=True)
    probed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


DEFAULT_TIMEOUT_SECONDS = 2.0


def _sqlite_pragmas(timeout: float) -> Any:
    """WAL and a busy timeout let several gunicorn workers share one SQLite file without stalling on a lock."""

    def apply(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        cursor.close()

    return apply


def engine_options(url: str, timeout: float) -> dict[str, Any]:
    """Connect, pool and statement timeouts so a sick database answers with an error instead of holding a worker."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": timeout}}
    millis = max(1, int(timeout * 1000))
    options: dict[str, Any] = {"pool_pre_ping": True, "pool_timeout": timeout}
    if url.startswith("postgresql"):
        options["connect_args"] = {
            "connect_timeout": max(1, int(round(timeout))),  # libpq takes whole seconds
            "options": f"-c statement_timeout={millis} -c lock_timeout={millis}",
        }
    return options


def make_engine(url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, create: bool = True) -> Engine:
    """Create the engine (creating the SQLite folder if needed) and, unless told not to, the tables."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **engine_options(url, timeout))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas(timeout))
    if create:
        create_tables(engine)
    return engine


def create_tables(engine: Engine, tables: Sequence[Table] | None = None) -> None:
    """Create the missing tables (all of Base's by default), as every process does when it starts; never fails.

    A worker respawned during an outage must still boot (and answer 503) rather than crash-loop until gunicorn
    gives up, so an unreachable database is logged and skipped: the master created the tables when it started.
    create_all checks, then creates: workers starting together on a fresh database can both see a table missing,
    and the second CREATE fails (PostgreSQL: duplicate table or type; SQLite: an OperationalError, "already
    exists"). The table is there then, so checking again is enough; each lost race is one table another process
    made, so there are at most as many as tables.
    """
    chosen = list(tables) if tables is not None else list(Base.metadata.sorted_tables)
    try:
        for _ in range(len(chosen)):
            try:
                Base.metadata.create_all(engine, tables=chosen)
                return
            except (IntegrityError, ProgrammingError):
                continue
            except OperationalError as exc:
                if "already exists" not in str(exc.orig):  # SQLite's word for the lost race; else unreachable
                    raise
        Base.metadata.create_all(engine, tables=chosen)
    except OperationalError as exc:
        LOG.error("database unreachable while starting (%s); tables not checked", type(exc).__name__)


class BoundValues:
    """A row's values as the driver takes them for `table` (what Core's bind processors make of them, such as a
    datetime as SQLite's text), for statements that reach the driver without Core's execution layer."""

    def __init__(self, table: Table, dialect: Dialect) -> None:
        self._processors = {column.name: processor for column in table.columns
                            if (processor := column.type.dialect_impl(dialect).bind_processor(dialect)) is not None}

    def __call__(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The row with each value converted for the driver."""
        return {name: (self._processors[name](value) if name in self._processors else value)
                for name, value in row.items()}


class DriverInsert:
    """One INSERT into `table`, compiled by SQLAlchemy once for the engine's dialect and run on a pooled driver
    connection: on SQLite, Core's execution layer around each call cost more than the insert (ReplayStore, bench).

    On SQLite the INSERT is its own transaction (autocommit), so the file's write lock is held only while the
    statement runs. With an open transaction the lock stayed held while the thread waited for the GIL between
    the INSERT and the COMMIT, and the other workers' writers slept in SQLite's busy handler (1, 2, 5 ms ...):
    p99 under load fell by a few ms without it (docs/operations.md).
    """

    def __init__(self, engine: Engine, table: Table) -> None:
        compiled = insert(table).compile(dialect=engine.dialect)
        self._engine = engine
        self._sql = str(compiled)
        self._positions = compiled.positiontup if engine.dialect.positional else None
        self._bound = BoundValues(table, engine.dialect)
        self._autocommit = engine.dialect.name == "sqlite"
        dbapi = engine.dialect.loaded_dbapi
        self._integrity_error: type[Exception] = dbapi.IntegrityError
        self._driver_error: type[Exception] = dbapi.Error

    def __call__(self, row: Mapping[str, Any]) -> bool:
        """Insert `row` and commit; False when a unique key already holds it.

        :raises sqlalchemy.exc.DBAPIError: any other driver error, as Core would raise it (DbGuard reads it).
        """
        values = self._bound(row)
        params: Any = [values[name] for name in self._positions] if self._positions is not None else values
        try:
            connection = self._engine.raw_connection()
        except self._driver_error as exc:  # the pool hands out driver errors unwrapped
            raise self._wrapped(exc, params) from exc
        driver: Any = connection.driver_connection
        isolation = driver.isolation_level if self._autocommit else None
        try:
            cursor = connection.cursor()
            try:
                if self._autocommit:
                    driver.isolation_level = None  # sqlite3: no implicit BEGIN, the statement commits itself
                cursor.execute(self._sql, params)
                connection.commit()
            finally:
                cursor.close()
                if self._autocommit:
                    driver.isolation_level = isolation  # as it was, before the pool hands it out again
        except self._integrity_error:
            connection.rollback()
            return False
        except self._driver_error as exc:
            connection.invalidate()  # a connection that failed is not handed out again
            raise self._wrapped(exc, params) from exc
        finally:
            connection.close()  # back to the pool, which rolls back anything left open
        return True

    def _wrapped(self, exc: Exception, params: Any) -> StatementError:
        """The driver's error as Core raises it (OperationalError, ...), parameters hidden from its message."""
        return DBAPIError.instance(self._sql, params, exc, self._driver_error, hide_parameters=True)


def ping(engine: Engine) -> None:
    """Run a trivial query; raises if the database cannot be reached (readiness)."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
