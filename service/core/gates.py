"""Safety-gate machinery (Stage F): how the gate rows of a table check drug suggestions and draft orders.

The rows themselves (S01-S14, their checks, texts and sources) are knowledge: service/knowledge/gates.py.
Each MedicationRequest suggestion a rule produces, and each classified draft order of an order-select/order-sign
call, passes through the rows that guard its drug class. An absolute contraindication removes the suggestion
and every suggestion of that class in the response (on order-sign a critical card, else a warning that leads);
"avoid" (the source says avoid) removes it too, with a warning; a relative concern keeps it, not pre-selected,
with a warning; a lab a check needs that is missing or stale withholds the suggestion and offers the lab as a
ServiceRequest. Every gate that applies reports, not only the deciding one. Gates of one group (every NSAID risk)
show as one card whose stacked concerns escalate by policy. A missing lab never counts as normal. Pure: no flask,
no requests; the date comes from `Features.today`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from types import MappingProxyType
from typing import Any
from typing import Final
from typing import Literal

from service.core.facts import Fact
from service.core.facts import Source
from service.core.features import DraftOrder
from service.core.features import Features
from service.core.findings import INDICATOR_ORDER
from service.core.findings import Code
from service.core.findings import Evidence
from service.core.findings import Finding
from service.core.findings import Indicator
from service.core.findings import SuggestionSpec
from service.core.policy import Policy
from service.core.rulemodel import Limitation
from service.core.vocabulary import DEXAMETHASONE
from service.core.vocabulary import HOOK_ORDER_SIGN
from service.core.vocabulary import NSAID_CLASSES
from service.core.vocabulary import ORDER_HOOKS

# What a check concluded, mildest first. "note": nothing wrong found but something could not be checked.
# "avoid": the source says avoid the drug for this patient (not offered; a warning, not critical, on order-sign).
Level = Literal["pass", "note", "info", "relative", "missing", "avoid", "absolute"]
RANK: Final[Mapping[str, int]] = MappingProxyType(
    {"pass": 0, "note": 1, "info": 2, "relative": 3, "missing": 4, "avoid": 5, "absolute": 6}
)
REMOVED: Final = RANK["avoid"]  # from this level on a suggestion is not offered


@dataclass(frozen=True)
class LabOrder:
    """A lab a check can ask for when its value is missing or stale."""

    label: str
    code: Code
    text: str


@dataclass(frozen=True)
class Verdict:
    """What one gate concluded about one drug."""

    gate_id: str
    level: Level
    text: str  # the reason in words, with values and dates ("eGFR 25 on 2026-10-01 is below 30")
    sources: tuple[Source, ...] = ()
    missing: tuple[str, ...] = ()  # data that was missing or stale, in words
    labs: tuple[LabOrder, ...] = ()  # labs to offer as orders


@dataclass(frozen=True)
class GateContext:
    """What a check reads: the patient's features, the policy and the drug being checked."""

    features: Features
    policy: Policy
    classes: frozenset[str]  # the drug's classes
    self_reference: str = ""  # a draft order's own reference
    self_draft: DraftOrder | None = None  # the draft order being checked (not its own duplicate)
    nsaid_drafts: tuple[DraftOrder, ...] = ()  # every NSAID draft order in the call
    nsaid_in_play: bool = False  # an NSAID is active, drafted or suggested (S14)


Check = Callable[[GateContext], Verdict]


@dataclass(frozen=True)
class Gate:
    """One row of the gate table: the drug classes it guards, its check, its texts and its (non-seed) source.

    Texts may hold {word} placeholders filled from the table's `words(policy)`. Summaries (< 140 characters
    once filled) are by the outcome the card shows; `relative` is the fallback for any outcome without one.
    """

    id: str
    title: str
    drug_classes: frozenset[str]
    check: Check
    when: str
    then: str
    relative: str
    evidence: tuple[Evidence, ...]
    absolute: str = ""
    missing: str = ""
    info: str = ""
    limitation: Limitation | None = None  # what the patient data cannot supply yet (docs/rules.md lists it)
    avoid: str = ""  # summary when the source says avoid (falls back to `absolute`)
    risk: str = ""  # the concern in two or three words, for a stacked-risk summary ("heart failure")
    # A concern about the service's own suggestion removes it without a card: the service simply does not
    # suggest the drug (S07: no warning about the indomethacin it would otherwise have offered).
    quiet_on_suggestion: bool = False


