"""The shared builders produce valid FHIR R4 (R4B models) and well-formed CDS Hooks requests."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest

from tests import builders as b


def _model(resource_type: str) -> Any:
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    return getattr(module, resource_type)


BUILDERS: list[tuple[str, Callable[[], dict[str, Any]]]] = [
    ("patient", lambda: b.patient()),
    ("condition", lambda: b.condition("M81.0", body_site="L1 vertebra")),
    (
        "condition-snomed-no-status",
        lambda: b.condition("64859006", b.SNOMED, clinical_status=None, verification=None),
    ),
    (
        "observation-lab",
        lambda: b.observation("98979-8", 25, "mL/min/{1.73_m2}", interpretation="L", ref_low=60),
    ),
    ("observation-local-bool", lambda: b.local_observation("bme", value_boolean=True, body_site="L1")),
    ("observation-local-code", lambda: b.local_observation("bme-extent", value_code="limited")),
    ("observation-text", lambda: b.observation(None, value_string="Marrow edema at L1", note="see report")),
    ("pain", lambda: b.pain(7, "2026-11-01")),
    (
        "report",
        lambda: b.report(
            "Marrow edema at L1.", conclusion_codes=[(b.ICD10CM, "R93.7")], presented_text="Full text"
        ),
    ),
    (
        "imaging-study",
        lambda: b.imaging_study(
            "MR", body_site="Lumbar spine", procedure_code="24968-0", description="MRI L-spine"
        ),
    ),
    ("medication", lambda: b.medication("198014", "Naproxen 500 MG Oral Tablet")),
    (
        "medication-request",
        lambda: b.medication_request(
            "198014",
            "Naproxen 500 MG Oral Tablet",
            route="oral",
            bounds_start="2026-10-01",
            validity_start="2026-10-01",
        ),
    ),
    (
        "medication-request-contained",
        lambda: b.medication_request(
            medication_reference="#m1", contained=[b.medication(None, "naproxen 500 mg", id="m1")]
        ),
    ),
    ("draft-medication-request", lambda: b.draft_medication_request(text="pamidronate 30 mg IV", route="IV")),
    ("draft-service-request", lambda: b.draft_service_request("24968-0")),
    ("service-request", lambda: b.service_request(None, text="Strict bed rest")),
    ("procedure", lambda: b.procedure("22514")),
    (
        "encounter",
        lambda: b.encounter("IMP", [(b.ICD10CM, "M48.56XA")], "2026-10-20", reason_text="back pain"),
    ),
]


@pytest.mark.parametrize(("name", "build"), BUILDERS, ids=[n for n, _ in BUILDERS])
def test_builder_output_is_valid_r4(name: str, build: Callable[[], dict[str, Any]]) -> None:
    resource = build()
    _model(resource["resourceType"]).model_validate(resource)


def test_request_puts_resources_under_the_documented_prefetch_keys() -> None:
    resources = [
        b.patient(),
        b.condition("M81.0"),
        b.pain(5, "2026-11-01"),
        b.report("x"),
        b.medication_request("198014"),
        b.imaging_study(),
        b.procedure("22514"),
        b.encounter(),
    ]
    req = b.request(
        "order-select",
        resources,
        [b.draft_medication_request("198014", id="d1")],
        selections=["MedicationRequest/d1"],
    )
    assert set(req["prefetch"]) == set(b.PREFETCH_KEYS)
    assert req["prefetch"]["patient"]["resourceType"] == "Patient"
    assert req["prefetch"]["conditions"]["type"] == "searchset"
    assert [r["resourceType"] for r in b.flatten(req["prefetch"]["medications"])] == ["MedicationRequest"]
    assert req["context"]["selections"] == ["MedicationRequest/d1"]
    assert b.flatten(req["context"]["draftOrders"])[0]["id"] == "d1"
    _model("Bundle").model_validate(req["context"]["draftOrders"])


def test_prefetch_keys_match_the_hooks_module() -> None:
    from hooks.common import PREFETCH

    assert set(PREFETCH) == set(b.PREFETCH_KEYS)
