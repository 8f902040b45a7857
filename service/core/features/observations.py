"""Observations: labs in their declared unit, pain scores, temperature and the project-local findings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from service.core import textfind
from service.core.facts import Fact
from service.core.facts import Source
from service.core.features.codes import EXCLUDED_STATUS
from service.core.features.codes import HIGH_INTERPRETATION
from service.core.features.codes import LAB_SETS
from service.core.features.codes import LOCAL_ABSENT
from service.core.features.codes import LOCAL_BME
from service.core.features.codes import LOCAL_BME_EXTENT
from service.core.features.codes import LOCAL_CODES
from service.core.features.codes import LOCAL_FLAGS
from service.core.features.codes import LOCAL_HEIGHT_LOSS_PCT
from service.core.features.codes import LOCAL_KYPHOSIS_PCT
from service.core.features.codes import LOCAL_PRESENT
from service.core.features.codes import LOCAL_RAMRIS_BME
from service.core.features.codes import LOCAL_SYSTEM
from service.core.features.codes import LOW_INTERPRETATION
from service.core.features.codes import NORMAL_INTERPRETATION
from service.core.features.codes import UNITS
from service.core.features.contract import EXTENT_EXTENSIVE
from service.core.features.contract import EXTENT_LIMITED
from service.core.features.contract import SPECS
from service.core.features.fhirjson import all_text
from service.core.features.fhirjson import as_dict
from service.core.features.fhirjson import as_number
from service.core.features.fhirjson import codings_of
from service.core.features.fhirjson import dicts
from service.core.features.fhirjson import effective_date
from service.core.features.fhirjson import ref_of
from service.core.features.fhirjson import short
from service.core.features.fhirjson import string
from service.core.features.fhirjson import unit_key
from service.core.features.reports import report_text
from service.core.features.state import UNKNOWN
from service.core.features.state import Extraction
from service.core.features.state import Lab
from service.core.features.state import later
from service.core.valuesets import VS


def observation(ex: Extraction, r: dict[str, Any]) -> None:
    """An Observation: a lab, a pain score, a temperature, a local finding or free text."""
    status = r.get("status")
    if isinstance(status, str) and status.lower() in EXCLUDED_STATUS:
        return
    when = effective_date(r)
    codings = codings_of(r.get("code"))
    for c in codings:
        if c.get("system") == LOCAL_SYSTEM:
            local_observation(ex, r, string(c.get("code")), when)
            break
    names = ex.classify_codings(codings)
    # Hot path (labs dominate prefetch): look at the few sets this code is in, not at every lab set.
    for name in names:
        feature = LAB_SETS.get(name)
        if feature is not None:
            current = ex.labs.get(feature)
            if current is None or later(when, current.when):
                ex.labs[feature] = Lab(when, r)
        elif name == VS.OBS_PAIN_NRS and when is not None:
            score = _pain_score(r)
            if score is not None:
                ex.pain.append((when, score, Source(ref_of(r), f"Pain NRS {score}/10", when)))
        elif name == VS.OBS_BODY_TEMPERATURE:
            if ex.temperature is None or later(when, ex.temperature.when):
                ex.temperature = Lab(when, r)
    # Free text on any Observation may carry an imaging finding (valueString, note).
    value_string = r.get("valueString")
    notes = r.get("note")
    if value_string or notes:
        texts = [string(value_string)] + [string(n.get("text")) for n in dicts(notes)]
        text = "\n".join(t for t in texts if t)
        if text:
            report_text(ex, r, text, when, region_sites=())


def local_observation(ex: Extraction, r: dict[str, Any], code: str, when: date | None) -> None:
    """Clinician input and structured imaging findings in the project-local code system."""
    src_ref = ref_of(r)
    flag = _obs_bool(r)
    if code == LOCAL_BME:
        if flag is None:
            return
        src = Source(src_ref, f"BME observation: {'present' if flag else 'absent'}", when)
        if flag:
            ex.acc.yes("bme_present", src)
            if when is not None:
                ex.bme_dates.append(when)
            for site in textfind.sites_in(all_text(r.get("bodySite"))):
                ex.sites.setdefault(site, []).append(src)
        else:
            ex.acc.no("bme_present", src)
    elif code == LOCAL_BME_EXTENT:
        value = _local_value_code(r)
        if value in (EXTENT_LIMITED, EXTENT_EXTENSIVE):
            ex.extent.setdefault(value, []).append(Source(src_ref, f"BME extent: {value}", when))
    elif code in (LOCAL_KYPHOSIS_PCT, LOCAL_HEIGHT_LOSS_PCT, LOCAL_RAMRIS_BME):
        number = _obs_number(r)
        if number is None:
            return
        feature = {
            LOCAL_KYPHOSIS_PCT: "kyphosis_pct",
            LOCAL_HEIGHT_LOSS_PCT: "height_loss_pct",
            LOCAL_RAMRIS_BME: "ramris_bme_score",
        }[code]
        label = {
            "kyphosis_pct": "Kyphosis {:g}%",
            "height_loss_pct": "Height loss {:g}%",
            "ramris_bme_score": "RAMRIS BME score {:g}",
        }[feature]
        ex.put_newest(feature, when, number, Source(src_ref, label.format(number), when))
    elif code in LOCAL_FLAGS and flag is not None:
        feature = LOCAL_FLAGS[code]
        src = Source(src_ref, short(f"{LOCAL_CODES[code].split(';')[0]}: {'yes' if flag else 'no'}"), when)
        if flag:
            ex.acc.yes(feature, src)
        else:
            ex.acc.no(feature, src)


def lab_features(ex: Extraction, so_far: Mapping[str, Any]) -> dict[str, Any]:
    """Newest value of each lab in the feature's unit; unknown unit means unknown value (§1.8)."""
    out: dict[str, Any] = {}
    for feature, lab in ex.labs.items():
        out[feature] = _lab_fact(feature, lab)
    calcium_low = ex.acc.flag("calcium_low")  # from a hypocalcemia Condition
    calcium_lab = ex.labs.get("calcium")
    lab_low = _calcium_low(calcium_lab) if calcium_lab is not None else UNKNOWN
    if calcium_low.true or lab_low.true:
        out["calcium_low"] = Fact(True, calcium_low.sources + lab_low.sources)
    else:
        out["calcium_low"] = lab_low
    coded = so_far.get("hypocalcemia", UNKNOWN)
    hypo = ex.acc.flag("hypocalcemia")
    if hypo.true or lab_low.true:
        out["hypocalcemia"] = Fact(True, hypo.sources + lab_low.sources)
    elif lab_low.value is False and "Condition" in ex.acc.seen_types and VS.HYPOCALCEMIA in ex.loaded:
        out["hypocalcemia"] = Fact(False, lab_low.sources, lab_low.as_of)
    else:
        out["hypocalcemia"] = coded if coded.known else UNKNOWN
    if not ex.acc.flag("fever").true and ex.temperature is not None:
        flags = _interpretations(ex.temperature.resource)
        if flags & HIGH_INTERPRETATION:
            r = ex.temperature.resource
            out["fever"] = Fact(
                True,
                (Source(ref_of(r), "Body temperature flagged high", ex.temperature.when),),
                ex.temperature.when,
            )
    return out


