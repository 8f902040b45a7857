"""Builders for the gate and card tests: Features from plain values, drug findings and draft orders."""

from __future__ import annotations

import dataclasses
from datetime import date
from datetime import timedelta
from typing import Any

from service.core.facts import Fact
from service.core.facts import Source
from service.core.features import DraftOrder
from service.core.features import Features
from service.core.findings import Code
from service.core.findings import Evidence
from service.core.findings import Finding
from service.core.findings import SuggestionSpec
from service.core.gates import apply_gates as apply_compiled
from service.core.gates import compile_gates
from service.core.policy import DEFAULT_POLICY
from service.core.policy import Policy
from service.knowledge.gates import GATE_TABLE

TODAY = date(2026, 11, 1)
LAB_DATE = TODAY - timedelta(days=30)  # current under the default labs.max_age_days (90)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

# Fields of Features that are not Facts.
_RAW_FIELDS = {"today", "patient_reference", "pain_nrs_series", "draft_orders"}
_LABS = {"egfr", "creatinine", "calcium", "calcium_ionized", "albumin", "vitd_25oh"}

# Everything the gates read, known and unremarkable: each scenario changes one thing.
SAFE: dict[str, Any] = {
    "age_years": 50,
    "sex": "female",
    "pregnant": False,
    "egfr": 72.0,
    "calcium": 9.4,
    "calcium_low": False,
    "hypocalcemia": False,
    "albumin": 4.0,
    "vitd_25oh": 32.0,
    "ckd_stage_4_5_or_esrd": False,
    "gi_bleed_or_pud_history": False,
    "gi_bleed_active": False,
    "heart_failure": False,
    "anticoagulant_active": False,
    "antiplatelet_active": False,
    "systemic_glucocorticoid_active": False,
    "nsaid_active": False,
    "cns_depressant_active": False,
    "onj_history": False,
    "dental_disease": False,
    "active_infection": False,
    "tnfi_screening_concern": False,
    "diabetes": False,
    "latent_tb": False,
    "dialysis": False,
    "benzodiazepine_active": False,
    "bme_present": True,  # order hooks check drafts only in a BME or vertebral-fracture context
}


_DEFAULT_GATES = compile_gates(GATE_TABLE, DEFAULT_POLICY)


def apply_gates(findings: tuple[Finding, ...], features: Features, hook: str, policy: Policy) -> tuple[Finding, ...]:
    """The gate table compiled for `policy` (once for the default policy) applied to one call."""
    gates = _DEFAULT_GATES if policy is DEFAULT_POLICY else compile_gates(GATE_TABLE, policy)
    return apply_compiled(findings, features, hook, gates)


def lab(value: float, days_old: int = 30, name: str = "lab") -> Fact[float]:
    """A lab Fact dated `days_old` days before TODAY."""
    when = TODAY - timedelta(days=days_old)
    return Fact(value, (Source(f"Observation/{name}-1", f"{name} {value:g}", when),), as_of=when)


def feat(**values: Any) -> Features:
    """Features from plain values (wrapped in Facts with a Source each); a Fact or None is taken as is."""
    kwargs: dict[str, Any] = {"today": TODAY, "patient_reference": "Patient/p1"}
    for name, value in values.items():
        if name in _RAW_FIELDS or isinstance(value, Fact):
            kwargs[name] = value
        elif value is None:
            kwargs[name] = Fact()
        elif name in _LABS:
            kwargs[name] = lab(float(value), name=name)
        else:
            kwargs[name] = Fact(
                value, (Source(f"Condition/{name}", f"{name}: {value}", LAB_DATE),), as_of=LAB_DATE
            )
    return Features(**kwargs)


def safe(**overrides: Any) -> Features:
    """The unremarkable patient with some values changed (None makes a value unknown)."""
    return feat(**{**SAFE, **overrides})


def drug(drug_class: str, label: str | None = None, **fields: Any) -> SuggestionSpec:
    """A MedicationRequest suggestion for one drug class."""
    return SuggestionSpec(
        label=label or f"Start {drug_class}",
        resource_type="MedicationRequest",
        text=fields.pop("text", drug_class),
        drug_class=drug_class,
        **fields,
    )


def finding(*suggestions: SuggestionSpec, rule_id: str = "R22", **fields: Any) -> Finding:
    """A rule finding carrying the given suggestions."""
    base = Finding(
        rule_id=rule_id,
        title=f"Rule {rule_id}",
        indicator="info",
        summary=f"Rule {rule_id}: consider the options below",
        recommendation="Consider the options below",
        rule_text="Fires in the test scenario",
        evidence=(Evidence("002_a2231a674c43bc45.txt", "a seed statement"),),
        suggestions=suggestions,
        selection_behavior="at-most-one" if suggestions else None,
    )
    return dataclasses.replace(base, **fields)


def draft(
    *kinds: str, ref: str = "MedicationRequest/d1", display: str = "naproxen 500 MG Oral Tablet"
) -> DraftOrder:
    """A classified draft order."""
    return DraftOrder(
        reference=ref,
        resource_type=ref.split("/")[0] if ref else "MedicationRequest",
        kinds=frozenset(kinds),
        display=display,
        codes=((RXNORM, "7258"),),
        source=Source(ref, f"Draft order: {display}"),
    )


NAPROXEN = drug(
    "nsaid",
    "Naproxen 375-1100 mg/day",
    code=Code(RXNORM, "7258", "naproxen"),
    text="naproxen",
    dose_text="375-1100 mg/day in two divided doses",
)
