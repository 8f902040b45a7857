"""Findings: what a rule or safety gate concludes, before it is rendered as a CDS Hooks card.

The rule table and the safety gates produce Findings; `cards.py` renders them. Pure data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Literal

from service.core.facts import Source

Indicator = Literal["info", "warning", "critical"]
INDICATOR_ORDER: dict[str, int] = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Evidence:
    """A statement in a seed file (or a cited public source marked as not from the seeds)."""

    source: str  # seed file name, e.g. "002_a2231a674c43bc45.txt", or a URL for a non-seed source
    statement: str  # the seed's statement, quoted or closely paraphrased
    in_seeds: bool = True


@dataclass(frozen=True)
class Code:
    """A terminology code (system URI, code, display)."""

    system: str
    code: str
    display: str


@dataclass(frozen=True)
class SuggestionSpec:
    """One suggestion: create a draft MedicationRequest/ServiceRequest, or delete a draft order."""

    label: str
    action: Literal["create", "delete"] = "create"
    resource_type: Literal["MedicationRequest", "ServiceRequest", "DeviceRequest"] = "ServiceRequest"
    code: Code | None = None  # None: text-only order (no verified code), e.g. a spine-surgery referral
    text: str = ""  # CodeableConcept.text / what is ordered, in words
    dose_text: str | None = None  # dosage as the seed words it; None when the seeds give no dose
    note: str | None = None  # e.g. "dual-energy protocol for bone marrow edema"; "seeds give no dose"
    priority: Literal["routine", "urgent", "stat"] | None = None
    is_recommended: bool | None = None
    delete_reference: str | None = None  # for action == "delete": "ServiceRequest/abc"
    drug_class: str | None = None  # for safety gates: "nsaid", "iv_bisphosphonate", "denosumab", ...


@dataclass(frozen=True)
class Finding:
    """A rule or gate that fired for this patient, with everything its card must show."""

    rule_id: str  # "R22", "S01": exactly as in clinical-rules.md
    title: str  # short name of the rule
    indicator: Indicator
    summary: str  # < 140 characters, phrased as an option
    recommendation: str  # the recommendation in plain words (an option, not an order)
    rule_text: str  # the rule in plain words: when it fires and why
    evidence: tuple[Evidence, ...]
    data_used: tuple[Source, ...] = ()
    missing: tuple[str, ...] = ()  # data that was missing or stale, in words
    suggestions: tuple[SuggestionSpec, ...] = ()
    selection_behavior: Literal["at-most-one", "any"] | None = None
    notes: tuple[str, ...] = field(default=())  # extra detail lines (safety checks applied, expected course)
    smart_link: bool = False  # offer the SMART app link (pathway cards) when it is configured
    fold_line: str = ""  # informational rule: its one line inside the hook's pathway card ("" = own card)
    # Safety gates (service/core/gates.py): the other gate ids a combined safety card carries (rendered in the
    # card's "bme-cds-rules" extension), and whether the card reports a drug not to be given (it then leads
    # the cards of its indicator).
    carried_ids: tuple[str, ...] = ()
    contraindication: bool = False
    # A rule's own summary for when the safety gates remove every drug it suggests ("" lets the gate
    # machinery write one: the class is not advised, and why).
    contraindicated_summary: str = ""
