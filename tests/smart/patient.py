"""A hand-written BME patient: L1 vertebral fracture, an MRI report with extensive edema, pain scores, eGFR.

Dates are relative to `today`, so the data stays recent. `bundle()` is a transaction for the FHIR engine
(urn:uuid references); `resources()` is the same data with fixed ids for the in-memory FHIR answers.
"""

from __future__ import annotations

from datetime import date
from datetime import timedelta
from typing import Any

PATIENT_ID = "bme-smart-1"
MRI_TEXT = (
    "MRI lumbar spine, STIR and T1: acute L1 compression fracture with extensive bone marrow edema of the "
    "entire L1 vertebral body. No retropulsion. No cord compression."
)
PAIN = ((40, 8), (26, 8), (12, 7), (3, 7))  # (days ago, NRS)
MRI_DAYS_AGO = 30
FRACTURE_DAYS_AGO = 42
EGFR_DAYS_AGO = 10
NAPROXEN_DAYS_AGO = 38


def _day(today: date, days_ago: int) -> str:
    return (today - timedelta(days=days_ago)).isoformat()


def _loinc(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": "http://loinc.org", "code": code, "display": display}], "text": display}


def resources(today: date, patient_ref: str = f"Patient/{PATIENT_ID}") -> list[dict[str, Any]]:
    """The patient's resources; every reference to the patient is `patient_ref`."""
    subject = {"reference": patient_ref}
    out: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": PATIENT_ID,
            "active": True,
            "identifier": [{"type": {"text": "MRN"}, "system": "urn:oid:1.2.3.4", "value": "MRN-4711"}],
            "name": [{"use": "official", "family": "Nordmann", "given": ["Ada"]}],
            "gender": "female",
            "birthDate": "1952-03-14",
        },
        {
            "resourceType": "Condition",
            "id": "frx-1",
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
            "code": {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/sid/icd-10-cm",
                        "code": "M80.08XA",
                        "display": "Age-related osteoporosis with current pathological fracture, "
                        "vertebra(e), initial encounter for fracture",
                    }
                ],
                "text": "Osteoporotic L1 vertebral fracture",
            },
            "subject": subject,
            "onsetDateTime": _day(today, FRACTURE_DAYS_AGO),
        },
        {
            "resourceType": "DiagnosticReport",
            "id": "mri-1",
            "status": "final",
            "category": [
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]}
            ],
            "code": _loinc("24968-0", "MR Lumbar spine"),
            "subject": subject,
            "effectiveDateTime": _day(today, MRI_DAYS_AGO),
            "issued": f"{_day(today, MRI_DAYS_AGO)}T12:00:00Z",
            "conclusion": MRI_TEXT,
        },
        {
            "resourceType": "Observation",
            "id": "egfr-1",
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "laboratory",
                        }
                    ]
                }
            ],
            "code": _loinc("98979-8", "eGFR (CKD-EPI 2021)"),
            "subject": subject,
            "effectiveDateTime": _day(today, EGFR_DAYS_AGO),
            "valueQuantity": {
                "value": 72,
                "unit": "mL/min/{1.73_m2}",
                "system": "http://unitsofmeasure.org",
                "code": "mL/min/{1.73_m2}",
            },
        },
        {
            "resourceType": "MedicationRequest",
            "id": "naproxen-1",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {
                "coding": [
                    {
                        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                        "code": "7258",
                        "display": "naproxen",
                    }
                ],
                "text": "naproxen",
            },
            "subject": subject,
            "authoredOn": _day(today, NAPROXEN_DAYS_AGO),
        },
    ]
    for index, (days_ago, score) in enumerate(PAIN):
        out.append(
            {
                "resourceType": "Observation",
                "id": f"pain-{index}",
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": "survey",
                            }
                        ]
                    }
                ],
                "code": _loinc("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported"),
                "subject": subject,
                "effectiveDateTime": _day(today, days_ago),
                "valueInteger": score,
            }
        )
    return out


def bundle(today: date) -> dict[str, Any]:
    """A transaction Bundle of the same data for the FHIR engine (it assigns the ids)."""
    patient_urn = "urn:uuid:6f1d2a4e-0000-4000-8000-ffffffffffff"
    entries = []
    for index, resource in enumerate(resources(today, patient_ref=patient_urn)):
        resource = dict(resource)
        resource.pop("id", None)
        urn = (
            patient_urn
            if resource["resourceType"] == "Patient"
            else f"urn:uuid:6f1d2a4e-0000-4000-8000-{index:012d}"
        )
        entries.append(
            {
                "fullUrl": urn,
                "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"]},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


CALCIUM_DAYS_AGO = 400


def synthea_calcium(today: date, patient_ref: str) -> dict[str, Any]:
    """A transaction with Synthea's calcium (LOINC 49765-1, in none of our value sets: docs/valuesets.md)."""
    laboratory = {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [laboratory]}],
        "code": _loinc("49765-1", "Calcium [Mass/volume] in Blood"),
        "subject": {"reference": patient_ref},
        "effectiveDateTime": _day(today, CALCIUM_DAYS_AGO),
        "valueQuantity": {"value": 9.4, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"},
    }
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"resource": observation, "request": {"method": "POST", "url": "Observation"}}]}
