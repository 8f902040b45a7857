"""Safety-gate machinery (Stage F): how the gate rows of a table check drug suggestions and draft orders.

The rows themselves (S01-S14, their checks, texts and sources) are knowledge: service/knowledge/gates.py.
Each MedicationRequest suggestion a rule produces, and each classified draft order of an order-select/order-sign
call, passes through the rows that guard its drug class. An absolute contraindication removes the suggestion
(and on order-sign adds a critical card); a relative concern keeps it, not pre-selected, with a warning card;
a lab a check needs that is missing or stale withholds the suggestion and offers the lab as a ServiceRequest.
A missing lab never counts as normal. Pure: no flask, no requests; the date comes from `Features.today`.
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
Level = Literal["pass", "note", "info", "relative", "missing", "absolute"]
RANK: Final[Mapping[str, int]] = MappingProxyType(
    {"pass": 0, "note": 1, "info": 2, "relative": 3, "missing": 4, "absolute": 5}
)


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


@dataclass(frozen=True)
class GateTable:
    """The gate rows plus the table-wide decisions the machinery applies."""

    gates: tuple[Gate, ...]
    ungated_classes: frozenset[str]  # drug classes no gate covers: they pass with a note saying so
    never_blocked_rules: frozenset[str]  # rules whose drug is never blocked: concerns show as info only
    words: Callable[[Policy], Mapping[str, str]]  # the policy's numbers by the names the texts use


@dataclass(frozen=True)
class GateTexts:
    """A gate's texts with one policy's numbers filled in."""

    summaries: Mapping[str, str]  # by outcome: "absolute", "relative", "missing", "info" (only those given)
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

    def for_classes(self, classes: frozenset[str]) -> tuple[Gate, ...]:
        """The rows guarding any of these classes, in table order."""
        return tuple(g for g in self.table.gates if g.drug_classes & classes)


def gate_texts(gate: Gate, words: Mapping[str, str]) -> GateTexts:
    """The row's texts with the policy's numbers filled in."""
    outcomes = {"absolute": gate.absolute, "relative": gate.relative, "missing": gate.missing, "info": gate.info}
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
    )


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
    target: str  # "suggestion 'Naproxen ...' (R22)" / "draft order naproxen 500 MG (MedicationRequest/a)"
    effect: str  # what happened to it
    indicator: Indicator | None  # None: no card for this hit (e.g. removed suggestion outside order-sign)
    draft: DraftOrder | None = None


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
    nsaid_drafts = tuple(d for d in features.draft_orders if d.kinds & NSAID_CLASSES) if hook in ORDER_HOOKS else ()
    nsaid_suggested = any(s.drug_class in NSAID_CLASSES for fd in findings for s in fd.suggestions)
    nsaid_in_play = features.nsaid_active.true or bool(nsaid_drafts) or nsaid_suggested
    # With R10 in this response, a dexamethasone draft is that emergency order: its cautions are info only.
    emergency = any(fd.rule_id in gates.table.never_blocked_rules for fd in findings)
    call = _Call(gates, features, hook, nsaid_drafts, nsaid_in_play, emergency)
    hits: dict[str, list[_Hit]] = {}
    gated = tuple(_gate_finding(fd, call, hits) for fd in findings)
    if hook in ORDER_HOOKS:
        for draft in features.draft_orders:
            _gate_draft(draft, call, hits)
    return gated + _gate_findings(hits, gates)


def _gate_finding(finding: Finding, call: _Call, hits: dict[str, list[_Hit]]) -> Finding:
    """Gate one finding's drug suggestions; record passes and removals in its notes."""
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
    for spec in finding.suggestions:
        if not _is_drug(spec):
            kept.append(spec)
            continue
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
        verdicts = call.verdicts.get(spec.drug_class)
        if verdicts is None:
            ctx = GateContext(
                call.features,
                call.gates.policy,
                frozenset({spec.drug_class}),
                nsaid_drafts=call.nsaid_drafts,
                nsaid_in_play=call.nsaid_in_play,
            )
            verdicts = [g.check(ctx) for g in call.gates.by_class.get(spec.drug_class, ())]
            call.verdicts[spec.drug_class] = verdicts
        if never_blocked:
            verdicts = [dataclasses.replace(v, level="info") if RANK[v.level] >= RANK["info"] else v for v in verdicts]
        worst_rank = max((RANK[v.level] for v in verdicts), default=0)
        target = f"suggestion '{spec.label}' ({finding.rule_id})"
        for v in verdicts:
            if v.level in ("pass", "note"):
                notes[v.text] = None
        if worst_rank >= RANK["missing"]:
            deciding = [v for v in verdicts if RANK[v.level] >= RANK["missing"]]
            why = "; ".join(f"{v.gate_id}: {v.text}" for v in deciding)
            also = [f"{v.gate_id}: {v.text}" for v in verdicts if v.level in ("relative", "info")]
            if also:
                # Shown so that the lesser concerns are not lost once the deciding one is resolved.
                why += "; also " + "; ".join(also)
            if worst_rank == RANK["absolute"]:
                withheld.append(f"Removed: {spec.label} ({why}; contraindicated)")
            else:
                # One card per lab offers the order (the first gate needing it): point at the gate cards.
                withheld.append(f"Withheld: {spec.label} ({why}; the lab order is on the safety-check card)")
            for v in deciding:
                # A removal needs a card only on order-sign; a missing lab always gets one (it offers the lab)
                card: Indicator | None = (
                    "warning" if v.level == "missing" else ("critical" if call.hook == HOOK_ORDER_SIGN else None)
                )
                effect = (
                    "suggestion withheld until the lab is available" if v.level == "missing" else "suggestion removed"
                )
                hits.setdefault(v.gate_id, []).append(_Hit(v, target, effect, card))
            continue
        concerns = [v for v in verdicts if v.level in ("relative", "info")]
        for v in concerns:
            notes[f"{v.gate_id} caution: {v.text} (see the {v.gate_id} card)"] = None
            indicator: Indicator = "info" if v.level == "info" else "warning"
            effect = "suggestion kept" if never_blocked else "suggestion kept, not pre-selected"
            hits.setdefault(v.gate_id, []).append(_Hit(v, target, effect, indicator))
        if any(v.level == "relative" for v in concerns):
            spec = dataclasses.replace(spec, is_recommended=False)
        kept.append(spec)
    all_notes = tuple(notes) + tuple(withheld)
    if withheld and not kept:
        all_notes += ("No suggestion is left on this card: see the lines above for why.",)
    return dataclasses.replace(
        finding,
        suggestions=tuple(kept),
        notes=all_notes,
        selection_behavior=finding.selection_behavior if kept else None,
    )


