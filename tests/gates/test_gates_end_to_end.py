"""Issue 12's gate behaviour end to end: the reviewer's patients and built requests through the real app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests import builders as b
from tests.review.test_review_set import SERVICE_FOR_HOOK
from tests.review.test_review_set import _Clock
from tests.review.test_review_set import card_ids
from tests.review.test_review_set import close
from tests.review.test_review_set import make_client
from tests.review.test_review_set import suggested_classes

PATIENTS = Path(__file__).resolve().parents[1] / "review" / "patients"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    """One app for the module, its clock pinned to each request's instant."""
    from service.web import api

    application, test_client = make_client(tmp_path_factory.mktemp("gates-e2e"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(api, "datetime", _Clock)
        yield test_client
    close(application)


def cards_for(client: FlaskClient, request: dict[str, Any], now: str = "2026-11-21T09:00:00Z") -> list[dict[str, Any]]:
    """The cards the service answers `request` with at `now`."""
    _Clock.instant = datetime.fromisoformat(now.replace("Z", "+00:00"))
    answer = client.post(f"/cds-services/{SERVICE_FOR_HOOK[request['hook']]}", json=request)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    cards: list[dict[str, Any]] = answer.get_json()["cards"]
    return cards


def patient(client: FlaskClient, prefix: str) -> list[dict[str, Any]]:
    """The cards for one reviewer patient (tests/review/patients/<prefix>-*.json)."""
    data = json.loads(next(PATIENTS.glob(f"{prefix}-*.json")).read_text(encoding="utf-8"))
    return cards_for(client, data["request"], data["now"])


def test_pregnancy_24_weeks_leads_and_no_nsaid_is_offered(client: FlaskClient) -> None:
    cards = patient(client, "16")
    assert "S05" in card_ids(cards[0]) and cards[0]["indicator"] == "warning"
    assert "nsaid" not in suggested_classes(cards)
    r22 = next(c for c in cards if c["source"]["topic"]["code"] == "R22")
    assert r22["summary"].startswith("NSAIDs not advised for this patient (S05: pregnant, 24 weeks")


def test_dialysis_shows_the_kidney_card_first_and_no_nsaid(client: FlaskClient) -> None:
    cards = patient(client, "18")
    assert "S01" in card_ids(cards[0])
    assert "dialysis" in (cards[0]["summary"] + cards[0]["detail"]).lower()  # the deciding datum is shown
    assert "nsaid" not in suggested_classes(cards)


def test_stacked_nsaid_risks_are_one_card_and_no_nsaid(client: FlaskClient) -> None:
    cards = patient(client, "21")
    nsaid_cards = [c for c in cards if set(card_ids(c)) & {"S01", "S02", "S03", "S04"}]
    assert len(nsaid_cards) == 1
    assert {"S01", "S02", "S03", "S04"} <= set(card_ids(nsaid_cards[0]))
    assert nsaid_cards[0]["summary"].startswith("Avoid NSAIDs: 5 risks together")
    assert "nsaid" not in suggested_classes(cards)


def test_adalimumab_draft_with_latent_tb_gets_a_leading_s13_warning(client: FlaskClient) -> None:
    cards = patient(client, "28")
    assert card_ids(cards[0]) == ["S13"] and cards[0]["indicator"] == "warning"
    assert "latent TB" in cards[0]["summary"]


def test_latent_tb_with_missing_labs_offers_labs_not_tnfi(client: FlaskClient) -> None:
    cards = patient(client, "29")
    classes = suggested_classes(cards)
    assert "tnfi" not in classes and "lab" in classes
    ids = {i for c in cards for i in card_ids(c)}
    assert {"S08", "S09", "S13"} <= ids


@pytest.mark.parametrize("prefix", ["34", "36"])
def test_order_hooks_without_bme_are_silent(client: FlaskClient, prefix: str) -> None:
    assert patient(client, prefix) == []


def test_denosumab_draft_on_dialysis_carries_s11_first(client: FlaskClient) -> None:
    cards = patient(client, "50")
    assert "S11" in card_ids(cards[0])


def test_opioid_draft_with_an_active_benzodiazepine_fires_s12(client: FlaskClient) -> None:
    resources = [
        b.patient(birth_date="1958-03-02"),
        b.condition(code="S32.020A"),
        b.medication_request("197901", display="lorazepam 1 MG Oral Tablet", authored="2026-10-01"),
    ]
    draft = b.draft_medication_request("1049621", "oxycodone hydrochloride 5 MG Oral Tablet", id="oxy")
    cards = cards_for(client, b.request("order-sign", resources, [draft]))
    s12 = [c for c in cards if "S12" in card_ids(c)]
    assert len(s12) == 1 and s12[0]["indicator"] == "warning"
    assert "lorazepam" in s12[0]["detail"]  # the co-prescribed benzodiazepine is the deciding datum
