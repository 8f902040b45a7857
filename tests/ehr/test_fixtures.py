"""The request fixtures are shaped like each EHR's documented examples (docs/integration-*.md)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from service.cds.schemas import validate
from tests.ehr.builders import fixture
from tests.ehr.builders import fixture_names

ALL = [(ehr, name) for ehr in ("epic", "oracle", "sandbox") for name in fixture_names(ehr)]
EPIC_TOKENS = (
    "com.epic.cdshooks.request.bpa-trigger-action",
    "com.epic.cdshooks.request.cds-hooks-specification-version",
    "com.epic.cdshooks.request.fhir-version",
    "com.epic.cdshooks.request.criteria-id",
    "com.epic.cdshooks.request.epic-version",
    "com.epic.cdshooks.request.cds-hooks-implementation-version",
)


def resources(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every resource in prefetch and draftOrders, Bundles unpacked, contained resources included."""
    values = list(body.get("prefetch", {}).values())
    drafts = body["context"].get("draftOrders")
    if drafts:
        values.append(drafts)
    for value in values:
        items = (
            [e["resource"] for e in value.get("entry", ())] if value["resourceType"] == "Bundle" else [value]
        )
        for item in items:
            yield item
            yield from item.get("contained", ())


@pytest.mark.parametrize(("ehr", "name"), ALL)
def test_fixture_is_a_cds_hooks_request(ehr: str, name: str) -> None:
    body = fixture(ehr, name)
    validate("request", body)
    assert body["hook"] in ("patient-view", "order-select", "order-sign")
    assert ("selections" in body["context"]) == (body["hook"] == "order-select")


@pytest.mark.parametrize(("ehr", "name"), [case for case in ALL if case[0] != "sandbox"])
def test_epic_and_oracle_resources_are_valid_fhir_r4(ehr: str, name: str) -> None:
    for resource in resources(fixture(ehr, name)):
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)


@pytest.mark.parametrize("name", fixture_names("epic"))
def test_epic_fixtures_follow_epics_request(name: str) -> None:
    body = fixture("epic", name)
    assert body["fhirServer"].endswith("/api/FHIR/R4")
    assert (
        body["fhirAuthorization"]["token_type"] == "Bearer"
        and "Observation.Search (Labs) (R4)" in body["fhirAuthorization"]["scope"]
    )
    assert body["context"]["userId"].startswith("PractitionerRole/")
    assert {"patientId", "userId", "encounterId"} <= set(body["context"])
    assert set(EPIC_TOKENS) <= set(body["extension"])
    empty = [v for v in body["prefetch"].values() if v["resourceType"] == "Bundle" and v["total"] == 0]
    assert empty and all(
        [e["resource"]["resourceType"] for e in v["entry"]] == ["OperationOutcome"] for v in empty
    )
    assert all(e["search"]["mode"] == "outcome" for v in empty for e in v["entry"])


def test_epic_medication_reference_variants() -> None:
    def draft(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        entries = [e["resource"] for e in fixture("epic", name)["context"]["draftOrders"]["entry"]]
        return entries[0], entries[1:]

    contained, others = draft("order-select-contained.json")
    assert (
        contained["medicationReference"]["reference"] == "#" + contained["contained"][0]["id"] and not others
    )
    entry, others = draft("order-select-entry.json")
    assert "contained" not in entry and [m["resourceType"] for m in others] == ["Medication"]
    assert entry["medicationReference"]["reference"] == f"Medication/{others[0]['id']}"
    server, others = draft("order-select-server.json")
    assert "contained" not in server and not others and "display" not in server["medicationReference"]
    for order in (contained, entry, server):
        assert "medicationCodeableConcept" not in order and order["status"] == "draft"


@pytest.mark.parametrize("name", fixture_names("oracle"))
def test_oracle_fixtures_are_patient_view_without_imaging_study(name: str) -> None:
    body = fixture("oracle", name)
    assert body["hook"] == "patient-view"
    assert body["fhirServer"].startswith("https://fhir-ehr.cerner.com/r4/")
    assert "imaging" not in body.get("prefetch", {})


def test_oracle_document_reference_holds_the_report_as_plain_text() -> None:
    document = next(
        r
        for r in resources(fixture("oracle", "patient-view-documentreference.json"))
        if r["resourceType"] == "DocumentReference"
    )
    attachment = document["content"][0]["attachment"]
    assert attachment["contentType"] == "text/plain"
    assert "marrow edema" in base64.b64decode(attachment["data"]).decode()


@pytest.mark.parametrize("name", fixture_names("sandbox"))
def test_sandbox_fixtures_have_its_shape(name: str) -> None:
    body = fixture("sandbox", name)
    assert "fhirAuthorization" not in body  # an open FHIR server
    assert not {"imaging", "procedures", "encounters"} & set(
        body["prefetch"]
    )  # keys it could not fill: omitted
    if body["hook"] != "patient-view":
        (draft,) = (e["resource"] for e in body["context"]["draftOrders"]["entry"])
        assert draft["status"] == "draft"
        if draft["resourceType"] == "MedicationRequest":
            with pytest.raises(
                ValidationError
            ):  # the quirks are not valid FHIR: we must tolerate them anyway
                get_fhir_model_class(draft["resourceType"]).model_validate(draft)


def test_sandbox_quirks_are_all_present() -> None:
    drafts = {
        name: fixture("sandbox", name)["context"]["draftOrders"]["entry"][0]["resource"]
        for name in fixture_names("sandbox")
        if name != "patient-view.json"
    }
    assert "medicationCodeableConcept" not in drafts["order-select-no-medication.json"]
    assert isinstance(drafts["order-select-rx.json"]["category"], dict)
    assert drafts["order-select-imaging-empty-coding.json"]["code"]["coding"] == [{}]
