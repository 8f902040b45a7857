"""The rule engine: runs the rule table stage by stage (clinical-rules.md §2) and returns Findings.

Stage A (red flags) first; a red flag closes Stages C and D (R21-R31). Stage B next; Stage C only when the
pathway is open (no red flag, no documented neurological deficit); then D and E. At most one Finding per rule
id (the first variant row that fires); R11 defers R21/R22 drug suggestions. Pure: no flask, no requests.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import replace

from service.facts import Fact
from service.facts import Source
from service.features import SITE_VERTEBRA
from service.features import Features
from service.findings import INDICATOR_ORDER
from service.findings import Finding
from service.gates import apply_gates
from service.policy import DEFAULT_POLICY
from service.policy import Policy
from service.rules.bme import DEFERRALS
from service.rules.bme import RULES
from service.rules.bme import STAGE_GATES
from service.rules.model import STAGES
from service.rules.model import Ctx
from service.rules.model import Deferral
from service.rules.model import Pred
from service.rules.model import Rule
from service.rules.model import render
from service.rules.predicates import LAB_FEATURES
from service.rules.predicates import lab_is_current
from service.rules.texts import FEATURE_LABELS

Gates = Callable[[tuple[Finding, ...], Features, str, Policy], tuple[Finding, ...]]


def evaluate(features: Features, hook: str, policy: Policy = DEFAULT_POLICY, rules: Sequence[Rule] = RULES,
             gates: Gates = apply_gates) -> tuple[Finding, ...]:
    """Findings for this patient and hook, critical first, then by rule id; safety gates applied last."""
    ctx = Ctx(features, policy, hook)
    fired: dict[str, Finding] = {}
    for stage in STAGES:
        gate = STAGE_GATES.get(stage)
        if gate is None or gate(ctx):
            for rule in rules:
                if rule.stage == stage and hook in rule.hooks and rule.id not in fired and rule.applies(ctx):
                    fired[rule.id] = to_finding(rule, ctx)
        ctx = replace(ctx, red_flag=ctx.red_flag or (stage == "A" and bool(fired)), fired=frozenset(fired))
    findings = _defer(fired, DEFERRALS)
    ordered = tuple(sorted(findings, key=lambda f: (INDICATOR_ORDER[f.indicator], f.rule_id)))
    # Stage F: the safety gates (service/gates.py, S01-S14) check every drug suggestion and draft order.
    return gates(ordered, features, hook, policy)


def to_finding(rule: Rule, ctx: Ctx) -> Finding:
    """The Finding a row produces for this patient: card texts with policy values, data used, missing data."""
    card, policy = rule.card, ctx.policy
    notes = tuple(render(n, policy) for n in rule.notes)
    return Finding(
        rule_id=rule.id, title=rule.title, indicator=card.indicator,
        summary=render(card.summary, policy), recommendation=render(card.recommendation, policy),
        rule_text=render(card.rule_text, policy), evidence=rule.evidence,
        data_used=_data_used(rule, ctx), missing=_missing(rule, ctx),
        suggestions=rule.offer.build(ctx), selection_behavior=card.selection_behavior,
        notes=notes + (rule.dynamic_notes(ctx) if rule.dynamic_notes else ()), smart_link=rule.smart_link,
    )


def _data_used(rule: Rule, ctx: Ctx) -> tuple[Source, ...]:
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


# Some data is only worth asking for in one setting: the extent (limited vs whole vertebral body) describes
# vertebral BME, so a card about knee BME must not list it as missing.
_MISSING_ONLY_IF: Mapping[str, Callable[[Ctx], bool]] = {
    "bme_extent": lambda ctx: SITE_VERTEBRA in (ctx.features.bme_sites.value or frozenset()),
}


def _missing(rule: Rule, ctx: Ctx) -> tuple[str, ...]:
    out: list[str] = []
    for name in rule.missing:
        relevant = _MISSING_ONLY_IF.get(name)
        if relevant is not None and not relevant(ctx):
            continue
        fact: Fact[object] = getattr(ctx.features, name)
        label = FEATURE_LABELS.get(name, name)
        if not fact.known:
            out.append(label if name not in LAB_FEATURES else f"{label}: no result")
        elif name in LAB_FEATURES and not lab_is_current(ctx, name):
            out.append(f"{label}: older than {ctx.policy.int('labs.max_age_days')} days (stale)")
    return tuple(out)


def _defer(fired: Mapping[str, Finding], deferrals: Sequence[Deferral]) -> list[Finding]:
    findings = dict(fired)
    for deferral in deferrals:
        if deferral.trigger not in findings:
            continue
        for target in deferral.targets:
            if target in findings:
                finding = findings[target]
                suggestions = tuple(
                    replace(s, is_recommended=False, note=f"{s.note} {deferral.note}".strip() if s.note
                            else deferral.note) if s.drug_class else s
                    for s in finding.suggestions)
                findings[target] = replace(finding, suggestions=suggestions,
                                           notes=(*finding.notes, f"{deferral.trigger}: {deferral.note}."))
    return list(findings.values())
