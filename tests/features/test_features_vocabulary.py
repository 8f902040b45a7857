"""Issue 12 "real vocabulary": report wording, report carriers, MRIs, opioids, DMARDs, NSAID history, age, labs.

Each resource is shaped as the EHR sends it (Epic internal codes, Oracle Health DocumentReferences, HTML
presentedForm, RxNorm ingredient codes the value sets do not list), so the tests fail if a real record is missed.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from service.core import textfind
from service.core.features import EXTENT_EXTENSIVE
from service.core.features import EXTENT_LIMITED
from service.core.features import SITE_VERTEBRA
from service.core.features.codes import OBSERVATION_SETS
from service.core.valuesets import VS
from service.core.valuesets import ValueSetIndex
from tests.features.conftest import Run

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
EPIC_IMG = "urn:oid:1.2.840.114350.1.13.0.1.7.2.696580"
RAD = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD", "display": "Radiology"}]}


def epic_report(conclusion: str | None = None, *, title: str = "MRI LUMBAR SPINE WO CONTRAST", rid: str = "erad1",
                html: str | None = None, status: str = "final") -> dict[str, Any]:
    """An Epic radiology DiagnosticReport: internal procedure code, conclusion or HTML presentedForm."""
    r: dict[str, Any] = {
        "resourceType": "DiagnosticReport", "id": rid, "status": status, "category": [RAD],
        "code": {"text": title, "coding": [{"system": EPIC_IMG, "code": "IMG3171", "display": title}]},
        "effectiveDateTime": "2026-11-12T09:00:00Z", "issued": "2026-11-12T16:12:00Z",
    }
    if conclusion is not None:
        r["conclusion"] = conclusion
    if html is not None:
        r["presentedForm"] = [{"contentType": "text/html; charset=ISO-8859-1",
                               "data": base64.b64encode(html.encode("latin-1")).decode()}]
    return r


def oracle_document(text: str, content_type: str = "text/plain",
                    title: str = "MRI LUMBAR SPINE WO CONTRAST - Final Report") -> dict[str, Any]:
    """An Oracle Health imaging report sent only as a DocumentReference."""
    return {
        "resourceType": "DocumentReference", "id": "edoc1", "status": "current", "docStatus": "final",
        "type": {"text": title, "coding": [{"system": "http://loinc.org", "code": "18748-4",
                                            "display": "Diagnostic imaging study"}]},
        "date": "2026-11-03T15:30:00Z", "context": {"period": {"start": "2026-11-03T15:30:00Z"}},
        "content": [{"attachment": {"contentType": content_type,
                                    "data": base64.b64encode(text.encode()).decode(), "title": title}}],
    }


def med_request(text: str, *, code: str | None = None, display: str | None = None, status: str = "active",
                route: str = "Oral route", start: str = "2026-10-22", end: str | None = None,
                rid: str = "emed1") -> dict[str, Any]:
    """A MedicationRequest with an RxNorm ingredient code (as Epic sends) and the order's own text."""
    codings = [{"system": RXNORM, "code": code, "display": display}] if code else []
    bounds = {"start": start} | ({"end": end} if end else {})
    return {
        "resourceType": "MedicationRequest", "id": rid, "status": status, "intent": "order",
        "medicationCodeableConcept": {"coding": codings, "text": text},
        "authoredOn": f"{start}T09:00:00Z",
        "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": bounds}},
                               "route": {"text": route}}],
    }


# --- 1. report wording -------------------------------------------------------------------------------------

@pytest.mark.parametrize("sentence", [
    "T2 hyperintense signal in the L4 superior endplate.",
    "STIR hyperintensity involving the entire T12 vertebral body.",
    "Increased T2/STIR signal within the L3 vertebral body.",
    "Hyperintense on STIR in the medial femoral condyle.",
    "Acute T11 compression fracture with edema replacing the whole T11 vertebral body on STIR.",
    "Pathologic fracture of T9 with marrow replacement and edema of the T9 vertebral body.",
])
def test_fluid_sensitive_signal_and_bone_edema_wording_is_bme(sentence: str) -> None:
    found = textfind.find(sentence)
    assert textfind.TextFinding(textfind.KIND_BME, True, textfind.quote(sentence.rstrip("."))) in found


