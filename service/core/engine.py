"""The rule engine: runs the rule table stage by stage (clinical-rules.md §2) and returns Findings.

Stage A (red flags) first; a red flag closes Stages C and D (R21-R31). Stage B next; Stage C only when the
pathway is open (no red flag, no documented neurological deficit); then D and E. At most one Finding per rule
id (the first variant row that fires); R11 defers R21/R22 drug suggestions. Pure: no flask, no requests.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from types import MappingProxyType
from typing import Final
from typing import cast

from service.core.facts import Fact
from service.core.facts import Source
from service.core.features import SITE_VERTEBRA
from service.core.features import SPECS
from service.core.features import Features
from service.core.findings import INDICATOR_ORDER
from service.core.findings import Finding
from service.core.gates import CompiledGates
from service.core.gates import GateTable
from service.core.gates import apply_gates
from service.core.gates import compile_gates
from service.core.policy import Policy
from service.core.predicates import LAB_FEATURES
from service.core.predicates import lab_is_current
from service.core.rulemodel import STAGES
from service.core.rulemodel import Ctx
from service.core.rulemodel import Deferral
from service.core.rulemodel import Pred
from service.core.rulemodel import Rule
from service.core.rulemodel import RuleTable
from service.core.rulemodel import every
from service.core.rulemodel import render
from service.core.rulemodel import some
from service.core.vocabulary import HOOKS

MAX_SUMMARY: Final = 139  # CDS Hooks 2.0: a summary under 140 characters (cards.MAX_SUMMARY)
Gates = Callable[[tuple[Finding, ...], Features, str, CompiledGates], tuple[Finding, ...]]
Test = Callable[[Ctx], bool]


# --- The tables compiled for one policy ----------------------------------------------------------------------
# Which rows a hook runs, the stage gates, each row's data-used fields, its card texts and the conditions that
# read only the policy are the same for every request under one policy: they are worked out once, at start, so
# per-request work is only what the patient's data can change. Speed: resolving the policy-only conditions
# here saves ~12% of evaluate+cards on the golden scenarios (measured); tests/rules/test_compiled_plan.py.


@dataclass(frozen=True)
class _Row:
    """A rule row as its finding needs it: texts with the policy's values, the fields its data-used reads."""

    rule: Rule
    names: tuple[str, ...]
    kinds: frozenset[str]
    summary: str
    recommendation: str
    rule_text: str
    notes: tuple[str, ...]
    fold: str  # the line it becomes when folded into the pathway card ("" = always its own card)
    missing: tuple[tuple[str, Test | None], ...]  # fields listed when unknown, each with when it is relevant


@dataclass(frozen=True)
class Plan:
    """The rule table for one hook: per stage, its gate and the rows (id, condition, row) that hook runs."""

    hook: str
    stages: tuple[tuple[str, Test | None, tuple[tuple[str, Test, _Row], ...]], ...]


@dataclass(frozen=True)
class CompiledKnowledge:
    """The rule and gate tables compiled for one policy: built once by the composition root, then passed in."""

    policy: Policy
    plans: Mapping[str, Plan]  # by hook
    deferrals: tuple[Deferral, ...]
    gates: CompiledGates


# Compiling sees no patient: static conditions read only the policy and the hook, and one that read the patient
# would fail here, at start, rather than give every patient the same answer.
_NO_PATIENT: Final = cast(Features, None)


def compile_tables(rules: RuleTable, gates: GateTable, policy: Policy,
                   hooks: Iterable[str] = HOOKS) -> CompiledKnowledge:
    """Compile the rule table per hook and the gate table for this policy."""
    plans = {hook: _build_plan(rules, Ctx(_NO_PATIENT, policy, hook)) for hook in hooks}
    return CompiledKnowledge(policy, MappingProxyType(plans), rules.deferrals, compile_gates(gates, policy))


