"""The compiled rule table gives exactly what running the table row by row gives.

`compile_tables` resolves policy-only conditions once per (policy, hook) and skips rows a hook never runs (a
trick kept because it pays: ~12% of evaluate+cards); this checks it against a plain row-by-row run of the same
table, for random patients, draft orders, hooks and policies with every boolean switch free.
"""

from __future__ import annotations

import typing
from dataclasses import replace
from datetime import date
from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from service.core.engine import _at_level
from service.core.engine import _defer
from service.core.engine import _missing
from service.core.engine import evaluate
from service.core.facts import Fact
from service.core.facts import Source
from service.core.features import EXTENT_EXTENSIVE
from service.core.features import EXTENT_LIMITED
from service.core.features import SITE_FOOT_ANKLE
from service.core.features import SITE_HIP
from service.core.features import SITE_KNEE
from service.core.features import SITE_VERTEBRA
from service.core.features import DraftOrder
from service.core.features import Features
from service.core.findings import INDICATOR_ORDER
from service.core.findings import Finding
from service.core.policy import DEFAULT_POLICY
from service.core.policy import SETTINGS
from service.core.policy import Policy
from service.core.policy import policy_from_mapping
from service.core.rulemodel import STAGES
from service.core.rulemodel import Ctx
from service.core.rulemodel import Pred
from service.core.rulemodel import Rule
from service.core.rulemodel import render
from service.core.vocabulary import BED_REST
from service.core.vocabulary import DEXAMETHASONE
from service.core.vocabulary import HOOKS
from service.core.vocabulary import NSAID
from service.core.vocabulary import OPIOID
from service.core.vocabulary import SYSTEMIC_GLUCOCORTICOID
from service.core.vocabulary import TNFI
from service.knowledge.rules import DEFERRALS
from service.knowledge.rules import MISSING_ONLY_IF
from service.knowledge.rules import RULES
from service.knowledge.rules import STAGE_GATES
from tests.rules.scenario import TODAY
from tests.rules.scenario import knowledge
from tests.rules.scenario import no_gates

HINTS = typing.get_type_hints(Features)
FACT_FIELDS = {name: str(hint) for name, hint in HINTS.items() if str(hint).startswith("service.core.facts.Fact")}
FLAGS = sorted(k for k, s in SETTINGS.items() if isinstance(s.default, bool))
KINDS = (NSAID, OPIOID, SYSTEMIC_GLUCOCORTICOID, DEXAMETHASONE, TNFI,
         BED_REST)


def reference(features: Features, hook: str, policy: Policy) -> tuple[Finding, ...]:
    """The table run row by row, every condition evaluated as written (the engine before the plan)."""
    ctx = Ctx(features, policy, hook)
    fired: dict[str, Finding] = {}
    for stage in STAGES:
        gate = STAGE_GATES.get(stage)
        if gate is None or gate(ctx):
            for rule in RULES:
                if rule.stage == stage and hook in rule.hooks and rule.id not in fired and rule.applies(ctx):
                    fired[rule.id] = finding(rule, ctx)
        ctx = replace(ctx, red_flag=ctx.red_flag or (stage == "A" and bool(fired)), fired=frozenset(fired))
    findings = _defer(fired, DEFERRALS)
    return tuple(sorted(findings, key=lambda f: (INDICATOR_ORDER[f.indicator], f.rule_id)))


def finding(rule: Rule, ctx: Ctx) -> Finding:
    """The Finding a row gives, every text rendered as written."""
    card, policy = rule.card, ctx.policy
    return Finding(
        rule_id=rule.id, title=rule.title, indicator=card.indicator,
        summary=_at_level(render(card.summary, policy), rule, ctx),
        recommendation=render(card.recommendation, policy), rule_text=render(card.rule_text, policy),
        evidence=rule.evidence, data_used=data_used(rule, ctx),
        missing=_missing(tuple((n, MISSING_ONLY_IF.get(n)) for n in rule.missing), ctx),
        suggestions=rule.offer.build(ctx), selection_behavior=card.selection_behavior,
        notes=tuple(render(n, policy) for n in rule.notes) + (rule.dynamic_notes(ctx) if rule.dynamic_notes else ()),
        smart_link=rule.smart_link,
        fold_line=render(rule.card.fold, ctx.policy) if rule.card.fold else "",
    )


def data_used(rule: Rule, ctx: Ctx) -> tuple[Source, ...]:
    """The sources of every field the row's conditions name, then matching draft orders, as first written."""
    preds: tuple[Pred, ...] = (*rule.when, *rule.unless)
    names = dict.fromkeys((*(u for pred in preds for u in pred.uses), *rule.uses))
    sources: dict[Source, None] = {}
    for name in names:
        fact: Fact[object] = getattr(ctx.features, name)
        if fact.known:
            sources.update(dict.fromkeys(fact.sources))
    kinds = frozenset().union(*(pred.draft_kinds for pred in preds))
    for order in ctx.drafts():
        if order.kinds & kinds:
            sources[order.source or Source(order.reference, order.display)] = None
    return tuple(sources)


