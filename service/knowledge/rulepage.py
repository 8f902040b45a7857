"""The public page of one rule or safety gate, as data: what the rule table and the gate table say about it.

The same tables docs/rules.md is rendered from (doc.py), read the same way: predicates' plain-English
descriptions, card texts and notes with the policy's numbers filled in, offers and their catalogues, evidence
quotes, policy settings, limitations. No patient data can reach a page: the builders take only an id and a
Policy. Pure module: service/web/rulepages.py renders the model as HTML.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

from service.core.citations import PAGE_ID
from service.core.citations import short_citation
from service.core.features import SPECS
from service.core.findings import Evidence
from service.core.findings import SuggestionSpec
from service.core.gates import Gate
from service.core.policy import DEFAULT_POLICY
from service.core.policy import SETTINGS
from service.core.policy import Policy
from service.core.policy import policy_from_mapping
from service.core.rulemodel import STAGE_NAMES
from service.core.rulemodel import Rule
from service.core.rulemodel import format_value
from service.core.rulemodel import render
from service.core.vocabulary import CPT
from service.core.vocabulary import HOOKS
from service.core.vocabulary import LOINC
from service.core.vocabulary import RXNORM
from service.core.vocabulary import SNOMED
from service.knowledge.gates import GATES
from service.knowledge.gates import words as gate_words
from service.knowledge.limitations import DECISIONS
from service.knowledge.limitations import LIMITATIONS
from service.knowledge.rules import DEFERRALS
from service.knowledge.rules import RULES
from service.knowledge.rules import STAGE_GATES

GATE_STAGE = "Stage F: safety gates (NOT IN SEEDS)"
_SYSTEM_NAMES = {RXNORM: "RxNorm", LOINC: "LOINC", SNOMED: "SNOMED CT", CPT: "CPT"}
_RANGE = re.compile(r"\b([RS])(\d\d)(?:-[RS]?(\d\d))?\b")  # "R21-R28", "R03", "S12" in a limitation's rule list


@dataclass(frozen=True)
class Quote:
    """One evidence statement with its short citation."""

    citation: str
    statement: str
    in_seeds: bool
    url: str | None  # the source itself when it is a web address


@dataclass(frozen=True)
class SettingView:
    """A policy setting the rule reads: the value in force, the default and where the default comes from."""

    key: str
    value: str
    default: str
    meaning: str
    basis: str

    @property
    def overridden(self) -> bool:
        """True when the institution's policy changed the default."""
        return self.value != self.default


@dataclass(frozen=True)
class OrderView:
    """An order the rule may offer, with the dose as the seeds word it."""

    label: str
    action: str  # "create" or "delete"
    resource: str  # "MedicationRequest", "ServiceRequest", "DeviceRequest"
    code: str  # "RxNorm 7258 (naproxen)" or "" for a text order
    dose: str  # the seed's wording; "" when the seeds give none (drugs only)
    note: str
    priority: str


@dataclass(frozen=True)
class Variant:
    """One row of the rule table: its hooks, When/Unless, the card and the orders it may offer."""

    name: str  # "" for a rule with one row
    hooks: tuple[str, ...]
    when: tuple[str, ...]  # all must hold
    unless: tuple[str, ...]  # any one excludes
    indicator: str
    summary: str
    recommendation: str
    rule_text: str
    offer: str
    orders: tuple[OrderView, ...]
    selection: str
    notes: tuple[str, ...]
    missing: tuple[str, ...]  # what the card lists as missing when unknown


@dataclass(frozen=True)
class GateBody:
    """A safety gate's When/Then, the drug classes it guards and its card summary per outcome."""

    drug_classes: tuple[str, ...]
    when: str
    then: str
    outcomes: tuple[tuple[str, str], ...]  # (outcome, card summary)


@dataclass(frozen=True)
class RulePage:
    """Everything the public page of one rule or gate shows."""

    id: str
    kind: str  # "rule" or "gate"
    title: str
    stage: str
    hooks: tuple[str, ...]
    variants: tuple[Variant, ...]  # rules only
    gate: GateBody | None  # gates only
    evidence: tuple[Quote, ...]
    settings: tuple[SettingView, ...]
    context: tuple[str, ...]  # how the engine treats this rule (stage gate, deferrals)
    limitations: tuple[tuple[str, str], ...]  # (item, why)


