"""Procedures and orders for care: augmentation, core decompression, offloading, CABG, dialysis, bed rest, imaging."""

from __future__ import annotations

from typing import Any

from service.core import textfind
from service.core.facts import Fact
from service.core.facts import Source
from service.core.features.codes import AUGMENTATION
from service.core.features.codes import BED_REST_WORDS
from service.core.features.codes import CABG
from service.core.features.codes import CORE_DECOMPRESSION
from service.core.features.codes import OFFLOADING
from service.core.features.codes import PROCEDURE_WORDS
from service.core.features.fhirjson import all_text
from service.core.features.fhirjson import concept_text
from service.core.features.fhirjson import dicts
from service.core.features.fhirjson import parse_date
from service.core.features.fhirjson import period_start
from service.core.features.fhirjson import ref_of
from service.core.features.fhirjson import short
from service.core.features.fhirjson import string
from service.core.features.reports import imaging
from service.core.features.state import Extraction
from service.core.valuesets import VS


def procedure(ex: Extraction, r: dict[str, Any]) -> None:
    """A completed or ongoing Procedure: imaging done, augmentation, core decompression, offloading, CABG, dialysis."""
    status = string(r.get("status")).lower()
    if status and status not in ("completed", "in-progress"):
        return
    names = ex.classify(r.get("code"))
    text = textfind.fold(all_text(r.get("code")))
    if not names and not PROCEDURE_WORDS.search(text):
        return  # most procedures (colonoscopy, medication review) feed no feature
    when = parse_date(r.get("performedDateTime")) or period_start(r.get("performedPeriod"))
    src = Source(ref_of(r), short(f"Procedure: {concept_text(r.get('code')) or 'procedure'}"), when)
    by_text = Source(src.reference, src.display, when, via="procedure text")
    imaging(ex, names, when, src)
    if VS.DIALYSIS in names:  # a dialysis session done or under way: the patient is on dialysis (S01, S11)
        ex.acc.yes("dialysis", src)
    if VS.PROC_VERTEBRAL_AUGMENTATION in names or AUGMENTATION.search(text):
        ex.acc.yes("augmentation_done", src)
    if CORE_DECOMPRESSION.search(text):
        ex.acc.yes("core_decompression_done", by_text)
    if OFFLOADING.search(text):
        ex.acc.yes("offloading_in_place", by_text)
    if CABG.search(text) and when is not None:
        current = ex.acc.values.get("recent_cabg_date")
        if current is None or (current.value is not None and when > current.value):
            ex.acc.values["recent_cabg_date"] = Fact(when, (by_text,), when)


def service_request(ex: Extraction, r: dict[str, Any]) -> None:
    """An active ServiceRequest: bed rest ordered."""
    status = string(r.get("status")).lower()
    if status not in ("active", "on-hold"):
        return
    text = textfind.fold(all_text(r.get("code")))
    names = ex.classify(r.get("code"))
    when = parse_date(r.get("authoredOn"))
    src = Source(ref_of(r), short(f"Order: {concept_text(r.get('code')) or 'service request'}"), when)
    if BED_REST_WORDS.search(text) or VS.BED_CONFINEMENT in names:
        ex.acc.yes("bed_rest_ordered", Source(src.reference, src.display, when, via="order text"))


def care_plan(ex: Extraction, r: dict[str, Any]) -> None:
    """An active CarePlan: bed rest or offloading among its open activities."""
    if string(r.get("status")).lower() not in ("active", "on-hold"):
        return
    when = period_start(r.get("period"))
    for activity in dicts(r.get("activity")):
        detail = activity.get("detail")
        if not isinstance(detail, dict):
            continue
        if string(detail.get("status")).lower() in (
            "completed",
            "cancelled",
            "stopped",
            "entered-in-error",
        ):
            continue
        text = all_text(detail.get("code")) + " " + string(detail.get("description"))
        src = Source(ref_of(r), short(f"Care plan activity: {text.strip()}"), when, via="care plan text")
        folded = textfind.fold(text)
        if BED_REST_WORDS.search(folded):
            ex.acc.yes("bed_rest_ordered", src)
        if OFFLOADING.search(folded):
            ex.acc.yes("offloading_in_place", src)


def device_request(ex: Extraction, r: dict[str, Any]) -> None:
    """A DeviceRequest: an offloading device."""
    if string(r.get("status")).lower() not in ("active", "on-hold", "completed"):
        return
    text = all_text(r.get("codeCodeableConcept"))
    if OFFLOADING.search(textfind.fold(text)):
        when = parse_date(r.get("authoredOn"))
        ex.acc.yes("offloading_in_place", Source(ref_of(r), short(f"Device: {text}"), when, via="device text"))