@pytest.mark.parametrize("sentence", [
    "T2 hyperintense signal within the cord at T9.",  # myelopathy, not marrow
    "STIR hyperintensity in the paraspinal muscles at L3.",
    "T2 hyperintense disc herniation at L4-5.",
    "Paraspinal soft tissue edema at L3.",
    "No STIR hyperintensity in the vertebral bodies.",  # negated: a False finding, never True
    "Marrow edema cannot be excluded at L2.",  # uncertain stays unasserted, as before
])
def test_soft_tissue_negated_or_uncertain_signal_is_not_bme(sentence: str) -> None:
    assert not any(f.kind == textfind.KIND_BME and f.value is True for f in textfind.find(sentence))


def test_marrow_replacement_points_to_malignancy_and_is_a_cause(run: Run) -> None:
    f = run(epic_report("IMPRESSION: Pathologic compression fracture of T9 with marrow replacement and edema of "
                        "the T9 vertebral body."))
    assert f.bme_present.value is True
    assert f.marrow_replacement.value is True
    cautious = run(epic_report("No discrete lesion; an underlying marrow-replacing process cannot be excluded. "
                               "Bone marrow edema at T8."))
    assert cautious.marrow_replacement.value is None  # "cannot be excluded" is not a finding


def test_diffuse_osteopenia_does_not_make_limited_bme_extensive(run: Run) -> None:
    f = run(epic_report(
        "Mild T12 superior endplate compression deformity with bone marrow edema in the superior endplate in "
        "the setting of diffuse osteopenia. The remainder of the T12 vertebral body demonstrates normal marrow "
        "signal.", title="MRI Thoracic Spine w/o Contrast"))
    assert f.bme_extent.value == EXTENT_LIMITED


@pytest.mark.parametrize("conclusion", [
    "Diffuse STIR hyperintense signal throughout the L1 vertebral body, consistent with bone marrow edema.",
    "Bone marrow edema involving the entire L2 vertebral body.",
])
def test_positively_documented_whole_body_edema_is_extensive(run: Run, conclusion: str) -> None:
    assert run(epic_report(conclusion)).bme_extent.value == EXTENT_EXTENSIVE


def test_denied_whole_body_wording_is_not_extensive(run: Run) -> None:
    f = run(epic_report("Bone marrow edema at the L2 superior endplate, not involving the entire vertebral body."))
    assert f.bme_extent.value == EXTENT_LIMITED


def test_osteonecrosis_not_excluded_keeps_the_rim_question_open(run: Run) -> None:
    text = ("IMPRESSION: Bone marrow edema in the right femoral head. No crescent sign or subchondral collapse. "
            "Early osteonecrosis cannot be excluded.")
    assert run(epic_report(text, title="MRI HIP RIGHT WO CONTRAST")).on_features.value is None
    settled = "IMPRESSION: Bone marrow edema in the right femoral head. No crescent sign."
    assert run(epic_report(settled, title="MRI HIP RIGHT WO CONTRAST")).on_features.value is False


# --- 2. report carriers and MRIs on record -----------------------------------------------------------------

def test_html_presented_form_is_read_with_its_charset(run: Run) -> None:
    html = ("<html><body><h3>MRI THORACIC SPINE</h3><p><b>IMPRESSION:</b><br/>1. STIR hyperintensity involving "
            "the entire T12 vertebral body, consistent with extensive bone marrow edema.<br/>2. No retropulsion."
            "</p><p>Radiologist: Dr M&uuml;ller &amp; Dr Se\u00f1or</p></body></html>")
    f = run(epic_report(None, html=html, title="MRI THORACIC SPINE WO CONTRAST"))
    assert f.bme_present.value is True
    assert f.bme_extent.value == EXTENT_EXTENSIVE
    assert f.retropulsion.value is False  # "<br/>" ended the sentence before "No retropulsion"


@pytest.mark.parametrize("content_type", ["text/plain", "text/html"])
def test_document_reference_report_gives_bme_and_the_mri(run: Run, content_type: str) -> None:
    body = ("EXAM: MRI LUMBAR SPINE WITHOUT CONTRAST\nFINDINGS: Bone marrow edema limited to the superior endplate "
            "of L1.\nIMPRESSION: Acute mild L1 superior endplate compression fracture with limited bone marrow "
            "edema.")
    if content_type == "text/html":
        body = "<p>" + body.replace("\n", "</p><p>") + "</p>"
    f = run(oracle_document(body, content_type))
    assert f.bme_present.value is True
    assert f.bme_sites.value == frozenset({SITE_VERTEBRA})
    assert f.last_mri_date.value is not None and f.last_mri_date.value.isoformat() == "2026-11-03"


def test_a_clinic_note_naming_an_mri_is_not_an_mri_done(run: Run) -> None:
    note = oracle_document("Back pain for 3 weeks. Plan: MRI lumbar spine ordered.", title="MRI request note")
    assert run(note).last_mri_date.value is None


