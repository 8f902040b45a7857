"""The SMART app's page model: banner, features with their sources, recommendations with their checks.

Pure module (no flask, no requests): it only rearranges what features.extract and rules.evaluate produced,
so the app shows exactly what the cards are based on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from service.core.facts import Fact
from service.core.facts import Source
from service.core.features import SPECS
from service.core.features import Features
from service.core.features.codes import EXCLUDED_STATUS
from service.core.features.fhirjson import as_dict
from service.core.features.fhirjson import as_number
from service.core.features.fhirjson import codings_of
from service.core.features.fhirjson import concept_text
from service.core.features.fhirjson import dicts
from service.core.features.fhirjson import effective_date
from service.core.features.fhirjson import ref_of
from service.core.features.fhirjson import short
from service.core.features.fhirjson import string
from service.core.findings import Finding
from service.core.valuesets import ValueSetIndex
from service.core.vocabulary import LABORATORY
from service.core.vocabulary import OBSERVATION_CATEGORY

# Gate texts that mean a suggestion was taken away or flagged (service/core/gates.py wording).
_FAILED = re.compile(r"^(Withheld|Removed):|suggestion (withheld|removed)|\bfailed\b")
_CAUTION = re.compile(r"\bcaution:|No safety check in the catalogue|suggestion kept")
_PASSED = re.compile(r"\bpassed\b")
_SEED = re.compile(r"^[0-9]{3}_[0-9a-f]{16}\.txt$")
# Beside a diagnosis whose declaration names a lab (FeatureSpec.lab): the result is shown, not interpreted.
NOT_ON_RECORD = "none on record"
LAB_NOT_READ = "The rules read the coded diagnosis, not this {lab} result."


@dataclass(frozen=True)
class Banner:
    """Who the patient is (SMART need_patient_banner)."""

    name: str
    birth_date: str
    sex: str
    identifier: str
    reference: str


@dataclass(frozen=True)
class FeatureRow:
    """One known feature: value in words and the resources it came from."""

    name: str
    label: str
    value: str
    sources: tuple[Source, ...]
    note: str = ""  # one line under the value (a diagnosis shown with a lab the rules do not read for it)


@dataclass(frozen=True)
class FeatureGroup:
    """Features of one catalogue section: those with a value, and those the record has nothing for."""

    title: str
    rows: tuple[FeatureRow, ...]
    not_on_record: tuple[str, ...] = ()  # searched, nothing matched: the feature counts as "no"

    @property
    def on_record(self) -> int:
        """Rows with a value on record (a diagnosis row shown only for its lab says "none on record")."""
        return sum(row.value != NOT_ON_RECORD for row in self.rows)


@dataclass(frozen=True)
class Check:
    """A safety-check or note line of a recommendation, classified for display."""

    text: str
    outcome: str  # "failed" | "caution" | "passed" | "note"


@dataclass(frozen=True)
class Recommendation:
    """A finding as the app shows it."""

    finding: Finding
    checks: tuple[Check, ...]
    from_card: bool  # the card the clinician clicked to open the app


def value_text(name: str, value: Any) -> str:
    """A feature value in words, with the unit its declaration names."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, frozenset | set | tuple | list):
        return ", ".join(sorted(str(v).replace("_", " ") for v in value)) or "none"
    text = f"{value:g}" if isinstance(value, float) else str(value).replace("_", " ")
    unit = SPECS[name].unit if name in SPECS else ""
    if not unit:
        return text
    return f"{text}{unit}" if unit == "/10" else f"{text} {unit}"


def feature_groups(features: Features) -> tuple[tuple[FeatureGroup, ...], tuple[str, ...]]:
    """(groups of known features in catalogue order, labels of the features the record said nothing about)."""
    groups: list[FeatureGroup] = []
    unknown: list[str] = []
    title = ""
    rows: list[FeatureRow] = []
    absent: list[str] = []

    def close() -> None:
        if rows or absent:
            groups.append(FeatureGroup(title, tuple(rows), tuple(absent)))

    for spec in SPECS.values():  # in field order, so each group's features are together
        if spec.group != title:
            close()
            title, rows, absent = spec.group, [], []
        fact: Fact[Any] = getattr(features, spec.name)
        lab: Fact[Any] | None = getattr(features, spec.lab) if spec.lab else None
        if fact.value is None:
            unknown.append(spec.label)
        elif lab is not None and lab.value is not None:
            rows.append(_with_lab(spec.name, fact, lab, SPECS[spec.lab].label))
        elif fact.value is False and not fact.sources:
            # A plain "no" with nothing behind it: the data was searched and nothing matched.
            absent.append(spec.label)
        else:
            rows.append(FeatureRow(spec.name, spec.label, value_text(spec.name, fact.value), fact.sources))
    close()
    return tuple(groups), tuple(unknown)


def _with_lab(name: str, diagnosis: Fact[Any], lab: Fact[Any], lab_label: str) -> FeatureRow:
    """A diagnosis row that also cites the lab result on record, so "no diagnosis" never reads as "no lab"."""
    value = NOT_ON_RECORD if diagnosis.value is False and not diagnosis.sources else value_text(name, diagnosis.value)
    return FeatureRow(
        name, SPECS[name].label, value, (*diagnosis.sources, *lab.sources), LAB_NOT_READ.format(lab=lab_label)
    )


