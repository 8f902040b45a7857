"""Render the rule and gate tables as Markdown: the prose view clinicians review, docs/rules.md.

Generated, never hand-written: `python tools/render_rules_doc.py` writes it and a test fails when it is stale.
Pure: returns a string; the tool does the writing.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence

from service.config import RULESET_VERSION
from service.core.features import SPECS
from service.core.findings import Evidence
from service.core.findings import SuggestionSpec
from service.core.gates import Gate
from service.core.gates import gate_texts
from service.core.policy import DEFAULT_POLICY
from service.core.policy import SETTINGS
from service.core.policy import Policy
from service.core.rulemodel import STAGE_NAMES
from service.core.rulemodel import STAGES
from service.core.rulemodel import Rule
from service.core.rulemodel import format_value
from service.core.rulemodel import render
from service.knowledge.changes import RULESET_CHANGES
from service.knowledge.gates import GATES
from service.knowledge.gates import GROUPS
from service.knowledge.gates import words as gate_words
from service.knowledge.limitations import DECISIONS
from service.knowledge.limitations import LIMITATIONS
from service.knowledge.rules import DEFERRALS
from service.knowledge.rules import RULES
from service.knowledge.rules import STAGE_GATES

REGENERATE = "python tools/render_rules_doc.py"


def _evidence(items: Iterable[Evidence]) -> list[str]:
    out = []
    for ev in items:
        tag = "" if ev.in_seeds else " (NOT IN SEEDS)"
        out.append(f"  - `{ev.source}`{tag}: \"{ev.statement}\"")
    return out


def _suggestion(spec: SuggestionSpec) -> str:
    parts = [spec.label if spec.action == "create" else f"delete: {spec.label}"]
    if spec.code is not None:
        parts.append(f"code {spec.code.system}|{spec.code.code} ({spec.code.display})")
    elif spec.action == "create":
        parts.append("no code (text order)")
    if spec.resource_type == "MedicationRequest":
        parts.append(f"dose (seed wording): \"{spec.dose_text}\"" if spec.dose_text else "no dose")
    if spec.note:
        parts.append(f"note: {spec.note}")
    return "    - " + "; ".join(parts)


def _config(keys: Sequence[str], policy: Policy) -> str:
    if not keys:
        return "none"
    return "; ".join(f"`{k}` = {format_value(policy[k])} ({SETTINGS[k].basis})" for k in keys)


def _row(rule: Rule, policy: Policy) -> list[str]:
    card = rule.card
    when = " **and** ".join(render(p.describe, policy) for p in rule.when)
    unless = " **or** ".join(render(p.describe, policy) for p in rule.unless) or "-"
    lines = [
        f"- **Hooks:** {', '.join(rule.hooks)}",
        f"- **When:** {when}",
        f"- **Unless:** {unless}",
        f"- **Then:** `{card.indicator}` card: \"{render(card.summary, policy)}\"",
        f"  - Recommendation: {render(card.recommendation, policy)}",
        f"  - Rule: {render(card.rule_text, policy)}",
        f"  - Suggestions: {render(rule.offer.describe, policy)}"
        + (f" (selection: {card.selection_behavior})" if card.selection_behavior else ""),
        *(_suggestion(s) for s in rule.offer.catalogue),
    ]
    lines += [f"  - Note: {render(n, policy)}" for n in rule.notes]
    if card.fold:
        lines.append(f"- **Folded into the pathway card as:** {render(card.fold, policy)}")
    if rule.missing:
        missing = "; ".join(SPECS[m].missing for m in rule.missing)
        lines.append(f"- **Reports as missing when unknown:** {missing}")
    if rule.smart_link:
        lines.append("- **SMART app link:** yes (pathway card)")
    lines.append("- **Evidence:**")
    lines += _evidence(rule.evidence)
    lines.append(f"- **Config:** {_config(rule.all_policy_keys(), policy)}")
    return lines


def _gates(gates: Sequence[Gate], policy: Policy) -> list[str]:
    words = gate_words(policy)
    lines = ["## Stage F: safety gates S01-S14 (NOT IN SEEDS)",
             "",
             "Generated from `service/knowledge/gates.py`. Every drug suggestion and classified draft order "
             "passes through the gates of its drug class.",
             ""]
    for gate in gates:
        texts = gate_texts(gate, words)
        lines += [f"### {gate.id}. {gate.title}", "",
                  f"- **When:** {texts.when}",
                  f"- **Then:** {texts.then}",
                  "- **Evidence:**", *_evidence(gate.evidence), ""]
    lines += ["### Safety cards: how the gates show and escalate", "",
              "Every gate that applies reports (not only the one that decides). A drug a gate makes "
              "contraindicated or says to avoid is not offered anywhere in the response, and a rule card "
              "whose every drug was removed says so in its summary. A card that reports a contraindication leads "
              "the cards of its indicator. When the preferred drug waits for a lab, the other drugs of that card "
              "are shown as text only. Order hooks check draft orders only for a patient with BME or a vertebral "
              "fracture. S07 removes indomethacin from the service's own suggestions without a card.", "",
              *(f"- **{grp.title}:** {grp.escalation.format_map(words)}" for grp in GROUPS if grp.escalation), ""]
    return lines


def render_markdown(rules: Sequence[Rule] = RULES, policy: Policy = DEFAULT_POLICY,
                    gates: Sequence[Gate] = GATES) -> str:
    """docs/rules.md: every rule row with When/Unless/Then/Evidence/Config, the gates and the limitations."""
    lines = [
        "# BME CDS rules",
        "",
        f"Generated from `service/knowledge/rules.py` (and `service/knowledge/gates.py`) by `{REGENERATE}`; do not "
        "edit by hand.",
        "Research draft: **a clinician must review and sign off every rule before any of it ships.** Numbers "
        "in the texts are the policy defaults (clinical-rules.md §4); an institution policy file changes "
        "them.",
        "",
        "## How the rules run", "",
        *(f"- {d}" for d in DECISIONS),
        *(f"- Stage {s} gate: {render(g.describe, policy)}." for s, g in STAGE_GATES.items()),
        *(f"- {d.trigger} defers {', '.join(d.targets)}: \"{d.note}\"." for d in DEFERRALS), "",
        f"## What changed in rule set {RULESET_VERSION}, and why", "",
        "| Rules | What changed | Why |", "|---|---|---|",
        *(f"| {c.ids} | {c.what} | {c.why} |" for c in RULESET_CHANGES), "",
    ]
    for stage in STAGES:
        lines += [f"## {STAGE_NAMES[stage]}", ""]
        seen: list[str] = []
        for rule in (r for r in rules if r.stage == stage):
            if rule.id not in seen:
                seen.append(rule.id)
                lines += [f"### {rule.id}. {rule.title}", ""]
            if rule.variant or sum(r.id == rule.id for r in rules) > 1:
                hooks = ", ".join(rule.hooks)
                lines += [f"#### {rule.id} variant: {rule.variant or 'default'} ({hooks})", ""]
            lines += [*_row(rule, policy), ""]
    lines += _gates(gates, policy)
    limitations = (*LIMITATIONS, *(g.limitation for g in gates if g.limitation is not None))
    lines += ["## Rules the data cannot support yet", "",
              "| Item | Rules | Why |", "|---|---|---|",
              *(f"| {lim.item} | {lim.rules} | {lim.reason} |" for lim in limitations), ""]
    return "\n".join(lines)