@dataclass(frozen=True)
class GateGroup:
    """Gates that show as one safety card (every NSAID risk in one), and how their stacked concerns escalate."""

    id: str  # the escalation verdict's id ("NSAID")
    title: str
    gate_ids: frozenset[str]
    stack_gates: frozenset[str] = frozenset()  # gates whose relative concerns count towards escalation
    stack_key: str | None = None  # policy key: this many stacked concerns -> absolute (not offered, critical)
    stack_extra: Callable[[GateContext], Verdict | None] | None = None  # an added risk that counts only with another
    stacked_summary: str = ""  # card summary when escalated; {stack} is the risks in words
    stacked_then: str = ""  # the card's advice when escalated
    escalation: str = ""  # the escalation rule in words (docs/rules.md)


@dataclass(frozen=True)
class GateTable:
    """The gate rows plus the table-wide decisions the machinery applies."""

    gates: tuple[Gate, ...]
    ungated_classes: frozenset[str]  # drug classes no gate covers: they pass with a note saying so
    never_blocked_rules: frozenset[str]  # rules whose drug is never blocked: concerns show as info only
    words: Callable[[Policy], Mapping[str, str]]  # the policy's numbers by the names the texts use
    groups: tuple[GateGroup, ...] = ()
    # Order hooks: draft orders are checked only when this holds (a BME or vertebral-fracture context); the EHR's
    # own drug checks cover everyone else. None: always.
    draft_context: Callable[[Features], bool] | None = None
    class_words: Mapping[str, str] = field(default_factory=dict)  # drug class -> words ("NSAIDs")


@dataclass(frozen=True)
class GateTexts:
    """A gate's texts with one policy's numbers filled in."""

    summaries: Mapping[str, str]  # by outcome: "absolute", "avoid", "relative", "missing", "info" (those given)
    when: str
    then: str


@dataclass(frozen=True)
class CompiledGates:
    """A gate table for one policy: texts filled in, and the rows that guard each drug class."""

    table: GateTable
    policy: Policy
    texts: Mapping[str, GateTexts]  # by gate id
    by_class: Mapping[str, tuple[Gate, ...]]
    known_classes: frozenset[str]  # gated or explicitly ungated
    by_id: Mapping[str, Gate] = field(default_factory=dict)
    # The cards: each group, then each gate in no group as a group of its own, in table order.
    units: tuple[GateGroup, ...] = ()

    def for_classes(self, classes: frozenset[str]) -> tuple[Gate, ...]:
        """The rows guarding any of these classes, in table order."""
        return tuple(g for g in self.table.gates if g.drug_classes & classes)


def gate_texts(gate: Gate, words: Mapping[str, str]) -> GateTexts:
    """The row's texts with the policy's numbers filled in."""
    outcomes = {
        "absolute": gate.absolute,
        "avoid": gate.avoid or gate.absolute,
        "relative": gate.relative,
        "missing": gate.missing,
        "info": gate.info,
    }
    return GateTexts(
        summaries=MappingProxyType({k: v.format_map(words) for k, v in outcomes.items() if v}),
        when=gate.when.format_map(words),
        then=gate.then.format_map(words),
    )


def compile_gates(table: GateTable, policy: Policy) -> CompiledGates:
    """Everything the policy and the table fix, worked out once: per-request work is only the patient's."""
    words = table.words(policy)
    gated = frozenset(c for g in table.gates for c in g.drug_classes)
    return CompiledGates(
        table=table,
        policy=policy,
        texts=MappingProxyType({g.id: gate_texts(g, words) for g in table.gates}),
        by_class=MappingProxyType({c: tuple(g for g in table.gates if c in g.drug_classes) for c in sorted(gated)}),
        known_classes=gated | table.ungated_classes,
        by_id=MappingProxyType({g.id: g for g in table.gates}),
        units=_units(table),
    )


def _units(table: GateTable) -> tuple[GateGroup, ...]:
    """The safety cards a table can show: its groups and its ungrouped gates, by first gate in table order."""
    grouped = {gid for grp in table.groups for gid in grp.gate_ids}
    order = {g.id: i for i, g in enumerate(table.gates)}
    units = list(table.groups) + [
        GateGroup(g.id, g.title, frozenset({g.id})) for g in table.gates if g.id not in grouped
    ]
    return tuple(sorted(units, key=lambda u: min(order.get(i, len(order)) for i in u.gate_ids)))


