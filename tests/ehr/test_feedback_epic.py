"""Epic feedback: overrideReasons (plural), Epic acknowledgment extensions, accepted split suggestions."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from flask.testing import FlaskClient

from service import profiles
from tests.ehr.builders import FIXTURES
from tests.ehr.builders import fixture


def feedback(name: str, **values: str) -> dict[str, Any]:
    text = (FIXTURES / "epic" / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    data: dict[str, Any] = json.loads(text)
    return data


@pytest.fixture
def epic_cards(client: FlaskClient) -> list[dict[str, Any]]:
    """The Epic-profile cards of the Epic patient-view fixture, issued (and recorded) by the app."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    body = {**fixture("epic", "patient-view.json"), "fhirServer": f"http://127.0.0.1:{port}/fhir"}
    response = client.post("/cds-services/bme-patient-view", json=body)
    assert response.status_code == 200
    cards: list[dict[str, Any]] = profiles.adapt(response.get_json()["cards"], "epic", order_codes=None)
    return cards


@pytest.mark.parametrize(
    "name", ["_feedback-override-reasons.json", "_feedback-acknowledgement-extension.json"]
)
def test_epic_override_feedback_is_stored_once(
    client: FlaskClient, epic_cards: list[dict[str, Any]], name: str
) -> None:
    body = feedback(name, card=epic_cards[0]["uuid"])
    url = "/cds-services/bme-patient-view/feedback"
    assert client.post(url, json=body).get_json() == {"stored": 1, "duplicates": 0}
    assert client.post(url, json=body).get_json() == {"stored": 0, "duplicates": 1}


def test_accepting_an_epic_suggestion_is_stored(
    client: FlaskClient, epic_cards: list[dict[str, Any]]
) -> None:
    card = next(c for c in epic_cards if c.get("suggestions"))
    body = feedback("_feedback-accepted.json", card=card["uuid"], suggestion=card["suggestions"][0]["uuid"])
    response = client.post("/cds-services/bme-patient-view/feedback", json=body)
    assert response.status_code == 200
    assert response.get_json() == {"stored": 1, "duplicates": 0}


def test_our_override_reason_is_one_we_send(epic_cards: list[dict[str, Any]]) -> None:
    reason = feedback("_feedback-override-reasons.json", card="x")["feedback"][0]["overrideReasons"]["reason"]
    assert all(reason in card["overrideReasons"] for card in epic_cards)
