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
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from typing import Any
from typing import Final

from fhir.resources.R4B.devicerequest import DeviceRequest
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from service.core.citations import PAGE_ID
from service.core.citations import rule_url
from service.core.citations import short_citation
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
NO_DOSE: Final = "The seeds give no dose"
RULES_EXTENSION: Final = "bme-cds-rules"  # every rule id a folded card carries, its own first
# The EHR frame (docs card-style.md): about 600 characters of detail, never more than 900.
MAX_DETAIL: Final = 900
_MAX_BASED_ON: Final = 3  # data points shown; the rest are on the rule page and in the SMART app
_DATUM_CHARS: Final = 150
_MAX_CITATIONS: Final = 2
_MIN_LINE: Final = 90
_NOT_SEEDS: Final = "(not from the seeds)"
_LINE_CHARS: Final = 200
# Gate notes that change what the clinician can order now: kept on the card, everything else is one link away.
_SAFETY_NOTE: Final = re.compile(r"^(Withheld|Removed|No suggestion is left)|\bcaution: ")
_DEFERRAL_NOTE: Final = re.compile(r"^[RS]\d\d: ")
# "Withheld: <label> (<why>; ...)" per suggestion: one line per reason, naming each drug once.
_WITHHELD: Final = re.compile(r"^(Withheld|Removed): (.+?) \((.+)\)$")
_DRUG_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z\- ]*?(?= \d| IV\b| \(|$)")

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
    public_base_url: str | None


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
    public_base_url: str | None = None,
) -> list[dict[str, Any]]:
    """Render findings as CDS Hooks cards: red flags, safety gates, warnings, the pathway card, the rest.

    Informational rules (a Finding with a `fold_line`) are folded into the hook's pathway card as one line
    each, so a hook answers with one pathway card; that card lists every rule it carries in its
    `bme-cds-rules` extension. With `public_base_url` each card's source links the rule's public page.

    A finding that breaks the card contract (summary length, two recommended suggestions on an at-most-one
    card, a delete without a relative reference, an empty label) is a rule bug. With `strict` (tests, dev)
    it raises ValueError; without it (production) the card is repaired conservatively: the summary is
    shortened, only the first suggestion stays recommended, a malformed suggestion is dropped.

    :raises ValueError: in strict mode, on a rule bug; always, on empty settings.
    """
    if not source_label or not topic_system or not patient_id:
        raise ValueError("source_label, topic_system and patient_id must be non-empty")
    options = _Options(
        uuid_factory, source_label, topic_system, patient_id, smart_launch_url, seed_url_base, strict,
        public_base_url,
    )
    ordered = sorted(fold(findings), key=lambda pair: lead_key(pair[0]))
    return [_card(f, carried, options) for f, carried in ordered]


def lead_key(finding: Finding) -> tuple[int, int, bool, tuple[str, int, str]]:
    """Card order: red flags (critical), safety gates, other warnings, the pathway card, the rest."""
    if finding.indicator == "critical":
        group = 0
    elif finding.rule_id.startswith("S"):
        group = 1
    elif finding.indicator == "warning":
        group = 2
    elif finding.smart_link:
        group = 3
    else:
        group = 4
    # A contraindication (a drug not to be given) leads the cards of its group and indicator.
    return (group, INDICATOR_ORDER[finding.indicator], not finding.contraindication, _rule_key(finding.rule_id))


def fold(findings: Iterable[Finding]) -> list[tuple[Finding, tuple[Finding, ...]]]:
    """Each card's finding with the informational findings folded into it (only into the pathway card).

    The host is the pathway card (an info card with the SMART link, R21/R22/R24/...), else the first other
    info card that is neither a gate nor foldable, else the first foldable finding itself. Red flags, gates
    and warnings are never hosts: they stay short and separate.
    """
    items = sorted(findings, key=lambda f: _rule_key(f.rule_id))
    foldable = [f for f in items if f.fold_line and f.indicator == "info"]
    if len(foldable) == 0:
        return [(f, ()) for f in items]
    hosts = [f for f in items if f.indicator == "info" and not f.fold_line and not f.rule_id.startswith("S")]
    pathway = [f for f in hosts if f.smart_link]
    host = (pathway or hosts or foldable)[0]
    carried = tuple(f for f in foldable if f is not host)
    if not carried:
        return [(f, ()) for f in items]
    return [(f, carried if f is host else ()) for f in items if not any(f is c for c in carried)]


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