# --- Helpers the checks share --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabValue:
    """A lab value that is current, or why it cannot be used."""

    value: float | None
    sources: tuple[Source, ...]
    missing: str | None  # "eGFR: none on record" / "eGFR 25: stale, dated 2025-01-02"
    words: str  # "eGFR 72 on 2026-10-01"


def num(value: float) -> str:
    """A number as the texts show it: 30.0 -> '30'."""
    return f"{value:g}"


def lab_value(fact: Fact[float], name: str, today: date, max_age_days: int) -> LabValue:
    """A lab is usable only when it has a value and a date no older than labs.max_age_days."""
    if fact.value is None:
        return LabValue(None, fact.sources, f"{name}: none on record", name)
    words = f"{name} {num(fact.value)}"
    if fact.as_of is None:
        # An undated result cannot be shown to be current, so it is treated like a missing one.
        return LabValue(None, fact.sources, f"{words}: undated, cannot tell whether it is current", words)
    dated = f"{words} on {fact.as_of.isoformat()}"
    if (today - fact.as_of).days > max_age_days:
        return LabValue(
            None,
            fact.sources,
            f"{words}: stale, dated {fact.as_of.isoformat()} (older than {max_age_days} days)",
            dated,
        )
    return LabValue(float(fact.value), fact.sources, None, dated)


def worst(gate_id: str, parts: list[Verdict], pass_text: str) -> Verdict:
    """Combine a gate's findings for one drug: the worst level wins, every reason is kept."""
    concerns = [v for v in parts if v.level != "pass"]
    if not concerns:
        return Verdict(gate_id, "pass", pass_text, tuple(s for v in parts for s in v.sources))
    level = max(concerns, key=lambda v: RANK[v.level]).level
    return Verdict(
        gate_id,
        level,
        "; ".join(v.text for v in concerns),
        tuple(s for v in concerns for s in v.sources),
        tuple(m for v in concerns for m in v.missing),
        tuple(dict.fromkeys(lab for v in concerns for lab in v.labs)),
    )


def known_false(*facts: Fact[bool]) -> bool:
    """Every fact is known to be false (unknown is not false)."""
    return all(f.value is False for f in facts)


def known_sources(*facts: Fact[Any]) -> tuple[Source, ...]:
    """The sources of the facts that are known (a value of None has nothing to show)."""
    return tuple(s for f in facts if f.value is not None for s in f.sources)


def true_sources(*facts: Fact[bool]) -> tuple[Source, ...]:
    """The sources of the facts that are positively true: the data a concern rests on."""
    return tuple(s for f in facts if f.true for s in f.sources)


# --- Applying the table to one call ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hit:
    """A gate concern about one suggestion or draft order, for that gate's card."""

    verdict: Verdict
    target: str  # a suggestion: "naproxen" (its rule is the origin); a draft: "draft order naproxen 500 MG (ref)"
    effect: str  # what happened to it
    indicator: Indicator
    draft: DraftOrder | None = None
    offer_labs: bool = True  # False when the drug is not offered anyway: its lab would serve nothing
    origin: str = ""  # the rule whose suggestion this is ("R22"); "" for a draft order


@dataclass(frozen=True)
class _Call:
    """What every gate check in one CDS Hooks call shares."""

    gates: CompiledGates
    features: Features
    hook: str
    nsaid_drafts: tuple[DraftOrder, ...]  # NSAID draft orders (order hooks only), for S06
    nsaid_in_play: bool  # an NSAID is active, drafted or suggested, for S14
    emergency: bool  # a never-blocked rule fired: a dexamethasone draft is its emergency order
    # Speed: verdicts per suggested drug class, as a card often offers one class in several agents or doses
    # (R22: three NSAIDs); reusing them saves ~10% of evaluate+cards (measured).
    verdicts: dict[str, list[Verdict]] = field(default_factory=dict)


def _is_drug(spec: SuggestionSpec) -> bool:
    return spec.action == "create" and (spec.resource_type == "MedicationRequest" or spec.drug_class is not None)


