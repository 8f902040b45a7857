"""Treatment history (clinical-rules §1.7): SCD text matching, medication resolution, statuses, durations."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests import builders as b
from tests.features.conftest import Run


@pytest.mark.parametrize(
    ("kwargs", "feature", "expected"),
    [
        ({"rxnorm": "7258"}, "nsaid_active", True),  # ingredient code
        (
            {"rxnorm": "198014", "display": "Naproxen 500 MG Oral Tablet"},
            "nsaid_active",
            True,
        ),  # SCD + display
        ({"text": "Naproxen sodium 220 MG Oral Tablet"}, "nsaid_active", True),
        ({"text": "IBUPROFEN 200 MG Oral Tablet"}, "nsaid_active", True),
        ({"text": "Indomethacin 25 MG Oral Capsule"}, "nsaid_active", True),
        ({"text": "Celecoxib 200 MG Oral Capsule"}, "nsaid_active", True),
        ({"text": "Diclofenac sodium 75 MG Delayed Release Oral Tablet"}, "nsaid_active", True),
        ({"text": "naproxenol (not a real drug)"}, "nsaid_active", False),  # word boundary
        ({"text": "Acetaminophen 325 MG Oral Tablet"}, "nsaid_active", False),
        ({"text": "Naproxen 500 MG Oral Tablet", "status": "on-hold"}, "nsaid_active", True),
        ({"text": "Naproxen 500 MG Oral Tablet", "status": "completed"}, "nsaid_active", False),
        ({"text": "Naproxen 500 MG Oral Tablet", "status": "stopped"}, "nsaid_active", False),
        (
            {"text": "pamidronate disodium 30 MG Injection", "status": "completed"},
            "iv_bisphosphonate_given",
            True,
        ),
        (
            {"text": "pamidronate disodium 30 MG Injection", "status": "completed"},
            "iv_bisphosphonate_active",
            False,
        ),
        ({"text": "zoledronic acid 5 MG/100ML Injection"}, "iv_bisphosphonate_active", True),
        ({"text": "Alendronic acid 10 MG Oral Tablet"}, "bisphosphonate_given", True),
        ({"text": "Alendronic acid 10 MG Oral Tablet"}, "iv_bisphosphonate_given", False),
        ({"text": "pamidronate 30 MG", "status": "entered-in-error"}, "iv_bisphosphonate_given", False),
        ({"text": "pamidronate 30 MG", "status": "cancelled"}, "iv_bisphosphonate_given", False),
        ({"text": "pamidronate 30 MG", "status": "draft"}, "iv_bisphosphonate_given", False),
        ({"text": "denosumab 60 MG/ML Prefilled Syringe", "status": "completed"}, "denosumab_given", True),
        ({"text": "iloprost 20 MCG/ML Injectable Solution", "status": "completed"}, "iloprost_given", True),
        ({"text": "adalimumab 40 MG/0.4ML Auto-Injector"}, "tnfi_active", True),
        ({"text": "adalimumab 40 MG/0.4ML Auto-Injector"}, "dmard_active", True),
        ({"text": "calcitonin salmon 200 UNT/ACTUAT Nasal Spray"}, "calcitonin_active", True),
        ({"text": "Acetaminophen 325 MG / HYDROcodone Bitartrate 7.5 MG Oral Tablet"}, "opioid_active", True),
        ({"text": "oxyCODONE Hydrochloride 5 MG Oral Tablet"}, "parenteral_opioid", False),
        ({"text": "1 ML Morphine Sulfate 4 MG/ML Injection"}, "parenteral_opioid", True),
        ({"text": "morphine sulfate 15 MG", "route": "Intravenous route"}, "parenteral_opioid", True),
        ({"text": "predniSONE 20 MG Oral Tablet"}, "systemic_glucocorticoid_active", True),
        ({"text": "dexamethasone 0.1 % Ophthalmic Suspension"}, "systemic_glucocorticoid_active", False),
        ({"text": "prednisolone acetate 1% eye drops"}, "systemic_glucocorticoid_active", False),
        ({"text": "Warfarin Sodium 5 MG Oral Tablet"}, "anticoagulant_active", True),
        ({"text": "apixaban 5 MG Oral Tablet"}, "anticoagulant_active", True),
    ],
)
def test_medication_request(run: Run, kwargs: dict[str, Any], feature: str, expected: bool) -> None:
    mr = b.medication_request(**kwargs)
    fact = getattr(run(mr), feature)
    assert fact.value is expected
    if expected:
        assert f"MedicationRequest/{mr['id']}" in [s.reference for s in fact.sources]


def test_text_match_is_recorded_as_via_medication_text(run: Run) -> None:
    coded = run(b.medication_request("7258")).nsaid_active.sources[0]
    by_text = run(b.medication_request("198014", display="Naproxen 500 MG Oral Tablet")).nsaid_active.sources[
        0
    ]
    assert coded.via == ""
    assert by_text.via == "medication text"


@pytest.mark.parametrize("variant", ["contained", "record", "urn", "absolute"])
def test_medication_reference_resolution(run: Run, variant: str) -> None:
    med = b.medication("198014", "Naproxen 500 MG Oral Tablet", id="med-nap")
    if variant == "contained":
        resources = [b.medication_request(medication_reference="#med-nap", contained=[med])]
    else:
        ref = {
            "record": "Medication/med-nap",
            "urn": "urn:uuid:med-nap",
            "absolute": "https://ehr.example.org/fhir/Medication/med-nap/_history/3",
        }[variant]
        # The Medication comes after the order: resolution must not depend on order.
        resources = [b.medication_request(medication_reference=ref), med]
    f = run(*resources)
    assert f.nsaid_active.true
    assert f.nsaid_active_ingredients.value == frozenset({"naproxen"})
    assert f.unresolved_medications.value == 0


def test_unresolved_reference_makes_the_drug_unknown(run: Run) -> None:
    mr = b.medication_request(medication_reference="Medication/not-here")
    f = run(mr)
    assert f.unresolved_medications.value == 1
    assert f.unresolved_medications.sources[0].reference == f"MedicationRequest/{mr['id']}"
    # An unidentified active drug could be an NSAID: "not on an NSAID" cannot be said.
    assert f.nsaid_active.value is None
    assert f.anticoagulant_active.value is None


def test_reference_display_names_the_drug(run: Run) -> None:
    f = run(b.medication_request(medication_reference="Medication/x", reference_display="Celecoxib 200 MG"))
    assert f.nsaid_active.true


def test_no_medication_data_is_unknown_not_false(run: Run) -> None:
    f = run(b.patient())
    assert f.nsaid_active.value is None
    assert f.opioid_active.value is None
    assert f.unresolved_medications.value is None


def test_duplicate_nsaids_list_both_ingredients(run: Run) -> None:
    f = run(
        b.medication_request(text="Naproxen 500 MG Oral Tablet"),
        b.medication_request(text="Ibuprofen 400 MG Oral Tablet"),
        b.medication_request(text="Acetaminophen 325 MG / HYDROcodone 5 MG Oral Tablet"),
    )
    assert f.nsaid_active_ingredients.value == frozenset({"naproxen", "ibuprofen"})


@pytest.mark.parametrize(
    ("kwargs", "start"),
    [
        ({"authored": "2026-10-22"}, date(2026, 10, 22)),
        ({"authored": "2026-10-01", "bounds_start": "2026-10-11"}, date(2026, 10, 11)),
        ({"authored": "2026-10-01", "validity_start": "2026-10-06"}, date(2026, 10, 6)),
        ({"authored": "2026-10-01T08:30:00+02:00"}, date(2026, 10, 1)),
    ],
)
def test_nsaid_start_and_days(run: Run, kwargs: dict[str, Any], start: date) -> None:
    f = run(b.medication_request(text="Naproxen 500 MG Oral Tablet", **kwargs))
    assert f.nsaid_start_date.value == start
    assert f.nsaid_days.value == (b.TODAY - start).days


def test_opioid_and_glucocorticoid_days(run: Run) -> None:
    f = run(
        b.medication_request(text="tramadol 50 MG Oral Tablet", authored="2026-10-01"),
        b.medication_request(text="prednisone 5 MG Oral Tablet", authored="2026-05-01"),
    )
    assert f.opioid_days.value == (b.TODAY - date(2026, 10, 1)).days
    assert f.glucocorticoid_days.value == (b.TODAY - date(2026, 5, 1)).days


def test_duration_unknown_without_a_start_date(run: Run) -> None:
    f = run(b.medication_request(text="tramadol 50 MG Oral Tablet", authored=None))
    assert f.opioid_active.true
    assert f.opioid_days.value is None


@pytest.mark.parametrize(
    ("resource", "active", "given"),
    [
        (
            {
                "resourceType": "MedicationStatement",
                "id": "ms1",
                "status": "active",
                "medicationCodeableConcept": {"text": "pamidronate 30 MG"},
                "subject": {"reference": "Patient/p1"},
            },
            True,
            True,
        ),
        (
            {
                "resourceType": "MedicationStatement",
                "id": "ms2",
                "status": "completed",
                "medicationCodeableConcept": {"text": "pamidronate 30 MG"},
                "subject": {"reference": "Patient/p1"},
            },
            False,
            True,
        ),
        (
            {
                "resourceType": "MedicationStatement",
                "id": "ms3",
                "status": "not-taken",
                "medicationCodeableConcept": {"text": "pamidronate 30 MG"},
                "subject": {"reference": "Patient/p1"},
            },
            False,
            False,
        ),
        (
            {
                "resourceType": "MedicationAdministration",
                "id": "ma1",
                "status": "completed",
                "medicationCodeableConcept": {"text": "pamidronate 30 MG"},
                "subject": {"reference": "Patient/p1"},
                "effectiveDateTime": "2026-09-01",
            },
            False,
            True,
        ),
    ],
)
def test_statements_and_administrations(
    run: Run, resource: dict[str, Any], active: bool, given: bool
) -> None:
    f = run(resource)
    assert f.iv_bisphosphonate_active.value is active
    assert f.iv_bisphosphonate_given.value is given
