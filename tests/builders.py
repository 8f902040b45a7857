"""Small FHIR R4 resource builders with defaults, for everybody's tests (features, rules, hooks, cards).

Each builder returns a plain dict that passes fhir.resources R4B validation (tests/features/test_builders.py
checks that). Dates may be given as `date` objects or FHIR strings. Ids are generated when not given.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import date
from typing import Any

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT = "http://www.ama-assn.org/go/cpt"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
UCUM = "http://unitsofmeasure.org"
LOCAL = "https://bme-cds.example.org/fhir/CodeSystem/bme-cds"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION_STATUS = "http://terminology.hl7.org/CodeSystem/condition-ver-status"

TODAY = date(2026, 11, 21)  # the fixed "today" the feature tests pass to extract()
MR_LUMBAR_SPINE = "24968-0"  # LOINC playbook "MR Lumbar spine" (codes.md C1)

# Prefetch keys documented in hooks/common.py, and the resource types each holds.
PREFETCH_KEYS: Mapping[str, tuple[str, ...]] = {
    "patient": ("Patient",),
    "conditions": ("Condition",),
    "observations": ("Observation",),
    "reports": ("DiagnosticReport",),
    "documents": ("DocumentReference",),
    "medications": ("MedicationRequest", "Medication"),
    "imaging": ("ImagingStudy",),
    "procedures": ("Procedure",),
    "encounters": ("Encounter",),
}

_ids = itertools.count(1)

DateLike = date | str | None


def new_id(prefix: str) -> str:
    """A fresh resource id ("cond-7")."""
    return f"{prefix}-{next(_ids)}"


def fhir_date(value: DateLike) -> str | None:
    """A date as a FHIR date string; strings pass through unchanged."""
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else value


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    """A Coding."""
    out: dict[str, Any] = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(
    system: str | None, code: str | None, display: str | None = None, text: str | None = None
) -> dict[str, Any]:
    """A CodeableConcept with at most one coding and an optional text."""
    out: dict[str, Any] = {}
    if system and code:
        out["coding"] = [coding(system, code, display)]
    if text:
        out["text"] = text
    return out


def _subject(patient_id: str) -> dict[str, str]:
    return {"reference": f"Patient/{patient_id}"}


def patient(
    birth_date: DateLike = "1960-05-01", gender: str | None = "female", id: str = "p1"
) -> dict[str, Any]:
    """A Patient."""
    out: dict[str, Any] = {"resourceType": "Patient", "id": id}
    if birth_date is not None:
        out["birthDate"] = fhir_date(birth_date)
    if gender is not None:
        out["gender"] = gender
    return out


def condition(
    code: str,
    system: str = ICD10CM,
    onset: DateLike = "2026-10-01",
    clinical_status: str | None = "active",
    verification: str | None = "confirmed",
    id: str | None = None,
    display: str | None = None,
    body_site: str | None = None,
    patient_id: str = "p1",
    recorded: DateLike = None,
) -> dict[str, Any]:
    """A Condition (problem-list entry)."""
    out: dict[str, Any] = {
        "resourceType": "Condition",
        "id": id or new_id("cond"),
        "code": concept(system, code, display),
        "subject": _subject(patient_id),
    }
    if clinical_status:
        out["clinicalStatus"] = {"coding": [coding(CLINICAL_STATUS, clinical_status)]}
    if verification:
        out["verificationStatus"] = {"coding": [coding(VERIFICATION_STATUS, verification)]}
    if onset is not None:
        out["onsetDateTime"] = fhir_date(onset)
    if recorded is not None:
        out["recordedDate"] = fhir_date(recorded)
    if body_site:
        out["bodySite"] = [{"text": body_site}]
    return out


def observation(
    loinc: str | None,
    value: float | None = None,
    unit: str | None = None,
    effective: DateLike = "2026-11-01",
    *,
    system: str = LOINC,
    id: str | None = None,
    status: str = "final",
    interpretation: str | None = None,
    ref_low: float | None = None,
    ref_unit: str | None = None,
    value_string: str | None = None,
    value_boolean: bool | None = None,
    value_code: str | None = None,
    value_integer: int | None = None,
    note: str | None = None,
    body_site: str | None = None,
    patient_id: str = "p1",
    display: str | None = None,
) -> dict[str, Any]:
    """An Observation: a lab or vital (valueQuantity), a score, a local-code finding or free text."""
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "id": id or new_id("obs"),
        "status": status,
        "code": concept(system, loinc, display),
        "subject": _subject(patient_id),
    }
    if effective is not None:
        out["effectiveDateTime"] = fhir_date(effective)
    if value is not None:
        quantity: dict[str, Any] = {"value": value}
        if unit:
            quantity.update({"unit": unit, "system": UCUM, "code": unit})
        out["valueQuantity"] = quantity
    elif value_string is not None:
        out["valueString"] = value_string
    elif value_boolean is not None:
        out["valueBoolean"] = value_boolean
    elif value_code is not None:
        out["valueCodeableConcept"] = concept(LOCAL, value_code)
    elif value_integer is not None:
        out["valueInteger"] = value_integer
    if interpretation:
        out["interpretation"] = [{"coding": [coding(V3_INTERPRETATION, interpretation)]}]
    if ref_low is not None:
        low: dict[str, Any] = {"value": ref_low}
        if ref_unit or unit:
            low.update({"unit": ref_unit or unit, "system": UCUM, "code": ref_unit or unit})
        out["referenceRange"] = [{"low": low}]
    if note:
        out["note"] = [{"text": note}]
    if body_site:
        out["bodySite"] = {"text": body_site}
    return out


def local_observation(
    code: str,
    *,
    value_boolean: bool | None = None,
    value_code: str | None = None,
    value: float | None = None,
    unit: str | None = None,
    effective: DateLike = "2026-11-01",
    body_site: str | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    """An Observation in the project-local code system (clinician input, structured BME findings)."""
    return observation(
        code,
        value,
        unit,
        effective,
        system=LOCAL,
        value_boolean=value_boolean,
        value_code=value_code,
        body_site=body_site,
        id=id,
    )


def pain(score: int, effective: DateLike, id: str | None = None) -> dict[str, Any]:
    """A pain NRS observation (LOINC 72514-3)."""
    return observation("72514-3", score, "{score}", effective, id=id)


def report(
    text: str | None = None,
    code: str | None = MR_LUMBAR_SPINE,
    effective: DateLike = "2026-11-01",
    conclusion_codes: Iterable[tuple[str, str]] = (),
    *,
    presented_text: str | None = None,
    id: str | None = None,
    status: str = "final",
    patient_id: str = "p1",
    code_display: str | None = None,
) -> dict[str, Any]:
    """A DiagnosticReport: conclusion text, optional presentedForm (base64 text/plain), conclusion codes."""
    out: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": id or new_id("rep"),
        "status": status,
        "code": concept(LOINC, code, code_display) if code else {"text": "Imaging report"},
        "subject": _subject(patient_id),
    }
    if effective is not None:
        out["effectiveDateTime"] = fhir_date(effective)
    if text is not None:
        out["conclusion"] = text
    codes = [concept(s, c) for s, c in conclusion_codes]
    if codes:
        out["conclusionCode"] = codes
    if presented_text is not None:
        data = base64.b64encode(presented_text.encode("utf-8")).decode("ascii")
        out["presentedForm"] = [{"contentType": "text/plain", "data": data}]
    return out


def imaging_study(
    modality: str = "MR",
    started: DateLike = "2026-11-01",
    body_site: str | None = None,
    *,
    procedure_code: str | None = None,
    description: str | None = None,
    id: str | None = None,
    status: str = "available",
    patient_id: str = "p1",
) -> dict[str, Any]:
    """An ImagingStudy with one series."""
    series: dict[str, Any] = {"uid": f"1.2.3.{next(_ids)}", "modality": coding(DCM, modality)}
    if body_site:
        series["bodySite"] = {"display": body_site}
    out: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": id or new_id("img"),
        "status": status,
        "subject": _subject(patient_id),
        "series": [series],
    }
    if started is not None:
        out["started"] = fhir_date(started)
    if procedure_code:
        out["procedureCode"] = [concept(LOINC, procedure_code)]
    if description:
        out["description"] = description
    return out


def medication(rxnorm: str | None = None, text: str | None = None, id: str | None = None) -> dict[str, Any]:
    """A Medication resource (for medicationReference)."""
    return {
        "resourceType": "Medication",
        "id": id or new_id("med"),
        "code": concept(RXNORM, rxnorm, text, text),
    }


def medication_request(
    rxnorm: str | None = None,
    text: str | None = None,
    authored: DateLike = "2026-11-01",
    status: str = "active",
    route: str | None = None,
    *,
    id: str | None = None,
    medication_reference: str | None = None,
    contained: Sequence[Mapping[str, Any]] = (),
    bounds_start: DateLike = None,
    validity_start: DateLike = None,
    intent: str = "order",
    patient_id: str = "p1",
    display: str | None = None,
    reference_display: str | None = None,
) -> dict[str, Any]:
    """A MedicationRequest: inline code/text, or medicationReference to a contained/separate Medication."""
    out: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": id or new_id("mr"),
        "status": status,
        "intent": intent,
        "subject": _subject(patient_id),
    }
    if medication_reference is not None:
        ref: dict[str, Any] = {"reference": medication_reference}
        if reference_display:
            ref["display"] = reference_display
        out["medicationReference"] = ref
    else:
        out["medicationCodeableConcept"] = concept(RXNORM, rxnorm, display, text)
    if contained:
        out["contained"] = [dict(c) for c in contained]
    if authored is not None:
        out["authoredOn"] = fhir_date(authored)
    dosage: dict[str, Any] = {}
    if route:
        dosage["route"] = {"text": route}
    if bounds_start is not None:
        dosage["timing"] = {"repeat": {"boundsPeriod": {"start": fhir_date(bounds_start)}}}
    if dosage:
        out["dosageInstruction"] = [dosage]
    if validity_start is not None:
        out["dispenseRequest"] = {"validityPeriod": {"start": fhir_date(validity_start)}}
    return out


def draft_medication_request(
    rxnorm: str | None = None,
    text: str | None = None,
    *,
    id: str | None = None,
    route: str | None = None,
    medication_reference: str | None = None,
    contained: Sequence[Mapping[str, Any]] = (),
    patient_id: str = "p1",
    no_medication: bool = False,
) -> dict[str, Any]:
    """A draft MedicationRequest as an EHR sends it in context.draftOrders (status draft, intent order)."""
    out = medication_request(
        rxnorm,
        text,
        None,
        "draft",
        route,
        id=id or new_id("draft-mr"),
        medication_reference=medication_reference,
        contained=contained,
        patient_id=patient_id,
    )
    if no_medication:
        out.pop("medicationCodeableConcept", None)
        out.pop("medicationReference", None)
    return out


def draft_service_request(
    code: str | None = None,
    system: str = LOINC,
    text: str | None = None,
    *,
    id: str | None = None,
    patient_id: str = "p1",
) -> dict[str, Any]:
    """A draft ServiceRequest (imaging, procedure referral, bed rest ...)."""
    return {
        "resourceType": "ServiceRequest",
        "id": id or new_id("draft-sr"),
        "status": "draft",
        "intent": "order",
        "code": concept(system, code, None, text),
        "subject": _subject(patient_id),
    }


def service_request(
    code: str | None = None,
    system: str = LOINC,
    text: str | None = None,
    *,
    status: str = "active",
    authored: DateLike = "2026-11-01",
    id: str | None = None,
    patient_id: str = "p1",
) -> dict[str, Any]:
    """A ServiceRequest in the record (e.g. an active bed-rest order)."""
    out = draft_service_request(code, system, text, id=id or new_id("sr"), patient_id=patient_id)
    out["status"] = status
    if authored is not None:
        out["authoredOn"] = fhir_date(authored)
    return out


def procedure(
    code: str | None,
    system: str = CPT,
    performed: DateLike = "2026-10-15",
    *,
    status: str = "completed",
    text: str | None = None,
    id: str | None = None,
    patient_id: str = "p1",
) -> dict[str, Any]:
    """A Procedure."""
    out: dict[str, Any] = {
        "resourceType": "Procedure",
        "id": id or new_id("proc"),
        "status": status,
        "code": concept(system, code, None, text),
        "subject": _subject(patient_id),
    }
    if performed is not None:
        out["performedDateTime"] = fhir_date(performed)
    return out


def encounter(
    class_code: str = "IMP",
    reason_codes: Iterable[tuple[str, str]] = (),
    period_start: DateLike = None,
    *,
    status: str = "finished",
    reason_text: str | None = None,
    id: str | None = None,
    patient_id: str = "p1",
) -> dict[str, Any]:
    """An Encounter (class from v3 ActCode: IMP, EMER, AMB ...)."""
    out: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": id or new_id("enc"),
        "status": status,
        "class": coding(V3_ACT_CODE, class_code),
        "subject": _subject(patient_id),
    }
    reasons = [concept(s, c) for s, c in reason_codes]
    if reason_text:
        reasons.append({"text": reason_text})
    if reasons:
        out["reasonCode"] = reasons
    if period_start is not None:
        out["period"] = {"start": fhir_date(period_start)}
    return out


def bundle(resources: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A searchset Bundle of the resources."""
    items = [dict(r) for r in resources]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(items),
        "entry": [
            {"fullUrl": f"http://fhir.example.org/{r['resourceType']}/{r['id']}", "resource": r}
            for r in items
        ],
    }


