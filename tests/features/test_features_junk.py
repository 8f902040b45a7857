"""Junk input never crashes extraction and never invents a value; valid data next to it still counts."""

from __future__ import annotations

from typing import Any

import pytest

from tests import builders as b
from tests.features.conftest import Run

JUNK: list[Any] = [
    None,
    "Condition",
    42,
    [],
    {},
    {"resourceType": None},
    {"resourceType": "Unknown", "id": "u"},
    {"resourceType": "Condition"},
    {"resourceType": "Condition", "code": {"coding": [{}]}},
    {"resourceType": "Condition", "code": {"coding": [None, 3, "x", {"system": 5, "code": None}]}},
    {"resourceType": "Condition", "code": "M81.0"},
    {
        "resourceType": "Condition",
        "code": {"coding": {"system": b.ICD10CM, "code": "S32.010A"}},
        "category": {"text": "problem"},
        "clinicalStatus": "active",
        "onsetDateTime": "2026-13-45",
    },
    {
        "resourceType": "Condition",
        "code": {"coding": [{"system": b.ICD10CM, "code": "E11.9"}]},
        "clinicalStatus": {"coding": "active"},
        "verificationStatus": [],
        "onsetDateTime": 20240101,
        "bodySite": "hip",
    },
    {
        "resourceType": "Observation",
        "code": {"coding": [{"system": b.LOINC, "code": "98979-8"}]},
        "valueQuantity": {"value": "25", "unit": "mL/min/{1.73_m2}"},
        "effectiveDateTime": "yesterday",
    },
    {
        "resourceType": "Observation",
        "code": {"coding": [{"system": b.LOINC, "code": "72514-3"}]},
        "valueQuantity": "7",
        "effectiveDateTime": "2026-11-01",
        "interpretation": "L",
    },
    {
        "resourceType": "Observation",
        "code": {"coding": [{"system": b.LOINC, "code": "17861-6"}]},
        "valueQuantity": {"value": True},
        "referenceRange": {"low": "8.5"},
    },
    {"resourceType": "Observation", "code": [], "valueString": 5, "note": "text", "status": 3},
    {
        "resourceType": "Observation",
        "code": {"coding": [{"system": b.LOCAL, "code": "bme"}]},
        "valueCodeableConcept": "present",
    },
    {
        "resourceType": "Observation",
        "code": {"coding": [{"system": b.LOCAL, "code": "kyphosis-pct"}]},
        "valueQuantity": {"value": float("nan")},
    },
    {"resourceType": "DiagnosticReport", "conclusion": ["Marrow edema"], "presentedForm": {"data": 5}},
    {
        "resourceType": "DiagnosticReport",
        "conclusion": None,
        "presentedForm": [{"contentType": "text/plain", "data": "%%%%"}],
    },
    {"resourceType": "DiagnosticReport", "conclusionCode": "R93.7", "code": "MRI"},
    {
        "resourceType": "MedicationRequest",
        "status": "active",
        "medicationCodeableConcept": "naproxen",
        "dosageInstruction": {"route": "oral"},
        "authoredOn": "sometime",
    },
    {"resourceType": "MedicationRequest", "status": "active", "medicationReference": "Medication/x"},
    {
        "resourceType": "MedicationRequest",
        "status": "active",
        "medicationReference": {"reference": 5},
        "contained": "junk",
    },
    {"resourceType": "MedicationRequest", "status": "active", "medicationReference": {"reference": "#"}},
    {
        "resourceType": "MedicationRequest",
        "status": None,
        "dispenseRequest": "x",
        "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": "2026"}}}],
    },
    {"resourceType": "Medication", "id": 5, "code": "x"},
    {"resourceType": "Encounter", "class": "IMP", "reasonCode": "back pain", "period": "2026"},
    {
        "resourceType": "Encounter",
        "class": [{"code": "IMP"}],
        "reasonReference": ["Condition/1"],
        "reasonCode": [{"text": "back pain"}],
        "period": {"start": "bad"},
    },
    {"resourceType": "ImagingStudy", "series": {"modality": "MR"}, "modality": "MR", "started": 2026},
    {"resourceType": "Procedure", "code": {"coding": [{"system": b.CPT, "code": "22514"}]}, "status": 5},
    {"resourceType": "ServiceRequest", "status": "active", "code": 5},
    {"resourceType": "CarePlan", "status": "active", "activity": ["x", {"detail": "y"}]},
    {"resourceType": "DeviceRequest", "status": "active", "codeCodeableConcept": []},
    {"resourceType": "Patient", "birthDate": 12345, "gender": 1},
]


@pytest.mark.parametrize("junk", JUNK, ids=[f"junk{i}" for i in range(len(JUNK))])
def test_junk_does_not_crash(run: Run, junk: Any) -> None:
    f = run(junk)
    assert f.egfr.value is None
    assert f.kyphosis_pct.value is None
    assert f.age_years.value is None


def test_valid_data_next_to_all_junk_still_counts(run: Run) -> None:
    good = [
        b.patient("1950-01-01"),
        b.condition("M81.0"),
        b.observation("98979-8", 25, "mL/min/{1.73_m2}"),
        b.report("Marrow edema at L1."),
    ]
    f = run(*JUNK, *good, drafts=[None, "x", {"resourceType": "MedicationRequest"}])  # type: ignore[list-item]
    assert f.osteoporosis.true
    assert f.egfr.value == 25.0
    assert f.bme_present.true
    assert f.age_years.value == 76
    assert len(f.draft_orders) == 1 and f.draft_orders[0].kinds == frozenset()


def test_junk_condition_with_coding_object_still_classifies(run: Run) -> None:
    # `coding` as an object instead of an array: tolerated, the code still counts.
    assert run(JUNK[11]).vertebral_fracture.true
