"""Feedback is all or nothing per post, bounded, checked against the cards this service issued; the spool is bounded."""

from __future__ import annotations

import logging
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.store.db import FeedbackItem
from service.store.feedback import feedback_report
from service.store.feedback import format_report
from service.store.feedback import report_text
from service.store.feedback import unknown_card_feedback
from service.store.lograte import RateLimitedLog
from service.store.spool import Spool
from tests.core.test_card_buffer import record_now

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def _item(card: str, minute: int = 5) -> dict[str, Any]:
    return {"card": card, "outcome": "overridden", "outcomeTimestamp": f"2026-11-21T09:{minute:02d}:00Z"}


def _count(client: FlaskClient) -> int:
    with Session(client.application.extensions["bme"].engine) as session:
        return int(session.scalar(select(func.count()).select_from(FeedbackItem)) or 0)


def test_more_items_than_the_maximum_is_413_and_nothing_is_stored(client: FlaskClient) -> None:
    limit = client.application.extensions["bme"].settings.feedback_max_items
    body = {"feedback": [_item(f"card-{n}", n % 60) for n in range(limit + 1)]}
    response = client.post("/cds-services/bme-patient-view/feedback", json=body)
    assert response.status_code == 413
    assert f"at most {limit} items" in response.get_json()["issue"][0]["diagnostics"]
    assert _count(client) == 0


def test_a_card_of_another_service_refuses_the_whole_post(client: FlaskClient) -> None:
    engine = client.application.extensions["bme"].engine
    record_now(engine, "bme-patient-view", "h1", [("pv-card", "R21")], NOW)
    record_now(engine, "bme-order-sign", "h2", [("os-card", "S01")], NOW)
    body = {"feedback": [_item("pv-card"), _item("os-card")]}
    response = client.post("/cds-services/bme-patient-view/feedback", json=body)
    assert response.status_code == 400
    assert "issued by another service" in response.get_json()["issue"][0]["diagnostics"]
    assert _count(client) == 0  # all or nothing: the valid item was not stored either
    report = {t.rule_id: t for t in feedback_report(engine)}
    assert report["S01"].overridden == 0 and report["R21"].overridden == 0


def test_an_unknown_card_is_stored_reported_apart_and_never_counted(client: FlaskClient) -> None:
    engine = client.application.extensions["bme"].engine
    record_now(engine, "bme-patient-view", "h1", [("pv-card", "R21")], NOW)
    body = {"feedback": [_item("pv-card"), _item("never-issued")]}
    response = client.post("/cds-services/bme-patient-view/feedback", json=body)
    assert response.status_code == 200
    assert response.get_json() == {"stored": 2, "duplicates": 0, "unknownCards": 1}
    assert unknown_card_feedback(engine) == 1
    text = report_text(engine)
    assert "(unknown card)" not in text
    assert "never issued (not counted above): 1" in text
    assert format_report([], 0) == "No cards issued and no feedback received yet.\n"


def test_the_spool_is_bounded_and_says_so_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=2000)
    record = {"uuid": "x" * 100}
    accepted = sum(spool.append("cards", [record]) for _ in range(100))
    assert 0 < accepted < 100
    assert spool.size() <= 2000
    full_lines = [r for r in caplog.records if "spool full" in r.getMessage()]
    assert len(full_lines) == 1  # rate-limited: one line, not one per refused record
    seen: list[tuple[str, int]] = []
    assert spool.replay(lambda kind, records: seen.append((kind, len(records)))) == accepted
    assert seen == [("cards", 1)] * accepted and not spool.pending()


def test_a_failed_replay_keeps_the_segment_for_the_next_attempt(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=10_000)
    assert spool.append("feedback", [{"n": 1}]) and spool.append("feedback", [{"n": 2}])

    def failing(_kind: str, _records: list[dict[str, Any]]) -> None:
        raise OSError("database still down")

    with pytest.raises(OSError):
        spool.replay(failing)
    assert spool.pending()
    got: list[Any] = []
    assert spool.replay(lambda _kind, records: got.extend(records)) == 2
    assert got == [{"n": 1}, {"n": 2}]


def test_repeated_log_lines_are_held_back_and_counted() -> None:
    clock = [0.0]
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("bme.test.lograte")
    logger.addHandler(Collect())
    limited = RateLimitedLog(logger, interval=30.0, clock=lambda: clock[0])
    for _ in range(1000):
        limited.error("database still unavailable (%s)", "OperationalError")
    clock[0] = 31.0
    limited.error("database still unavailable (%s)", "OperationalError")
    assert records == [
        "database still unavailable (OperationalError)",
        "database still unavailable (OperationalError) (999 similar lines in the last 30s not shown)",
    ]


@pytest.mark.postgres
def test_concurrent_duplicate_posts_are_stored_once_on_postgresql(postgres: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from service.store.db import make_engine
    from service.store.feedback import store_feedback

    engine = make_engine(postgres.url)
    try:
        record_now(engine, "bme-order-sign", "h", [("pg-card", "S01")], NOW)
        post = [_item("pg-card"), _item("pg-card", 6)]
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(lambda _n: store_feedback(engine, "bme-order-sign", post, NOW), range(100)))
        assert sum(r.stored for r in results) == 2
        assert sum(r.duplicates for r in results) == 198
        report = {t.rule_id: t for t in feedback_report(engine)}
        assert report["S01"].overridden == 2
    finally:
        engine.dispose()


def test_a_spool_whose_folder_vanished_has_nothing_pending_and_makes_it_again(tmp_path: Path) -> None:
    """A background flush must not crash on a removed spool folder (a test's tmp dir, an operator's cleanup)."""
    spool = Spool(tmp_path / "spool", max_bytes=1 << 20)
    (tmp_path / "spool").rmdir()
    assert not spool.pending() and spool.size() == 0
    assert spool.append("cards", [{"uuid": "u1"}])
    assert spool.pending()
