"""Issue 12 vocabulary end to end: EHR-shaped resources through extract and the rule engine (real gates)."""

from __future__ import annotations

import base64
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

VALUESETS = ValueSetIndex.load(Path(__file__).resolve().parents[2] / "valuesets")
EPIC_IMG = "urn:oid:1.2.840.114350.1.13.0.1.7.2.696580"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _features(resources: list[dict[str, Any]], drafts: Sequence[dict[str, Any]] = (),
              birth: str = "1960-05-01") -> Features:
    selections = [f"{d['resourceType']}/{d['id']}" for d in drafts]
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": birth, "gender": "female"}
    return extract([patient, *resources], today=TODAY, valuesets=VALUESETS, policy=DEFAULT_POLICY,
                   patient_id="p1", draft_orders=drafts, selections=selections)


def _fired(features: Features, hook: str = "patient-view") -> set[str]:
    return {f.rule_id for f in evaluate(features, hook, knowledge())}


def _epic_mri(conclusion: str | None, *, html: str | None = None, when: str = "2026-11-10",
              title: str = "MRI LUMBAR SPINE WO CONTRAST") -> dict[str, Any]:
    r: dict[str, Any] = {
        "resourceType": "DiagnosticReport", "id": "erad1", "status": "final",
        "code": {"text": title, "coding": [{"system": EPIC_IMG, "code": "IMG3171", "display": title}]},
        "effectiveDateTime": f"{when}T09:00:00Z",
    }
    if conclusion is not None:
        r["conclusion"] = conclusion
    if html is not None:
        r["presentedForm"] = [{"contentType": "text/html", "data": base64.b64encode(html.encode()).decode()}]
    return r


def _labs() -> list[dict[str, Any]]:
    return [b.observation("62238-1", 78, "mL/min/{1.73_m2}", effective="2026-11-12")]


def test_html_only_extensive_report_on_internal_code_gives_r21_and_no_mri_request() -> None:
    html = ("<p><b>IMPRESSION:</b><br/>STIR hyperintensity involving the entire T12 vertebral body, consistent "
            "with extensive bone marrow edema from an acute osteoporotic fracture.</p>")
    fired = _fired(_features([_epic_mri(None, html=html, title="MRI THORACIC SPINE WO CONTRAST"), *_labs()]))
    assert "R21" in fired and "R22" not in fired and "R01" not in fired


def test_diffuse_osteopenia_keeps_limited_bme_on_the_nsaid_first_line() -> None:
    text = ("Mild T12 superior endplate compression deformity with bone marrow edema in the superior endplate in "
            "the setting of diffuse osteopenia.")
    fired = _fired(_features([_epic_mri(text), *_labs()]))
    assert "R22" in fired and "R21" not in fired


def test_mri_sent_only_as_a_document_reference_is_on_record() -> None:
    body = ("EXAM: MRI LUMBAR SPINE WITHOUT CONTRAST\nFINDINGS: Bone marrow edema limited to the superior "
            "endplate of L1.\nIMPRESSION: Acute mild L1 superior endplate compression fracture.")
    doc = {
        "resourceType": "DocumentReference", "id": "edoc1", "status": "current", "docStatus": "final",
        "type": {"text": "MRI LUMBAR SPINE WO CONTRAST - Final Report"}, "date": "2026-11-10T15:30:00Z",
        "content": [{"attachment": {"contentType": "text/plain", "data": base64.b64encode(body.encode()).decode()}}],
    }
    fired = _fired(_features([doc, *_labs()]))
    assert "R22" in fired and "R01" not in fired


def test_completed_nsaid_course_opens_the_second_line_and_does_not_repeat_the_first() -> None:
    mri = _epic_mri("IMPRESSION: Acute L3 compression fracture with bone marrow edema in the superior endplate.",
                    when="2026-07-18")
    course = {
        "resourceType": "MedicationRequest", "id": "nap1", "status": "completed", "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "198014",
                                                  "display": "Naproxen 500 MG Oral Tablet"}],
                                      "text": "naproxen (NAPROSYN) 500 MG tablet"},
        "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": "2026-07-19", "end": "2026-08-16"}}}}],
    }
    pains = [b.pain(7, day, id=f"p{i}") for i, day in enumerate(("2026-07-18", "2026-08-18", "2026-11-19"))]
    fired = _fired(_features([mri, course, *pains, *_labs()]))
    assert "R22" not in fired
    assert "R24" in fired


def test_documented_causes_keep_r05_quiet() -> None:
    knee = _epic_mri("IMPRESSION: Subchondral bone marrow edema in the medial femoral condyle.",
                     title="MRI KNEE RIGHT WO CONTRAST")
    assert "R05" in _fired(_features([knee]))
    oa = b.condition("M17.11")
    assert "R05" not in _fired(_features([knee, oa]))
    crps = b.condition("G90.522")
    assert "R05" not in _fired(_features([knee, crps]))
    schmorl = _epic_mri("IMPRESSION: Bone marrow edema along the L4 inferior endplate with an acute Schmorl node.")
    assert "R05" not in _fired(_features([schmorl]))


def test_marrow_replacement_with_cord_compression_gives_r10_and_r03() -> None:
    text = ("IMPRESSION: Pathologic compression fracture of T9 with marrow replacement and edema of the T9 "
            "vertebral body. Compression of the spinal cord at T9.")
    fired = _fired(_features([_epic_mri(text, title="MRI THORACIC SPINE W WO CONTRAST")]))
    assert {"R10", "R03"} <= fired


def test_tapentadol_order_for_an_older_adult_gets_the_opioid_caution() -> None:
    mri = _epic_mri("IMPRESSION: Subacute T7 compression fracture with bone marrow edema.")
    draft = b.draft_medication_request("787390", "tapentadol 50 mg oral tablet", id="tap1")
    fired = _fired(_features([mri], [draft], birth="1953"), "order-sign")
    assert "R33" in fired


def test_year_only_birth_date_still_gets_the_indomethacin_age_gate() -> None:
    mri = _epic_mri("IMPRESSION: Acute L2 endplate fracture with bone marrow edema.")
    draft = b.draft_medication_request(None, "indomethacin 25 MG oral capsule", id="indo1")
    fired = _fired(_features([mri, *_labs()], [draft], birth="1950"), "order-select")
    assert "S07" in fired
