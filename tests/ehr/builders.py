"""Builders for the EHR-profile tests: findings rendered by the real card renderer, fixtures, checks."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from service.core.cards import render
from service.core.facts import Source
from service.core.findings import Code
from service.core.findings import Evidence
from service.core.findings import Finding
from service.core.findings import SuggestionSpec

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
SMART_URL = "https://bme-cds.example.org/smart/launch"
# Codes from valuesets/ (each with its evidence there): pamidronate 11473, naproxen 7258, CPT 22513, LOINC 24968-0.
PAMIDRONATE = Code(RXNORM, "11473", "pamidronate")
NAPROXEN = Code(RXNORM, "7258", "naproxen")
AUGMENTATION = Code(CPT, "22513", "Percutaneous vertebral augmentation, thoracic")
MR_LUMBAR = Code(LOINC, "24968-0", "MR Lumbar spine")
PAMIDRONATE_DOSE = "pamidronate 60-90 mg IV per the seed's wording"  # test text, not a dosing statement


def uuids() -> Callable[[], str]:
    """A deterministic uuid factory like the pipeline's."""
    numbers = itertools.count(1)
    return lambda: f"00000000-0000-4000-8000-{next(numbers):012d}"


def finding(
    rule_id: str = "R21",
    *,
    suggestions: tuple[SuggestionSpec, ...] = (),
    behavior: str | None = None,
    smart_link: bool = False,
    data_used: int = 2,
    missing: tuple[str, ...] = ("25-OH vitamin D: none on record",),
    notes: tuple[str, ...] = (),
) -> Finding:
    """A finding with the shape the rule engine produces."""
    return Finding(
        rule_id=rule_id,
        title="Extensive vertebral BME: IV bisphosphonate",
        indicator="info",
        summary="Option: IV bisphosphonate for extensive vertebral bone marrow edema",
        recommendation="Consider an IV bisphosphonate (pamidronate or zoledronic acid) before NSAIDs.",
        rule_text="Fires when vertebral BME is extensive (whole vertebral body) and no red flag is present.",
        evidence=(Evidence("002_a2231a674c43bc45.txt", "IV bisphosphonates in extensive vertebral edema"),),
        data_used=tuple(
            Source(f"Observation/o{i}", f"eGFR {60 + i} mL/min/1.73m2", date(2026, 11, 1))
            for i in range(data_used)
        ),
        missing=missing,
        suggestions=suggestions,
        selection_behavior=behavior,  # type: ignore[arg-type]
        notes=notes,
        smart_link=smart_link,
    )


def medication(code: Code, *, recommended: bool | None = None, note: str | None = None) -> SuggestionSpec:
    """A MedicationRequest create suggestion."""
    return SuggestionSpec(
        label=f"Draft {code.display}",
        resource_type="MedicationRequest",
        code=code,
        text=code.display,
        dose_text=PAMIDRONATE_DOSE if code is PAMIDRONATE else None,
        note=note,
        is_recommended=recommended,
    )


def service_request(code: Code) -> SuggestionSpec:
    """A ServiceRequest create suggestion."""
    return SuggestionSpec(
        label=f"Order {code.display}", resource_type="ServiceRequest", code=code, text=code.display
    )


def cards_for(*findings: Finding, smart: bool = False) -> list[dict[str, Any]]:
    """Cards exactly as the renderer produces them."""
    return render(
        findings,
        uuid_factory=uuids(),
        source_label="BME CDS rules",
        patient_id="p1",
        topic_system="https://bme-cds.example.org/fhir/CodeSystem/bme-cds-rules",
        smart_launch_url=SMART_URL if smart else None,
    )


def fixture(ehr: str, name: str) -> dict[str, Any]:
    """One request fixture as a fresh dict."""
    data: dict[str, Any] = json.loads((FIXTURES / ehr / name).read_text(encoding="utf-8"))
    return data


def fixture_names(ehr: str) -> list[str]:
    """Every request fixture of one EHR (files not starting with '_')."""
    return sorted(p.name for p in (FIXTURES / ehr).glob("*.json") if not p.name.startswith("_"))


def actions(cards: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every suggestion action of every card."""
    for card in cards:
        for suggestion in card.get("suggestions", ()):
            yield from suggestion.get("actions", ())


def links(cards: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every link of every card."""
    for card in cards:
        yield from card.get("links", ())


def epic_limit_errors(cards: list[dict[str, Any]]) -> list[str]:
    """Where the cards break Epic's documented limits (docs/integration-epic.md)."""
    errors: list[str] = []
    for index, card in enumerate(cards):
        code = card["source"].get("topic", {}).get("code", "")
        if not re.fullmatch(r"[A-Za-z0-9]{1,100}", code):
            errors.append(f"card {index}: topic code {code!r} is not alphanumeric (1-100)")
        if "suggestions" in card and card.get("selectionBehavior") != "any":
            errors.append(f"card {index}: selectionBehavior {card.get('selectionBehavior')!r}")
        for number, suggestion in enumerate(card.get("suggestions", ())):
            if len(suggestion.get("actions", ())) != 1:
                errors.append(
                    f"card {index} suggestion {number}: {len(suggestion.get('actions', ()))} actions"
                )
            if not suggestion.get("label"):
                errors.append(f"card {index} suggestion {number}: no label")
            for action in suggestion.get("actions", ()):
                if not action.get("description"):
                    errors.append(f"card {index} suggestion {number}: action without description")
        for link in card.get("links", ()):
            if not link.get("label"):
                errors.append(f"card {index}: link without label")
    return errors


def oracle_limit_errors(cards: list[dict[str, Any]], max_detail: int) -> list[str]:
    """Where the cards break Oracle Health's documented limits (docs/integration-oracle.md)."""
    errors: list[str] = []
    for index, card in enumerate(cards):
        if any("appContext" in link for link in card.get("links", ())):
            errors.append(f"card {index}: link with appContext")
        if len(card.get("detail", "")) > max_detail:
            errors.append(f"card {index}: detail of {len(card['detail'])} characters")
    return errors