def apply_gates(
    findings: tuple[Finding, ...], features: Features, hook: str, gates: CompiledGates
) -> tuple[Finding, ...]:
    """Run the gate rows over the findings' drug suggestions and the draft orders: gated + gate findings."""
    context = gates.table.draft_context
    drafts = features.draft_orders if hook in ORDER_HOOKS and (context is None or context(features)) else ()
    nsaid_drafts = tuple(d for d in drafts if d.kinds & NSAID_CLASSES)
    nsaid_suggested = any(s.drug_class in NSAID_CLASSES for fd in findings for s in fd.suggestions)
    nsaid_in_play = features.nsaid_active.true or bool(nsaid_drafts) or nsaid_suggested
    # With R10 in this response, a dexamethasone draft is that emergency order: its cautions are info only.
    emergency = any(fd.rule_id in gates.table.never_blocked_rules for fd in findings)
    call = _Call(gates, features, hook, nsaid_drafts, nsaid_in_play, emergency)
    hits: dict[str, list[_Hit]] = {}
    gated = tuple(_gate_finding(fd, call, hits) for fd in findings)
    for draft in drafts:
        _gate_draft(draft, call, hits)
    return gated + _gate_findings(hits, gates)


def stacked(verdicts: list[Verdict], ctx: GateContext, table: GateTable) -> list[Verdict]:
    """The verdicts plus, per group whose stacked concerns reach its policy count, an absolute escalation."""
    out = list(verdicts)
    for group in table.groups:
        if group.stack_key is None:
            continue
        risks = [v for v in verdicts if v.gate_id in group.stack_gates and v.level == "relative"]
        if not risks:
            continue  # an added risk (age) alone is no concern
        extra = group.stack_extra(ctx) if group.stack_extra is not None else None
        if extra is not None:
            risks.append(extra)
            out.append(extra)
        limit = ctx.policy.int(group.stack_key)
        if len(risks) < limit:
            continue
        gates = {g.id: g for g in table.gates}
        words = [gates[v.gate_id].risk if v is not extra and v.gate_id in gates else v.text for v in risks]
        out.append(
            Verdict(
                group.id,
                "absolute",
                f"{len(risks)} risks together ({', '.join(dict.fromkeys(words))})",
                tuple(s for v in risks for s in v.sources),
            )
        )
    return out


def _class_verdicts(call: _Call, drug_class: str) -> list[Verdict]:
    """Every gate's verdict on one suggested drug class, stacking applied (reused within the call)."""
    verdicts = call.verdicts.get(drug_class)
    if verdicts is None:
        ctx = GateContext(
            call.features,
            call.gates.policy,
            frozenset({drug_class}),
            nsaid_drafts=call.nsaid_drafts,
            nsaid_in_play=call.nsaid_in_play,
        )
        checked = [g.check(ctx) for g in call.gates.by_class.get(drug_class, ())]
        verdicts = stacked(checked, ctx, call.gates.table)
        call.verdicts[drug_class] = verdicts
    return verdicts