def _card(finding: Finding, carried: tuple[Finding, ...], options: _Options) -> dict[str, Any]:
    topic = {"system": options.topic_system, "code": finding.rule_id}
    if finding.title:
        topic["display"] = finding.title
    source: dict[str, Any] = {"label": options.source_label}
    if options.public_base_url and PAGE_ID.match(finding.rule_id):
        source["url"] = rule_url(options.public_base_url, finding.rule_id)  # the full basis, no patient data
    source["topic"] = topic
    card: dict[str, Any] = {
        "uuid": options.uuid_factory(),
        "summary": _summary(finding, options),
        "indicator": finding.indicator,
        "detail": detail(finding, options.seed_url_base, carried),
        "source": source,
    }
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
    # Every rule id the card carries, its own first: folded informational rules, or the other gates a
    # combined safety card reports. Feedback and metrics count the card for each of them.
    carried_ids = [*finding.carried_ids, *(f.rule_id for f in carried)]
    if carried_ids:
        card["extension"] = {RULES_EXTENSION: list(dict.fromkeys([finding.rule_id, *carried_ids]))}
    return card


def card_rule_ids(card: Mapping[str, Any]) -> list[str]:
    """Every rule id a card stands for: its topic code and the rules it lists as folded in, each once."""
    ids: list[str] = []
    topic = card.get("source", {}).get("topic", {}) if isinstance(card.get("source"), dict) else {}
    code = topic.get("code") if isinstance(topic, dict) else None
    if isinstance(code, str) and code:
        ids.append(code)
    extension = card.get("extension")
    folded = extension.get(RULES_EXTENSION) if isinstance(extension, dict) else None
    if isinstance(folded, list):
        ids.extend(rule for rule in folded if isinstance(rule, str) and rule and rule not in ids)
    return ids


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


def detail(finding: Finding, seed_url_base: str | None = None, carried: tuple[Finding, ...] = ()) -> str:
    """The card detail for an EHR frame: Based on, Missing, Safety, Why, Also (folded rules), Source.

    Plain GitHub Markdown, short lines, at most MAX_DETAIL characters; the full basis (every datum with its
    resource, the rule's When/Then, the evidence quotes) is on the rule's public page and in the SMART app.
    `seed_url_base` links the short citation of a seed to its text.
    """
    based = "; ".join(_datum(s) for s in finding.data_used[:_MAX_BASED_ON])
    more = len(finding.data_used) - _MAX_BASED_ON
    if more > 0:
        based += f"; and {more} more"
    missing = [*finding.missing, *(n for n in finding.notes if "not checked" in n)]
    safety = _safety_lines(n for n in finding.notes if _SAFETY_NOTE.search(n) or _DEFERRAL_NOTE.match(n))
    required: list[str] = []
    if based:
        required.append(f"**Based on:** {based}")
    if missing:
        required.append(f"**Missing:** {_clip('; '.join(missing), _LINE_CHARS)}")
    required += [f"**Safety:** {_clip(n, _LINE_CHARS)}" for n in dict.fromkeys(safety)]
    required.append(f"**Why:** {_clip(_why(finding), _LINE_CHARS)}")
    also = [f"- {escape(f.fold_line)}" for f in carried]
    source = f"**Source:** {_citations(finding.evidence, seed_url_base)}"
    tail = [*(["**Also:**\n" + "\n".join(also)] if also else []), source]
    text = "\n\n".join([*required, *tail])
    # Rarely over the limit: shorten the longest lines first, never below a readable minimum.
    while len(text) > MAX_DETAIL:
        longest = max(range(len(required)), key=lambda i: len(required[i]))
        target = max(_MIN_LINE, len(required[longest]) - (len(text) - MAX_DETAIL))
        if len(required[longest]) <= target:
            break
        required[longest] = _clip_markdown(required[longest], target)
        text = "\n\n".join([*required, *tail])
    return text if len(text) <= MAX_DETAIL else _clip_markdown(text, MAX_DETAIL)