@dataclass(frozen=True)
class IndexEntry:
    """One line of the index: id, title, the cards' indicators and the hooks."""

    id: str
    title: str
    indicators: tuple[str, ...]
    hooks: tuple[str, ...]


@dataclass(frozen=True)
class IndexPage:
    """The list of every rule (by stage) and gate, with how the rules run."""

    sections: tuple[tuple[str, tuple[IndexEntry, ...]], ...]  # (stage name, entries)
    decisions: tuple[str, ...]


def page_ids(rules: Sequence[Rule] = RULES, gates: Sequence[Gate] = GATES) -> tuple[str, ...]:
    """Every id that has a page: the rules in table order, then the gates."""
    return tuple(dict.fromkeys([*(r.id for r in rules), *(g.id for g in gates)]))


def rule_page(rule_id: str, policy: Policy = DEFAULT_POLICY, rules: Sequence[Rule] = RULES,
              gates: Sequence[Gate] = GATES) -> RulePage | None:
    """The page of one rule or gate; None when no rule or gate has this id."""
    if not PAGE_ID.match(rule_id):
        return None
    rows = [r for r in rules if r.id == rule_id]
    if rows:
        return _rule_page(rows, policy)
    gate = next((g for g in gates if g.id == rule_id), None)
    return _gate_page(gate, policy) if gate is not None else None


def index_page(policy: Policy = DEFAULT_POLICY, rules: Sequence[Rule] = RULES,
               gates: Sequence[Gate] = GATES) -> IndexPage:
    """Every rule grouped by stage, then the gates, and the table-wide decisions."""
    sections: list[tuple[str, tuple[IndexEntry, ...]]] = []
    for stage, name in STAGE_NAMES.items():
        ids = dict.fromkeys(r.id for r in rules if r.stage == stage)
        entries = []
        for rid in ids:
            rows = [r for r in rules if r.id == rid]
            entries.append(IndexEntry(rid, rows[0].title, _unique(r.card.indicator for r in rows),
                                      _unique(h for r in rows for h in r.hooks)))
        if entries:
            sections.append((name, tuple(entries)))
    sections.append((GATE_STAGE, tuple(IndexEntry(g.id, g.title, (), HOOKS) for g in gates)))
    return IndexPage(tuple(sections), tuple(render(d, policy) for d in DECISIONS))


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _rule_page(rows: Sequence[Rule], policy: Policy) -> RulePage:
    first = rows[0]
    keys = _unique(k for r in rows for k in r.all_policy_keys())
    return RulePage(
        id=first.id,
        kind="rule",
        title=first.title,
        stage=STAGE_NAMES[first.stage],
        hooks=_unique(h for r in rows for h in r.hooks),
        variants=tuple(_variant(r, policy, len(rows) > 1) for r in rows),
        gate=None,
        evidence=_quotes(ev for r in rows for ev in r.evidence),
        settings=tuple(_setting(k, policy) for k in keys),
        context=_context(first, policy),
        limitations=_limitations(first.id),
    )


def _variant(rule: Rule, policy: Policy, several: bool) -> Variant:
    card = rule.card
    return Variant(
        name=(rule.variant or "default") if several else "",
        hooks=rule.hooks,
        when=tuple(render(p.describe, policy) for p in rule.when),
        unless=tuple(render(p.describe, policy) for p in rule.unless),
        indicator=card.indicator,
        summary=render(card.summary, policy),
        recommendation=render(card.recommendation, policy),
        rule_text=render(card.rule_text, policy),
        offer=render(rule.offer.describe, policy),
        orders=tuple(_order(s) for s in rule.offer.catalogue),
        selection=card.selection_behavior or "",
        notes=tuple(render(n, policy) for n in rule.notes),
        missing=tuple(SPECS[m].missing or m for m in rule.missing),
    )


def _order(spec: SuggestionSpec) -> OrderView:
    code = ""
    if spec.code is not None:
        system = _SYSTEM_NAMES.get(spec.code.system, spec.code.system)
        code = f"{system} {spec.code.code} ({spec.code.display})"
    return OrderView(
        label=spec.label,
        action=spec.action,
        resource=spec.resource_type,
        code=code,
        dose=spec.dose_text or "",
        note=spec.note or "",
        priority=spec.priority or "",
    )