def _gate_draft(draft: DraftOrder, call: _Call, hits: dict[str, list[_Hit]]) -> None:
    """Gate one draft order: every concern becomes a hit on that gate's card."""
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
    for gate in rows:
        v = gate.check(ctx)
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
    if level == "missing":
        return "warning", "check the lab before signing"
    return "warning", "review before signing"


def _gate_findings(hits: dict[str, list[_Hit]], gates: CompiledGates) -> tuple[Finding, ...]:
    """One finding per gate that fired, listing every affected suggestion and order."""
    offered_labs: dict[LabOrder, str] = {}  # lab -> the gate card that offers it (one order per lab per response)
    out: list[Finding] = []
    for gate in gates.table.gates:
        if gate.id not in hits:  # most calls hit no gate, or one or two of the fourteen
            continue
        carded = [h for h in hits[gate.id] if h.indicator is not None]
        if not carded:
            continue
        indicator = min((h.indicator for h in carded if h.indicator is not None), key=INDICATOR_ORDER.__getitem__)
        levels = [h.verdict.level for h in carded if h.indicator == indicator]
        worst_level = max(levels, key=RANK.__getitem__)
        texts = gates.texts[gate.id]
        summary_key = {"absolute": "absolute", "missing": "missing", "info": "info"}.get(worst_level, "relative")
        summary = texts.summaries.get(summary_key) or texts.summaries["relative"]
        suggestions: list[SuggestionSpec] = []
        notes: list[str] = []
        for h in carded:
            notes.append(f"{h.target}: {h.verdict.text}; {h.effect}")
        for lab in dict.fromkeys(lab for h in carded for lab in h.verdict.labs):
            if lab in offered_labs:
                notes.append(f"{lab.text}: offered on the {offered_labs[lab]} card")
                continue
            offered_labs[lab] = gate.id
            suggestions.append(_lab_suggestion(lab, gate.id))
        for h in carded:
            if h.draft is not None and h.verdict.level == "absolute" and h.draft.reference:
                delete = SuggestionSpec(
                    label=f"Remove draft order {h.draft.display}",
                    action="delete",
                    resource_type=_resource_type(h.draft),
                    text=h.draft.display,
                    delete_reference=h.draft.reference,
                )
                if delete not in suggestions:
                    suggestions.append(delete)
        notes.append(
            f"This safety check is not from the seed documents (clinical-rules.md §5, {gate.id}); confirm "
            "it against current product labels and local policy."
        )
        data_used = tuple(
            dict.fromkeys(
                [s for h in carded for s in h.verdict.sources]
                + [h.draft.source for h in carded if h.draft is not None and h.draft.source is not None]
            )
        )
        out.append(
            Finding(
                rule_id=gate.id,
                title=gate.title,
                indicator=indicator,
                summary=summary,
                recommendation=texts.then,
                # The recommendation already carries the "then" part; the rule line says when it fires.
                rule_text=f"Fires when: {texts.when}.",
                evidence=gate.evidence,
                data_used=data_used,
                missing=tuple(dict.fromkeys(m for h in carded for m in h.verdict.missing)),
                suggestions=tuple(suggestions),
                selection_behavior="any" if suggestions else None,
                notes=tuple(notes),
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
