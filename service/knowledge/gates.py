"""THE safety-gate table: S01-S14 of clinical-rules.md §5 (NOT IN SEEDS), one Gate row per gate, and their checks.

This is the file a clinician-informaticist edits for drug safety. Each row names the drug classes it guards, the
check that judges one drug for this patient, and its texts: when it fires, what to do, a card summary per
outcome, with {word} placeholders filled from the policy (`words`). The gates are not from the seeds: every gate
card cites the public source named in §5 and says so. How rows are applied is service/core/gates.py;
`docs/rules.md` is generated from this table too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from service.core.features import Features
from service.core.findings import Code
from service.core.findings import Evidence
from service.core.gates import Gate
from service.core.gates import GateContext
from service.core.gates import GateGroup
from service.core.gates import GateTable
from service.core.gates import LabOrder
from service.core.gates import Level
from service.core.gates import Verdict
from service.core.gates import known_false
from service.core.gates import known_sources
from service.core.gates import lab_value
from service.core.gates import num
from service.core.gates import true_sources
from service.core.gates import worst
from service.core.policy import Policy
from service.core.rulemodel import Limitation
from service.core.vocabulary import ANTIRESORPTIVE_CLASSES
from service.core.vocabulary import CALCITONIN
from service.core.vocabulary import DENOSUMAB
from service.core.vocabulary import GLUCOCORTICOID_CLASSES
from service.core.vocabulary import ILOPROST
from service.core.vocabulary import INDOMETHACIN
from service.core.vocabulary import IV_BISPHOSPHONATE
from service.core.vocabulary import IV_BP_CLASSES
from service.core.vocabulary import LOINC
from service.core.vocabulary import NSAID
from service.core.vocabulary import NSAID_CLASSES
from service.core.vocabulary import OPIOID
from service.core.vocabulary import PAMIDRONATE
from service.core.vocabulary import TNFI
from service.core.vocabulary import ZOLEDRONIC_ACID
from service.knowledge.evidence import LIMIT_NARCOTICS_002
from service.knowledge.evidence import SHORT_NARCOTICS_001
from service.knowledge.evidence import s001

# Drug classes the catalogue names but no §5 gate covers: they pass, with a note saying so.
UNGATED_CLASSES: Final = frozenset({ILOPROST, CALCITONIN})

# R10 (suspected cord compression): its dexamethasone is never blocked; gate concerns show as info only.
NEVER_BLOCKED_RULES: Final = frozenset({"R10"})

# Labs a check may request when missing or stale (codes.md B, V-A except 25-OH vitamin D 62292-8, V-B).
CREATININE: Final = LabOrder("Order serum creatinine (eGFR)",
                             Code(LOINC, "2160-0", "Creatinine [Mass/volume] in Serum or Plasma"),
                             "Serum creatinine with eGFR")
CALCIUM: Final = LabOrder("Order serum calcium", Code(LOINC, "17861-6", "Calcium [Mass/volume] in Serum or Plasma"),
                          "Serum calcium")
ALBUMIN: Final = LabOrder("Order serum albumin (to correct calcium)",
                          Code(LOINC, "1751-7", "Albumin [Mass/volume] in Serum or Plasma"), "Serum albumin")
VITAMIN_D: Final = LabOrder("Order 25-OH vitamin D",
                            Code(LOINC, "62292-8", "25-Hydroxyvitamin D2+D3 [Mass/volume] in Serum or Plasma"),
                            "25-OH vitamin D")


def words(policy: Policy) -> Mapping[str, str]:
    """Policy thresholds by the short names the gate texts use."""
    return MappingProxyType({
        "nsaid_avoid": num(policy.float("egfr.nsaid_avoid_below")),
        "nsaid_caution_minus": num(policy.float("egfr.nsaid_caution_below") - 1),
        "zol": num(policy.float("egfr.zoledronic_avoid_below")),
        "pam": num(policy.float("egfr.pamidronate_caution_below")),
        "dmab": num(policy.float("egfr.denosumab_caution_below")),
        "preg_avoid": str(policy.int("pregnancy.nsaid_avoid_weeks")),
        "preg_crit": str(policy.int("pregnancy.nsaid_contraindicated_weeks")),
        "older": str(policy.int("age.older_adult_years")),
        "cabg_days": str(policy.int("cabg.recent_days")),
        "nsaid_stack": str(policy.int("nsaid.stacked_risks_avoid")),
    })


# --- Checks: what each gate concludes about one drug for this patient --------------------------------------


def _renal(ctx: GateContext, gate_id: str, threshold: float, below: Level, drug: str) -> Verdict:
    """The shared renal test: coded CKD 4-5/ESRD, a current eGFR below the threshold, or no current eGFR."""
    f, p = ctx.features, ctx.policy
    egfr = lab_value(f.egfr, "eGFR", f.today, p.int("labs.max_age_days"))
    parts: list[Verdict] = []
    if f.dialysis.true:
        parts.append(Verdict(gate_id, below, "on dialysis", f.dialysis.sources))
    elif f.ckd_stage_4_5_or_esrd.true:
        parts.append(
            Verdict(gate_id, below, "CKD stage 4-5, ESRD or dialysis on record", f.ckd_stage_4_5_or_esrd.sources)
        )
    if egfr.value is None:
        if not parts:  # a coded CKD 4-5 already answers the question the eGFR would
            parts.append(
                Verdict(
                    gate_id,
                    "missing",
                    f"no current eGFR before {drug}",
                    egfr.sources,
                    (egfr.missing or "eGFR: none on record",),
                    (CREATININE,),
                )
            )
    elif egfr.value < threshold:
        parts.append(Verdict(gate_id, below, f"{egfr.words} is below {num(threshold)}", egfr.sources))
    else:
        parts.append(Verdict(gate_id, "pass", egfr.words, egfr.sources))
    return worst(gate_id, parts, f"{gate_id} passed: {egfr.words}")


def _s01(ctx: GateContext) -> Verdict:
    f, p = ctx.features, ctx.policy
    v = _renal(ctx, "S01", p.float("egfr.nsaid_avoid_below"), "absolute", "NSAID")
    egfr = lab_value(f.egfr, "eGFR", f.today, p.int("labs.max_age_days"))
    caution = p.float("egfr.nsaid_caution_below")
    if v.level == "pass" and egfr.value is not None and egfr.value < caution:
        return Verdict(
            "S01",
            "relative",
            f"{egfr.words} is below {num(caution)}: shortest course, monitor creatinine and potassium",
            egfr.sources,
        )
    return v


def _s02(ctx: GateContext) -> Verdict:
    f, p = ctx.features, ctx.policy
    if f.gi_bleed_active.true:
        return Verdict("S02", "absolute", "active GI bleed or bleeding ulcer on record", f.gi_bleed_active.sources)
    if f.gi_bleed_or_pud_history.true:
        extra = []
        age = f.age_years.value
        if age is not None and age >= p.int("age.older_adult_years"):
            extra.append(f"age {age}")
        if f.anticoagulant_active.true:
            extra.append("anticoagulant")
        if f.systemic_glucocorticoid_active.true:
            extra.append("systemic glucocorticoid")
        more = f" (added risk: {', '.join(extra)})" if extra else ""
        return Verdict(
            "S02",
            "relative",
            f"history of GI bleed or peptic ulcer{more}",
            true_sources(f.gi_bleed_or_pud_history, f.anticoagulant_active, f.systemic_glucocorticoid_active),
        )
    if known_false(f.gi_bleed_or_pud_history):
        return Verdict("S02", "pass", "S02 passed: no GI bleed or peptic ulcer on record")
    return Verdict("S02", "note", "S02 not checked: GI bleed and ulcer history unknown")


def _s03(ctx: GateContext) -> Verdict:
    f = ctx.features
    if f.anticoagulant_active.true or f.antiplatelet_active.true:
        which = " and ".join(
            n for n, x in (("anticoagulant", f.anticoagulant_active), ("antiplatelet", f.antiplatelet_active)) if x.true
        )
        level: Level = "absolute" if f.gi_bleed_active.true else "relative"
        bleed = " with an active GI bleed" if f.gi_bleed_active.true else ""
        return Verdict(
            "S03",
            level,
            f"active {which}{bleed}",
            true_sources(f.anticoagulant_active, f.antiplatelet_active, f.gi_bleed_active),
        )
    if known_false(f.anticoagulant_active, f.antiplatelet_active):
        return Verdict("S03", "pass", "S03 passed: no anticoagulant or antiplatelet active")
    return Verdict("S03", "note", "S03 not checked: anticoagulant/antiplatelet use unknown")


def _s04(ctx: GateContext) -> Verdict:
    f, p = ctx.features, ctx.policy
    parts: list[Verdict] = []
    cabg = f.recent_cabg_date.value
    window = p.int("cabg.recent_days")
    if cabg is not None and 0 <= (f.today - cabg).days <= window:
        parts.append(
            Verdict("S04", "absolute", f"CABG on {cabg.isoformat()}, within {window} days", f.recent_cabg_date.sources)
        )
    if f.heart_failure.true:
        parts.append(Verdict("S04", "relative", "heart failure on record", f.heart_failure.sources))
    if not parts and not known_false(f.heart_failure):
        return Verdict("S04", "note", "S04 not checked: heart failure status unknown")
    return worst("S04", parts, f"S04 passed: no heart failure and no CABG within {window} days on record")


def _s05(ctx: GateContext) -> Verdict:
    f, p = ctx.features, ctx.policy
    avoid, crit = p.int("pregnancy.nsaid_avoid_weeks"), p.int("pregnancy.nsaid_contraindicated_weeks")
    if f.pregnant.true:
        weeks = f.gestational_age_weeks.value
        src = known_sources(f.pregnant, f.gestational_age_weeks)
        if weeks is None:
            return Verdict(
                "S05", "relative", "pregnant, gestational age unknown", src, ("gestational age: not recorded",)
            )
        if weeks >= crit:
            return Verdict("S05", "absolute", f"pregnant, {weeks} weeks (at or after {crit} weeks)", src)
        if weeks >= avoid:
            # FDA 2020: "avoid" from 20 weeks: the NSAID is not offered (a warning, not critical, on order-sign).
            return Verdict("S05", "avoid", f"pregnant, {weeks} weeks (at or after {avoid} weeks)", src)
        return Verdict("S05", "pass", f"S05 passed: pregnant, {weeks} weeks (NSAIDs avoided from {avoid} weeks)", src)
    if f.pregnant.value is False:
        return Verdict("S05", "pass", "S05 passed: not pregnant", f.pregnant.sources)
    if f.sex.value == "male":
        return Verdict("S05", "pass", "S05 not applicable: male")
    return Verdict("S05", "note", "S05 not checked: pregnancy status not recorded")


def _s06(ctx: GateContext) -> Verdict:
    f = ctx.features
    # A draft is not its own duplicate; drafts without an id cannot be told apart by reference, so compare
    # the objects.
    others = [d for d in ctx.nsaid_drafts if d is not ctx.self_draft]
    words = [f"draft {d.display}" for d in others]
    sources = [d.source for d in others if d.source is not None]
    active_refs = {s.reference for s in f.nsaid_active.sources}
    # The features may count a draft as active; an NSAID is a duplicate only if something else is active.
    if f.nsaid_active.true and (not active_refs or active_refs - {ctx.self_reference}):
        names = sorted(f.nsaid_active_ingredients.value or ())
        words.insert(0, "active " + (", ".join(names) if names else "NSAID"))
        sources[:0] = f.nsaid_active.sources
    if words:
        return Verdict("S06", "relative", "another NSAID: " + "; ".join(words), tuple(sources))
    if f.nsaid_active.value is False:
        return Verdict("S06", "pass", "S06 passed: no other NSAID active or ordered")
    return Verdict("S06", "note", "S06 not checked: active NSAIDs unknown")


def _s07(ctx: GateContext) -> Verdict:
    f, p = ctx.features, ctx.policy
    age, older = f.age_years.value, p.int("age.older_adult_years")
    if age is None:
        return Verdict("S07", "note", "S07 not checked: age unknown")
    if age >= older:
        return Verdict("S07", "relative", f"age {age} (at or above {older})", f.age_years.sources)
    return Verdict("S07", "pass", f"S07 passed: age {age}", f.age_years.sources)


def _s08(ctx: GateContext) -> Verdict:
    p = ctx.policy
    if ZOLEDRONIC_ACID in ctx.classes:
        agent = ZOLEDRONIC_ACID
    elif PAMIDRONATE in ctx.classes:
        agent = PAMIDRONATE
    else:  # an IV bisphosphonate without a named agent is the policy's default agent (C9)
        agent = str(p["bp.default_agent"])
    if agent == ZOLEDRONIC_ACID:
        v = _renal(ctx, "S08", p.float("egfr.zoledronic_avoid_below"), "absolute", "zoledronic acid")
    else:
        v = _renal(ctx, "S08", p.float("egfr.pamidronate_caution_below"), "relative", "pamidronate")
    if v.level == "pass":
        return dataclasses.replace(v, text=v.text + "; measure renal function before each dose and hydrate")
    return v


def _s09(ctx: GateContext) -> Verdict:
    f, p = ctx.features, ctx.policy
    max_age = p.int("labs.max_age_days")
    calcium = lab_value(f.calcium, "calcium", f.today, max_age)
    albumin = lab_value(f.albumin, "albumin", f.today, max_age)
    vitd = lab_value(f.vitd_25oh, "25-OH vitamin D", f.today, max_age)
    parts: list[Verdict] = []
    if f.hypocalcemia.true:
        parts.append(Verdict("S09", "absolute", "hypocalcaemia on record", f.hypocalcemia.sources))
    elif calcium.value is not None and f.calcium_low.true:
        parts.append(Verdict("S09", "absolute", f"{calcium.words} is low", calcium.sources))
    if calcium.value is None:
        labs = (CALCIUM, ALBUMIN) if albumin.value is None else (CALCIUM,)
        parts.append(
            Verdict(
                "S09",
                "missing",
                "no current calcium",
                calcium.sources,
                (calcium.missing or "calcium: none on record",),
                labs,
            )
        )
    vitd_min = p.float("vitd.min_ng_ml")
    if vitd.value is None:
        parts.append(
            Verdict(
                "S09",
                "missing",
                "no current 25-OH vitamin D",
                vitd.sources,
                (vitd.missing or "25-OH vitamin D: none on record",),
                (VITAMIN_D,),
            )
        )
    elif vitd.value < vitd_min:
        parts.append(Verdict("S09", "relative", f"{vitd.words} is below {num(vitd_min)} ng/mL", vitd.sources))
    corrected = "" if albumin.value is not None else " (not corrected for albumin: no current albumin)"
    return worst("S09", parts, f"S09 passed: {calcium.words}{corrected}, {vitd.words}; give calcium and vitamin D")


def _s10(ctx: GateContext) -> Verdict:
    f = ctx.features
    found = [
        n
        for n, x in (("prior osteonecrosis of the jaw", f.onj_history), ("dental disease", f.dental_disease))
        if x.true
    ]
    if found:
        return Verdict("S10", "relative", " and ".join(found), true_sources(f.onj_history, f.dental_disease))
    if known_false(f.onj_history, f.dental_disease):
        return Verdict(
            "S10",
            "pass",
            "S10 passed: no prior ONJ or dental disease on record; dental examination before starting is advised",
        )
    return Verdict(
        "S10", "note", "S10 not checked: ONJ and dental history unknown; dental examination before starting is advised"
    )


def _s11(ctx: GateContext) -> Verdict:
    f, p = ctx.features, ctx.policy
    v = _renal(ctx, "S11", p.float("egfr.denosumab_caution_below"), "relative", "denosumab")
    calcium = lab_value(f.calcium, "calcium", f.today, p.int("labs.max_age_days"))
    low_calcium = f.hypocalcemia.true or (calcium.value is not None and f.calcium_low.true)
    if v.level == "relative" and low_calcium:
        return Verdict(
            "S11",
            "absolute",
            v.text + "; calcium is already low",
            v.sources + true_sources(f.hypocalcemia, f.calcium_low),
        )
    return v


def _s12(ctx: GateContext) -> Verdict:
    f = ctx.features
    if f.benzodiazepine_active.true:
        return Verdict("S12", "relative", "benzodiazepine active", f.benzodiazepine_active.sources)
    if f.cns_depressant_active.true:
        return Verdict("S12", "relative", "CNS depressant active", f.cns_depressant_active.sources)
    if f.cns_depressant_active.value is False:
        return Verdict("S12", "pass", "S12 passed: no CNS depressant active; short courses only (seeds)")
    return Verdict("S12", "note", "S12 not checked: CNS-depressant use unknown")


def _s13(ctx: GateContext) -> Verdict:
    f = ctx.features
    serious = [
        n
        for n, x in (
            ("latent TB on record, treatment not documented", f.latent_tb),
            ("active infection (including active TB)", f.active_infection),
        )
        if x.true
    ]
    if serious:
        # Boxed warning: do not start during a serious infection; latent TB is screened and treated first.
        return Verdict("S13", "avoid", " and ".join(serious), true_sources(f.latent_tb, f.active_infection))
    if f.tnfi_screening_concern.true:
        return Verdict(
            "S13",
            "relative",
            "screening concern (TB, hepatitis B, demyelination or heart failure)",
            f.tnfi_screening_concern.sources,
        )
    if known_false(f.active_infection, f.latent_tb):
        return Verdict(
            "S13", "pass", "S13 passed: no active infection or latent TB on record; screen for hepatitis B first"
        )
    # The catalogue says "screen first": with no screening data this is a reminder line, not a card.
    return Verdict("S13", "note", "S13: latent TB and hepatitis B screening not recorded; screen before starting")


def _s14(ctx: GateContext) -> Verdict:
    f = ctx.features
    parts: list[Verdict] = []
    if f.diabetes.true:
        parts.append(Verdict("S14", "relative", "diabetes (hyperglycaemia)", f.diabetes.sources))
    if f.active_infection.true:
        parts.append(Verdict("S14", "relative", "active infection", f.active_infection.sources))
    bleed = f.gi_bleed_active.true or f.gi_bleed_or_pud_history.true
    if bleed and ctx.nsaid_in_play:
        parts.append(
            Verdict(
                "S14",
                "relative",
                "GI bleed or ulcer history with an NSAID at the same time",
                true_sources(f.gi_bleed_active, f.gi_bleed_or_pud_history, f.nsaid_active),
            )
        )
    if not parts and not known_false(f.diabetes, f.active_infection):
        return Verdict("S14", "note", "S14 not checked: diabetes or infection status unknown")
    return worst("S14", parts, "S14 passed: no diabetes, active infection or GI bleed with an NSAID on record")


# --- The table -------------------------------------------------------------------------------------------------


def _ev(source: str, statement: str) -> Evidence:
    """A statement from a public source that is not one of the seeds."""
    return Evidence(source=source, statement=statement, in_seeds=False)


_KDIGO = (
    "KDIGO 2012 Clinical Practice Guideline for the Evaluation and Management of CKD (Kidney Int Suppl "
    "2013;3(1))"
)
_FDA_NSAID = (
    "FDA NSAID class labelling, boxed warning (openFDA naproxen label, set_id "
    "9d7bc470-fbba-40a6-a56c-f681a3cee9cf)"
)
_FDA_PREGNANCY = "https://www.fda.gov/drugs/drug-safety-and-availability/fda-recommends-avoiding-use-nsaids-pregnancy-20-weeks-or-later-because-they-can-result-low-amniotic"
_MHRA_ZOL = (
    "https://www.gov.uk/drug-safety-update/intravenous-zoledronic-acid-adverse-effects-on-renal-function"
)
_FDA_DENOSUMAB = (
    "FDA boxed warning on denosumab products (openFDA set_id 4bf239bb-c467-4add-b7cf-ea666e4fc693, "
    "5f3be096-5100-4d0e-b765-481bbb2672e1)"
)
_GENERAL = "General clinical knowledge (clinical-rules.md §5); not reviewed against a label"

GATES: tuple[Gate, ...] = (
    Gate("S01", "NSAID and kidney function", NSAID_CLASSES, _s01,
         risk="kidney",
         when="An NSAID is suggested or ordered; eGFR below {nsaid_avoid} or CKD stage 4-5/ESRD/dialysis, or "
              "eGFR {nsaid_avoid}-{nsaid_caution_minus}",
         then="Below {nsaid_avoid}, CKD 4-5 or dialysis: avoid the NSAID. {nsaid_avoid}-{nsaid_caution_minus}: "
              "caution, shortest course, monitor creatinine and potassium, avoid with ACE inhibitor/ARB plus "
              "diuretic. No current eGFR: check renal function first.",
         absolute="Avoid NSAIDs: eGFR below {nsaid_avoid} or CKD stage 4-5/dialysis; consider a non-NSAID "
                  "option",
         relative="NSAID with eGFR {nsaid_avoid}-{nsaid_caution_minus}: consider the shortest course and "
                  "monitoring creatinine and potassium",
         missing="NSAID: no current eGFR on record; consider checking serum creatinine (eGFR) first",
         evidence=(_ev(_KDIGO, "Drug stewardship in CKD: avoid NSAIDs at GFR below 30 and use with caution at lower "
                               "GFR (guideline located; NSAID/GFR wording not reviewed verbatim)"),)),
    Gate("S02", "NSAID and GI bleeding", NSAID_CLASSES, _s02,
         risk="GI bleed/ulcer history",
         when="An NSAID is suggested or ordered and there is an active GI bleed, a bleeding ulcer, or a "
              "history of GI bleed or peptic ulcer",
         then="Active bleed: avoid. History: avoid if possible; if essential, a COX-2 selective agent with "
              "gastroprotection. Age {older}+, anticoagulant or glucocorticoid use add risk.",
         absolute="Avoid NSAIDs: active GI bleed or bleeding ulcer on record",
         relative="NSAID with GI bleed or ulcer history: avoid if possible; if essential consider a COX-2 "
                  "agent with gastroprotection",
         evidence=(_ev(_FDA_NSAID, "Boxed warning: gastrointestinal bleeding, ulceration, and perforation "
                                   "(reviewed)"),)),
    Gate("S03", "NSAID with anticoagulant or antiplatelet", frozenset({NSAID, INDOMETHACIN}), _s03,
         risk="anticoagulant/antiplatelet",
         when="An NSAID is suggested or ordered while an anticoagulant or antiplatelet is active",
         then="Higher bleeding risk: consider another option; avoid with an active GI bleed.",
         absolute="Avoid NSAIDs: anticoagulant or antiplatelet with an active GI bleed",
         relative="NSAID with an anticoagulant or antiplatelet: higher bleeding risk; consider alternatives",
         evidence=(_ev(_FDA_NSAID, "NSAID labelling, drug interactions with anticoagulants and antiplatelets (not "
                                   "reviewed verbatim; the boxed GI-bleeding warning was reviewed)"),)),
    Gate("S04", "NSAID, heart failure and CABG", NSAID_CLASSES, _s04,
         risk="heart failure",
         when="An NSAID is suggested or ordered with heart failure, or within {cabg_days} days after CABG",
         then="CABG within {cabg_days} days: contraindicated. Heart failure: fluid retention and worsening "
              "heart failure; avoid in severe heart failure.",
         absolute="Avoid NSAIDs: CABG within the last {cabg_days} days (contraindicated)",
         relative="NSAID with heart failure: risk of fluid retention and worsening heart failure",
         evidence=(_ev(_FDA_NSAID, "Boxed warning: cardiovascular thrombotic events; contraindicated in the setting "
                                   "of CABG surgery (reviewed). Heart-failure precautions not reviewed verbatim"),)),
    Gate("S05", "NSAID in pregnancy", NSAID_CLASSES, _s05,
         risk="pregnancy",
         when="An NSAID is suggested or ordered in pregnancy at {preg_avoid} weeks or later, or at unknown "
              "gestational age",
         then="From {preg_avoid} weeks: avoid (fetal kidney dysfunction, low amniotic fluid). From {preg_crit} "
              "weeks: premature closure of the ductus arteriosus. Low-dose aspirin is excepted.",
         absolute="Avoid NSAIDs at {preg_crit} weeks of pregnancy or later: premature closure of the "
                  "ductus arteriosus",
         avoid="Avoid NSAIDs from {preg_avoid} weeks of pregnancy: fetal kidney dysfunction, low amniotic fluid",
         relative="NSAID in pregnancy: avoid from {preg_avoid} weeks (fetal kidney dysfunction, low "
                  "amniotic fluid)",
         evidence=(_ev(_FDA_PREGNANCY, "FDA Drug Safety Communication, 15 Oct 2020: avoid NSAIDs in pregnancy at 20 "
                                       "weeks or later (reviewed)"),)),
    Gate("S06", "Duplicate NSAID therapy", NSAID_CLASSES, _s06,
         risk="duplicate NSAID",
         when="An NSAID is suggested or ordered while another NSAID is active or being ordered",
         then="Use one NSAID at a time.",
         relative="Duplicate NSAID therapy: another NSAID is active or ordered; consider one NSAID only",
         evidence=(_ev(_GENERAL, "Duplicate NSAID therapy adds risk without benefit"),)),
    Gate("S07", "Indomethacin in older adults", frozenset({INDOMETHACIN}), _s07,
         when="Indomethacin is suggested or ordered at age {older} or older",
         then="Potentially harmful in older adults: prefer another agent.",
         relative="Indomethacin at age {older} or older: potentially harmful in older adults; consider "
                  "another agent",
         quiet_on_suggestion=True,
         evidence=(_ev("VSAC value set 'Potentially Harmful Pain Medications for Older Adults' (OID "
                       "2.16.840.1.113883.3.464.1003.1063, eCQM 2025)",
                       "Contains the indomethacin oral products (seen in this research)"),)),
    Gate("S08", "IV bisphosphonate and kidney function", IV_BP_CLASSES, _s08,
         when="An IV bisphosphonate is suggested or ordered: zoledronic acid with eGFR below {zol}, "
              "pamidronate with eGFR below {pam}, or no current eGFR",
         then="Zoledronic acid below {zol}: contraindicated. Pamidronate below {pam}: avoid unless the benefit "
              "outweighs the risk. Measure renal function before each dose and hydrate.",
         absolute="Zoledronic acid with eGFR below {zol} or CKD stage 4-5: contraindicated; consider "
                  "another option",
         relative="Pamidronate with eGFR below {pam}: avoid unless benefit outweighs risk; hydrate and "
                  "check renal function",
         missing="IV bisphosphonate: no current eGFR on record; consider checking serum creatinine (eGFR) "
                 "first",
         evidence=(_ev(_MHRA_ZOL, "MHRA Drug Safety Update: measure renal function before each dose, hydrate; not "
                                  "recommended in severe renal impairment (reviewed)"),
                   _ev("FDA zoledronic acid 5 mg label (openFDA set_id 1977d713-4cc7-405e-b4c1-a9a91635eff6)",
                       "Contraindicated with creatinine clearance below 35 mL/min (label located; not reviewed "
                       "verbatim)"),)),
    Gate("S09", "Calcium and vitamin D before antiresorptives", ANTIRESORPTIVE_CLASSES, _s09,
         when="A bisphosphonate or denosumab is suggested or ordered with hypocalcaemia, low 25-OH vitamin D, "
              "or no current calcium or vitamin D",
         then="Correct hypocalcaemia before starting; check calcium (corrected for albumin) and 25-OH vitamin "
              "D; give calcium and vitamin D.",
         absolute="Hypocalcaemia: correct it before starting a bisphosphonate or denosumab",
         relative="Low 25-OH vitamin D: consider correcting vitamin D and calcium before a bisphosphonate "
                  "or denosumab",
         missing="Bisphosphonate or denosumab: no current calcium or vitamin D; consider checking them first",
         evidence=(_ev("FDA labels for bisphosphonates and denosumab (not reviewed verbatim)",
                       "Hypocalcaemia must be corrected before starting; supplement calcium and vitamin D"),
                   s001("Ensure vitamin D and calcium homeostasis are balanced before initiating denosumab"),)),
    Gate("S10", "Osteonecrosis of the jaw risk", ANTIRESORPTIVE_CLASSES, _s10,
         when="A bisphosphonate or denosumab is suggested or ordered with prior ONJ or active dental disease",
         then="Dental examination and preventive dentistry before starting.",
         relative="Prior jaw osteonecrosis or dental disease: consider dental review before a "
                  "bisphosphonate or denosumab",
         evidence=(_ev("FDA labels for bisphosphonates and denosumab, warnings and precautions (not reviewed "
                       "verbatim)",
                       "Osteonecrosis of the jaw: dental examination before starting"),)),
    Gate("S11", "Denosumab and advanced kidney disease", frozenset({DENOSUMAB}), _s11,
         when="Denosumab is suggested or ordered with eGFR below {dmab}, dialysis or CKD stage 4-5, or no "
              "current eGFR",
         then="Severe hypocalcaemia risk: evaluate for CKD-mineral and bone disorder first, specialist "
              "supervision; do not start while calcium is low.",
         absolute="Denosumab with advanced kidney disease and low calcium: severe hypocalcaemia risk; "
                  "avoid starting",
         relative="Denosumab with eGFR below {dmab} or dialysis: severe hypocalcaemia risk; consider "
                  "specialist review",
         missing="Denosumab: no current eGFR on record; consider checking serum creatinine (eGFR) first",
         evidence=(_ev(_FDA_DENOSUMAB, "Severe hypocalcemia in patients with advanced kidney disease (eGFR below 30 "
                                       "mL/min/1.73 m2, including dialysis) (reviewed)"),)),
    Gate("S12", "Opioid with a CNS depressant", frozenset({OPIOID}), _s12,
         when="An opioid is suggested or ordered while a benzodiazepine or other CNS depressant is active",
         then="Sedation, falls and respiratory depression: consider avoiding the combination; short courses "
              "only.",
         relative="Opioid with a benzodiazepine or other CNS depressant: sedation and respiratory "
                  "depression risk",
         evidence=(LIMIT_NARCOTICS_002,
                   SHORT_NARCOTICS_001,
                   _ev(_GENERAL, "Co-prescribed benzodiazepines or other CNS depressants add sedation and "
                                 "respiratory depression (read from valuesets/rx-benzodiazepine and "
                                 "rx-cns-depressant: the CDC opioid CDS and VSAC sets)"),)),
    Gate("S13", "TNF-alpha inhibitor safety", frozenset({TNFI}), _s13,
         when="A TNF-alpha inhibitor is suggested or ordered with latent TB, active TB or another active "
              "infection, or a screening concern (hepatitis B, demyelinating disease, decompensated heart failure)",
         then="Latent TB (treatment not documented), active TB or another active infection: not offered; do not "
              "start during a serious infection. Screen for latent TB and hepatitis B first.",
         avoid="TNF-alpha inhibitor with latent TB or active infection on record: treat it first; not offered",
         relative="TNF-alpha inhibitor with active infection or screening concern: consider screening or "
                  "treating first",
         evidence=(_ev("TNF-alpha inhibitor product boxed warnings for serious infections (general knowledge; not "
                       "reviewed)",
                       "Serious infections and latent TB reactivation: screen before starting"),),
         limitation=Limitation(
             "tnfi_screening_concern", "S13",
             "No verified codes for hepatitis B or demyelinating disease: S13 fires on latent TB "
             "(valuesets/latent-tuberculosis), active TB and other active infections, and otherwise adds a "
             "screening reminder.")),
    Gate("S14", "Systemic glucocorticoid cautions", GLUCOCORTICOID_CLASSES, _s14,
         when="A systemic glucocorticoid is suggested or ordered with diabetes, active infection, or a GI "
              "bleed/ulcer history while an NSAID is in use",
         then="Monitor glucose, look for infection, consider gastroprotection. Never delays dexamethasone for "
              "suspected cord compression (R10).",
         relative="Glucocorticoid caution: diabetes, infection or GI bleed with NSAID on record; consider "
                  "monitoring",
         info="Dexamethasone for suspected cord compression: cautions on record, for information only; do not "
              "delay it",
         evidence=(_ev(_GENERAL, "Glucocorticoids raise glucose, mask or worsen infection and add GI-bleeding risk "
                                 "with NSAIDs"),)),
)



def _older_adult(ctx: GateContext) -> Verdict | None:
    """Age at or above age.older_adult_years: an added NSAID risk (§5 S02), counted only with another risk."""
    age, older = ctx.features.age_years.value, ctx.policy.int("age.older_adult_years")
    if age is None or age < older:
        return None
    # The text doubles as the risk's words in the stacked summary, so it stays short.
    return Verdict("S02", "relative", f"age {age}", ctx.features.age_years.sources)


NSAID_GATES: Final = frozenset({"S01", "S02", "S03", "S04", "S05", "S06", "S07"})

GROUPS: tuple[GateGroup, ...] = (
    GateGroup(
        "NSAID", "NSAID safety", NSAID_GATES,
        stack_gates=NSAID_GATES - {"S07"},  # S07 is indomethacin only, and age already counts below
        stack_key="nsaid.stacked_risks_avoid",
        stack_extra=_older_adult,
        stacked_summary="Avoid NSAIDs: {stack}; not offered",
        stacked_then="Several NSAID risks together: avoid the NSAID and consider a non-NSAID option; each risk is "
                     "a line below.",
        escalation="Every NSAID concern (S01-S07) shows as one NSAID safety card, one line per risk. An absolute "
                   "one (eGFR below {nsaid_avoid}, dialysis, active GI bleed, CABG within {cabg_days} days, "
                   "{preg_crit}+ weeks of pregnancy) makes the NSAID not offered and the card critical on "
                   "order-sign; S05 from {preg_avoid} weeks ('avoid') makes it not offered with a warning. "
                   "{nsaid_stack} or more relative risks (eGFR {nsaid_avoid}-{nsaid_caution_minus}, GI bleed or "
                   "ulcer history, anticoagulant or antiplatelet, heart failure, unknown gestational age, "
                   "duplicate NSAID; age {older}+ counts only with another) escalate the same way "
                   "(policy nsaid.stacked_risks_avoid: a local default that governance must confirm; §5 gives "
                   "no count).",
    ),
    GateGroup(
        "BONE", "Bone-drug safety", frozenset({"S08", "S09", "S10", "S11"}),
        escalation="S08-S11 (kidney function, calcium and vitamin D, jaw, denosumab in kidney disease) show as "
                   "one card for bisphosphonates and denosumab, one line per concern; the lab orders they need "
                   "are its suggestions.",
    ),
)


def in_bme_context(f: Features) -> bool:
    """Order hooks check draft orders only for a patient with BME or a vertebral fracture (issue 12)."""
    return f.bme_present.true or f.vertebral_fracture.true


CLASS_WORDS: Final = MappingProxyType({
    NSAID: "NSAIDs", INDOMETHACIN: "NSAIDs", IV_BISPHOSPHONATE: "IV bisphosphonates",
    ZOLEDRONIC_ACID: "zoledronic acid", PAMIDRONATE: "pamidronate", DENOSUMAB: "denosumab",
    TNFI: "TNF-alpha inhibitors", OPIOID: "opioids",
})

GATE_TABLE: Final = GateTable(
    GATES, UNGATED_CLASSES, NEVER_BLOCKED_RULES, words, GROUPS, in_bme_context, CLASS_WORDS
)
