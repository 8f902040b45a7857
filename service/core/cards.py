"""Render Findings as CDS Hooks 2.0 cards, with draft FHIR R4B resources in the suggestions.

Owns the card shape: summary, indicator, detail (plain GitHub Markdown showing the basis), source with a
stable topic per rule, suggestions with validated draft MedicationRequest/ServiceRequest/DeviceRequest
resources, override reasons and the SMART app link. Never emits an empty string, array or object, nor null.
Pure module: no flask, no requests; the uuid factory is passed in. fhir.resources models are built only for
the few draft resources we emit, never for request data.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import replace
from typing import Any
from typing import Final

from fhir.resources.R4B.devicerequest import DeviceRequest
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from service.core.facts import Source
from service.core.findings import INDICATOR_ORDER
from service.core.findings import Evidence
from service.core.findings import Finding
from service.core.findings import SuggestionSpec

# CDS Hooks 2.0 Card: "One-sentence, <140-character summary"; Inferno rejects length >= 140.
MAX_SUMMARY: Final = 139
OVERRIDE_REASON_SYSTEM: Final = "https://bme-cds.example.org/fhir/CodeSystem/override-reason"
# Project-local codes: the CDS Hooks 2.0 spec defines none, and no published code system could be confirmed.
OVERRIDE_REASONS: Final[tuple[tuple[str, str], ...]] = (
    ("not-applicable", "Not applicable to this patient"),
    ("already-addressed", "Already addressed"),
    ("patient-declined", "Patient declined"),
    ("clinical-judgement", "Clinical judgement"),
)
SMART_LINK_LABEL: Final = "Open the BME pathway app (basis, data, follow-up)"
FOOTER: Final = "Decision support only: review the basis and decide with the patient."
NO_DOSE: Final = "The seeds give no dose"

# Characters that Markdown (GFM) would interpret, and HTML-special characters: patient data and rule text are
# escaped so that a value such as "<script>" or "*L1*" is shown literally and cannot inject markup.
_MD_SPECIAL: Final = re.compile(r"([\\`*_{}\[\]#|~])")
_RULE_ID: Final = re.compile(r"^([A-Za-z]*)(\d*)(.*)$")
_RELATIVE_REFERENCE: Final = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")
_SAFE_URL: Final = re.compile(r"^https?://[^\s()<>\[\]]+$")


# Speed: most input is fixed rule and seed text; escaping each once cuts evaluate+cards by ~40% (measured).
@functools.lru_cache(maxsize=4096)
def escape(text: str) -> str:
    """Escape Markdown and HTML-special characters, and fold line breaks, so text shows literally."""
    text = " ".join(text.split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


@dataclass(frozen=True)
class _Options:
    """Per-response rendering settings."""

    uuid_factory: Callable[[], str]
    source_label: str
    topic_system: str
    patient_id: str
    smart_launch_url: str | None
    seed_url_base: str | None
    strict: bool


def render(
    findings: Iterable[Finding],
    *,
    uuid_factory: Callable[[], str],
    source_label: str,
    topic_system: str,
    patient_id: str,
    smart_launch_url: str | None = None,
    seed_url_base: str | None = None,
    strict: bool = True,
) -> list[dict[str, Any]]:
    """Render findings as CDS Hooks cards: critical, warning, info, then by rule id.

    A finding that breaks the card contract (summary length, two recommended suggestions on an at-most-one
    card, a delete without a relative reference, an empty label) is a rule bug. With `strict` (tests, dev)
    it raises ValueError; without it (production) the card is repaired conservatively: the summary is
    shortened, only the first suggestion stays recommended, a malformed suggestion is dropped.

    :raises ValueError: in strict mode, on a rule bug; always, on empty settings.
    """
    if not source_label or not topic_system or not patient_id:
        raise ValueError("source_label, topic_system and patient_id must be non-empty")
    options = _Options(
        uuid_factory, source_label, topic_system, patient_id, smart_launch_url, seed_url_base, strict
    )
    # A contraindication (a drug not to be given) leads the cards of its indicator (issue 12, gates12 hook).
    ordered = sorted(
        findings, key=lambda f: (INDICATOR_ORDER[f.indicator], not f.contraindication, _rule_key(f.rule_id))
    )
    return [_card(f, options) for f in ordered]


@functools.lru_cache(maxsize=1024)  # a few dozen rule and gate ids: parse each once per process
def _rule_key(rule_id: str) -> tuple[str, int, str]:
    """Natural order: R2 before R10, R26a before R26b."""
    match = _RULE_ID.match(rule_id)
    if match is None:  # the pattern matches every string; kept for the type checker
        return (rule_id, 0, "")
    prefix, number, rest = match.groups()
    return (prefix, int(number) if number else 0, rest)


def _rule_bug(options: _Options, message: str) -> None:
    if options.strict:
        raise ValueError(message)


def _summary(finding: Finding, options: _Options) -> str:
    summary = " ".join(finding.summary.split())
    if summary and len(summary) <= MAX_SUMMARY:
        return summary
    _rule_bug(options, f"{finding.rule_id}: summary must be 1-{MAX_SUMMARY} characters, got {len(summary)}")
    if not summary:
        return finding.title or finding.rule_id
    return summary[: MAX_SUMMARY - 3].rsplit(" ", 1)[0].rstrip(",;:") + "..."


def _card(finding: Finding, options: _Options) -> dict[str, Any]:
    topic = {"system": options.topic_system, "code": finding.rule_id}
    if finding.title:
        topic["display"] = finding.title
    card: dict[str, Any] = {
        "uuid": options.uuid_factory(),
        "summary": _summary(finding, options),
        "indicator": finding.indicator,
        "detail": detail(finding, options.seed_url_base),
        "source": {"label": options.source_label, "topic": topic},
    }
    if finding.carried_ids:  # a combined safety card: every gate id it reports (gates12 hook)
        card["extension"] = {"bme-cds-rules": [finding.rule_id, *finding.carried_ids]}
    suggestions = _suggestions(finding, options)
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = finding.selection_behavior or "at-most-one"
    card["overrideReasons"] = [
        {"system": OVERRIDE_REASON_SYSTEM, "code": code, "display": display}
        for code, display in OVERRIDE_REASONS
    ]
    if finding.smart_link and options.smart_launch_url:
        card["links"] = [
            {
                "label": SMART_LINK_LABEL,
                "url": options.smart_launch_url,
                "type": "smart",
                # Opaque and free of patient data (ehr-and-smart.md §4.5): the app re-derives the rest.
                "appContext": json.dumps({"rule": finding.rule_id}, separators=(",", ":")),
            }
        ]
    return card


def _suggestions(finding: Finding, options: _Options) -> list[dict[str, Any]]:
    behavior = finding.selection_behavior or "at-most-one"
    recommended = sum(1 for s in finding.suggestions if s.is_recommended)
    if behavior == "at-most-one" and recommended > 1:
        # CDS Hooks 3.0 invariant cds-resp-1; a client may pre-select every recommended suggestion.
        _rule_bug(options, f"{finding.rule_id}: at-most-one card recommends {recommended} suggestions")
    out: list[dict[str, Any]] = []
    seen_recommended = False
    for spec in finding.suggestions:
        if not spec.label.strip():
            _rule_bug(options, f"{finding.rule_id}: a suggestion has an empty label")
            continue
        if spec.action == "delete" and not _RELATIVE_REFERENCE.match(spec.delete_reference or ""):
            _rule_bug(
                options,
                f"{finding.rule_id}: delete suggestion needs a relative reference, "
                f"got {spec.delete_reference!r}",
            )
            continue
        if behavior == "at-most-one" and spec.is_recommended and seen_recommended:
            spec = replace(spec, is_recommended=None)
        try:
            rendered = _suggestion(spec, options.uuid_factory, options.patient_id)
        except ValueError as exc:  # pydantic's ValidationError: the draft resource is not valid FHIR R4B
            _rule_bug(options, f"{finding.rule_id}: suggestion {spec.label!r} is not a valid draft: {exc}")
            continue
        seen_recommended = seen_recommended or bool(spec.is_recommended)
        out.append(rendered)
    return out


def detail(finding: Finding, seed_url_base: str | None = None) -> str:
    """The card detail in plain GitHub Markdown: option, data used, missing, rule, evidence, safety checks."""
    lines: list[str] = [f"**Option:** {escape(finding.recommendation)}", "", "**Patient data used**"]
    lines += [f"- {_source_line(s)}" for s in finding.data_used] or ["- none recorded"]
    lines += ["", "**Missing or stale**"]
    unchecked = False
    for note in finding.notes:  # a loop, not any() over a generator: detail() runs for every card
        if "not checked" in note or note.startswith("Withheld"):
            unchecked = True
            break
    lines += [f"- {escape(m)}" for m in finding.missing] or [
        "- nothing the rule itself needs"
        + ("; see below for what the safety checks could not check" if unchecked else "")
    ]
    lines += ["", f"**Rule** ({escape(finding.rule_id)}): {escape(finding.rule_text)}", "", "**Evidence**"]
    lines += _evidence_lines(finding.evidence, seed_url_base)
    lines += ["", "**Notes and safety checks**"]  # rule notes and the gates' passed/not-checked lines
    lines += [f"- {escape(n)}" for n in finding.notes] or ["- none applied"]
    lines += ["", FOOTER]
    return "\n".join(lines)


def _source_line(source: Source) -> str:
    what = escape(source.display) or "(no description)"
    where = [source.date.isoformat() if source.date else "date unknown"]
    if source.reference:
        where.append(escape(source.reference))
    if source.via:
        where.append(f"via {escape(source.via)}")
    return f"{what} ({'; '.join(where)})"


def _evidence_lines(evidence: tuple[Evidence, ...], seed_url_base: str | None) -> list[str]:
    return [f"- {_evidence_line(e, seed_url_base)}" for e in evidence] or ["- none cited"]


def _evidence_line(evidence: Evidence, seed_url_base: str | None) -> str:
    statement = f'"{escape(evidence.statement)}"'
    if evidence.in_seeds:
        name = escape(evidence.source)
        if seed_url_base:
            url = f"{seed_url_base.rstrip('/')}/{evidence.source}"
            if _SAFE_URL.match(url):
                name = f"[{name}]({url})"
        return f"seed {name}: {statement}"
    if _SAFE_URL.match(evidence.source):
        where = f"[{escape(_short_url(evidence.source))}]({evidence.source})"
    else:
        where = escape(evidence.source)
    return f"{where}: {statement} (not from the seeds)"


def _short_url(url: str) -> str:
    host_and_path = url.split("://", 1)[-1]
    return host_and_path if len(host_and_path) <= 60 else host_and_path[:57] + "..."


def _suggestion(spec: SuggestionSpec, uuid_factory: Callable[[], str], patient_id: str) -> dict[str, Any]:
    suggestion: dict[str, Any] = {"uuid": uuid_factory(), "label": spec.label}
    if spec.is_recommended is not None:
        suggestion["isRecommended"] = spec.is_recommended
    suggestion["actions"] = [_action(spec, patient_id)]
    return suggestion


def _action(spec: SuggestionSpec, patient_id: str) -> dict[str, Any]:
    if spec.action == "delete":
        what = spec.text or spec.label
        # _suggestions() has checked the reference
        return {
            "type": "delete",
            "description": f"Remove the draft order: {what}",
            "resourceId": spec.delete_reference,
        }
    return {"type": "create", "description": _description(spec), "resource": draft_resource(spec, patient_id)}


def _description(spec: SuggestionSpec) -> str:
    """What is ordered, in words (Epic shows this as the primary text of the suggestion)."""
    what = spec.text or spec.label
    kind = {"MedicationRequest": "medication", "ServiceRequest": "order", "DeviceRequest": "device order"}
    parts = [f"Draft {kind[spec.resource_type]}: {what}"]
    if spec.resource_type == "MedicationRequest":
        parts.append(f"dose: {spec.dose_text}" if spec.dose_text else NO_DOSE)
    elif spec.dose_text:
        parts.append(spec.dose_text)
    if spec.priority:
        parts.append(f"priority {spec.priority}")
    return "; ".join(parts)


def _concept(spec: SuggestionSpec) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": spec.text or spec.label}
    if spec.code is not None:
        coding = {"system": spec.code.system, "code": spec.code.code}
        if spec.code.display:
            coding["display"] = spec.code.display
        concept["coding"] = [coding]
    return concept


def _notes(spec: SuggestionSpec) -> list[dict[str, str]]:
    return [{"text": spec.note}] if spec.note else []


# Speed: validating and dumping a draft with fhir.resources costs ~2.3x all the rest of evaluate+cards (measured
# on the golden scenarios: 420 vs 126 us each), so each spec is validated once, with a stand-in patient, and
# each card gets a fresh copy with its subject swapped in (Reference.reference is a plain string to FHIR).
_DRAFT_PATIENT: Final = "draft-patient"


def draft_resource(spec: SuggestionSpec, patient_id: str) -> dict[str, Any]:
    """The draft FHIR R4B resource for a create suggestion, validated by fhir.resources."""
    draft: dict[str, Any] = json.loads(_validated_draft(spec))
    draft["subject"] = {"reference": f"Patient/{patient_id}"}
    return draft


@functools.lru_cache(maxsize=1024)
def _validated_draft(spec: SuggestionSpec) -> str:
    """The validated draft for the stand-in patient, as JSON text: each caller loads its own copy."""
    return json.dumps(_build_draft(spec, _DRAFT_PATIENT))


def _build_draft(spec: SuggestionSpec, patient_id: str) -> dict[str, Any]:
    """Build the draft and validate it with fhir.resources."""
    body: dict[str, Any] = {
        "resourceType": spec.resource_type,
        "status": "draft",
        "intent": "proposal",
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    if spec.priority:
        body["priority"] = spec.priority
    notes = _notes(spec)
    if notes:
        body["note"] = notes
    model: MedicationRequest | ServiceRequest | DeviceRequest
    if spec.resource_type == "MedicationRequest":
        body["medicationCodeableConcept"] = _concept(spec)
        if spec.dose_text:
            body["dosageInstruction"] = [{"text": spec.dose_text}]
        model = MedicationRequest.model_validate(body)
    elif spec.resource_type == "ServiceRequest":
        body["code"] = _concept(spec)
        model = ServiceRequest.model_validate(body)
    else:
        body["codeCodeableConcept"] = _concept(spec)
        model = DeviceRequest.model_validate(body)
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return dumped
