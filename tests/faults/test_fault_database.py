"""Database faults on real SQLite (read-only and full tmpfs) and real PostgreSQL (stopped, frozen).

Every case: no 500, /readyz goes unready within the deadline and comes back by itself, hook calls go on,
feedback is queued (202) or refused with 503 + Retry-After, and after recovery sent = stored, counted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import ServiceUnavailableError
from service.store.db import Base
from service.store.db import FeedbackItem
from service.store.db import IssuedCard
from service.store.db import make_engine
from service.store.health import DbGuard
from service.web.auth import ReplayStore
from tests.faults.conftest import Mount
from tests.faults.conftest import freeze
from tests.faults.conftest import immutable
from tests.faults.conftest import restart
from tests.faults.conftest import stop
from tests.pg import TempPostgres

TIMEOUT = 1.0
RETRY = 1


def _app(tmp_path: Path, database_url: str) -> Flask:
    from service.web.app import create_app

    app = create_app(test_config={
        "data_dir": tmp_path, "database_url": database_url, "auth": "off",
        "db_timeout_seconds": TIMEOUT, "db_retry_after_seconds": RETRY, "spool_dir": tmp_path / "spool",
    })
    app.config["TESTING"] = True
    return app


@pytest.fixture
def made() -> Iterator[list[Flask]]:
    """Apps built by a test, closed afterwards."""
    apps: list[Flask] = []
    yield apps
    for app in apps:
        app.extensions["bme"].pool.close()
        app.extensions["bme"].engine.dispose()


EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "patient-view-extensive-vertebral-bme.json")
                     .read_text(encoding="utf-8"))


def _hook(client: FlaskClient, n: int) -> list[str]:
    """A patient-view call that issues cards; returns their uuids."""
    response = client.post("/cds-services/bme-patient-view", json={**EXAMPLE, "hookInstance": f"fault-{n}"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    uuids = [card["uuid"] for card in response.get_json()["cards"]]
    assert uuids
    return uuids


def _feedback(client: FlaskClient, uuid: str, n: int) -> Any:
    item = {"card": uuid, "outcome": "overridden", "outcomeTimestamp": f"2026-11-21T09:{n % 60:02d}:00Z"}
    return client.post("/cds-services/bme-patient-view/feedback", json={"feedback": [item]})


def _ready_within(client: FlaskClient, status: int, seconds: float) -> float:
    started = time.monotonic()
    while True:
        response = client.get("/readyz")
        if response.status_code == status:
            if status == 503:
                assert response.headers["Retry-After"] == str(RETRY)
                assert response.get_json()["resourceType"] == "OperationOutcome"
            return time.monotonic() - started
        assert response.status_code in (200, 503)
        assert time.monotonic() - started < seconds, f"/readyz not {status} within {seconds} s"
        time.sleep(0.2)


def _counts(app: Flask) -> tuple[int, int]:
    with Session(app.extensions["bme"].engine) as session:
        cards = session.scalar(select(func.count()).select_from(IssuedCard)) or 0
        feedback = session.scalar(select(func.count()).select_from(FeedbackItem)) or 0
    return int(cards), int(feedback)


def _outage(app: Flask, client: FlaskClient, fault: Any, heal: Any) -> None:
    """Ready, fault, unready and still serving (feedback queued), heal, ready again, nothing lost."""
    _ready_within(client, 200, 5)
    issued: list[str] = []
    for n in range(3):
        issued += _hook(client, n)
    app.extensions["bme"].card_buffer.flush()
    fault()
    took = _ready_within(client, 503, 10)
    assert took < TIMEOUT + 2
    queued = 0
    for n in range(3, 9):
        issued += _hook(client, n)  # hook calls go on (authentication off: no replay store involved)
        started = time.monotonic()
        response = _feedback(client, issued[-1], n)
        assert time.monotonic() - started < TIMEOUT + 1, "a feedback post waited past the database deadline"
        assert response.status_code in (202, 503), response.get_data(as_text=True)[:300]
        if response.status_code == 202:
            queued += 1
            assert response.get_json() == {"stored": 0, "duplicates": 0, "queued": 1}
        else:
            assert response.headers["Retry-After"] == str(RETRY)
    assert queued == 6  # the spool lives on a healthy disk here
    app.extensions["bme"].card_buffer.flush()  # the outage: card rows go to the spool
    heal()
    _ready_within(client, 200, 15)
    buffer = app.extensions["bme"].card_buffer
    buffer.flush()
    buffer.replay_spool()
    deadline = time.monotonic() + 15
    while buffer.spool.pending():  # the background thread may be replaying a segment it claimed first
        assert time.monotonic() < deadline, "the spool was not replayed"
        time.sleep(0.2)
        buffer.replay_spool()
    cards, feedback = _counts(app)
    assert cards == len(set(issued))
    assert feedback == 6
    assert not buffer.spool.pending()


def test_sqlite_file_made_read_only(tmp_path: Path, made: list[Flask], caplog: pytest.LogCaptureFixture) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not available")
    folder = tmp_path / "db"
    app = _app(tmp_path, f"sqlite:///{folder / 'bme.sqlite3'}")
    made.append(app)
    try:
        _outage(app, app.test_client(), lambda: immutable(folder, True), lambda: immutable(folder, False))
        db_lines = [r.getMessage() for r in caplog.records if r.name == "bme.db"]
        # One line names the cause (SQLite's result code, not just "OperationalError"), one says it is back;
        # repeats within 30 s are held back, however many calls failed.
        assert any("database unavailable (OperationalError: OperationalError SQLITE_" in m for m in db_lines)
        assert "database available again" in db_lines
        assert len(db_lines) <= 4, db_lines
    finally:
        subprocess.run(["chattr", "-R", "-i", str(folder)], check=False, capture_output=True)


def test_sqlite_on_a_full_disk(tmp_path: Path, tmpfs: Mount, made: list[Flask]) -> None:
    app = _app(tmp_path, f"sqlite:///{tmpfs.path / 'bme.sqlite3'}")
    made.append(app)
    filler: list[Path] = []
    _outage(app, app.test_client(), lambda: filler.append(tmpfs.fill()), lambda: filler[0].unlink())


@pytest.mark.postgres
def test_postgresql_stopped(tmp_path: Path, postgres: TempPostgres, made: list[Flask]) -> None:
    app = _app(tmp_path, postgres.url)  # type: ignore[attr-defined]
    made.append(app)
    _outage(app, app.test_client(), lambda: stop(postgres), lambda: restart(postgres))


@pytest.mark.postgres
def test_postgresql_frozen(tmp_path: Path, postgres: TempPostgres, made: list[Flask]) -> None:
    app = _app(tmp_path, postgres.url)  # type: ignore[attr-defined]
    made.append(app)
    _outage(app, app.test_client(), lambda: freeze(postgres, True), lambda: freeze(postgres, False))


@pytest.mark.postgres
def test_the_replay_store_fails_closed_within_the_deadline_while_postgresql_is_frozen(
    postgres: TempPostgres,
) -> None:
    engine = make_engine(postgres.url, timeout=TIMEOUT)  # type: ignore[attr-defined]
    store = ReplayStore(engine, time.time, DbGuard(engine, timeout=TIMEOUT, retry_after=RETRY))
    expires = time.time() + 300
    assert store.remember("https://ehr.example.org", "jti-1", expires)
    freeze(postgres, True)
    try:
        for n in range(3):
            started = time.monotonic()
            with pytest.raises(ServiceUnavailableError) as refused:
                store.remember("https://ehr.example.org", f"jti-frozen-{n}", expires)
            assert time.monotonic() - started < TIMEOUT + 0.5
            assert refused.value.headers() == {"Retry-After": str(RETRY)}
    finally:
        freeze(postgres, False)
    _back_by_itself(lambda: store.remember("https://ehr.example.org", "jti-after", expires),
                    ServiceUnavailableError)
    assert not store.remember("https://ehr.example.org", "jti-1", expires)  # replays still refused
    engine.dispose()




@pytest.mark.postgres
def test_smart_pages_get_a_503_within_the_deadline_while_postgresql_is_frozen(
    tmp_path: Path, postgres: TempPostgres,
) -> None:
    """The SMART app's launch table shares the database deadline: a frozen database stalls no page."""
    from cryptography.fernet import Fernet

    from service.smart.errors import DatabaseUnavailableError
    from service.smart.store import LaunchStore
    from service.smart.tokens import TokenCipher

    engine = make_engine(postgres.url, timeout=TIMEOUT)  # type: ignore[attr-defined]
    store = LaunchStore(engine, time.time, TokenCipher([Fernet.generate_key()]),
                        guard=DbGuard(engine, timeout=TIMEOUT, retry_after=RETRY))
    freeze(postgres, True)
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailableError) as refused:
            store.get("some-launch", "browser")
        assert time.monotonic() - started < TIMEOUT + 0.5
        assert refused.value.status == 503 and refused.value.headers() == {"Retry-After": str(RETRY)}
    finally:
        freeze(postgres, False)
    _back_by_itself(lambda: store.get("some-launch", "browser") == (None, False), DatabaseUnavailableError)


