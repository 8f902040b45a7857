"""Every hook with each EHR's request fixtures through the real app, then each profile's limits."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from service import profiles
from service.cds.schemas import validate
from service.core import vocabulary
from tests.cards.card_checks import inferno_errors
from tests.ehr.builders import SMART_URL
from tests.ehr.builders import actions
from tests.ehr.builders import epic_limit_errors
from tests.ehr.builders import fixture
from tests.ehr.builders import fixture_names
from tests.ehr.builders import oracle_limit_errors

SERVICES = {
    "patient-view": "bme-patient-view",
    "order-select": "bme-order-select",
    "order-sign": "bme-order-sign",
}
LOINC = "http://loinc.org"
CALCIUM_ITEM = {
    "system": profiles.EPIC_PREFERENCE_LIST,
    "code": "PL-55120",
    "display": "CALCIUM, SERUM (LAB PREF)",
}
PAMIDRONATE_ITEM = {"system": profiles.EPIC_PREFERENCE_LIST, "code": "PL-88412", "display": "PAMIDRONATE IV"}
# Fixtures carrying every required prefetch key (the no-prefetch one needs a FHIR server: test_fhir_fallback).
CASES = [
    (ehr, name)
    for ehr in ("epic", "oracle", "sandbox")
    for name in fixture_names(ehr)
    if name != "patient-view-no-prefetch.json"
]


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The shared test app, with the SMART link configured so Oracle's appContext rule has work to do."""
    return {
        **app_config,
        "smart_launch_url": SMART_URL,
        "fhir_timeout_seconds": 1.0,
        "fhir_total_timeout_seconds": 1.0,
    }


