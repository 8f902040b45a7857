"""Feedback end to end: HTTP -> validation -> SQLAlchemy (SQLite, and PostgreSQL when one is available)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.store.db import FeedbackItem
from service.store.db import make_engine
from service.store.feedback import feedback_report
from service.store.feedback import format_report
from service.store.feedback import store_feedback
from tests.core.test_card_buffer import record_now
from tests.pg import TempPostgres
from tests.pg import postgres_unavailable

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
ACCEPTED = {
    "card": "card-1",
    "outcome": "accepted",
    "acceptedSuggestions": [{"id": "sugg-1"}],
    "outcomeTimestamp": "2026-11-21T09:05:00Z",
}
OVERRIDDEN = {
    "card": "card-2",
    "outcome": "overridden",
    "outcomeTimestamp": "2026-11-21T09:06:00Z",
    "overrideReason": {
        "reason": {
            "system": "https://bme-cds.example.org/fhir/CodeSystem/override-reason",
            "code": "patient-declined",
            "display": "Patient declined",
        },
        "userComment": "prefers to wait",
    },
}
EPIC_OVERRIDDEN = {
    "card": "card-3",
    "outcome": "overridden",
    "outcomeTimestamp": "2026-11-21T09:07:00Z",
    "overrideReasons": {"reason": {"system": "urn:epic:ack", "code": "1", "display": "Already treated"}},
}


def _count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(FeedbackItem)) or 0)


def test_feedback_is_stored_once_and_attributed_to_its_rule(client: FlaskClient) -> None:
    engine = client.application.extensions["bme"].engine
    record_now(engine, "bme-patient-view", "hook-1", [("card-1", "R22"), ("card-2", "R21"), ("card-3", "R23")], NOW)
    body = {"feedback": [ACCEPTED, OVERRIDDEN, EPIC_OVERRIDDEN]}
    first = client.post("/cds-services/bme-patient-view/feedback", json=body)
    assert first.status_code == 200 and first.json == {"stored": 3, "duplicates": 0}
    again = client.post("/cds-services/bme-patient-view/feedback", json=body)
    assert again.json == {"stored": 0, "duplicates": 3}
    assert _count(engine) == 3
    report = {t.rule_id: t for t in feedback_report(engine)}
    assert (report["R22"].issued, report["R22"].accepted) == (1, 1)
    assert report["R21"].reasons == {"Patient declined: prefers to wait": 1}
    assert report["R23"].reasons == {"Already treated": 1}  # Epic's plural spelling is read
    assert "R22" in format_report(feedback_report(engine))


@pytest.mark.parametrize(
    "body, status",
    (
        ({"feedback": [{**ACCEPTED, "acceptedSuggestions": None}]}, 400),
        (
            {"feedback": [{"card": "c", "outcome": "ignored", "outcomeTimestamp": "2026-11-21T09:05:00Z"}]},
            400,
        ),
        ({"feedback": []}, 400),
        ({"nothing": 1}, 400),
    ),
)
def test_invalid_feedback_gets_an_operation_outcome(client: FlaskClient, body: Any, status: int) -> None:
    response = client.post("/cds-services/bme-patient-view/feedback", json=body)
    assert response.status_code == status
    assert response.json["resourceType"] == "OperationOutcome"


def test_feedback_for_an_unknown_service_is_404(client: FlaskClient) -> None:
    response = client.post("/cds-services/nope/feedback", json={"feedback": [ACCEPTED]})
    assert response.status_code == 404 and response.json["resourceType"] == "OperationOutcome"


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """BME_TEST_POSTGRES_URL, or a throwaway local cluster when the machine has PostgreSQL."""
    given = os.environ.get("BME_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    reason = postgres_unavailable()
    if reason is not None:
        pytest.skip(reason)
    cluster = TempPostgres()
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.mark.postgres
def test_feedback_store_on_postgresql(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        record_now(engine, "bme-order-sign", "hook-pg", [("pg-card-1", "S01")], NOW)
        item = {**ACCEPTED, "card": "pg-card-1"}
        assert store_feedback(engine, "bme-order-sign", [item, item], NOW).stored == 1
        assert store_feedback(engine, "bme-order-sign", [item], NOW).duplicates == 1
        report = {t.rule_id: t for t in feedback_report(engine)}
        assert report["S01"].accepted == 1
    finally:
        engine.dispose()


def test_report_attributes_feedback_that_arrived_before_its_card_record(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'late.sqlite3'}")
    store_feedback(engine, "bme-patient-view", [{**ACCEPTED, "card": "late-card"}], NOW)
    record_now(engine, "bme-patient-view", "hook-late", [("late-card", "R21")], NOW)
    report = {t.rule_id: t for t in feedback_report(engine)}
    assert (report["R21"].issued, report["R21"].accepted) == (1, 1)
    engine.dispose()


def test_cards_issued_over_http_are_attributed_in_the_report(client: FlaskClient) -> None:
    from tests.core.test_conformance import request as cds_request

    response = client.post("/cds-services/bme-patient-view", json=cds_request())
    card = next(c for c in response.json["cards"] if c["source"]["topic"]["code"] == "R21")
    feedback = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-21T09:10:00Z",
                "overrideReason": {"userComment": "already planned"}}
    assert client.post("/cds-services/bme-patient-view/feedback", json={"feedback": [feedback]}).status_code == 200
    state = client.application.extensions["bme"]
    report = {t.rule_id: t for t in feedback_report(state.engine)}
    assert report["R21"].overridden == 1 and report["R21"].issued == 1
