"""Render the rule table (and the safety gates) as Markdown: the prose view clinicians review, docs/rules.md.

Generated, never hand-written: `python tools/render_rules_doc.py` writes it and a test fails when it is stale.
Pure: returns a string; the tool does the writing.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass

from service.core.features import SPECS
from service.core.findings import Evidence
from service.core.findings import SuggestionSpec
from service.core.gates import GATES
from service.core.gates import _numbers as gate_numbers
from service.core.policy import DEFAULT_POLICY
from service.core.policy import SETTINGS
from service.core.policy import Policy
from service.core.rulemodel import STAGE_NAMES
from service.core.rulemodel import STAGES
from service.core.rulemodel import Rule
from service.core.rulemodel import format_value
from service.core.rulemodel import render
from service.knowledge.rules import DEFERRALS
from service.knowledge.rules import RULES
from service.knowledge.rules import STAGE_GATES

REGENERATE = "python tools/render_rules_doc.py"


@dataclass(frozen=True)
class Limitation:
    """Something a rule needs that the patient data or the terminology cannot supply yet."""

    item: str
    rules: str
    reason: str


LIMITATIONS: tuple[Limitation, ...] = (
    Limitation("atypical_pain", "R03",
               "Clinician input only: no FHIR source carries it, so R03 fires on it only "
               "when a clinician supplies it."),
    Limitation("neuro_progressive", "R09",
               "Needs serial neurological examinations or clinician input; not "
               "reliably derivable from FHIR. Unknown never fires R09."),
    Limitation("neuro_deficit (unknown)", "R06, Stage C gate",
               "An undocumented neurological examination counts as 'no deficit' for the Stage C gate (the "
               "catalogue's 'neurologically intact'); the pathway cards list it as missing."),
    Limitation("mri_contraindicated", "R01, R02",
               "Flag/Device/clinician input; not reliably derivable. Unknown "
               "counts as not contraindicated, so R01 (MRI) rather than R02 (CT) is offered."),
    Limitation("kyphosis_pct, height_loss_pct", "R08, R26",
               "No LOINC code (codes.md F): a local Observation code "
               "or report text. Unmeasured deformity never fires R08; R26 lists it as missing."),
    Limitation("bme_extent", "R21, R22",
               "No standard code: a local Observation code or report text ('entire/whole/full vertebral "
               "body'). Unknown extent never fires R21; R22 then applies and lists it as missing."),
    Limitation("bme_sites", "R21-R28, R36",
               "A BME finding without a documented site gets no pathway card (no site, no region-specific "
               "order); R05 and R37 still fire."),
    Limitation("fall risk", "R33",
               "No feature carries fall risk: the opioid-order warning uses age >= age.older_adult_years or "
               "an opioid already past opioid.max_short_course_days."),
    Limitation("dmard_active = false", "R15",
               "The features module records DMARD therapy only when present, so the 'no active DMARD' "
               "warning cannot fire yet; R15 warns on a RAMRIS score above 2 and lists DMARD therapy as "
               "missing."),
    Limitation("ramris_bme_score", "R15",
               "No verified LOINC code; a local code only."),
    Limitation("'severe per clinician'", "R29-R31",
               "No field carries it: refractory BME is computed only from "
               "pain persisting >= refractory.after_days despite a documented first-line course."),
    Limitation("nsaid_response_insufficient", "R24",
               "Definition assumed (NOT IN SEEDS): pain reduction below "
               "nsaid.min_pain_reduction_pct or still severe, judged by the features module."),
    Limitation("new_symptoms_or_complication, ischemic_bme, on_features", "R36, R17, R14, R30",
               "Report text "
               "only; no coded source."),
    Limitation("calcitonin code, dose and route", "R23",
               "No verified RxNorm code (codes.md F); the seeds give no "
               "dose or route: ordered as text."),
    Limitation("referral codes (spine surgery, haematology/oncology, rheumatology, orthopaedics, "
               "physiotherapy), offloading", "R06-R13, R14, R15, R17, R28, R32",
               "No verified SNOMED code "
               "(codes.md E4): ordered as text."),
    Limitation("core decompression code", "R17",
               "CPT/HCPCS/SNOMED unverified (codes.md E3): referral as text."),
    Limitation("dual-energy CT code", "R02",
               "No LOINC code for DECT (codes.md F): CT of the region with a "
               "dual-energy note."),
    Limitation("bed-rest code", "R32",
               "SNOMED unverified (codes.md E4): bed rest is detected from order text "
               "or ICD Z74.01."),
    Limitation("vertebral augmentation CPT 22510-22515; 25-OH vitamin D LOINC 62292-8", "R11, R12, R26, R29",
               "V-B only: check once on a terminology server before release."),
    Limitation("doses the seeds omit", "R10, R21, R23, R24, R29, R30",
               "Dexamethasone, denosumab, iloprost, calcitonin "
               "and zoledronic acid carry no dose: institutional protocol (clinical-rules.md §6.3)."),
    Limitation("cns_depressant_active", "S12",
               "No verified code set for benzodiazepines or other CNS depressants (codes.md D2 names the VSAC "
               "'Central Nervous System Depressants' set only by OID and count): the opioid + CNS-depressant "
               "warning cannot fire from FHIR data yet; R25 and R33 still carry the seeds' opioid cautions."),
    Limitation("tnfi_screening_concern", "S13",
               "No verified codes for latent TB, hepatitis B or demyelinating disease (codes.md has none): "
               "S13 fires on a documented active infection only and otherwise adds a screening reminder."),
    Limitation("vertebral fracture without documented BME", "R21-R28",
               "The Stage C rows need vertebra among the BME sites (catalogue §2.3), although seed 002 says "
               "absent BME should not exclude augmentation."),
)

DECISIONS: tuple[str, ...] = (
    "Stage order A, B, C, D, E, then the safety gates (Stage F). A red flag (R06-R10) closes Stages C and D "
    "(R21-R31): their cards are not emitted in any hook. R10's dexamethasone belongs to Stage A and stays.",
    "Stage C runs only with no red flag and no documented neurological deficit; each Stage C row also needs "
    "vertebra among the BME sites, except R22, which is also the generic first line for BME at other sites "
    "('NSAIDs are first-line', seeds 000/001/003) and R24's and R27's order-hook warnings, which need BME at "
    "any site.",
    "Unknown is unknown: a condition on a fact is false when the fact is unknown. Exceptions say so in their "
    "wording ('no ... is documented' is true when the fact is false or unknown). A rule that needs labs to "
    "be safe (R29) fires with lab requests and lists the missing labs.",
    "Rows that share an id are variants (per hook or per tier); the first that fires is the rule's one "
    "Finding.",
    "At order-select the rules read the selected draft orders (all drafts when none is marked selected); at "
    "order-sign all drafts.",
    "Findings are ordered critical, warning, info, then by rule id.",
    "R11 (myeloma) keeps R21/R22 drug suggestions visible but not recommended, noting 'defer to the myeloma "
    "team'.",
    "R12 and R11 give no augmentation referral while a red flag fires (surgery first, conflict C11).",
)


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
    if rule.missing:
        missing = "; ".join(SPECS[m].missing for m in rule.missing)
        lines.append(f"- **Reports as missing when unknown:** {missing}")
    if rule.smart_link:
        lines.append("- **SMART app link:** yes (pathway card)")
    lines.append("- **Evidence:**")
    lines += _evidence(rule.evidence)
    lines.append(f"- **Config:** {_config(rule.all_policy_keys(), policy)}")
    return lines


def _gate_text(text: str, words: dict[str, str]) -> str:
    try:
        return text.format_map(words)
    except (KeyError, ValueError, IndexError):
        return text


def _gates(policy: Policy) -> list[str]:
    words = gate_numbers(policy)
    lines = ["## Stage F: safety gates S01-S14 (NOT IN SEEDS)",
             "",
             "Generated from `service/core/gates.py`. Every drug suggestion and classified draft order passes "
             "through the gates of its drug class.",
             ""]
    for gate in GATES:
        lines += [f"### {gate.id}. {gate.title}", "",
                  f"- **When:** {_gate_text(gate.when_text, words)}",
                  f"- **Then:** {_gate_text(gate.then_text, words)}",
                  "- **Evidence:**", *_evidence(gate.evidence), ""]
    return lines


def render_markdown(rules: Sequence[Rule] = RULES, policy: Policy = DEFAULT_POLICY) -> str:
    """docs/rules.md: every rule row with When/Unless/Then/Evidence/Config, the gates and the limitations."""
    lines = [
        "# BME CDS rules",
        "",
        f"Generated from `service/knowledge/rules.py` (and `service/core/gates.py`) by `{REGENERATE}`; do not edit "
        "by hand.",
        "Research draft: **a clinician must review and sign off every rule before any of it ships.** Numbers "
        "in the texts are the policy defaults (clinical-rules.md §4); an institution policy file changes "
        "them.",
        "",
        "## How the rules run", "",
        *(f"- {d}" for d in DECISIONS),
        *(f"- Stage {s} gate: {render(g.describe, policy)}." for s, g in STAGE_GATES.items()),
        *(f"- {d.trigger} defers {', '.join(d.targets)}: \"{d.note}\"." for d in DEFERRALS), "",
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
    lines += _gates(policy)
    lines += ["## Rules the data cannot support yet", "",
              "| Item | Rules | Why |", "|---|---|---|",
              *(f"| {lim.item} | {lim.rules} | {lim.reason} |" for lim in LIMITATIONS), ""]
    return "\n".join(lines)

