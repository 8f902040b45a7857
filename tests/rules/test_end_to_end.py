"""From FHIR resources through features.extract to rule findings, with the real value sets and gates."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service.core.engine import evaluate
from service.core.features import Features
from service.core.features import extract
from service.core.policy import DEFAULT_POLICY
from service.core.valuesets import ValueSetIndex
from tests import builders as b
from tests.rules.scenario import TODAY
from tests.rules.scenario import knowledge
from tests.rules.scenario import no_gates

VALUESETS = ValueSetIndex.load(Path(__file__).resolve().parents[2] / "valuesets")


def _features(resources: list[dict[str, Any]], drafts: Sequence[dict[str, Any]] = ()) -> Features:
    selections = [f"{d['resourceType']}/{d['id']}" for d in drafts]
    return extract([b.patient(), *resources], today=TODAY, valuesets=VALUESETS, policy=DEFAULT_POLICY,
                   patient_id="p1", draft_orders=drafts, selections=selections)


def test_whole_vertebral_body_report_and_nsaid_draft_gives_the_r21_warning() -> None:
    """MRI report 'entire vertebral body' + a naproxen draft at order-select: R21's warning, gates applied."""
    text = "Acute L1 compression fracture with bone marrow edema involving the entire vertebral body."
    mri = b.report(text, effective="2026-11-10")
    naproxen = b.draft_medication_request("7258", "naproxen 500 MG Oral Tablet", id="nap-1")
    features = _features([mri], [naproxen])
    found = {f.rule_id: f for f in evaluate(features, "order-select", knowledge())}
    assert found["R21"].indicator == "warning"
    assert any(s.reference == "MedicationRequest/nap-1" for s in found["R21"].data_used)
    pathway = {f.rule_id for f in evaluate(features, "patient-view", knowledge(), gates=no_gates)}
    assert {"R21", "R28"} <= pathway and "R22" not in pathway


NSAIDS = ["naproxen", "diclofenac", "indomethacin", "celecoxib"]


def test_limited_vertebral_bme_gets_the_nsaid_first_line() -> None:
    """An endplate-limited BME report: R22 (not R21) with the four seed NSAIDs, extent not missing."""
    mri = b.report("Bone marrow edema in the superior endplate of L2.", effective="2026-11-10")
    found = {f.rule_id: f for f in evaluate(_features([mri]), "patient-view", knowledge(), gates=no_gates)}
    assert "R21" not in found
    assert [s.text for s in found["R22"].suggestions] == NSAIDS
    assert not found["R22"].missing


def test_unstated_extent_never_triggers_r21() -> None:
    """A report that does not state the extent: unknown, so R22 with the extent listed as missing."""
    mri = b.report("Bone marrow edema at L2.", effective="2026-11-10")
    features = _features([mri])
    assert features.bme_extent.value is None
    found = {f.rule_id: f for f in evaluate(features, "patient-view", knowledge(), gates=no_gates)}
    assert "R21" not in found and "R22" in found
    assert any("BME extent" in m for m in found["R22"].missing)
