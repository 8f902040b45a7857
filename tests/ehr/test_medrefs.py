"""medrefs: which Medication references need a server read, and the read itself against a real FHIR engine."""

from __future__ import annotations

import copy
import socket
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient

from service.cds.pipeline import draft_order_resources
from service.core import features
from service.core import vocabulary
from service.core.policy import DEFAULT_POLICY
from service.core.valuesets import ValueSetIndex
from service.fhir import medrefs
from service.fhir.access import from_request
from service.fhir.prefetch import FhirPool
from service.fhir.prefetch import flatten
from tests.ehr.builders import fixture
from tests.fhir_server import FhirTestServer
from valuesets import DIRECTORY as PACKAGED_VALUESETS

BASE = "https://fhir.example-health.org/api/FHIR/R4"
MED_ID = "eVBXvKwrWZIkPmaGwY.s1hQ3"
TOKEN = "epic-test-access-token-not-a-secret"  # noqa: S105 - the dummy token in the Epic fixtures


def drafts(name: str) -> list[dict[str, Any]]:
    return [dict(r) for r in draft_order_resources(fixture("epic", name)["context"])]


def order(reference: str, *, display: str | None = None, **extra: Any) -> dict[str, Any]:
    ref: dict[str, Any] = {"reference": reference}
    if display:
        ref["display"] = display
    return {
        "resourceType": "MedicationRequest",
        "id": "o1",
        "status": "active",
        "medicationReference": ref,
        **extra,
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("order-select-contained.json", []),
        ("order-select-entry.json", []),
        ("order-select-server.json", [MED_ID]),
    ],
)
def test_only_references_nothing_in_the_request_resolves_are_read(name: str, expected: list[str]) -> None:
    body = fixture("epic", name)
    resources = flatten(body["prefetch"])
    assert medrefs.missing_medication_ids(drafts(name), resources, body["fhirServer"]) == expected


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Medication/abc-1.2", ["abc-1.2"]),
        (f"{BASE}/Medication/abc", ["abc"]),
        (f"{BASE}/Medication/abc/_history/2", []),  # not a plain id: never put into a URL
        ("https://other.example.org/fhir/Medication/abc", []),  # another server must not receive the token
        ("urn:uuid:0b9f6a52-7c1e-4d8e-bf0a-3f5d9e2c6a41", []),
        ("#med1", []),
        ("Medication/../Patient/x", []),
        ("Medication/a?b=c", []),
        ("Substance/abc", []),
        ("Medication/", []),
    ],
)
def test_which_references_are_server_reads(reference: str, expected: list[str]) -> None:
    assert medrefs.missing_medication_ids([order(reference)], [], BASE + "/") == expected


def test_prefetched_orders_with_a_display_need_no_read_but_drafts_always_do() -> None:
    named = order("Medication/m1", display="NAPROXEN 500 MG PO TABS")
    bare = order("Medication/m2")
    draft = order("Medication/m3", display="NAPROXEN 500 MG PO TABS")
    assert medrefs.missing_medication_ids([draft], [named, bare], BASE) == ["m3", "m2"]


def test_known_medications_inline_codes_and_duplicates_are_not_read() -> None:
    known = {"resourceType": "Medication", "id": "m1"}
    coded = order("Medication/m2", medicationCodeableConcept={"text": "naproxen"})
    contained = order("Medication/m4", contained=[{"resourceType": "Medication", "id": "m4"}])
    repeated = [order("Medication/m3"), order("Medication/m3")]
    ids = medrefs.missing_medication_ids([order("Medication/m1"), coded, contained, *repeated], [known], BASE)
    assert ids == ["m3"]


def test_reads_are_capped() -> None:
    many = [order(f"Medication/m{n}") for n in range(medrefs.MAX_READS + 5)]
    assert len(medrefs.missing_medication_ids(many, [], BASE)) == medrefs.MAX_READS


@pytest.fixture
def pool() -> Iterator[FhirPool]:
    created = FhirPool(timeout=2.0, total_timeout=3.0, max_pages=2, pool_size=2)
    yield created
    created.close()