def _value(kind: str) -> st.SearchStrategy[Any]:
    if kind.endswith("[bool]"):
        return st.sampled_from((True, False))
    if kind.endswith("[int]"):
        return st.integers(0, 200)
    if kind.endswith("[float]"):
        return st.sampled_from((0.0, 1.5, 2.5, 8.0, 15.0, 25.0, 35.0, 60.0, 100.0))
    if kind.endswith("[datetime.date]"):
        return st.integers(-5, 400).map(lambda n: TODAY - timedelta(days=n))
    if kind.endswith("[frozenset[str]]"):
        return st.frozensets(st.sampled_from((SITE_VERTEBRA, SITE_HIP, SITE_KNEE, SITE_FOOT_ANKLE)))
    return st.sampled_from((EXTENT_EXTENSIVE, EXTENT_LIMITED, "female", "male"))


@st.composite
def fact(draw: st.DrawFn, name: str, kind: str) -> Fact[Any]:
    """Unknown about half the time; otherwise a value with a source and, sometimes, a date."""
    if draw(st.booleans()):
        return Fact()
    value = draw(_value(kind))
    when: date | None = draw(st.none() | st.integers(0, 200).map(lambda n: TODAY - timedelta(days=n)))
    return Fact(value, (Source(f"Observation/{name}", f"{name} = {value}", when),), as_of=when)


@st.composite
def patients(draw: st.DrawFn) -> Features:
    """A patient with a random subset of the features known, and random draft orders."""
    chosen = draw(st.sets(st.sampled_from(sorted(FACT_FIELDS)), max_size=20))
    facts: dict[str, Fact[Any]] = {name: draw(fact(name, FACT_FIELDS[name])) for name in sorted(chosen)}
    # Most rows need documented (often vertebral) BME: without this bias few of them would ever fire.
    if draw(st.integers(0, 4)):
        facts["bme_present"] = Fact(True, (Source("ImagingStudy/mri", "BME"),))
        sites = draw(st.sampled_from(((SITE_VERTEBRA,), (SITE_KNEE,), (SITE_VERTEBRA, SITE_HIP))))
        facts["bme_sites"] = Fact(frozenset(sites), (Source("ImagingStudy/mri", "BME sites"),))
    drafts = tuple(
        DraftOrder(reference=f"MedicationRequest/d{i}", resource_type="MedicationRequest",
                   kinds=frozenset({kind}), display=f"{kind} draft", selected=selected,
                   source=Source(f"MedicationRequest/d{i}", f"{kind} draft"))
        for i, (kind, selected) in enumerate(draw(st.lists(st.tuples(st.sampled_from(KINDS), st.booleans()),
                                                           max_size=3)))
    )
    return Features(today=TODAY, draft_orders=drafts, **facts)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    """The default policy with any boolean switch flipped, and either iloprost scope."""
    overrides: dict[str, Any] = {k: draw(st.booleans()) for k in FLAGS}
    overrides["iloprost.scope"] = draw(st.sampled_from(("refractory_or_ischemic", "refractory")))
    return policy_from_mapping(overrides)


@settings(max_examples=400, deadline=None)
@given(features=patients(), hook=st.sampled_from(HOOKS), policy=policies())
def test_plan_matches_row_by_row_run(features: Features, hook: str, policy: Policy) -> None:
    assert evaluate(features, hook, knowledge(policy), gates=no_gates) == reference(features, hook, policy)


def _all_preds(rule: Rule) -> list[Pred]:
    out: list[Pred] = []
    todo = [*rule.when, *rule.unless]
    while todo:
        pred = todo.pop()
        out.append(pred)
        todo.extend(pred.parts)
    return out


def test_static_conditions_read_no_patient_data() -> None:
    # A condition marked static is resolved once per (policy, hook): it must not depend on the patient.
    static = {p.name: p for rule in RULES for p in _all_preds(rule) if p.static}
    assert static, "the table has policy switches; none marked static means the plan resolves nothing"
    for pred in static.values():
        assert not pred.uses and not pred.draft_kinds, pred.name
        empty, full = Features(today=TODAY), Features(today=TODAY, bme_present=Fact(True), diabetes=Fact(True))
        for hook in HOOKS:
            assert pred(Ctx(empty, DEFAULT_POLICY, hook)) == pred(Ctx(full, DEFAULT_POLICY, hook, True)), pred.name