def _pain_score(r: dict[str, Any]) -> int | None:
    """A 0-10 NRS score from valueQuantity or valueInteger; anything else is not a score."""
    value = as_number(r.get("valueInteger"))
    if value is None:
        value = as_number(as_dict(r.get("valueQuantity")).get("value"))
    if value is None or not 0 <= value <= 10:
        return None
    return int(round(value))


def _obs_bool(r: dict[str, Any]) -> bool | None:
    """valueBoolean, or valueCodeableConcept with local code present/absent."""
    value = r.get("valueBoolean")
    if isinstance(value, bool):
        return value
    code = _local_value_code(r)
    if code == LOCAL_PRESENT:
        return True
    if code == LOCAL_ABSENT:
        return False
    return None


def _local_value_code(r: dict[str, Any]) -> str:
    """The local-system code in valueCodeableConcept, or ''."""
    for coding in codings_of(r.get("valueCodeableConcept")):
        if coding.get("system") == LOCAL_SYSTEM:
            return string(coding.get("code"))
    return ""


def _obs_number(r: dict[str, Any]) -> float | None:
    """valueQuantity.value or valueInteger as a float."""
    value = as_number(as_dict(r.get("valueQuantity")).get("value"))
    return value if value is not None else as_number(r.get("valueInteger"))


def _interpretations(r: dict[str, Any]) -> frozenset[str]:
    """Interpretation codes (v3 ObservationInterpretation: L, LL, H, N ...) upper-cased."""
    return frozenset(string(c.get("code")).upper() for i in dicts(r.get("interpretation")) for c in codings_of(i))


def _lab_fact(feature: str, lab: Lab) -> Fact[float]:
    """The newest lab as a Fact in the feature's unit; an unrecognised unit gives an unknown value."""
    r = lab.resource
    ref = ref_of(r)
    quantity = as_dict(r.get("valueQuantity"))
    value = as_number(quantity.get("value"))
    unit = string(quantity.get("code")) or string(quantity.get("unit"))
    name = SPECS[feature].label
    if value is None:
        return Fact(None, (Source(ref, f"{name}: no numeric value", lab.when),), lab.when)
    factor = UNITS[feature].get(unit_key(unit))
    if factor is None:
        return Fact(
            None,
            (
                Source(
                    ref,
                    short(f"{name} {value:g} {unit or '(no unit)'}: unit not recognised, value not used"),
                    lab.when,
                ),
            ),
            lab.when,
        )
    converted = round(value * factor, 2)
    comparator = string(quantity.get("comparator"))
    shown = f"{name} {comparator}{converted:g} {SPECS[feature].unit}"
    if factor != 1.0:
        shown += f" (reported {comparator}{value:g} {unit})"
    return Fact(converted, (Source(ref, short(shown), lab.when),), lab.when)


def _calcium_low(lab: Lab) -> Fact[bool]:
    """Low calcium from the lab's own flag (L/LL) or its reference range; no threshold is invented."""
    r = lab.resource
    flags = _interpretations(r)
    ref = ref_of(r)
    if flags & LOW_INTERPRETATION:
        return Fact(True, (Source(ref, "Calcium flagged low by the lab", lab.when),), lab.when)
    value = as_number(as_dict(r.get("valueQuantity")).get("value"))
    for rng in dicts(r.get("referenceRange")):
        low = as_dict(rng.get("low"))
        low_value = as_number(low.get("value"))
        if value is None or low_value is None:
            continue
        unit = unit_key(
            string(as_dict(r.get("valueQuantity")).get("code")) or string(as_dict(r.get("valueQuantity")).get("unit"))
        )
        low_unit = unit_key(string(low.get("code")) or string(low.get("unit"))) or unit
        if low_unit != unit:
            continue  # ranges in another unit are not compared (no silent conversion)
        below = value < low_value
        text = f"Calcium {value:g} {'below' if below else 'within'} lab range (low {low_value:g})"
        return Fact(below, (Source(ref, text, lab.when),), lab.when)
    if flags & (HIGH_INTERPRETATION | NORMAL_INTERPRETATION):
        return Fact(False, (Source(ref, "Calcium not flagged low by the lab", lab.when),), lab.when)
    return UNKNOWN
