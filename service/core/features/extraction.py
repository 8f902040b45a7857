"""One extraction: every resource to its handler in one pass, then the cross-resource features, frozen."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import fields
from datetime import date
from typing import Any

from service.core.features import conditions
from service.core.features import encounters
from service.core.features import judgements
from service.core.features import medications
from service.core.features import observations
from service.core.features import patient
from service.core.features import procedures
from service.core.features import reports
from service.core.features.contract import Features
from service.core.features.drafts import draft_order
from service.core.features.state import FALSE
from service.core.features.state import Extraction
from service.core.policy import Policy
from service.core.valuesets import ValueSetIndex

HANDLERS: dict[str, Callable[[Extraction, dict[str, Any]], None]] = {
    "Patient": patient.patient,
    "Medication": medications.medication,
    "MedicationRequest": medications.med_order,
    "MedicationStatement": medications.med_order,
    "MedicationAdministration": medications.med_order,
    "Condition": conditions.condition,
    "Observation": observations.observation,
    "DiagnosticReport": reports.diagnostic_report,
    "DocumentReference": reports.document_reference,
    "ImagingStudy": reports.imaging_study,
    "Procedure": procedures.procedure,
    "ServiceRequest": procedures.service_request,
    "CarePlan": procedures.care_plan,
    "DeviceRequest": procedures.device_request,
    "Encounter": encounters.encounter,
}
_FIELDS = frozenset(f.name for f in fields(Features))


def add_all(ex: Extraction, resources: Sequence[Any]) -> None:
    """Route each resource to its handler; anything that is not a dict with a resourceType is ignored."""
    for resource in resources:
        if not isinstance(resource, dict):
            continue
        kind = resource.get("resourceType")
        if not isinstance(kind, str):
            continue
        ex.acc.seen_types.add(kind)
        handler = HANDLERS.get(kind)
        if handler is not None:
            handler(ex, resource)


def finish(
    ex: Extraction, patient_id: str | None, drafts: Sequence[Mapping[str, Any]], selections: Sequence[str]
) -> Features:
    """Resolve medications, derive pain, labs, episode and draft-order features; freeze into Features."""
    drafts = [d for d in drafts if isinstance(d, Mapping) and isinstance(d.get("resourceType"), str)]
    draft_meds = {
        str(d["id"]): dict(d) for d in drafts if d.get("resourceType") == "Medication" and isinstance(d.get("id"), str)
    }
    for r in ex.pending_meds:
        medications.medication_order(ex, r, {})
    acc = ex.acc
    out: dict[str, Any] = dict(acc.values)
    out.update(patient.demographics(ex, patient_id))
    out.update(conditions.condition_features(ex))
    out.update(reports.bme_features(ex))
    out.update(medications.medication_features(ex))
    out.update(observations.lab_features(ex, out))
    out.update(judgements.pain_features(ex, out))
    out.update(encounters.episode_features(ex, out))
    # Flags set directly by a handler (procedures, orders, care plans) and not derived above.
    for name in sorted(set(acc.true) | set(acc.false)):
        if name in _FIELDS and name not in out:
            out[name] = acc.flag(name)
    if "augmentation_done" not in out and "Procedure" in acc.seen_types:
        out["augmentation_done"] = FALSE
    out["draft_orders"] = tuple(
        draft_order(ex, d, draft_meds, frozenset(selections)) for d in drafts if d.get("resourceType") != "Medication"
    )
    return Features(today=ex.today, **out)


def extract(
    resources: Sequence[Mapping[str, Any]],
    *,
    today: date,
    valuesets: ValueSetIndex,
    policy: Policy,
    patient_id: str | None = None,
    draft_orders: Sequence[Mapping[str, Any]] = (),
    selections: Sequence[str] = (),
) -> Features:
    """Map a patient's FHIR R4 resources and the hook's draft-order resources to Features (one linear pass).

    `draft_orders` are the resources of context.draftOrders, as `service.cds.pipeline.draft_order_resources`
    reads them from the request.
    """
    ex = Extraction(today, valuesets, policy)
    add_all(ex, resources)
    return finish(ex, patient_id, draft_orders, selections)