def _quotes(items: Iterable[Evidence]) -> tuple[Quote, ...]:
    return tuple(dict.fromkeys(_quote(ev) for ev in items))


def _quote(ev: Evidence) -> Quote:
    if ev.source.startswith("https://"):  # a web page: cite its site, link the page
        return Quote(urlsplit(ev.source).hostname or ev.source, ev.statement, ev.in_seeds, ev.source)
    return Quote(short_citation(ev.source), ev.statement, ev.in_seeds, None)


def _setting(key: str, policy: Policy) -> SettingView:
    setting = SETTINGS[key]
    return SettingView(key, format_value(policy[key]), format_value(setting.default), setting.meaning,
                       setting.basis)


def _context(rule: Rule, policy: Policy) -> tuple[str, ...]:
    out = [f"Stage {stage} gate (checked before this rule): {render(pred.describe, policy)}."
           for stage, pred in STAGE_GATES.items() if stage == rule.stage]
    for deferral in DEFERRALS:
        if rule.id == deferral.trigger or rule.id in deferral.targets:
            out.append(f"When {deferral.trigger} fires, the drug suggestions of {', '.join(deferral.targets)} "
                       f"are shown as not recommended: \"{deferral.note}\".")
    return tuple(out)


def _limitations(rule_id: str) -> tuple[tuple[str, str], ...]:
    gate_limits = tuple(g.limitation for g in GATES if g.limitation is not None)
    return tuple((lim.item, lim.reason) for lim in (*LIMITATIONS, *gate_limits)
                 if rule_id in _named_ids(lim.rules))


def _named_ids(text: str) -> frozenset[str]:
    """The ids a limitation names: "R21-R28, R36" -> R21 ... R28 and R36."""
    out: set[str] = set()
    for prefix, start, end in _RANGE.findall(text):
        out.update(f"{prefix}{n:02d}" for n in range(int(start), int(end or start) + 1))
    return frozenset(out)


def _gate_page(gate: Gate, policy: Policy) -> RulePage:
    words = gate_words(policy)
    keys = [k for k, names in _gate_word_keys().items() if names & _placeholders(gate)]
    return RulePage(
        id=gate.id,
        kind="gate",
        title=gate.title,
        stage=GATE_STAGE,
        hooks=HOOKS,
        variants=(),
        gate=GateBody(
            drug_classes=tuple(sorted(gate.drug_classes)),
            when=_fill(gate.when, words),
            then=_fill(gate.then, words),
            outcomes=tuple((outcome, _fill(text, words)) for outcome, text in _outcomes(gate).items()),
        ),
        evidence=_quotes(gate.evidence),
        settings=tuple(_setting(k, policy) for k in keys),
        context=(),
        limitations=_limitations(gate.id),
    )


def _outcomes(gate: Gate) -> dict[str, str]:
    """The card summary per outcome the row gives (absolute, relative, missing, info)."""
    given = {"absolute": gate.absolute, "relative": gate.relative, "missing": gate.missing, "info": gate.info}
    return {outcome: text for outcome, text in given.items() if text}


def _fill(text: str, words: Mapping[str, str]) -> str:
    try:
        return text.format_map(words)
    except (KeyError, ValueError, IndexError):
        return text


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _placeholders(gate: Gate) -> frozenset[str]:
    texts = (gate.when, gate.then, *_outcomes(gate).values())
    return frozenset(name for text in texts for name in _PLACEHOLDER.findall(text))


@cache
def _gate_word_keys() -> dict[str, frozenset[str]]:
    """Policy key -> the gate-text words it sets, found by changing each numeric default and seeing what moves."""
    base = gate_words(DEFAULT_POLICY)
    out: dict[str, frozenset[str]] = {}
    for key, setting in SETTINGS.items():
        default = setting.default
        if isinstance(default, bool) or not isinstance(default, int | float):
            continue
        changed = gate_words(policy_from_mapping({key: default + 7}))
        names = frozenset(name for name, value in changed.items() if value != base[name])
        if names:
            out[key] = names
    return out
