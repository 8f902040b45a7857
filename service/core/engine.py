"""The rule engine: runs the rule table stage by stage (clinical-rules.md §2) and returns Findings.

Stage A (red flags) first; a red flag closes Stages C and D (R21-R31). Stage B next; Stage C only when the
pathway is open (no red flag, no documented neurological deficit); then D and E. At most one Finding per rule
id (the first variant row that fires); R11 defers R21/R22 drug suggestions. Pure: no flask, no requests.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace

from service.core.facts import Fact
from service.core.facts import Source
from service.core.features import SITE_VERTEBRA
from service.core.features import SPECS
from service.core.features import Features
from service.core.findings import INDICATOR_ORDER
from service.core.findings import Finding
from service.core.gates import apply_gates
from service.core.policy import DEFAULT_POLICY
from service.core.policy import Policy
from service.core.predicates import LAB_FEATURES
from service.core.predicates import lab_is_current
from service.core.rulemodel import STAGES
from service.core.rulemodel import Ctx
from service.core.rulemodel import Deferral
from service.core.rulemodel import Pred
from service.core.rulemodel import Rule
from service.core.rulemodel import every
from service.core.rulemodel import render
from service.core.rulemodel import some
from service.knowledge.rules import DEFERRALS
from service.knowledge.rules import RULES
from service.knowledge.rules import STAGE_GATES

Gates = Callable[[tuple[Finding, ...], Features, str, Policy], tuple[Finding, ...]]
Test = Callable[[Ctx], bool]


def evaluate(features: Features, hook: str, policy: Policy = DEFAULT_POLICY, rules: Sequence[Rule] = RULES,
             gates: Gates = apply_gates) -> tuple[Finding, ...]:
    """Findings for this patient and hook, critical first, then by rule id; safety gates applied last."""
    ctx = Ctx(features, policy, hook)
    plan = _plan(ctx, rules)
    fired: dict[str, Finding] = {}
    red_flag = False
    for stage, gate, rows in plan.stages:
        if gate is None or gate(ctx):
            for rule_id, applies, row in rows:
                if rule_id not in fired and applies(ctx):
                    fired[rule_id] = _finding(row, ctx, plan)
        red_flag = red_flag or (stage == "A" and bool(fired))
        if red_flag != ctx.red_flag or len(fired) != len(ctx.fired):  # `fired` only grows
            ctx = Ctx(features, policy, hook, red_flag, frozenset(fired))
    findings = _defer(fired, DEFERRALS)
    ordered = tuple(sorted(findings, key=lambda f: (INDICATOR_ORDER[f.indicator], f.rule_id)))
    # Stage F: the safety gates (service/core/gates.py, S01-S14) check every drug suggestion and draft order.
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
    kinds: frozenset[str] = frozenset().union(*(pred.draft_kinds for pred in preds))
    return _sources(tuple(names), kinds, ctx)


def _sources(names: tuple[str, ...], kinds: frozenset[str], ctx: Ctx) -> tuple[Source, ...]:
    sources: dict[Source, None] = {}
    for name in names:
        fact: Fact[object] = getattr(ctx.features, name)
        if fact.value is not None:
            for source in fact.sources:
                sources[source] = None
    if kinds:  # without kinds no draft order can match: skip building the hook's draft list
        for order in ctx.drafts():
            if order.kinds & kinds:
                sources[order.source or Source(order.reference, order.display)] = None
    return tuple(sources)


# --- The rule table compiled for one (policy, hook) --------------------------------------------------------
# Which rows a hook runs, the stage gates, the row's data-used fields and the conditions that read only the
# policy are the same for every request with that policy and hook: they are worked out once, so per-request
# work is only what the patient's data can change. Results are identical to running the table row by row.


@dataclass(frozen=True)
class _Row:
    """A rule row as its finding needs it: the fields and draft kinds its data-used list reads."""

    rule: Rule
    names: tuple[str, ...]
    kinds: frozenset[str]


@dataclass(frozen=True)
class _Plan:
    """The rule table for one (policy, hook, table): per stage, its gate and the rows that hook runs."""

    policy: Policy
    hook: str
    rules: Sequence[Rule]
    # Rows as (rule id, condition, row): unpacked in the loop, cheaper than attribute look-ups per row.
    stages: tuple[tuple[str, Test | None, tuple[tuple[str, Test, _Row], ...]], ...]
    # Card texts with policy values filled in, per row, rendered on the row's first firing.
    texts: dict[int, tuple[str, str, str, tuple[str, ...]]] = field(default_factory=dict)


_PLANS: dict[tuple[int, str, int], _Plan] = {}
_MAX_PLANS = 64  # one per (policy, hook) in production; tests build many policies


def _plan(ctx: Ctx, rules: Sequence[Rule]) -> _Plan:
    key = (id(ctx.policy), ctx.hook, id(rules))
    plan = _PLANS.get(key)
    # The plan keeps its policy and table alive, so a matching id means the very same objects.
    if plan is not None and plan.policy is ctx.policy and plan.rules is rules:
        return plan
    plan = _build_plan(ctx, rules)
    if isinstance(rules, tuple):  # a list could change after the plan is built: never cache one
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.pop(next(iter(_PLANS)), None)  # the oldest
        _PLANS[key] = plan
    return plan


def _build_plan(ctx: Ctx, rules: Sequence[Rule]) -> _Plan:
    stages: list[tuple[str, Test | None, tuple[tuple[str, Test, _Row], ...]]] = []
    for stage in STAGES:
        gate_pred = STAGE_GATES.get(stage)
        gate: Test | bool | None = None if gate_pred is None else _compile(gate_pred, ctx)
        if gate is False:
            # A closed gate runs no row; the stage still counts for the red-flag and fired bookkeeping.
            stages.append((stage, _never, ()))
            continue
        rows: list[tuple[str, Test, _Row]] = []
        for rule in rules:
            if rule.stage != stage or ctx.hook not in rule.hooks:
                continue
            applies = _compile_row(rule, ctx)
            if applies is False:
                continue
            preds: tuple[Pred, ...] = (*rule.when, *rule.unless)
            names = tuple(dict.fromkeys((*(u for pred in preds for u in pred.uses), *rule.uses)))
            kinds: frozenset[str] = frozenset().union(*(pred.draft_kinds for pred in preds))
            test = _always if applies is True else applies
            rows.append((rule.id, test, _Row(rule, names, kinds)))
        stages.append((stage, None if gate is None or gate is True else gate, tuple(rows)))
    return _Plan(ctx.policy, ctx.hook, rules, tuple(stages))


def _always(ctx: Ctx) -> bool:
    return True


def _never(ctx: Ctx) -> bool:
    return False


def _compile_row(rule: Rule, ctx: Ctx) -> Test | bool:
    """The row's `applies`: every `when` holds and no `unless` does."""
    when = _combine("all", rule.when, ctx)
    if when is False:
        return False
    unless = _combine("any", rule.unless, ctx)
    if unless is True:
        return False
    if unless is False:
        return when
    if when is True:
        return lambda c: not unless(c)
    return lambda c: when(c) and not unless(c)