@pytest.fixture(scope="module")
def closed_port() -> Iterator[int]:
    """A loopback port nobody listens on: keys a fixture did not prefetch fail fast, never leave the host."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield port


def offline(body: dict[str, Any], port: int) -> dict[str, Any]:
    """The request with its fhirServer moved to a closed loopback port (the fixture itself is untouched)."""
    return {**body, "fhirServer": f"http://127.0.0.1:{port}/fhir"}


def call(client: FlaskClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/cds-services/{SERVICES[body['hook']]}", json=body)
    assert response.status_code == 200, response.get_json()
    result: dict[str, Any] = response.get_json()
    validate("response", result)
    return result


def profile_output(cards: list[dict[str, Any]], profile: str, **kwargs: Any) -> list[dict[str, Any]]:
    """The cards for a profile, checked against the schema, Inferno's card rules and the EHR's limits."""
    adapted = profiles.adapt(cards, profile, order_codes=kwargs.get("order_codes"))
    validate("response", {"cards": adapted})
    assert [e for card in adapted for e in inferno_errors(card)] == []
    if profile == vocabulary.PROFILE_EPIC:
        assert epic_limit_errors(adapted) == []
    if profile == vocabulary.PROFILE_ORACLE:
        assert oracle_limit_errors(adapted, profiles.ORACLE_MAX_DETAIL) == []
    return adapted


@pytest.mark.parametrize(("ehr", "name"), CASES)
def test_fixture_answers_and_each_profile_respects_its_limits(
    client: FlaskClient, closed_port: int, ehr: str, name: str
) -> None:
    cards = call(client, offline(fixture(ehr, name), closed_port))["cards"]
    for profile in vocabulary.PROFILES:
        profile_output(cards, profile)


def codes_of(cards: list[dict[str, Any]]) -> list[str]:
    return [card["source"]["topic"]["code"] for card in cards]


@pytest.mark.parametrize(
    "name", ["order-select-contained.json", "order-select-entry.json", "order-sign-entry.json"]
)
def test_epic_medication_reference_is_resolved_from_the_draft_orders(
    client: FlaskClient, closed_port: int, name: str
) -> None:
    body = fixture("epic", name)
    draft = body["context"]["draftOrders"]["entry"][0]["resource"]
    assert "medicationCodeableConcept" not in draft and "medicationReference" in draft
    cards = call(client, offline(body, closed_port))["cards"]
    # Naproxen with an eGFR of 24: the NSAID renal gate fires only if the referenced Medication was found.
    assert "S01" in codes_of(cards)


def test_epic_no_results_bundles_and_extensions_are_accepted(client: FlaskClient, closed_port: int) -> None:
    body = fixture("epic", "patient-view.json")
    outcome = body["prefetch"]["medications"]["entry"][0]
    assert (
        outcome["resource"]["resourceType"] == "OperationOutcome" and outcome["search"]["mode"] == "outcome"
    )
    assert profiles.epic_request_extensions(body)["bpa-trigger-action"] == "60"
    cards = call(client, offline(body, closed_port))["cards"]
    assert "R21" in codes_of(cards)


def test_epic_pathway_card_in_epic_shape(client: FlaskClient, closed_port: int, tmp_path: Path) -> None:
    cards = call(client, offline(fixture("epic", "patient-view.json"), closed_port))["cards"]
    r21 = next(card for card in cards if card["source"]["topic"]["code"] == "R21")
    assert r21["selectionBehavior"] == "at-most-one" and len(r21["suggestions"]) > 1
    epic = profile_output([r21], "epic")[0]
    assert epic["selectionBehavior"] == "any"
    doses = [a["resource"]["dosageInstruction"][0]["text"] for a in actions([r21])]
    descriptions = [a["description"] for a in actions([epic])]
    assert all(dose in text for dose, text in zip(doses, descriptions, strict=True))
    assert all("choose only one" in text for text in descriptions)
    assert [a["resource"]["medicationCodeableConcept"]["coding"][0] for a in actions([epic])] == [
        {"system": profiles.EPIC_RXNORM, "code": "11473", "display": "pamidronate"}
    ] * len(doses)
    mapping = tmp_path / "codes.json"
    mapping.write_text(
        json.dumps({"codes": {"http://www.nlm.nih.gov/research/umls/rxnorm|11473": PAMIDRONATE_ITEM}})
    )
    mapped = profile_output([r21], "epic", order_codes=profiles.load_order_codes(mapping))[0]
    assert [a["resource"]["medicationCodeableConcept"]["coding"] for a in actions([mapped])] == [
        [PAMIDRONATE_ITEM]
    ] * len(doses)


def test_site_mapping_applies_to_lab_orders_and_unmapped_ones_keep_loinc(
    client: FlaskClient, closed_port: int, tmp_path: Path
) -> None:
    cards = call(client, offline(fixture("oracle", "patient-view-diagnosticreport.json"), closed_port))[
        "cards"
    ]
    s09 = [card for card in cards if card["source"]["topic"]["code"] == "S09"]
    assert s09, codes_of(cards)
    mapping = tmp_path / "codes.json"
    mapping.write_text(json.dumps({"codes": {f"{LOINC}|17861-6": CALCIUM_ITEM}}))
    epic = profile_output(s09, "epic", order_codes=profiles.load_order_codes(mapping))
    codings = {a["resource"]["code"]["text"]: a["resource"]["code"]["coding"] for a in actions(epic)}
    assert codings["Serum calcium"] == [CALCIUM_ITEM]
    assert codings["Serum albumin"] == [
        {"system": LOINC, "code": "1751-7", "display": "Albumin [Mass/volume] in Serum or Plasma"}
    ]


def test_oracle_pathway_card_has_no_app_context_and_a_short_detail(
    client: FlaskClient, closed_port: int
) -> None:
    cards = call(client, offline(fixture("oracle", "patient-view-diagnosticreport.json"), closed_port))[
        "cards"
    ]
    assert any("appContext" in link for card in cards for link in card.get("links", ())), codes_of(cards)
    # Cards are written for a narrow EHR frame (at most 900 characters): Oracle's side panel takes them as they are.
    assert max(len(card["detail"]) for card in cards) <= profiles.ORACLE_MAX_DETAIL
    oracle = profile_output(cards, "oracle")
    assert [card["detail"] for card in oracle] == [card["detail"] for card in cards]
    assert not any("appContext" in link for card in oracle for link in card.get("links", ()))


def test_oracle_reads_bme_from_a_diagnostic_report_without_imaging_study(
    client: FlaskClient, closed_port: int
) -> None:
    body = fixture("oracle", "patient-view-diagnosticreport.json")
    assert "imaging" not in body["prefetch"]  # Oracle Health offers no ImagingStudy
    cards = call(client, offline(body, closed_port))["cards"]
    assert "R21" in codes_of(cards)  # extensive vertebral BME, found in the report's presentedForm text


@pytest.mark.parametrize(
    "name", ["order-select-no-medication.json", "order-select-imaging-empty-coding.json"]
)
def test_sandbox_first_calls_with_nothing_chosen_yet_answer_quietly(
    client: FlaskClient, closed_port: int, name: str
) -> None:
    body = fixture("sandbox", name)
    draft = body["context"]["draftOrders"]["entry"][0]["resource"]
    assert draft.get("code", {}).get("coding") == [{}] or "medicationCodeableConcept" not in draft
    assert call(client, offline(body, closed_port)) == {"cards": []}


def test_sandbox_category_object_is_tolerated(client: FlaskClient, closed_port: int) -> None:
    body = fixture("sandbox", "order-select-rx.json")
    assert isinstance(body["context"]["draftOrders"]["entry"][0]["resource"]["category"], dict)
    assert "S01" in codes_of(call(client, offline(body, closed_port))["cards"])


@pytest.mark.parametrize("name", fixture_names("sandbox"))
def test_sandbox_repeated_identical_calls_get_identical_responses(
    client: FlaskClient, closed_port: int, name: str
) -> None:
    body = offline(fixture("sandbox", name), closed_port)
    first, second = call(client, body), call(client, body)
    assert first == second
    assert profiles.adapt(first["cards"], "sandbox", order_codes=None) == first["cards"]


def test_oracle_fixture_is_patient_view_only() -> None:
    assert {fixture("oracle", name)["hook"] for name in fixture_names("oracle")} == {"patient-view"}


def test_oracle_reads_bme_from_a_document_reference(client: FlaskClient, closed_port: int) -> None:
    body = fixture("oracle", "patient-view-documentreference.json")
    assert body["prefetch"]["reports"]["total"] == 0 and "imaging" not in body["prefetch"]
    cards = call(client, offline(body, closed_port))["cards"]
    assert "R21" in codes_of(cards)  # extensive vertebral BME, found only in the DocumentReference's text