def _gate_finding(finding: Finding, call: _Call, hits: dict[str, list[_Hit]]) -> Finding:
    """Gate one finding's drug suggestions; record every concern, removal and withholding."""
    for spec in finding.suggestions:  # a loop, not any() over a generator: most findings offer no drug
        if _is_drug(spec):
            break
    else:
        return finding
    table = call.gates.table
    never_blocked = finding.rule_id in table.never_blocked_rules
    kept: list[SuggestionSpec] = []
    notes: dict[str, None] = dict.fromkeys(finding.notes)
    withheld: list[str] = []
    removed: dict[str, list[Verdict]] = {}  # drug class -> the verdicts that removed it
    waiting: list[SuggestionSpec] = []  # withheld until a lab is available
    first_drug: SuggestionSpec | None = None
    for spec in finding.suggestions:
        if not _is_drug(spec):
            kept.append(spec)
            continue
        first_drug = first_drug or spec
        if spec.drug_class is None or spec.drug_class not in call.gates.known_classes:
            # Fail closed: a drug the gates cannot classify is not offered.
            withheld.append(
                f"Withheld: {spec.label}: drug class {spec.drug_class or 'not given'} is unknown to "
                "the safety checks, so they could not run"
            )
            continue
        if spec.drug_class in table.ungated_classes:
            notes[f"No safety check in the catalogue (§5) covers {spec.drug_class}; review its label"] = None
            kept.append(spec)
            continue
        verdicts = _class_verdicts(call, spec.drug_class)
        if never_blocked:
            verdicts = [dataclasses.replace(v, level="info") if RANK[v.level] >= RANK["info"] else v for v in verdicts]
        quiet = [
            v
            for v in verdicts
            if RANK[v.level] >= RANK["relative"] and v.gate_id in call.gates.by_id
            and call.gates.by_id[v.gate_id].quiet_on_suggestion
        ]
        if quiet:
            # The service does not suggest what a gate warns about: no card, one line on this finding.
            notes[f"Not suggested: {spec.label} ({'; '.join(f'{v.gate_id}: {v.text}' for v in quiet)})"] = None
            continue
        for v in verdicts:
            if v.level in ("pass", "note"):
                notes[v.text] = None
        concerns = [v for v in verdicts if RANK[v.level] >= RANK["info"]]
        worst_rank = max((RANK[v.level] for v in concerns), default=0)
        target, origin = spec.code.display if spec.code else spec.label, finding.rule_id
        # The line on this card names only the deciding concerns: the safety card lists every one.
        deciding = [v for v in concerns if RANK[v.level] >= min(worst_rank, REMOVED)]
        why = "; ".join(f"{v.gate_id}: {v.text}" if v.gate_id in call.gates.by_id else v.text for v in deciding)
        if worst_rank >= REMOVED:
            removed.setdefault(spec.drug_class, []).extend(v for v in concerns if RANK[v.level] >= REMOVED)
            withheld.append(f"Removed: {spec.label} ({why}; see the safety card)")
            for v in concerns:
                card: Indicator = "critical" if v.level == "absolute" and call.hook == HOOK_ORDER_SIGN else "warning"
                hits.setdefault(v.gate_id, []).append(
                    _Hit(v, target, "suggestion removed", card, offer_labs=False, origin=origin)
                )
            continue
        if worst_rank == RANK["missing"]:
            waiting.append(spec)
            withheld.append(f"Withheld: {spec.label} ({why}; the lab order is on the safety card)")
            for v in concerns:
                hits.setdefault(v.gate_id, []).append(
                    _Hit(v, target, "suggestion withheld until the lab is available", "warning", origin=origin)
                )
            continue
        for v in concerns:
            notes[f"{v.gate_id} caution: {v.text} (see the safety card)"] = None
            indicator: Indicator = "info" if v.level == "info" else "warning"
            effect = "suggestion kept" if never_blocked else "suggestion kept, not pre-selected"
            hits.setdefault(v.gate_id, []).append(_Hit(v, target, effect, indicator, origin=origin))
        if any(v.level == "relative" for v in concerns):
            spec = dataclasses.replace(spec, is_recommended=False)
        kept.append(spec)
    if waiting and first_drug in waiting:
        # The preferred option waits for a lab: a riskier alternative must not be the only one-click order.
        waiting_classes = {w.drug_class for w in waiting}
        for spec in [k for k in kept if _is_drug(k) and k.drug_class not in waiting_classes]:
            kept.remove(spec)
            withheld.append(
                f"Also an option, shown as text only while {first_drug.label} waits for its labs: {spec.label}"
            )
    all_notes = tuple(notes) + tuple(withheld)
    if withheld and not kept:
        all_notes += ("No suggestion is left on this card: see the lines above for why.",)
    summary = finding.summary
    if removed and not waiting and not any(_is_drug(k) for k in kept):
        summary = finding.contraindicated_summary or _contraindicated_summary(removed, call.gates)
    return dataclasses.replace(
        finding,
        summary=summary,
        suggestions=tuple(kept),
        notes=all_notes,
        selection_behavior=finding.selection_behavior if kept else None,
    )


MAX_SUMMARY: Final = 140


def _contraindicated_summary(removed: Mapping[str, list[Verdict]], gates: CompiledGates) -> str:
    """'NSAIDs not advised for this patient (S05: pregnant, 24 weeks); see the safety card', within 140."""
    names = " and ".join(dict.fromkeys(gates.table.class_words.get(c, c) for c in removed))
    first = next(v for vs in removed.values() for v in vs)
    head = f"{names[:1].upper()}{names[1:]} not advised for this patient"
    tail = "; see the safety card"
    reason = f" ({first.gate_id}: {first.text})" if first.gate_id in gates.by_id else f" ({first.text})"
    room = MAX_SUMMARY - len(head) - len(tail)
    if len(reason) > room:
        reason = reason[: max(0, room - 4)].rsplit(" ", 1)[0] + "...)" if room > 10 else ""
    return head + reason + tail