def prefetch(resources: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Resources grouped under the documented prefetch keys; `patient` is the resource, the rest Bundles."""
    by_key: dict[str, list[Mapping[str, Any]]] = {key: [] for key in PREFETCH_KEYS}
    for r in resources:
        kind = r.get("resourceType")
        key = next((k for k, kinds in PREFETCH_KEYS.items() if kind in kinds), None)
        if key is None:
            raise ValueError(f"no prefetch key holds {kind!r}")
        by_key[key].append(r)
    out: dict[str, Any] = {}
    patients = by_key.pop("patient")
    if patients:
        out["patient"] = dict(patients[0])
    for key, items in by_key.items():
        out[key] = bundle(items)
    return out


def request(
    hook: str,
    resources: Iterable[Mapping[str, Any]],
    draft_orders: Sequence[Mapping[str, Any]] = (),
    patient_id: str = "p1",
    *,
    selections: Sequence[str] = (),
    hook_instance: str | None = None,
    user_id: str = "Practitioner/example",
    fhir_server: str | None = None,
) -> dict[str, Any]:
    """A complete CDS Hooks 2.0 request for `hook` with every resource prefetched."""
    context: dict[str, Any] = {"userId": user_id, "patientId": patient_id}
    if hook in ("order-select", "order-sign"):
        context["draftOrders"] = bundle(draft_orders)
    if hook == "order-select":
        context["selections"] = list(selections)
    out: dict[str, Any] = {
        "hook": hook,
        "hookInstance": hook_instance or f"d1577c69-dfbe-44ad-ba6d-3e05e953b2{next(_ids) % 100:02d}",
        "context": context,
        "prefetch": prefetch(resources),
    }
    if fhir_server:
        out["fhirServer"] = fhir_server
    return out


def flatten(value: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every resource in a Bundle (or a single resource) as a flat list, as the pipeline hands them over."""
    if value.get("resourceType") == "Bundle":
        return [
            dict(e["resource"]) for e in value.get("entry", []) if isinstance(e, dict) and "resource" in e
        ]
    return [dict(value)]