def evaluate(features: Features, hook: str, knowledge: CompiledKnowledge,
             gates: Gates = apply_gates) -> tuple[Finding, ...]:
    """Findings for this patient and hook, critical first, then by rule id; safety gates applied last."""
    policy = knowledge.policy
    ctx = Ctx(features, policy, hook)
    fired: dict[str, Finding] = {}
    red_flag = False
    for stage, gate, rows in knowledge.plans[hook].stages:
        if gate is None or gate(ctx):
            for rule_id, applies, row in rows:
                if rule_id not in fired and applies(ctx):
                    fired[rule_id] = _finding(row, ctx)
        red_flag = red_flag or (stage == "A" and bool(fired))
        if red_flag != ctx.red_flag or len(fired) != len(ctx.fired):  # `fired` only grows
            ctx = Ctx(features, policy, hook, red_flag, frozenset(fired))
    findings = _defer(fired, knowledge.deferrals)
    ordered = tuple(sorted(findings, key=lambda f: (INDICATOR_ORDER[f.indicator], f.rule_id)))
    # Stage F: the safety gates (service/knowledge/gates.py, S01-S14) check every drug suggestion and draft order.
    return gates(ordered, features, hook, knowledge.gates)


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


def _build_plan(table: RuleTable, ctx: Ctx) -> Plan:
    """The hook's rows by stage, with the conditions that read only the policy resolved (ctx has no patient)."""
    stages: list[tuple[str, Test | None, tuple[tuple[str, Test, _Row], ...]]] = []
    for stage in STAGES:
        gate_pred = table.stage_gates.get(stage)
        gate: Test | bool | None = None if gate_pred is None else _compile(gate_pred, ctx)
        if gate is False:
            # A closed gate runs no row; the stage still counts for the red-flag and fired bookkeeping.
            stages.append((stage, _never, ()))
            continue
        rows: list[tuple[str, Test, _Row]] = []
        for rule in table.rules:
            if rule.stage != stage or ctx.hook not in rule.hooks:
                continue
            applies = _compile_row(rule, ctx)
            if applies is False:
                continue
            test = _always if applies is True else applies
            rows.append((rule.id, test, _row(rule, table, ctx.policy)))
        stages.append((stage, None if gate is None or gate is True else gate, tuple(rows)))
    return Plan(ctx.hook, tuple(stages))


def _row(rule: Rule, table: RuleTable, policy: Policy) -> _Row:
    preds: tuple[Pred, ...] = (*rule.when, *rule.unless)
    card = rule.card
    return _Row(
        rule=rule,
        names=tuple(dict.fromkeys((*(u for pred in preds for u in pred.uses), *rule.uses))),
        kinds=frozenset().union(*(pred.draft_kinds for pred in preds)),
        summary=render(card.summary, policy),
        recommendation=render(card.recommendation, policy),
        rule_text=render(card.rule_text, policy),
        notes=tuple(render(n, policy) for n in rule.notes),
        fold=render(card.fold, policy) if card.fold else "",
        missing=tuple((name, table.missing_only_if.get(name)) for name in rule.missing),
    )


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


def _finding(row: _Row, ctx: Ctx) -> Finding:
    """The Finding a row produces for this patient: card texts, data used, missing data, suggestions."""
    rule = row.rule
    return Finding(
        rule_id=rule.id, title=rule.title, indicator=rule.card.indicator,
        summary=_at_level(row.summary, rule, ctx), recommendation=row.recommendation,
        rule_text=row.rule_text, evidence=rule.evidence,
        data_used=_sources(row.names, row.kinds, ctx), missing=_missing(row.missing, ctx) if row.missing else (),
        suggestions=rule.offer.build(ctx), selection_behavior=rule.card.selection_behavior,
        notes=row.notes + (rule.dynamic_notes(ctx) if rule.dynamic_notes else ()), smart_link=rule.smart_link,
        fold_line=row.fold,
    )


def _at_level(summary: str, rule: Rule, ctx: Ctx) -> str:
    """A pathway card's summary names the patient's vertebral level ("L1: ..."), when known and it fits."""
    if not rule.smart_link:
        return summary
    level = ctx.features.bme_vertebral_level.value
    if not level or SITE_VERTEBRA not in (ctx.features.bme_sites.value or frozenset()):
        return summary
    named = f"{level}: {summary}"
    return named if len(named) <= MAX_SUMMARY else summary


def _missing(fields: tuple[tuple[str, Test | None], ...], ctx: Ctx) -> tuple[str, ...]:
    out: list[str] = []
    for name, relevant in fields:
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