def _back_by_itself(works: Callable[[], object], down: type[Exception]) -> None:
    """After the outage, the call succeeds again within seconds, with no reload (the guard retries by itself)."""
    time.sleep(RETRY + 0.1)
    deadline = time.monotonic() + 10
    while True:
        try:
            assert works()
            return
        except down:
            assert time.monotonic() < deadline
            time.sleep(0.3)


def _start_together(url: str, barrier: threading.Barrier, failures: list[BaseException]) -> None:
    """One worker's start-up: build the engine and create the tables, at the same moment as the others."""
    barrier.wait()
    try:
        make_engine(url).dispose()
    except BaseException as exc:  # noqa: BLE001 - any failure to start is the finding
        failures.append(exc)


@pytest.mark.postgres
def test_workers_creating_the_tables_at_once_all_start(postgres: TempPostgres) -> None:
    """Workers starting at once on a fresh PostgreSQL all create the tables: none may fail to boot."""
    url = postgres.url  # type: ignore[attr-defined]
    for _ in range(5):
        cleanup = make_engine(url, create=False)
        Base.metadata.drop_all(cleanup)
        cleanup.dispose()
        barrier = threading.Barrier(4)
        failures: list[BaseException] = []
        threads = [threading.Thread(target=_start_together, args=(url, barrier, failures)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failures, [type(exc).__name__ for exc in failures]