def _clip(text: str, limit: int) -> str:
    """Escaped `text`, cut at a word boundary to about `limit` characters."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return escape(text)


def _clip_markdown(line: str, limit: int) -> str:
    """An already escaped line cut at a space, never inside an escape."""
    if len(line) <= limit:
        return line
    cut = line[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:\\") + "…"


def _why(finding: Finding) -> str:
    """The rule in one sentence: the first statement it rests on (a seed's own words), else the rule text."""
    if finding.evidence:
        statement = " ".join(finding.evidence[0].statement.split()).rstrip(".")
        return f'"{statement}"' if finding.evidence[0].in_seeds else statement + "."
    match = re.match(r"(.+?[.!?])(\s|$)", " ".join(finding.rule_text.split()))
    return match.group(1) if match else finding.rule_text


def _safety_lines(notes: Iterable[str]) -> list[str]:
    """Safety notes, each once; withheld or removed suggestions grouped by reason, each drug named once."""
    out: dict[str, None] = {}
    grouped: dict[tuple[str, str], dict[str, None]] = {}
    for note in notes:
        match = _WITHHELD.match(note)
        if match is None:
            out[note] = None
            continue
        verb, label, why = match.groups()
        name = _DRUG_NAME.match(label)
        grouped.setdefault((verb, why), {})[(name.group(0) if name else label).strip()] = None
        out[f"\0{verb}\0{why}"] = None  # keeps the group where its first member was
    lines: list[str] = []
    for line in out:
        if line.startswith("\0"):
            _, verb, why = line.split("\0")
            lines.append(f"{verb}: {', '.join(grouped[(verb, why)])} ({why})")
        else:
            lines.append(line)
    return lines


def _datum(source: Source) -> str:
    """One datum as the clinician reads it: what, and when (no resource ids)."""
    what = _clip(source.via or source.display or "(no description)", _DATUM_CHARS)  # via quotes the text
    return f"{source.date.isoformat() if source.date else 'date unknown'}: {what}"


def _citations(evidence: tuple[Evidence, ...], seed_url_base: str | None) -> str:
    """Short citations of the distinct sources, seeds first; a non-seed source says so."""
    seen: dict[str, None] = {}
    for ev in sorted(evidence, key=lambda e: not e.in_seeds):
        seen[_citation(ev, seed_url_base)] = None
    cited = list(seen)
    more = f"; and {len(cited) - _MAX_CITATIONS} more" if len(cited) > _MAX_CITATIONS else ""
    if more and any(c.endswith(_NOT_SEEDS) for c in cited[_MAX_CITATIONS:]):
        more += f" {_NOT_SEEDS}"  # a safety check's label source is never hidden behind the seeds
    return "; ".join(cited[:_MAX_CITATIONS]) + more if cited else "none cited"


def _citation(evidence: Evidence, seed_url_base: str | None) -> str:
    if evidence.in_seeds:
        name = escape(short_citation(evidence.source))
        if seed_url_base:
            url = f"{seed_url_base.rstrip('/')}/{evidence.source}"
            if _SAFE_URL.match(url):
                name = f"[{name}]({url})"
        return name
    if _SAFE_URL.match(evidence.source):
        return f"[{escape(_short_url(evidence.source))}]({evidence.source}) {_NOT_SEEDS}"
    return f"{escape(evidence.source)} {_NOT_SEEDS}"


def _short_url(url: str) -> str:
    host_and_path = url.split("://", 1)[-1]
    host = host_and_path.split("/", 1)[0]
    return host if len(host) <= 60 else host[:57] + "..."


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
