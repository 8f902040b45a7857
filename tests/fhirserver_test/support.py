"""A small hand-written transaction Bundle and the skip-or-fail guard for the test FHIR server's tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fhir_server import REQUIRE_ENV
from tests.fhir_server import fhir_server_required
from tests.fhir_server import node_available

PATIENT = "urn:uuid:0b1c6a55-0000-4000-8000-000000000001"
OTHER_PATIENT = "urn:uuid:0b1c6a55-0000-4000-8000-000000000002"
CONDITIONS = tuple(f"urn:uuid:0b1c6a55-0000-4000-8000-00000000001{i}" for i in range(3))
OTHER_CONDITION = "urn:uuid:0b1c6a55-0000-4000-8000-000000000020"
PAIN_OBSERVATION = "urn:uuid:0b1c6a55-0000-4000-8000-000000000030"
HEIGHT_OBSERVATION = "urn:uuid:0b1c6a55-0000-4000-8000-000000000031"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
LOINC_PAIN_SEVERITY = "72514-3"
LOINC_BODY_HEIGHT = "8302-2"
# Three SNOMED CT findings, written by hand: only their count and the patient link matter here.
CONDITION_CODES = ("203082005", "69896004", "64859006")


def _entry(full_url: str, resource: dict[str, Any]) -> dict[str, Any]:
    """A transaction entry that creates resource under a urn:uuid fullUrl."""
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }


def _condition(patient: str, code: str) -> dict[str, Any]:
    """A confirmed active Condition for patient (a urn:uuid reference)."""
    return {
        "resourceType": "Condition",
        "subject": {"reference": patient},
        "code": {"coding": [{"system": SNOMED, "code": code}]},
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
    }


def _observation(patient: str, code: str, value: dict[str, Any], date: str) -> dict[str, Any]:
    """A final Observation for patient (a urn:uuid reference)."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "subject": {"reference": patient},
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "effectiveDateTime": date,
        "valueQuantity": value,
    }


def small_bundle() -> dict[str, Any]:
    """Patient + 3 Conditions + pain Observation, plus distractors (a height Observation, another patient)."""
    entries = [
        _entry(PATIENT, {"resourceType": "Patient", "name": [{"family": "Testbed", "given": ["Ada"]}]}),
        _entry(OTHER_PATIENT, {"resourceType": "Patient", "name": [{"family": "Other"}]}),
        *(
            _entry(url, _condition(PATIENT, code))
            for url, code in zip(CONDITIONS, CONDITION_CODES, strict=True)
        ),
        _entry(OTHER_CONDITION, _condition(OTHER_PATIENT, CONDITION_CODES[0])),
        _entry(
            PAIN_OBSERVATION,
            _observation(PATIENT, LOINC_PAIN_SEVERITY, {"value": 6, "unit": "{score}"}, "2024-05-02"),
        ),
        _entry(
            HEIGHT_OBSERVATION,
            _observation(PATIENT, LOINC_BODY_HEIGHT, {"value": 170, "unit": "cm"}, "2024-05-01"),
        ),
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def require_node() -> None:
    """Skip (or, with BME_TEST_REQUIRE_FHIRSERVER=1, fail) loudly when node or its packages are missing."""
    reason = node_available()
    if reason is None:
        return
    if fhir_server_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1)")
    pytest.skip(reason)
