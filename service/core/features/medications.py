"""Medications: orders, statements and administrations resolved to drug classes, and the treatment history."""

from __future__ import annotations

from datetime import date
from typing import Any

from service.core import textfind
from service.core.facts import Fact
from service.core.facts import Source
from service.core.features.codes import ANTICOAGULANT_SETS
from service.core.features.codes import DMARD_SETS
from service.core.features.codes import GC_SETS
from service.core.features.codes import MED_ACTIVE
from service.core.features.codes import MED_FINISHED
from service.core.features.codes import MED_NOT_GIVEN
from service.core.features.codes import MEDICATION_FLAGS
from service.core.features.codes import NAME_SYNONYMS
from service.core.features.codes import NSAID_SETS
from service.core.features.codes import OPIOID_SETS
from service.core.features.codes import UNCODED_DMARDS
from service.core.features.fhirjson import all_text
from service.core.features.fhirjson import as_dict
from service.core.features.fhirjson import codings_of
from service.core.features.fhirjson import concept_text
from service.core.features.fhirjson import dicts
from service.core.features.fhirjson import parse_date
from service.core.features.fhirjson import period_end
from service.core.features.fhirjson import period_start
from service.core.features.fhirjson import ref_id
from service.core.features.fhirjson import ref_of
from service.core.features.fhirjson import short
from service.core.features.fhirjson import string
from service.core.features.state import FALSE
from service.core.features.state import UNKNOWN
from service.core.features.state import Extraction
from service.core.features.state import Med
from service.core.features.state import newest


def medication(ex: Extraction, r: dict[str, Any]) -> None:
    """A Medication resource, kept by id so orders referring to it resolve after the pass."""
    rid = r.get("id")
    if isinstance(rid, str) and rid:
        ex.medications[rid] = r


def med_order(ex: Extraction, r: dict[str, Any]) -> None:
    """A MedicationRequest, -Statement or -Administration: classified after the pass (see finish)."""
    ex.pending_meds.append(r)