def _fit(summary: str) -> str:
    """A summary cut at a word to fit a card (the full list of risks is in the card's lines)."""
    if len(summary) <= MAX_SUMMARY:
        return summary
    return summary[: MAX_SUMMARY - 3].rsplit(" ", 1)[0].rstrip(",;:(") + "..."


def _gate_draft(draft: DraftOrder, call: _Call, hits: dict[str, list[_Hit]]) -> None:
    """Gate one draft order: every concern becomes a hit on its safety card."""
    rows = call.gates.for_classes(draft.kinds)
    if not rows:
        return
    ctx = GateContext(
        call.features,
        call.gates.policy,
        draft.kinds,
        self_reference=draft.reference,
        self_draft=draft,
        nsaid_drafts=call.nsaid_drafts,
        nsaid_in_play=call.nsaid_in_play,
    )
    ref = f" ({draft.reference})" if draft.reference else ""
    target = f"draft order {draft.display}{ref}"
    never_blocked = call.emergency and DEXAMETHASONE in draft.kinds
    for v in stacked([gate.check(ctx) for gate in rows], ctx, call.gates.table):
        shown = _draft_effect(v.level, call.hook, never_blocked)
        if shown is not None:
            hits.setdefault(v.gate_id, []).append(_Hit(v, target, shown[1], shown[0], draft))


def _draft_effect(level: Level, hook: str, never_blocked: bool) -> tuple[Indicator, str] | None:
    """How a gate's verdict on a draft order shows: card indicator and what the clinician may do."""
    if level in ("pass", "note"):
        return None
    if never_blocked:
        # clinical-rules.md §3 R10: never block the cord-compression dexamethasone; cautions are info only.
        return "info", "for information; do not delay it"
    if level == "absolute":
        # clinical-rules.md §2: an absolute contraindication is critical when the order is being signed.
        return ("critical" if hook == HOOK_ORDER_SIGN else "warning"), "contraindicated: consider removing the draft"
    if level == "avoid":
        return "warning", "avoid: consider removing the draft"
    if level == "missing":
        return "warning", "check the lab before signing"
    return "warning", "review before signing"


def _summary_for(gates: CompiledGates, gate_id: str, level: str) -> str:
    summaries = gates.texts[gate_id].summaries
    key = level if level in ("absolute", "avoid", "missing", "info") else "relative"
    return summaries.get(key) or summaries["relative"]