def _compile(pred: Pred, ctx: Ctx) -> Test | bool:
    """A condition with its policy-only parts resolved: True/False, or the test left to run per request."""
    if pred.static:
        try:
            return bool(pred.test(ctx))
        except (KeyError, TypeError, ValueError):
            return pred.test  # leave the error where the table would raise it: when the row is reached
    if pred.combine in ("all", "any"):
        return _combine(pred.combine, pred.parts, ctx)
    if pred.combine == "not":
        part = _compile(pred.parts[0], ctx)
        if isinstance(part, bool):
            return not part
        return lambda c: not part(c)
    return pred.test


def _combine(how: str, preds: tuple[Pred, ...], ctx: Ctx) -> Test | bool:
    """all()/any() over parts, with resolved parts dropped or deciding the outcome.

    Tests are pure functions of the context, so not running a part whose result cannot matter changes
    nothing but the time taken.
    """
    decisive = how == "any"
    tests: list[Test] = []
    for pred in preds:
        part = _compile(pred, ctx)
        if part is decisive:
            return decisive  # False under all, True under any
        if isinstance(part, bool):
            continue  # neutral: True under all, False under any
        tests.append(part)
    if not tests:
        return not decisive
    if len(tests) == 1:
        return tests[0]
    return some(tuple(tests)) if decisive else every(tuple(tests))


def _finding(row: _Row, ctx: Ctx, plan: _Plan) -> Finding:
    """As `to_finding`, with the row's texts rendered once per plan."""
    rule = row.rule
    card = rule.card
    texts = plan.texts.get(id(rule))
    if texts is None:
        policy = ctx.policy
        texts = (render(card.summary, policy), render(card.recommendation, policy),
                 render(card.rule_text, policy), tuple(render(n, policy) for n in rule.notes))
        plan.texts[id(rule)] = texts
    summary, recommendation, rule_text, notes = texts
    return Finding(
        rule_id=rule.id, title=rule.title, indicator=card.indicator,
        summary=summary, recommendation=recommendation,
        rule_text=rule_text, evidence=rule.evidence,
        data_used=_sources(row.names, row.kinds, ctx), missing=_missing(rule, ctx) if rule.missing else (),
        suggestions=rule.offer.build(ctx), selection_behavior=card.selection_behavior,
        notes=notes + (rule.dynamic_notes(ctx) if rule.dynamic_notes else ()), smart_link=rule.smart_link,
    )


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
        label = SPECS[name].missing or name
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
