"""Builders for rule scenarios: Features from plain values, draft orders, evaluation without gates."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from datetime import timedelta
from pathlib import Path
from typing import Any

from service.core.engine import CompiledKnowledge
from service.core.engine import evaluate
from service.core.facts import Fact
from service.core.facts import Source
from service.core.features import DraftOrder
from service.core.features import Features
from service.core.findings import Finding
from service.core.gates import CompiledGates
from service.core.policy import DEFAULT_POLICY
from service.core.policy import Policy
from service.core.policy import policy_from_mapping
from service.knowledge.compiled import compile_knowledge

DEFAULT_KNOWLEDGE = compile_knowledge(DEFAULT_POLICY)

TODAY = date(2026, 11, 21)
SEEDS_DIR = Path(__file__).parent / "seeds"
PLAIN_FIELDS = frozenset({"today", "patient_reference", "pain_nrs_series", "draft_orders"})

VERTEBRA = frozenset({"vertebra"})
KNEE = frozenset({"knee"})
HIP = frozenset({"hip_femoral_head"})
FOOT = frozenset({"foot_ankle"})
EXTENSIVE = "extensive_full_vertebral_body"
LIMITED = "limited"


def fake_source(name: str, value: object) -> Source:
    """A fake Source naming the feature, so data_used can be checked."""
    return Source(f"Observation/{name}", f"{name} = {value}")


def feat(**facts: Any) -> Features:
    """Features from plain values: each value is wrapped in a Fact with a fake Source (Facts pass through)."""
    kwargs: dict[str, Any] = {"today": TODAY}
    for name, value in facts.items():
        if name in PLAIN_FIELDS or isinstance(value, Fact):
            kwargs[name] = value
        else:
            kwargs[name] = Fact(value, (fake_source(name, value),))
    return Features(**kwargs)


def lab(value: float, days_ago: int = 5) -> Fact[float]:
    """A lab result dated `days_ago` before TODAY."""
    when = TODAY - timedelta(days=days_ago)
    return Fact(value, (Source(f"Observation/lab-{value}", f"lab {value}", when),), as_of=when)


def days_ago(days: int) -> date:
    """The date `days` before TODAY."""
    return TODAY - timedelta(days=days)


def draft(
    kind: str, reference: str = "ServiceRequest/draft-1", selected: bool = True, display: str | None = None
) -> DraftOrder:
    """A classified draft order of one kind."""
    resource_type = reference.split("/", 1)[0]
    return DraftOrder(
        reference=reference,
        resource_type=resource_type,
        kinds=frozenset({kind}),
        display=display or f"{kind} draft",
        selected=selected,
        source=Source(reference, display or f"{kind} draft"),
    )


def knowledge(policy: Policy = DEFAULT_POLICY) -> CompiledKnowledge:
    """The tables compiled for a policy (once for the default policy)."""
    return DEFAULT_KNOWLEDGE if policy is DEFAULT_POLICY else compile_knowledge(policy)


def no_gates(
    findings: tuple[Finding, ...], features: Features, hook: str, gates: CompiledGates
) -> tuple[Finding, ...]:
    """Stage F left out, so rule findings are seen as the table produced them."""
    return findings


def run(
    features: Features,
    hook: str = "patient-view",
    policy: Policy | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Finding]:
    """Rule findings (no gates) by rule id."""
    chosen = policy or (policy_from_mapping(overrides) if overrides else DEFAULT_POLICY)
    return {f.rule_id: f for f in evaluate(features, hook, knowledge(chosen), gates=no_gates)}


def seed_text(name: str) -> str:
    """A seed file's text with runs of whitespace collapsed to one space."""
    return " ".join((SEEDS_DIR / name).read_text(encoding="utf-8").split())