@dataclass(frozen=True)
class OtherLab:
    """A lab result on record that no feature reads: shown as recorded, never interpreted."""

    display: str
    value: str
    when: date | None
    code: str  # "system code" of its first coding
    reference: str


def other_labs(
    found: Sequence[Mapping[str, Any]], read: Sequence[Mapping[str, Any]], valuesets: ValueSetIndex
) -> tuple[OtherLab, ...]:
    """The newest result per code of the lab Observations in `found` that the features did not read.

    Dropped: anything already in `read` (the prefetch), any Observation with a code in one of our value sets,
    non-lab Observations and entered-in-error or cancelled ones (the features skip those too).
    """
    already = {ref_of(dict(r)) for r in read} - {""}
    newest: dict[tuple[str, str], OtherLab] = {}
    for resource in found:
        r = dict(resource)
        if r.get("resourceType") != "Observation" or ref_of(r) in already:
            continue
        if string(r.get("status")).lower() in EXCLUDED_STATUS or not _is_lab(r):
            continue
        codings = codings_of(r.get("code"))
        if any(valuesets.names_for(string(c.get("system")), string(c.get("code"))) for c in codings):
            continue
        coded = [(string(c.get("system")), string(c.get("code"))) for c in codings if string(c.get("code"))]
        display = short(concept_text(r.get("code"))) or "Unnamed result"
        key = coded[0] if coded else ("", display)
        lab = OtherLab(display, _result_text(r), effective_date(r), " ".join(key).strip(), ref_of(r))
        current = newest.get(key)
        if current is None or (lab.when is not None and (current.when is None or lab.when > current.when)):
            newest[key] = lab
    return tuple(sorted(newest.values(), key=lambda lab: (-(lab.when or date.min).toordinal(), lab.display)))


def _is_lab(r: Mapping[str, Any]) -> bool:
    return any(string(c.get("code")) == LABORATORY and string(c.get("system")) in ("", OBSERVATION_CATEGORY)
               for cat in dicts(r.get("category")) for c in codings_of(cat))


def _result_text(r: Mapping[str, Any]) -> str:
    """The recorded value with its unit, as stated (a quantity, number, code or text); "no value" otherwise."""
    quantity = as_dict(r.get("valueQuantity"))
    number = as_number(quantity.get("value"))
    if number is not None:
        unit = string(quantity.get("unit")) or string(quantity.get("code"))
        return f"{string(quantity.get('comparator'))}{value_text('', number)} {unit}".strip()
    for key in ("valueInteger", "valueString", "valueBoolean"):
        if isinstance(r.get(key), int | float | str):
            return short(value_text("", r[key]))
    coded = concept_text(r.get("valueCodeableConcept"))
    return short(coded) if coded else "no value"


def classify(note: str) -> Check:
    """Mark a note as a failed check, a caution, a passed check, or a plain note (explanations)."""
    if _FAILED.search(note):
        return Check(note, "failed")
    if _CAUTION.search(note):
        return Check(note, "caution")
    if _PASSED.search(note):
        return Check(note, "passed")
    return Check(note, "note")


def recommendations(findings: Sequence[Finding], card_rule: str) -> tuple[Recommendation, ...]:
    """Findings in the cards' order (critical first), each with its classified checks."""
    order = {"critical": 0, "warning": 1, "info": 2}
    ranked = sorted(findings, key=lambda f: (order.get(f.indicator, 3), f.rule_id))
    return tuple(
        Recommendation(f, tuple(classify(n) for n in f.notes), f.rule_id == card_rule) for f in ranked
    )


def seed_anchor(source: str) -> str:
    """The About page anchor of a seed file, or "" for an evidence source that is not a seed."""
    return f"seed-{source[:3]}" if _SEED.match(source) else ""


def banner(patient: Mapping[str, Any] | None, reference: str) -> Banner:
    """Name, birth date, administrative sex and first identifier, as the Patient resource states them."""
    if not isinstance(patient, Mapping):
        return Banner("Name not available", "unknown", "unknown", "", reference)
    return Banner(
        name=_name(patient.get("name")),
        birth_date=str(patient.get("birthDate") or "unknown"),
        sex=str(patient.get("gender") or "unknown"),
        identifier=_identifier(patient.get("identifier")),
        reference=reference,
    )


def _name(names: Any) -> str:
    if not isinstance(names, list):
        return "Name not available"
    ranked = sorted((n for n in names if isinstance(n, dict)), key=lambda n: n.get("use") != "official")
    for name in ranked:
        if isinstance(name.get("text"), str) and name["text"].strip():
            return str(name["text"]).strip()
        given = " ".join(g for g in name.get("given") or () if isinstance(g, str))
        family = name.get("family") if isinstance(name.get("family"), str) else ""
        text = f"{given} {family}".strip()
        if text:
            return text
    return "Name not available"


def _identifier(identifiers: Any) -> str:
    for identifier in identifiers or ():
        if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
            kind = (
                identifier.get("type", {}).get("text") if isinstance(identifier.get("type"), dict) else None
            )
            return f"{kind or 'ID'} {identifier['value']}"
    return ""


def find_patient(resources: Sequence[Mapping[str, Any]], patient_id: str) -> Mapping[str, Any] | None:
    """The launch patient's Patient resource among the fetched resources."""
    for resource in resources:
        if resource.get("resourceType") == "Patient" and resource.get("id") == patient_id:
            return resource
    return None
