"""/metrics: off without BME_METRICS_TOKEN, behind its bearer token when on, and counting what was answered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from service.core.cards import card_rule_ids
from service.fhir.prefetch import FetchUnavailable
from service.fhir.prefetch import FhirPool
from service.obs.live import LiveObserver
from service.obs.metrics import build_metrics
from service.web.app import create_app

TOKEN = "metrics-test-token-1"
SCENARIO = Path(__file__).parents[1] / "scenarios" / "R05" / "fires-knee-bme-no-cause"
CALL = "/cds-services/bme-patient-view"


def _app(app_config: dict[str, Any], **overrides: Any) -> Iterator[Flask]:
    application = create_app(test_config={**app_config, **overrides})
    yield application
    application.extensions["bme"].pool.close()
    application.extensions["bme"].engine.dispose()


@pytest.fixture
def metered(app_config: dict[str, Any]) -> Iterator[Flask]:
    """The app with metrics on."""
    yield from _app(app_config, metrics_token=TOKEN)


def scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, sorted labels)."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """One sample's value, 0 when absent."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_is_404_when_no_token_is_configured(client: FlaskClient) -> None:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404
    assert response.json["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN])
def test_metrics_refuses_without_its_exact_bearer_token(metered: Flask, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = metered.test_client().get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.json["resourceType"] == "OperationOutcome"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert TOKEN not in response.get_data(as_text=True)


def test_counters_follow_the_responses(metered: Flask) -> None:
    client = metered.test_client()
    body = json.loads((SCENARIO / "request.json").read_text(encoding="utf-8"))
    answers = [client.post(CALL, json={**body, "hookInstance": f"m-{i}"}) for i in range(3)]
    assert {a.status_code for a in answers} == {200}
    assert client.post(CALL, json={"hook": "patient-view"}).status_code == 400
    assert client.post("/cds-services/not-a-service", json=body).status_code == 404
    samples = scrape(client)
    assert value(samples, "bme_cds_requests_total", service="bme-patient-view", status="200") == 3
    assert value(samples, "bme_cds_requests_total", service="bme-patient-view", status="400") == 1
    assert value(samples, "bme_cds_requests_total", service="(unknown)", status="404") == 1
    assert value(samples, "bme_cds_request_duration_seconds_count", service="bme-patient-view") == 4
    expected: dict[tuple[str, str], int] = {}
    suggestions: dict[str, int] = {}
    for answer in answers:
        for card in answer.json["cards"]:
            for rule in card_rule_ids(card):
                expected[(rule, card["indicator"])] = expected.get((rule, card["indicator"]), 0) + 1
            if card.get("suggestions"):
                rule = card["source"]["topic"]["code"]
                suggestions[rule] = suggestions.get(rule, 0) + len(card["suggestions"])
    assert expected and suggestions
    for (rule, indicator), count in expected.items():
        assert value(samples, "bme_cds_cards_total", rule=rule, indicator=indicator) == count
    cards_total = sum(v for (name, _), v in samples.items() if name == "bme_cds_cards_total")
    assert cards_total == sum(expected.values())
    for rule, count in suggestions.items():
        assert value(samples, "bme_cds_suggestions_total", rule=rule) == count
    for stage in ("prefetch", "features", "rules", "cards"):
        assert value(samples, "bme_cds_stage_duration_seconds_count", stage=stage) == 3  # the 400 stops earlier
    info = [labels for (name, labels), v in samples.items() if name == "bme_cds_build_info" and v == 1]
    assert len(info) == 1 and dict(info[0])["policy_sha256"] == "default" and dict(info[0])["rules_version"]


def test_feedback_and_override_reasons_are_counted_once_per_stored_item(metered: Flask) -> None:
    client = metered.test_client()
    body = json.loads((SCENARIO / "request.json").read_text(encoding="utf-8"))
    cards = client.post(CALL, json=body).json["cards"]
    second, first = cards[0], cards[1]  # the first card carries a suggestion
    assert second.get("suggestions")
    reason = first["overrideReasons"][0]
    feedback = {"feedback": [
        {"card": first["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-21T09:05:00Z",
         "overrideReason": {"reason": reason, "userComment": "free text that must not become a label"}},
        {"card": second["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-11-21T09:06:00Z",
         "acceptedSuggestions": [{"id": second["suggestions"][0]["uuid"]}]},
        {"card": "never-issued", "outcome": "overridden", "outcomeTimestamp": "2026-11-21T09:07:00Z",
         "overrideReason": {"reason": {"system": "urn:x", "code": "made-up-by-client"}}},
    ]}
    stored = client.post(f"{CALL}/feedback", json=feedback).json
    # The never-issued card is stored but reported apart, and never counted for a rule (issue 13).
    assert stored == {"stored": 3, "duplicates": 0, "unknownCards": 1}, stored
    assert client.post(f"{CALL}/feedback", json=feedback).json == {"stored": 0, "duplicates": 3, "unknownCards": 1}
    samples = scrape(client)
    rule1, rule2 = first["source"]["topic"]["code"], second["source"]["topic"]["code"]
    assert value(samples, "bme_cds_feedback_total", rule=rule1, outcome="overridden") == 1
    assert value(samples, "bme_cds_feedback_total", rule=rule2, outcome="accepted") == 1
    counted_rules = {dict(labels)["rule"] for name, labels in samples if name == "bme_cds_feedback_total"}
    assert counted_rules == {rule1, rule2}
    assert value(samples, "bme_cds_override_reasons_total", rule=rule1, reason=reason["code"]) == 1
    assert not any("free text" in str(labels) for _, labels in samples)


def test_auth_refusals_are_counted_by_reason(app_config: dict[str, Any]) -> None:
    for application in _app({**app_config, "auth": "on"}, metrics_token=TOKEN):
        client = application.test_client()
        assert client.post(CALL, json={}).status_code == 401
        assert client.post(CALL, json={}, headers={"Authorization": "Bearer a.b"}).status_code == 401
        samples = scrape(client)
        assert value(samples, "bme_cds_auth_refusals_total", reason="a_bearer_token_is_required") == 1
        assert value(samples, "bme_cds_auth_refusals_total", reason="malformed_token") == 1
        assert value(samples, "bme_cds_requests_total", service="bme-patient-view", status="401") == 2


def test_a_folded_card_counts_once_per_rule_it_lists() -> None:
    card = {"source": {"topic": {"code": "R21"}}, "extension": {"bme-cds-rules": ["R21", "R22", "R28"]}}
    assert card_rule_ids(card) == ["R21", "R22", "R28"]
    assert card_rule_ids({"source": {}}) == []


BASE = "http://127.0.0.1:9/fhir"


@responses.activate
@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        ({"json": {"resourceType": "Patient", "id": "p"}}, "ok"),
        ({"status": 404, "json": {}}, "client_error"),
        ({"status": 401, "json": {}}, "client_error"),
        ({"status": 503, "json": {}}, "server_error"),
        ({"body": "not json"}, "server_error"),
        ({"body": requests.ConnectionError("refused")}, "refused"),
        ({"body": requests.ReadTimeout("slow")}, "timeout"),
    ],
)
def test_each_fhir_fetch_is_counted_by_outcome(reply: dict[str, Any], outcome: str) -> None:
    from prometheus_client import CollectorRegistry

    from service.config import Settings

    registry = CollectorRegistry()
    observer = LiveObserver(build_metrics(registry, Settings(metrics_token="x")), None)
    pool = FhirPool(timeout=1, total_timeout=2, max_pages=1, pool_size=1, observer=observer)
    responses.add(responses.GET, f"{BASE}/Patient/p", **reply)
    try:
        pool.get_json(BASE, f"{BASE}/Patient/p", "secret-token", deadline=__import__("time").monotonic() + 2)
    except FetchUnavailable:
        assert outcome != "ok"
    finally:
        pool.close()
    assert registry.get_sample_value("bme_cds_fhir_fetches_total", {"outcome": outcome}) == 1
    total = sum(registry.get_sample_value("bme_cds_fhir_fetches_total", {"outcome": o}) or 0
                for o in ("ok", "timeout", "client_error", "server_error", "refused"))
    assert total == 1


def test_a_short_token_stops_start_up(app_config: dict[str, Any]) -> None:
    from service.config import ConfigError

    with pytest.raises(ConfigError, match="at least 16"):
        create_app(test_config={**app_config, "metrics_token": "short"})