def test_no_pool_or_no_fhir_server_reads_nothing(pool: FhirPool) -> None:
    body = fixture("epic", "order-select-server.json")
    assert medrefs.read_missing(drafts("order-select-server.json"), [], from_request(body), None) == []
    without = {k: v for k, v in body.items() if k != "fhirServer"}
    assert medrefs.read_missing(drafts("order-select-server.json"), [], from_request(without), pool) == []


def test_an_unreachable_server_leaves_the_drug_unresolved(pool: FhirPool) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    body = {**fixture("epic", "order-select-server.json"), "fhirServer": f"http://127.0.0.1:{port}/fhir"}
    assert medrefs.read_missing(drafts("order-select-server.json"), [], from_request(body), pool) == []


# ---------------------------------------------------------------------------------- real FHIR engine


NAPROXEN = {
    "resourceType": "Medication",
    "code": {
        "coding": [
            {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "7258", "display": "naproxen"}
        ],
        "text": "NAPROXEN 500 MG PO TABS",
    },
}


@pytest.fixture
def on_server(fhir_server: FhirTestServer) -> dict[str, Any]:
    """The Epic server-only request, pointing at the test FHIR server that holds its Medication."""
    refs = fhir_server.load(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": "urn:uuid:6c1d0000-0000-4000-8000-000000000001",
                    "request": {"method": "POST", "url": "Medication"},
                    "resource": NAPROXEN,
                }
            ],
        }
    )
    med_id = refs["urn:uuid:6c1d0000-0000-4000-8000-000000000001"].split("/")[1]
    body = copy.deepcopy(fixture("epic", "order-select-server.json"))
    body["fhirServer"] = fhir_server.base_url
    draft = body["context"]["draftOrders"]["entry"][0]["resource"]
    draft["medicationReference"]["reference"] = f"Medication/{med_id}"
    fhir_server.reset()
    return body


@pytest.mark.fhirserver
def test_the_medication_is_read_with_the_ehr_token(
    fhir_server: FhirTestServer, on_server: dict[str, Any], pool: FhirPool
) -> None:
    drafts_ = draft_order_resources(on_server["context"])
    found = medrefs.read_missing(drafts_, flatten(on_server["prefetch"]), from_request(on_server), pool)
    med_id = drafts_[0]["medicationReference"]["reference"].split("/")[1]
    assert [(m["resourceType"], m["id"], m["code"]["coding"][0]["code"]) for m in found] == [
        ("Medication", med_id, "7258")
    ]
    assert [(r["method"], r["path"], r["authorization"]) for r in fhir_server.requests()] == [
        ("GET", f"/Medication/{med_id}", f"Bearer {TOKEN}")
    ]
    # With the Medication added, the features extractor identifies the draft as an NSAID.
    extracted = features.extract(
        [*flatten(on_server["prefetch"]), *found],
        today=date(2026, 11, 21),
        valuesets=ValueSetIndex.load(PACKAGED_VALUESETS),
        policy=DEFAULT_POLICY,
        patient_id=on_server["context"]["patientId"],
        draft_orders=drafts_,
        selections=on_server["context"]["selections"],
    )
    assert vocabulary.NSAID in extracted.draft_orders[0].kinds


@pytest.mark.fhirserver
def test_an_unknown_medication_is_not_invented(
    fhir_server: FhirTestServer, on_server: dict[str, Any], pool: FhirPool
) -> None:
    draft = on_server["context"]["draftOrders"]["entry"][0]["resource"]
    draft["medicationReference"]["reference"] = "Medication/does-not-exist"
    drafts_ = draft_order_resources(on_server["context"])
    assert medrefs.read_missing(drafts_, [], from_request(on_server), pool) == []


@pytest.mark.fhirserver
def test_epic_server_only_medication_reaches_the_safety_gates(
    client: FlaskClient, on_server: dict[str, Any]
) -> None:
    response = client.post("/cds-services/bme-order-select", json=on_server)
    assert response.status_code == 200
    assert "S01" in [card["source"]["topic"]["code"] for card in response.get_json()["cards"]]