def _gate_findings(hits: dict[str, list[_Hit]], gates: CompiledGates) -> tuple[Finding, ...]:
    """One finding per safety card (a group of gates, or a gate alone) listing every concern and its effect."""
    offered_labs: dict[LabOrder, str] = {}  # lab -> the card that offers it (one order per lab per response)
    out: list[Finding] = []
    for unit in gates.units:
        ids = [g.id for g in gates.table.gates if g.id in unit.gate_ids and g.id in hits]
        escalations = hits.get(unit.id, []) if unit.id not in gates.by_id else []
        if not ids and not escalations:  # most calls hit no gate, or one or two of the fourteen
            continue
        carded = [h for i in ids for h in hits[i]] + escalations
        indicator = min((h.indicator for h in carded), key=INDICATOR_ORDER.__getitem__)
        top = max(RANK[h.verdict.level] for h in carded)
        # The card is named after the first gate (table order) with the gravest concern among the real gates.
        real_top = max((RANK[h.verdict.level] for i in ids for h in hits[i]), default=-1)
        lead = next((i for i in ids if any(RANK[h.verdict.level] == real_top for h in hits[i])), ids[0] if ids else "")
        stacked = bool(escalations) and top == RANK["absolute"] > real_top and bool(unit.stacked_summary)
        if stacked:
            summary = _fit(unit.stacked_summary.format(stack=escalations[0].verdict.text))
        else:
            level = next(h.verdict.level for h in hits[lead] if RANK[h.verdict.level] == real_top)
            summary = _summary_for(gates, lead, level)
        notes: dict[str, None] = {}
        texts_by_gate: dict[str, set[str]] = {}
        for h in carded:
            texts_by_gate.setdefault(h.verdict.gate_id, set()).add(h.verdict.text)
        for h in sorted(carded, key=lambda h: -RANK[h.verdict.level]):
            v = h.verdict
            if any(v.text in t and v.text != t for t in texts_by_gate[v.gate_id]):
                continue  # already said by the gate's fuller line ("age 82" within "... added risk: age 82")
            if v.gate_id in gates.by_id:
                notes[f"{v.gate_id} {gates.by_id[v.gate_id].title}: {v.text}"] = None
            else:
                notes[f"{unit.title}: {v.text}"] = None
        if escalations and unit.stack_key:
            notes[
                f"Stacked risks reach the policy count ({unit.stack_key} = {gates.policy.int(unit.stack_key)}, "
                "a local default for governance to confirm): not offered"
            ] = None
        effects: dict[str, dict[str, dict[str, None]]] = {}  # effect -> origin -> targets
        for h in carded:
            effects.setdefault(h.effect, {}).setdefault(h.origin, {})[h.target] = None
        for effect, origins in effects.items():
            parts = [", ".join(t) + (f" ({o})" if o else "") for o, t in origins.items()]
            notes[f"{effect[:1].upper()}{effect[1:]}: {'; '.join(parts)}"] = None
        suggestions: list[SuggestionSpec] = []
        for lab in dict.fromkeys(lab for h in carded if h.offer_labs for lab in h.verdict.labs):
            if lab in offered_labs:
                notes[f"{lab.text}: offered on the {offered_labs[lab]} card"] = None
                continue
            offered_labs[lab] = lead
            suggestions.append(_lab_suggestion(lab, lead))
        for h in carded:
            if h.draft is not None and RANK[h.verdict.level] >= REMOVED and h.draft.reference:
                delete = SuggestionSpec(
                    label=f"Remove draft order {h.draft.display}",
                    action="delete",
                    resource_type=_resource_type(h.draft),
                    text=h.draft.display,
                    delete_reference=h.draft.reference,
                )
                if delete not in suggestions:
                    suggestions.append(delete)
        shown = ", ".join(ids)
        notes[
            f"These safety checks are not from the seed documents (clinical-rules.md §5, {shown}); confirm them "
            "against current product labels and local policy."
        ] = None
        data_used = tuple(
            dict.fromkeys(
                [s for h in carded for s in h.verdict.sources]
                + [h.draft.source for h in carded if h.draft is not None and h.draft.source is not None]
            )
        )
        texts = gates.texts[lead]
        out.append(
            Finding(
                rule_id=lead,
                title=unit.title if len(ids) > 1 or escalations else gates.by_id[lead].title,
                indicator=indicator,
                summary=summary,
                # One gate: its "then" and "when". Several: the lead gate's advice, and the gates by name (each
                # concern is a line of the card, each gate's full rule is on its public page).
                recommendation=unit.stacked_then if stacked and unit.stacked_then else texts.then,
                rule_text=(
                    f"Fires when: {texts.when}."
                    if len(ids) == 1
                    else f"{unit.title}: " + "; ".join(f"{i} {gates.by_id[i].title}" for i in ids) + "."
                ),
                evidence=tuple(dict.fromkeys(e for i in ids for e in gates.by_id[i].evidence)),
                data_used=data_used,
                missing=tuple(dict.fromkeys(m for h in carded for m in h.verdict.missing)),
                suggestions=tuple(suggestions),
                selection_behavior="any" if suggestions else None,
                notes=tuple(notes),
                carried_ids=tuple(i for i in ids if i != lead),
                contraindication=top >= REMOVED,
            )
        )
    return tuple(out)


def _resource_type(draft: DraftOrder) -> Literal["MedicationRequest", "ServiceRequest", "DeviceRequest"]:
    if draft.resource_type == "ServiceRequest":
        return "ServiceRequest"
    if draft.resource_type == "DeviceRequest":
        return "DeviceRequest"
    return "MedicationRequest"


def _lab_suggestion(lab: LabOrder, gate_id: str) -> SuggestionSpec:
    return SuggestionSpec(
        label=lab.label,
        action="create",
        resource_type="ServiceRequest",
        code=lab.code,
        text=lab.text,
        note=f"Requested by safety check {gate_id}: no current result",
    )