def test_mri_known_only_by_internal_code_and_modality(run: Run) -> None:
    study = {
        "resourceType": "ImagingStudy", "id": "eimg1", "status": "available", "started": "2026-11-07T15:30:00Z",
        "description": "LUMBAR SPINE WO CONTRAST",
        "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "MR"}],
    }
    assert run(study).last_mri_date.value is not None
    internal = {
        "resourceType": "ImagingStudy", "id": "eimg2", "status": "available", "started": "2026-11-08T15:30:00Z",
        "procedureCode": [{"coding": [{"system": EPIC_IMG, "code": "IMG3171",
                                       "display": "MRI LUMBAR SPINE WO CONTRAST"}]}],
    }
    assert run(internal).last_mri_date.value is not None
    assert run(epic_report("IMPRESSION: Normal.")).last_mri_date.value is not None
    assert run(epic_report(None, status="registered")).last_mri_date.value is None  # ordered, not done


# --- 3. opioids, 6. DMARDs -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "code", "display"), [
    ("HYDROmorphone (DILAUDID) 2 MG tablet", "3423", "hydromorphone"),
    ("tapentadol 50 mg oral tablet", "787390", "tapentadol"),
    ("fentaNYL 25 mcg/hr patch", None, None),
    ("oxyCODONE 5 MG tablet", None, None),
])
def test_opioids_named_by_ingredient_are_opioids(run: Run, text: str, code: str | None, display: str | None) -> None:
    f = run(med_request(text, code=code, display=display))
    assert f.opioid_active.value is True
    assert f.parenteral_opioid.value is False


def test_iv_hydromorphone_is_an_active_parenteral_opioid(run: Run) -> None:
    f = run(med_request("HYDROmorphone 0.5 mg/0.5 mL injectable solution", code="3423", display="hydromorphone",
                        route="Intravenous route", start="2026-11-18"))
    assert (f.opioid_active.value, f.parenteral_opioid.value, f.opioid_days.value) == (True, True, 3)


def test_parenteral_opioid_product_code_needs_no_route(run: Run, valuesets: ValueSetIndex) -> None:
    product = valuesets.concepts(VS.RX_OPIOID_PARENTERAL)[0]
    order = med_request("", route="")
    order["medicationCodeableConcept"] = {"coding": [{"system": product.system, "code": product.code}]}
    assert run(order).parenteral_opioid.value is True


def test_acetaminophen_is_not_an_opioid(run: Run) -> None:
    assert run(med_request("acetaminophen 500 MG tablet")).opioid_active.value is False


def test_methotrexate_and_leflunomide_are_dmards(run: Run) -> None:
    assert run(med_request("methotrexate 2.5 mg oral tablet", code="6851",
                           display="methotrexate")).dmard_active.value is True
    assert run(med_request("leflunomide 20 MG tablet")).dmard_active.value is True
    assert run(med_request("folic acid 1 mg tablet")).dmard_active.value is False
    # A DMARD no value set codes yet keeps it unknown: never "no DMARD" for a patient taking one.
    assert run(med_request("hydroxychloroquine 200 MG tablet")).dmard_active.value is None


# --- 4. first-line history -----------------------------------------------------------------------------------

def test_completed_nsaid_course_is_first_line_history(run: Run) -> None:
    f = run(med_request("naproxen (NAPROSYN) 500 MG tablet", code="198014", display="Naproxen 500 MG Oral Tablet",
                        status="completed", start="2026-07-18", end="2026-08-15"))
    assert f.nsaid_active.value is False
    assert f.nsaid_course_days.value == 28
    assert f.nsaid_course_days.as_of is not None and f.nsaid_course_days.as_of.isoformat() == "2026-07-18"


def test_stopped_course_without_an_end_has_no_length(run: Run) -> None:
    f = run(med_request("naproxen 500 MG tablet", status="stopped", start="2026-07-18"))
    assert f.nsaid_course_days.value == 0  # searched: no dated finished course


def test_finished_course_response_is_judged_from_its_start(run: Run) -> None:
    def pain(score: int, when: str, pid: str) -> dict[str, Any]:
        return {"resourceType": "Observation", "id": pid, "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
                "effectiveDateTime": when, "valueInteger": score}

    f = run(med_request("naproxen 500 MG tablet", status="completed", start="2026-07-18", end="2026-08-15"),
            pain(8, "2026-07-17", "p1"), pain(7, "2026-08-10", "p2"))
    assert f.nsaid_response_insufficient.value is True