def resolve_medication(ex: Extraction, r: dict[str, Any], extra: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The medication CodeableConcept of an order: inline, contained, in the record or in the drafts."""
    inline = r.get("medicationCodeableConcept")
    if isinstance(inline, dict):
        return inline
    reference = r.get("medicationReference")
    if not isinstance(reference, dict):
        return None
    ref = string(reference.get("reference"))
    med: dict[str, Any] | None = None
    if ref.startswith("#"):
        wanted = ref[1:]
        med = next((c for c in dicts(r.get("contained")) if c.get("id") == wanted), None)
    elif ref:
        rid = ref_id(ref)
        med = extra.get(rid) or ex.medications.get(rid)
    if med is not None and isinstance(med.get("code"), dict):
        return dict(med["code"])
    display = string(reference.get("display"))
    # A reference with only a display still names the drug in words.
    return {"text": display} if display else None


def classify_medication(
    ex: Extraction, concept: dict[str, Any] | None
) -> tuple[frozenset[str], frozenset[str], str, bool]:
    """(classes, ingredient names, display, classes came from the text only) of a medication concept."""
    if concept is None:
        return frozenset(), frozenset(), "", False
    codings = codings_of(concept)  # once: both loops below read them
    coded = ex.classify_codings(codings)
    classes = set(coded)
    ingredients: set[str] = set()
    for coding in codings:
        name = ex.names.ingredient_of_code.get((string(coding.get("system")), string(coding.get("code"))))
        if name:
            ingredients.add(name)
    text = all_text(concept)
    if ex.names.pattern is not None and text:
        searched = textfind.fold(text) if ex.names.folded else text
        for m in ex.names.pattern.finditer(searched):
            name = text[m.start(1) : m.end(1)].lower()  # as written: fold() is not lower()
            name = NAME_SYNONYMS.get(name, name)
            ingredients.add(name)
            classes |= ex.names.classes.get(name, frozenset())
    return frozenset(classes), frozenset(ingredients), concept_text(concept), bool(classes) and not coded


def medication_order(ex: Extraction, r: dict[str, Any], extra: dict[str, dict[str, Any]]) -> None:
    """One medication order, statement or administration, classified into a Med."""
    kind = string(r.get("resourceType"))
    status = string(r.get("status")).lower()
    if status in MED_NOT_GIVEN.get(kind, frozenset()):
        return
    active = status in MED_ACTIVE.get(kind, frozenset())
    concept = resolve_medication(ex, r, extra)
    classes, ingredients, display, by_text = classify_medication(ex, concept)
    start = _med_start(r)
    course_days: int | None = None
    if status in MED_FINISHED.get(kind, frozenset()):
        end = _med_end(r)
        if start is not None and end is not None and end >= start:
            course_days = (end - start).days
    route_text = " ".join(all_text(d.get("route")) for d in dicts(r.get("dosageInstruction")))
    route_text += " " + all_text(as_dict(r.get("dosage")).get("route"))
    resolved = bool(display or classes)
    label = display or "unidentified medication"
    src = Source(
        ref_of(r),
        short(f"{label} ({status or 'no status'})"),
        start,
        via="medication text" if by_text else "",
    )
    ex.meds.append(
        Med(
            source=src,
            classes=classes,
            ingredients=ingredients,
            active=active,
            given=True,
            start=start,
            route=textfind.fold(route_text),
            drug=textfind.fold(display),
            resolved=resolved,
            course_days=course_days,
        )
    )


def medication_features(ex: Extraction) -> dict[str, Any]:
    """Treatment history (clinical-rules §1.7) from orders, statements, administrations and Z79 codes."""
    out: dict[str, Any] = {}
    meds = ex.meds
    unresolved = [m for m in meds if not m.resolved]
    if unresolved:
        out["unresolved_medications"] = Fact(len(unresolved), tuple(m.source for m in unresolved))
    elif ex.pending_meds:
        out["unresolved_medications"] = Fact(0)
    # With an unidentified active drug we cannot say "not on an NSAID"; without any med data neither.
    seen = bool(ex.pending_meds)  # medication resources were supplied (even if all were excluded)
    can_deny_active = seen and not any(not m.resolved and m.active for m in meds)
    can_deny_given = seen and not unresolved

    def matching(classes: frozenset[str], *, active: bool, systemic: bool = False) -> list[Med]:
        return [
            m
            for m in meds
            if m.classes & classes and (m.active if active else m.given) and (m.systemic or not systemic)
        ]

    def fact(feature: str, found: list[Med], can_deny: bool) -> Fact[bool]:
        coded = ex.acc.true.get(feature, [])
        if found or coded:
            sources = tuple(m.source for m in found) + tuple(coded)
            return Fact(True, sources, newest(list(sources)))
        return FALSE if can_deny else UNKNOWN

    def duration(found: list[Med], start_feature: str | None, days_feature: str) -> None:
        starts = [(m.start, m.source) for m in found if m.start is not None]
        if not starts:
            return
        start, src = min(starts, key=lambda x: x[0])
        if start_feature is not None:
            out[start_feature] = Fact(start, (src,), start)
        out[days_feature] = Fact(max(0, (ex.today - start).days), (src,), start)

    nsaid = matching(NSAID_SETS, active=True)
    out["nsaid_active"] = fact("nsaid_active", nsaid, can_deny_active)
    duration(nsaid, "nsaid_start_date", "nsaid_days")
    if nsaid:
        nsaid_names = frozenset(
            n for m in nsaid for n in m.ingredients if ex.names.classes.get(n, frozenset()) & NSAID_SETS
        )
        out["nsaid_active_ingredients"] = Fact(nsaid_names, tuple(m.source for m in nsaid))
    elif out["nsaid_active"].value is False:
        out["nsaid_active_ingredients"] = Fact(frozenset())
    # First-line history (clinical-rules §1.7): the longest finished NSAID course; whether it was long enough
    # is policy (nsaid.trial_min_days), judged in predicates.
    courses = [m for m in matching(NSAID_SETS, active=False) if m.course_days is not None]
    if courses:
        longest = max(courses, key=lambda m: m.course_days or 0)
        out["nsaid_course_days"] = Fact(longest.course_days, (longest.source,), longest.start)
    elif can_deny_given:
        out["nsaid_course_days"] = Fact(0)
    for feature, classes, active in MEDICATION_FLAGS:
        out[feature] = fact(feature, matching(classes, active=active), can_deny_active if active else can_deny_given)
    opioid = matching(OPIOID_SETS, active=True)
    out["opioid_active"] = fact("opioid_active", opioid, can_deny_active)
    duration(opioid, None, "opioid_days")
    parenteral = [m for m in opioid if m.parenteral]
    if parenteral:
        out["parenteral_opioid"] = Fact(True, tuple(m.source for m in parenteral))
    elif opioid or can_deny_active:
        out["parenteral_opioid"] = FALSE
    steroid = matching(GC_SETS, active=True, systemic=True)
    out["systemic_glucocorticoid_active"] = fact("systemic_glucocorticoid_active", steroid, can_deny_active)
    duration(steroid, None, "glucocorticoid_days")
    out["anticoagulant_active"] = fact(
        "anticoagulant_active", matching(ANTICOAGULANT_SETS, active=True), can_deny_active
    )
    out["antiplatelet_active"] = ex.acc.flag("antiplatelet_active")
    tnfi = out["tnfi_active"]
    conventional = matching(DMARD_SETS, active=True)
    dmard = ex.acc.true.get("dmard_active", [])  # Z79.6- long-term biologic/immunomodulator codes
    if dmard or tnfi.true or conventional:
        sources = tuple(m.source for m in conventional) + tuple(dmard) + (tnfi.sources if tnfi.true else ())
        out["dmard_active"] = Fact(True, sources, newest(list(sources)))
    elif can_deny_active and tnfi.value is False and not any(
        m.active and UNCODED_DMARDS.search(m.drug) for m in meds
    ):
        out["dmard_active"] = FALSE
    return out


def _med_end(r: dict[str, Any]) -> date | None:
    """When a finished course ended: dosage bounds end, else the effective period's end."""
    for dosage in dicts(r.get("dosageInstruction")) + dicts(r.get("dosage")):
        end = period_end(as_dict(as_dict(dosage.get("timing")).get("repeat")).get("boundsPeriod"))
        if end is not None:
            return end
    return period_end(r.get("effectivePeriod"))


def _med_start(r: dict[str, Any]) -> date | None:
    """When the drug started: dosage bounds start, else dispense validity start, else authoredOn/effective."""
    for dosage in dicts(r.get("dosageInstruction")) + dicts(r.get("dosage")):
        start = period_start(as_dict(as_dict(dosage.get("timing")).get("repeat")).get("boundsPeriod"))
        if start is not None:
            return start
    validity = period_start(as_dict(r.get("dispenseRequest")).get("validityPeriod"))
    if validity is not None:
        return validity
    return (
        parse_date(r.get("authoredOn"))
        or parse_date(r.get("effectiveDateTime"))
        or period_start(r.get("effectivePeriod"))
        or parse_date(r.get("dateAsserted"))
    )
