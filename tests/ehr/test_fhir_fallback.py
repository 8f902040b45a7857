"""Oracle Health documents no prefetch: the service reads everything from fhirServer with the EHR's token."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask.testing import FlaskClient

from service import profiles
from service.cds.schemas import validate
from tests.ehr.builders import fixture
from tests.ehr.builders import oracle_limit_errors
from tests.fhir_server import FhirTestServer

PATIENT_URN = "urn:uuid:9a0c0000-0000-4000-8000-000000000001"


def transaction(prefetch: dict[str, Any]) -> dict[str, Any]:
    """The fixture's prefetched resources as a transaction, references rewritten to the new patient."""
    entries: list[dict[str, Any]] = []
    for value in prefetch.values():
        items = (
            [e["resource"] for e in value.get("entry", ())] if value["resourceType"] == "Bundle" else [value]
        )
        for resource in copy.deepcopy(items):
            kind = resource["resourceType"]
            full_url = (
                PATIENT_URN
                if kind == "Patient"
                else f"urn:uuid:9a0c0000-0000-4000-8000-{len(entries) + 2:012d}"
            )
            resource.pop("id", None)
            if "subject" in resource:
                resource["subject"] = {"reference": PATIENT_URN}
            entries.append(
                {"fullUrl": full_url, "request": {"method": "POST", "url": kind}, "resource": resource}
            )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


@pytest.mark.fhirserver
def test_oracle_patient_view_without_prefetch_is_answered_from_the_fhir_server(
    client: FlaskClient, fhir_server: FhirTestServer
) -> None:
    source = fixture("oracle", "patient-view-diagnosticreport.json")
    refs = fhir_server.load(transaction(source["prefetch"]))
    patient_id = refs[PATIENT_URN].split("/")[1]
    body = fixture("oracle", "patient-view-no-prefetch.json")
    assert "prefetch" not in body
    body["fhirServer"] = fhir_server.base_url
    body["context"]["patientId"] = patient_id
    fhir_server.reset()

    response = client.post("/cds-services/bme-patient-view", json=body)

    assert response.status_code == 200, response.get_json()
    cards = response.get_json()["cards"]
    validate("response", {"cards": cards})
    assert "R21" in [card["source"]["topic"]["code"] for card in cards]  # BME read from the report text
    seen = fhir_server.requests()
    assert {r["path"].split("?")[0] for r in seen} >= {
        f"/Patient/{patient_id}",
        "/Condition",
        "/Observation",
        "/DiagnosticReport",
        "/MedicationRequest",
    }
    token = body["fhirAuthorization"]["access_token"]
    assert all(r["authorization"] == f"Bearer {token}" for r in seen)
    oracle = profiles.adapt(cards, "oracle", order_codes=None)
    assert oracle_limit_errors(oracle, profiles.ORACLE_MAX_DETAIL) == []


def test_without_prefetch_and_with_the_server_down_the_answer_is_412(client: FlaskClient) -> None:
    body = fixture("oracle", "patient-view-no-prefetch.json")
    body["fhirServer"] = "http://127.0.0.1:1/fhir"
    response = client.post("/cds-services/bme-patient-view", json=body)
    assert response.status_code == 412
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "prefetch key 'patient' is required" in outcome["issue"][0]["diagnostics"]