# --- 5. demographics -----------------------------------------------------------------------------------------

def test_year_only_birth_date_gives_the_older_possible_age(run: Run) -> None:
    f = run({"resourceType": "Patient", "id": "indo-1950", "birthDate": "1961", "gender": "female"})
    assert f.age_years.value == 65  # born 1961: 64 or 65 on 2026-11-21; the S07/R33 cautions must not be missed
    assert "64-65" in f.age_years.sources[0].display


def test_puerperium_is_not_pregnancy(run: Run) -> None:
    f = run({"resourceType": "Condition", "id": "c1",
             "clinicalStatus": {"coding": [{"code": "active"}]},
             "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "O90.89"}]}},
            {"resourceType": "Condition", "id": "c2", "clinicalStatus": {"coding": [{"code": "active"}]},
             "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z39.2"}]}})
    assert f.pregnant.value is not True


# --- 7. labs and the prefetch template ----------------------------------------------------------------------

def test_prefetch_asks_for_every_code_the_features_read(valuesets: ValueSetIndex) -> None:
    from hooks.common import OBSERVATION_CODES
    from hooks.common import PREFETCH

    tokens = OBSERVATION_CODES.split(",")
    wanted = {f"{c.system}|{c.code}" for name in OBSERVATION_SETS for c in valuesets.concepts(name)}
    assert wanted <= set(tokens)
    assert {"http://loinc.org|33914-3", "http://loinc.org|2000-8", "http://loinc.org|13959-2"} <= set(tokens)
    assert len(tokens) == len(set(tokens))
    query = PREFETCH["observations"].template
    assert query.startswith("Observation?patient={{context.patientId}}&code=") and " " not in query


@pytest.mark.parametrize(("code", "value", "unit", "feature", "expected"), [
    ("33914-3", 25, "mL/min/{1.73_m2}", "egfr", 25.0),
    ("2000-8", 2.35, "mmol/L", "calcium", 9.42),
])
def test_hl7_example_lab_codes_are_read(run: Run, code: str, value: float, unit: str, feature: str,
                                        expected: float) -> None:
    obs = {"resourceType": "Observation", "id": "lab1", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
           "effectiveDateTime": "2026-11-10", "valueQuantity": {"value": value, "unit": unit,
                                                                 "system": "http://unitsofmeasure.org"}}
    assert getattr(run(obs), feature).value == pytest.approx(expected, abs=0.01)


# --- 8. causes of BME (R05) ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "feature"), [("M17.11", "osteoarthritis"), ("G90.522", "crps"),
                                               ("M89.072", "crps")])
def test_osteoarthritis_and_crps_are_read(run: Run, code: str, feature: str) -> None:
    f = run({"resourceType": "Condition", "id": "c1", "clinicalStatus": {"coding": [{"code": "active"}]},
             "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]}})
    assert getattr(f, feature).value is True


@pytest.mark.parametrize(("conclusion", "named"), [
    ("Bone marrow edema along the L4 inferior endplate with a small acute Schmorl node.", True),
    ("Limited bone marrow edema at the L5 inferior endplate (Modic type 1 change).", True),
    ("Mild acute T10 superior endplate fracture with adjacent bone marrow edema.", True),
    ("Focal bone marrow edema in the anterior superior corner of L3 without fracture.", False),
    ("Marked bone marrow edema of the femoral head, compatible with transient osteoporosis of the hip.", False),
    ("Bone marrow edema in the femoral head. Early osteonecrosis cannot be excluded.", False),
    ("No bone marrow edema. Old healed fracture of L1.", False),  # a cause without BME in the report
])
def test_a_cause_named_in_the_report_is_read(run: Run, conclusion: str, named: bool) -> None:
    f = run(epic_report(f"IMPRESSION: {conclusion}"))
    assert (f.cause_in_report.value is True) is named


def test_finished_course_response_counts_just_after_the_course(run: Run) -> None:
    def pain(score: int, when: str, pid: str) -> dict[str, Any]:
        return {"resourceType": "Observation", "id": pid, "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
                "effectiveDateTime": when, "valueInteger": score}

    course = med_request("naproxen 500 MG tablet", status="completed", start="2026-07-18", end="2026-08-15")
    assert run(course, pain(7, "2026-07-17", "p1"), pain(7, "2026-08-17", "p2")).nsaid_response_insufficient.value
    late = run(course, pain(7, "2026-07-17", "p1"), pain(7, "2026-11-01", "p2"))
    assert late.nsaid_response_insufficient.value is None  # months later: no longer this course's response
