"""Safety gates S01-S14 (clinical-rules.md §5, NOT IN SEEDS): check every drug suggestion and draft order.

Stage F of the rule evaluation (clinical-rules.md §2): each MedicationRequest suggestion a rule produces, and
each classified draft order of an order-select/order-sign call, passes through the gates that guard its drug
class. An absolute contraindication removes the suggestion (and on order-sign adds a critical card); a
relative concern keeps it, not pre-selected, with a warning card; a lab the gate needs that is missing or
stale withholds the suggestion and offers the lab as a ServiceRequest. A missing lab never counts as normal.
The gates are not from the seeds: every gate card cites the public source named in §5 and says so.
Pure module: no flask, no requests, no global settings (only caches of what the policy and the gate table
fix, which never change a result); the date comes from `Features.today`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from collections.abc import Iterable
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
from service.core.vocabulary import ANTIRESORPTIVE_CLASSES
from service.core.vocabulary import CALCITONIN
from service.core.vocabulary import DENOSUMAB
from service.core.vocabulary import DEXAMETHASONE
from service.core.vocabulary import GLUCOCORTICOID_CLASSES
from service.core.vocabulary import HOOK_ORDER_SIGN
from service.core.vocabulary import ILOPROST
from service.core.vocabulary import INDOMETHACIN
from service.core.vocabulary import IV_BP_CLASSES
from service.core.vocabulary import LOINC
from service.core.vocabulary import NSAID
from service.core.vocabulary import NSAID_CLASSES
from service.core.vocabulary import OPIOID
from service.core.vocabulary import ORDER_HOOKS
from service.core.vocabulary import PAMIDRONATE
from service.core.vocabulary import TNFI
from service.core.vocabulary import ZOLEDRONIC_ACID

# Drug classes as SuggestionSpec.drug_class / DraftOrder.kinds name them.

# Drug classes the catalogue names but no §5 gate covers: they pass, with a note saying so.
UNGATED_CLASSES: Final = frozenset({ILOPROST, CALCITONIN})

# R10 (suspected cord compression): its dexamethasone is never blocked; gate concerns show as info only.
NEVER_BLOCKED_RULES: Final = frozenset({"R10"})

# Labs a gate may request (codes.md B, V-A except 25-OH vitamin D 62292-8, V-B).
LAB_CREATININE: Final = "creatinine"
LAB_CALCIUM: Final = "calcium"
LAB_ALBUMIN: Final = "albumin"
LAB_VITD: Final = "vitd_25oh"


@dataclass(frozen=True)
class LabOrder:
    """A lab a gate can ask for when its value is missing or stale."""

    label: str
    code: Code
    text: str


LAB_ORDERS: Mapping[str, LabOrder] = MappingProxyType(
    {
        LAB_CREATININE: LabOrder(
            "Order serum creatinine (eGFR)",
            Code(LOINC, "2160-0", "Creatinine [Mass/volume] in Serum or Plasma"),
            "Serum creatinine with eGFR",
        ),
        LAB_CALCIUM: LabOrder(
            "Order serum calcium",
            Code(LOINC, "17861-6", "Calcium [Mass/volume] in Serum or Plasma"),
            "Serum calcium",
        ),
        LAB_ALBUMIN: LabOrder(
            "Order serum albumin (to correct calcium)",
            Code(LOINC, "1751-7", "Albumin [Mass/volume] in Serum or Plasma"),
            "Serum albumin",
        ),
        LAB_VITD: LabOrder(
            "Order 25-OH vitamin D",
            Code(LOINC, "62292-8", "25-Hydroxyvitamin D2+D3 [Mass/volume] in Serum or Plasma"),
            "25-OH vitamin D",
        ),
    }
)

# What a check concluded, mildest first. "note": nothing wrong found but something could not be checked.
Level = Literal["pass", "note", "info", "relative", "missing", "absolute"]
_RANK: Final[Mapping[str, int]] = MappingProxyType(
    {"pass": 0, "note": 1, "info": 2, "relative": 3, "missing": 4, "absolute": 5}
)


@dataclass(frozen=True)
class Gate:
    """One safety gate: the drug classes it guards, when it fires, what it says and its (non-seed) source."""

    id: str
    title: str
    drug_classes: frozenset[str]
    when_text: str
    then_text: str
    evidence: tuple[Evidence, ...]
    # Card summaries by outcome (< 140 characters once formatted with the policy's numbers, see _numbers()).
    summaries: Mapping[str, str] = field(default_factory=dict)


def _ev(source: str, statement: str) -> Evidence:
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
_SEED_000 = "000_78eca85d1300eed9.txt"
_SEED_001 = "001_55f96261c0195ecd.txt"
_SEED_002 = "002_a2231a674c43bc45.txt"

GATES: tuple[Gate, ...] = (
    Gate(
        id="S01",
        title="NSAID and kidney function",
        drug_classes=NSAID_CLASSES,
        when_text="An NSAID is suggested or ordered; eGFR below {nsaid_avoid} or CKD stage "
        "4-5/ESRD/dialysis, or eGFR {nsaid_avoid}-{nsaid_caution_minus}",
        then_text="Below {nsaid_avoid} or CKD 4-5: avoid the NSAID. {nsaid_avoid}-{nsaid_caution_minus}: "
        "caution, shortest course, monitor creatinine and potassium, avoid with ACE inhibitor/ARB plus "
        "diuretic. No current eGFR: check renal function first.",
        evidence=(
            _ev(
                _KDIGO,
                "Drug stewardship in CKD: avoid NSAIDs at GFR below 30 and use with caution at lower GFR "
                "(guideline located; NSAID/GFR wording not reviewed verbatim)",
            ),
        ),
        summaries={
            "absolute": "Avoid NSAIDs: eGFR below {nsaid_avoid} or CKD stage 4-5/dialysis; consider a "
            "non-NSAID option",
            "relative": "NSAID with eGFR {nsaid_avoid}-{nsaid_caution_minus}: consider the shortest course "
            "and monitoring creatinine and potassium",
            "missing": "NSAID: no current eGFR on record; consider checking serum creatinine (eGFR) first",
        },
    ),
    Gate(
        id="S02",
        title="NSAID and GI bleeding",
        drug_classes=NSAID_CLASSES,
        when_text="An NSAID is suggested or ordered and there is an active GI bleed, a bleeding ulcer, or a "
        "history of GI bleed or peptic ulcer",
        then_text="Active bleed: avoid. History: avoid if possible; if essential, a COX-2 selective agent "
        "with gastroprotection. Age {older}+, anticoagulant or glucocorticoid use add risk.",
        evidence=(
            _ev(
                _FDA_NSAID, "Boxed warning: gastrointestinal bleeding, ulceration, and perforation (reviewed)"
            ),
        ),
        summaries={
            "absolute": "Avoid NSAIDs: active GI bleed or bleeding ulcer on record",
            "relative": "NSAID with GI bleed or ulcer history: avoid if possible; if essential consider a "
            "COX-2 agent with gastroprotection",
        },
    ),
    Gate(
        id="S03",
        title="NSAID with anticoagulant or antiplatelet",
        drug_classes=frozenset({NSAID, INDOMETHACIN}),
        when_text="An NSAID is suggested or ordered while an anticoagulant or antiplatelet is active",
        then_text="Higher bleeding risk: consider another option; avoid with an active GI bleed.",
        evidence=(
            _ev(
                _FDA_NSAID,
                "NSAID labelling, drug interactions with anticoagulants and antiplatelets (not reviewed "
                "verbatim; the boxed GI-bleeding warning was reviewed)",
            ),
        ),
        summaries={
            "absolute": "Avoid NSAIDs: anticoagulant or antiplatelet with an active GI bleed",
            "relative": "NSAID with an anticoagulant or antiplatelet: higher bleeding risk; consider "
            "alternatives",
        },
    ),
    Gate(
        id="S04",
        title="NSAID, heart failure and CABG",
        drug_classes=NSAID_CLASSES,
        when_text="An NSAID is suggested or ordered with heart failure, or within {cabg_days} days after "
        "CABG",
        then_text="CABG within {cabg_days} days: contraindicated. Heart failure: fluid retention and "
        "worsening heart failure; avoid in severe heart failure.",
        evidence=(
            _ev(
                _FDA_NSAID,
                "Boxed warning: cardiovascular thrombotic events; contraindicated in the setting of CABG "
                "surgery (reviewed). Heart-failure precautions not reviewed verbatim",
            ),
        ),
        summaries={
            "absolute": "Avoid NSAIDs: CABG within the last {cabg_days} days (contraindicated)",
            "relative": "NSAID with heart failure: risk of fluid retention and worsening heart failure",
        },
    ),
    Gate(
        id="S05",
        title="NSAID in pregnancy",
        drug_classes=NSAID_CLASSES,
        when_text="An NSAID is suggested or ordered in pregnancy at {preg_avoid} weeks or later, or at "
        "unknown gestational age",
        then_text="From {preg_avoid} weeks: avoid (fetal kidney dysfunction, low amniotic fluid). From "
        "{preg_crit} weeks: premature closure of the ductus arteriosus. Low-dose aspirin is excepted.",
        evidence=(
            _ev(
                _FDA_PREGNANCY,
                "FDA Drug Safety Communication, 15 Oct 2020: avoid NSAIDs in pregnancy at 20 weeks or later "
                "(reviewed)",
            ),
        ),
        summaries={
            "absolute": "Avoid NSAIDs at {preg_crit} weeks of pregnancy or later: premature closure of the "
            "ductus arteriosus",
            "relative": "NSAID in pregnancy: avoid from {preg_avoid} weeks (fetal kidney dysfunction, low "
            "amniotic fluid)",
        },
    ),
    Gate(
        id="S06",
        title="Duplicate NSAID therapy",
        drug_classes=NSAID_CLASSES,
        when_text="An NSAID is suggested or ordered while another NSAID is active or being ordered",
        then_text="Use one NSAID at a time.",
        evidence=(_ev(_GENERAL, "Duplicate NSAID therapy adds risk without benefit"),),
        summaries={
            "relative": "Duplicate NSAID therapy: another NSAID is active or ordered; consider one NSAID only"
        },
    ),
    Gate(
        id="S07",
        title="Indomethacin in older adults",
        drug_classes=frozenset({INDOMETHACIN}),
        when_text="Indomethacin is suggested or ordered at age {older} or older",
        then_text="Potentially harmful in older adults: prefer another agent.",
        evidence=(
            _ev(
                "VSAC value set 'Potentially Harmful Pain Medications for Older Adults' (OID "
                "2.16.840.1.113883.3.464.1003.1063, eCQM 2025)",
                "Contains the indomethacin oral products (seen in this research)",
            ),
        ),
        summaries={
            "relative": "Indomethacin at age {older} or older: potentially harmful in older adults; "
            "consider another agent"
        },
    ),
    Gate(
        id="S08",
        title="IV bisphosphonate and kidney function",
        drug_classes=IV_BP_CLASSES,
        when_text="An IV bisphosphonate is suggested or ordered: zoledronic acid with eGFR below {zol}, "
        "pamidronate with eGFR below {pam}, or no current eGFR",
        then_text="Zoledronic acid below {zol}: contraindicated. Pamidronate below {pam}: avoid unless the "
        "benefit outweighs the risk. Measure renal function before each dose and hydrate.",
        evidence=(
            _ev(
                _MHRA_ZOL,
                "MHRA Drug Safety Update: measure renal function before each dose, hydrate; not recommended "
                "in severe renal impairment (reviewed)",
            ),
            _ev(
                "FDA zoledronic acid 5 mg label (openFDA set_id 1977d713-4cc7-405e-b4c1-a9a91635eff6)",
                "Contraindicated with creatinine clearance below 35 mL/min (label located; not reviewed "
                "verbatim)",
            ),
        ),
        summaries={
            "absolute": "Zoledronic acid with eGFR below {zol} or CKD stage 4-5: contraindicated; consider "
            "another option",
            "relative": "Pamidronate with eGFR below {pam}: avoid unless benefit outweighs risk; hydrate "
            "and check renal function",
            "missing": "IV bisphosphonate: no current eGFR on record; consider checking serum creatinine "
            "(eGFR) first",
        },
    ),
    Gate(
        id="S09",
        title="Calcium and vitamin D before antiresorptives",
        drug_classes=ANTIRESORPTIVE_CLASSES,
        when_text="A bisphosphonate or denosumab is suggested or ordered with hypocalcaemia, low 25-OH "
        "vitamin D, or no current calcium or vitamin D",
        then_text="Correct hypocalcaemia before starting; check calcium (corrected for albumin) and 25-OH "
        "vitamin D; give calcium and vitamin D.",
        evidence=(
            _ev(
                "FDA labels for bisphosphonates and denosumab (not reviewed verbatim)",
                "Hypocalcaemia must be corrected before starting; supplement calcium and vitamin D",
            ),
            Evidence(
                _SEED_001, "Ensure vitamin D and calcium homeostasis are balanced before initiating denosumab"
            ),
        ),
        summaries={
            "absolute": "Hypocalcaemia: correct it before starting a bisphosphonate or denosumab",
            "relative": "Low 25-OH vitamin D: consider correcting vitamin D and calcium before a "
            "bisphosphonate or denosumab",
            "missing": "Bisphosphonate or denosumab: no current calcium or vitamin D; consider checking "
            "them first",
        },
    ),
    Gate(
        id="S10",
        title="Osteonecrosis of the jaw risk",
        drug_classes=ANTIRESORPTIVE_CLASSES,
        when_text="A bisphosphonate or denosumab is suggested or ordered with prior ONJ or active dental "
        "disease",
        then_text="Dental examination and preventive dentistry before starting.",
        evidence=(
            _ev(
                "FDA labels for bisphosphonates and denosumab, warnings and precautions (not reviewed "
                "verbatim)",
                "Osteonecrosis of the jaw: dental examination before starting",
            ),
        ),
        summaries={
            "relative": "Prior jaw osteonecrosis or dental disease: consider dental review before a "
            "bisphosphonate or denosumab"
        },
    ),
    Gate(
        id="S11",
        title="Denosumab and advanced kidney disease",
        drug_classes=frozenset({DENOSUMAB}),
        when_text="Denosumab is suggested or ordered with eGFR below {dmab}, dialysis or CKD stage 4-5, or "
        "no current eGFR",
        then_text="Severe hypocalcaemia risk: evaluate for CKD-mineral and bone disorder first, specialist "
        "supervision; do not start while calcium is low.",
        evidence=(
            _ev(
                _FDA_DENOSUMAB,
                "Severe hypocalcemia in patients with advanced kidney disease (eGFR below 30 mL/min/1.73 "
                "m2, including dialysis) (reviewed)",
            ),
        ),
        summaries={
            "absolute": "Denosumab with advanced kidney disease and low calcium: severe hypocalcaemia risk; "
            "avoid starting",
            "relative": "Denosumab with eGFR below {dmab} or dialysis: severe hypocalcaemia risk; consider "
            "specialist review",
            "missing": "Denosumab: no current eGFR on record; consider checking serum creatinine (eGFR) "
            "first",
        },
    ),
    Gate(
        id="S12",
        title="Opioid with a CNS depressant",
        drug_classes=frozenset({OPIOID}),
        when_text="An opioid is suggested or ordered while a benzodiazepine or other CNS depressant is "
        "active",
        then_text="Sedation, falls and respiratory depression: consider avoiding the combination; short "
        "courses only.",
        evidence=(
            Evidence(
                _SEED_002,
                "Limit narcotic use to avoid sedation, increased fall risk, respiratory depression, and "
                "decreased physical conditioning in elderly patients",
            ),
            Evidence(
                _SEED_001,
                "Short-term narcotics only when necessary due to risks of sedation, falls, and "
                "deconditioning",
            ),
            _ev(
                _GENERAL,
                "Co-prescribed benzodiazepines or other CNS depressants add sedation and respiratory "
                "depression (VSAC 'Central Nervous System Depressants' value set exists)",
            ),
        ),
        summaries={
            "relative": "Opioid with a benzodiazepine or other CNS depressant: sedation and respiratory "
            "depression risk"
        },
    ),
    Gate(
        id="S13",
        title="TNF-alpha inhibitor safety",
        drug_classes=frozenset({TNFI}),
        when_text="A TNF-alpha inhibitor is suggested or ordered with an active infection or a screening "
        "concern (latent TB, hepatitis B, demyelinating disease, decompensated heart failure)",
        then_text="Do not start during a serious infection; screen for latent TB and hepatitis B first.",
        evidence=(
            _ev(
                "TNF-alpha inhibitor product boxed warnings for serious infections (general knowledge; not "
                "reviewed)",
                "Serious infections and latent TB reactivation: screen before starting",
            ),
        ),
        summaries={
            "relative": "TNF-alpha inhibitor with active infection or screening concern: consider screening "
            "or treating first"
        },
    ),
    Gate(
        id="S14",
        title="Systemic glucocorticoid cautions",
        drug_classes=GLUCOCORTICOID_CLASSES,
        when_text="A systemic glucocorticoid is suggested or ordered with diabetes, active infection, or a "
        "GI bleed/ulcer history while an NSAID is in use",
        then_text="Monitor glucose, look for infection, consider gastroprotection. Never delays "
        "dexamethasone for suspected cord compression (R10).",
        evidence=(
            _ev(
                _GENERAL,
                "Glucocorticoids raise glucose, mask or worsen infection and add GI-bleeding risk with "
                "NSAIDs",
            ),
        ),
        summaries={
            "relative": "Glucocorticoid caution: diabetes, infection or GI bleed with NSAID on record; "
            "consider monitoring",
            "info": "Dexamethasone for suspected cord compression: cautions on record, for information "
            "only; do not delay it",
        },
    ),
)
GATES_BY_ID: Mapping[str, Gate] = MappingProxyType({g.id: g for g in GATES})
GATED_CLASSES: Final = frozenset(c for g in GATES for c in g.drug_classes)
KNOWN_CLASSES: Final = GATED_CLASSES | UNGATED_CLASSES


@dataclass(frozen=True)
class Verdict:
    """What one gate concluded about one drug."""

    gate_id: str
    level: Level
    text: str  # the reason in words, with values and dates ("eGFR 25 on 2026-10-01 is below 30")
    sources: tuple[Source, ...] = ()
    missing: tuple[str, ...] = ()  # data that was missing or stale, in words
    labs: tuple[str, ...] = ()  # LAB_* keys to offer as orders


@dataclass(frozen=True)
class _Context:
    """What a check needs beyond the patient's features."""

    features: Features
    policy: Policy
    classes: frozenset[str]  # the drug's classes
    self_reference: str = ""  # a draft order's own reference
    self_draft: DraftOrder | None = None  # the draft order being checked (not its own duplicate)
    nsaid_drafts: tuple[DraftOrder, ...] = ()  # every NSAID draft order in the call
    nsaid_in_play: bool = False  # an NSAID is active, drafted or suggested (S14)


@dataclass(frozen=True)
class _Lab:
    """A lab value that is current, or why it cannot be used."""

    value: float | None
    sources: tuple[Source, ...]
    missing: str | None  # "eGFR: none on record" / "eGFR 25: stale, dated 2025-01-02"
    words: str  # "eGFR 72 on 2026-10-01"


def _num(value: float) -> str:
    return f"{value:g}"


def _lab(fact: Fact[float], name: str, today: date, max_age_days: int) -> _Lab:
    """A lab is usable only when it has a value and a date no older than labs.max_age_days."""
    if fact.value is None:
        return _Lab(None, fact.sources, f"{name}: none on record", name)
    words = f"{name} {_num(fact.value)}"
    if fact.as_of is None:
        # An undated result cannot be shown to be current, so it is treated like a missing one.
        return _Lab(None, fact.sources, f"{words}: undated, cannot tell whether it is current", words)
    dated = f"{words} on {fact.as_of.isoformat()}"
    if (today - fact.as_of).days > max_age_days:
        return _Lab(
            None,
            fact.sources,
            f"{words}: stale, dated {fact.as_of.isoformat()} (older than {max_age_days} days)",
            dated,
        )
    return _Lab(float(fact.value), fact.sources, None, dated)


def _numbers(policy: Policy) -> dict[str, str]:
    """Policy thresholds by the short names the gate texts use."""
    return {
        "nsaid_avoid": _num(policy.float("egfr.nsaid_avoid_below")),
        "nsaid_caution_minus": _num(policy.float("egfr.nsaid_caution_below") - 1),
        "zol": _num(policy.float("egfr.zoledronic_avoid_below")),
        "pam": _num(policy.float("egfr.pamidronate_caution_below")),
        "dmab": _num(policy.float("egfr.denosumab_caution_below")),
        "preg_avoid": str(policy.int("pregnancy.nsaid_avoid_weeks")),
        "preg_crit": str(policy.int("pregnancy.nsaid_contraindicated_weeks")),
        "older": str(policy.int("age.older_adult_years")),
        "cabg_days": str(policy.int("cabg.recent_days")),
    }


def _worst(gate_id: str, parts: list[Verdict], pass_text: str) -> Verdict:
    """Combine a gate's findings for one drug: the worst level wins, every reason is kept."""
    concerns = [v for v in parts if v.level != "pass"]
    if not concerns:
        return Verdict(gate_id, "pass", pass_text, tuple(s for v in parts for s in v.sources))
    level = max(concerns, key=lambda v: _RANK[v.level]).level
    return Verdict(
        gate_id,
        level,
        "; ".join(v.text for v in concerns),
        tuple(s for v in concerns for s in v.sources),
        tuple(m for v in concerns for m in v.missing),
        tuple(dict.fromkeys(lab for v in concerns for lab in v.labs)),
    )


def _known_false(*facts: Fact[bool]) -> bool:
    return all(f.value is False for f in facts)


def _sources(*facts: Fact[Any]) -> tuple[Source, ...]:
    """The sources of the facts that are known (a value of None has nothing to show)."""
    return tuple(s for f in facts if f.value is not None for s in f.sources)


def _true_sources(*facts: Fact[bool]) -> tuple[Source, ...]:
    """The sources of the facts that are positively true: the data a concern rests on."""
    return tuple(s for f in facts if f.true for s in f.sources)


def _renal(ctx: _Context, gate_id: str, threshold: float, below: Level, drug: str) -> Verdict:
    """The shared renal test: coded CKD 4-5/ESRD, a current eGFR below the threshold, or no current eGFR."""
    f, p = ctx.features, ctx.policy
    egfr = _lab(f.egfr, "eGFR", f.today, p.int("labs.max_age_days"))
    parts: list[Verdict] = []
    if f.ckd_stage_4_5_or_esrd.true:
        parts.append(
            Verdict(
                gate_id,
                below,
                "CKD stage 4-5, ESRD or dialysis on record",
                f.ckd_stage_4_5_or_esrd.sources,
            )
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
                    (LAB_CREATININE,),
                )
            )
    elif egfr.value < threshold:
        parts.append(Verdict(gate_id, below, f"{egfr.words} is below {_num(threshold)}", egfr.sources))
    else:
        parts.append(Verdict(gate_id, "pass", egfr.words, egfr.sources))
    return _worst(gate_id, parts, f"{gate_id} passed: {egfr.words}")


def _s01(ctx: _Context) -> Verdict:
    f, p = ctx.features, ctx.policy
    v = _renal(ctx, "S01", p.float("egfr.nsaid_avoid_below"), "absolute", "NSAID")
    egfr = _lab(f.egfr, "eGFR", f.today, p.int("labs.max_age_days"))
    caution = p.float("egfr.nsaid_caution_below")
    if v.level == "pass" and egfr.value is not None and egfr.value < caution:
        return Verdict(
            "S01",
            "relative",
            f"{egfr.words} is below {_num(caution)}: shortest course, monitor creatinine and potassium",
            egfr.sources,
        )
    return v


def _s02(ctx: _Context) -> Verdict:
    f, p = ctx.features, ctx.policy
    if f.gi_bleed_active.true:
        return Verdict(
            "S02", "absolute", "active GI bleed or bleeding ulcer on record", f.gi_bleed_active.sources
        )
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
            _true_sources(
                f.gi_bleed_or_pud_history, f.anticoagulant_active, f.systemic_glucocorticoid_active
            ),
        )
    if _known_false(f.gi_bleed_or_pud_history):
        return Verdict("S02", "pass", "S02 passed: no GI bleed or peptic ulcer on record")
    return Verdict("S02", "note", "S02 not checked: GI bleed and ulcer history unknown")


def _s03(ctx: _Context) -> Verdict:
    f = ctx.features
    if f.anticoagulant_active.true or f.antiplatelet_active.true:
        which = " and ".join(
            n
            for n, x in (("anticoagulant", f.anticoagulant_active), ("antiplatelet", f.antiplatelet_active))
            if x.true
        )
        level: Level = "absolute" if f.gi_bleed_active.true else "relative"
        bleed = " with an active GI bleed" if f.gi_bleed_active.true else ""
        return Verdict(
            "S03",
            level,
            f"active {which}{bleed}",
            _true_sources(f.anticoagulant_active, f.antiplatelet_active, f.gi_bleed_active),
        )
    if _known_false(f.anticoagulant_active, f.antiplatelet_active):
        return Verdict("S03", "pass", "S03 passed: no anticoagulant or antiplatelet active")
    return Verdict("S03", "note", "S03 not checked: anticoagulant/antiplatelet use unknown")


def _s04(ctx: _Context) -> Verdict:
    f, p = ctx.features, ctx.policy
    parts: list[Verdict] = []
    cabg = f.recent_cabg_date.value
    window = p.int("cabg.recent_days")
    if cabg is not None and 0 <= (f.today - cabg).days <= window:
        parts.append(
            Verdict(
                "S04",
                "absolute",
                f"CABG on {cabg.isoformat()}, within {window} days",
                f.recent_cabg_date.sources,
            )
        )
    if f.heart_failure.true:
        parts.append(Verdict("S04", "relative", "heart failure on record", f.heart_failure.sources))
    if not parts and not _known_false(f.heart_failure):
        return Verdict("S04", "note", "S04 not checked: heart failure status unknown")
    return _worst("S04", parts, f"S04 passed: no heart failure and no CABG within {window} days on record")


def _s05(ctx: _Context) -> Verdict:
    f, p = ctx.features, ctx.policy
    avoid, crit = p.int("pregnancy.nsaid_avoid_weeks"), p.int("pregnancy.nsaid_contraindicated_weeks")
    if f.pregnant.true:
        weeks = f.gestational_age_weeks.value
        src = _sources(f.pregnant, f.gestational_age_weeks)
        if weeks is None:
            return Verdict(
                "S05",
                "relative",
                "pregnant, gestational age unknown",
                src,
                ("gestational age: not recorded",),
            )
        if weeks >= crit:
            return Verdict("S05", "absolute", f"pregnant, {weeks} weeks (at or after {crit} weeks)", src)
        if weeks >= avoid:
            return Verdict("S05", "relative", f"pregnant, {weeks} weeks (at or after {avoid} weeks)", src)
        return Verdict(
            "S05", "pass", f"S05 passed: pregnant, {weeks} weeks (NSAIDs avoided from {avoid} weeks)", src
        )
    if f.pregnant.value is False:
        return Verdict("S05", "pass", "S05 passed: not pregnant", f.pregnant.sources)
    if f.sex.value == "male":
        return Verdict("S05", "pass", "S05 not applicable: male")
    return Verdict("S05", "note", "S05 not checked: pregnancy status not recorded")


def _s06(ctx: _Context) -> Verdict:
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


def _s07(ctx: _Context) -> Verdict:
    f, p = ctx.features, ctx.policy
    age, older = f.age_years.value, p.int("age.older_adult_years")
    if age is None:
        return Verdict("S07", "note", "S07 not checked: age unknown")
    if age >= older:
        return Verdict("S07", "relative", f"age {age} (at or above {older})", f.age_years.sources)
    return Verdict("S07", "pass", f"S07 passed: age {age}", f.age_years.sources)


def _s08(ctx: _Context) -> Verdict:
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


def _s09(ctx: _Context) -> Verdict:
    f, p = ctx.features, ctx.policy
    max_age = p.int("labs.max_age_days")
    calcium = _lab(f.calcium, "calcium", f.today, max_age)
    albumin = _lab(f.albumin, "albumin", f.today, max_age)
    vitd = _lab(f.vitd_25oh, "25-OH vitamin D", f.today, max_age)
    parts: list[Verdict] = []
    if f.hypocalcemia.true:
        parts.append(Verdict("S09", "absolute", "hypocalcaemia on record", f.hypocalcemia.sources))
    elif calcium.value is not None and f.calcium_low.true:
        parts.append(Verdict("S09", "absolute", f"{calcium.words} is low", calcium.sources))
    if calcium.value is None:
        labs = (LAB_CALCIUM, LAB_ALBUMIN) if albumin.value is None else (LAB_CALCIUM,)
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
                (LAB_VITD,),
            )
        )
    elif vitd.value < vitd_min:
        parts.append(
            Verdict("S09", "relative", f"{vitd.words} is below {_num(vitd_min)} ng/mL", vitd.sources)
        )
    corrected = "" if albumin.value is not None else " (not corrected for albumin: no current albumin)"
    return _worst(
        "S09", parts, f"S09 passed: {calcium.words}{corrected}, {vitd.words}; give calcium and vitamin D"
    )


def _s10(ctx: _Context) -> Verdict:
    f = ctx.features
    found = [
        n
        for n, x in (("prior osteonecrosis of the jaw", f.onj_history), ("dental disease", f.dental_disease))
        if x.true
    ]
    if found:
        return Verdict("S10", "relative", " and ".join(found), _true_sources(f.onj_history, f.dental_disease))
    if _known_false(f.onj_history, f.dental_disease):
        return Verdict(
            "S10",
            "pass",
            "S10 passed: no prior ONJ or dental disease on record; dental examination before starting is "
            "advised",
        )
    return Verdict(
        "S10",
        "note",
        "S10 not checked: ONJ and dental history unknown; dental examination before starting is advised",
    )


def _s11(ctx: _Context) -> Verdict:
    f, p = ctx.features, ctx.policy
    v = _renal(ctx, "S11", p.float("egfr.denosumab_caution_below"), "relative", "denosumab")
    calcium = _lab(f.calcium, "calcium", f.today, p.int("labs.max_age_days"))
    low_calcium = f.hypocalcemia.true or (calcium.value is not None and f.calcium_low.true)
    if v.level == "relative" and low_calcium:
        return Verdict(
            "S11",
            "absolute",
            v.text + "; calcium is already low",
            v.sources + _true_sources(f.hypocalcemia, f.calcium_low),
        )
    return v


def _s12(ctx: _Context) -> Verdict:
    f = ctx.features
    if f.cns_depressant_active.true:
        return Verdict(
            "S12",
            "relative",
            "benzodiazepine or other CNS depressant active",
            f.cns_depressant_active.sources,
        )
    if f.cns_depressant_active.value is False:
        return Verdict("S12", "pass", "S12 passed: no CNS depressant active; short courses only (seeds)")
    return Verdict("S12", "note", "S12 not checked: CNS-depressant use unknown")


def _s13(ctx: _Context) -> Verdict:
    f = ctx.features
    found = [
        n
        for n, x in (
            ("active infection", f.active_infection),
            ("screening concern (TB, hepatitis B, demyelination or heart failure)", f.tnfi_screening_concern),
        )
        if x.true
    ]
    if found:
        return Verdict(
            "S13",
            "relative",
            " and ".join(found),
            _true_sources(f.active_infection, f.tnfi_screening_concern),
        )
    if _known_false(f.active_infection, f.tnfi_screening_concern):
        return Verdict("S13", "pass", "S13 passed: no active infection or screening concern on record")
    # The catalogue says "screen first": with no screening data this is a reminder line, not a card.
    return Verdict(
        "S13", "note", "S13: latent TB and hepatitis B screening not recorded; screen before starting"
    )


def _s14(ctx: _Context) -> Verdict:
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
                _true_sources(f.gi_bleed_active, f.gi_bleed_or_pud_history, f.nsaid_active),
            )
        )
    if not parts and not _known_false(f.diabetes, f.active_infection):
        return Verdict("S14", "note", "S14 not checked: diabetes or infection status unknown")
    return _worst(
        "S14", parts, "S14 passed: no diabetes, active infection or GI bleed with an NSAID on record"
    )


CHECKS: Mapping[str, Callable[[_Context], Verdict]] = MappingProxyType(
    {
        "S01": _s01,
        "S02": _s02,
        "S03": _s03,
        "S04": _s04,
        "S05": _s05,
        "S06": _s06,
        "S07": _s07,
        "S08": _s08,
        "S09": _s09,
        "S10": _s10,
        "S11": _s11,
        "S12": _s12,
        "S13": _s13,
        "S14": _s14,
    }
)


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

    features: Features
    policy: Policy
    hook: str
    nsaid_drafts: tuple[DraftOrder, ...]  # NSAID draft orders (order hooks only), for S06
    nsaid_in_play: bool  # an NSAID is active, drafted or suggested, for S14
    emergency: bool  # R10 fired: a dexamethasone draft is the emergency order, never blocked
    # Verdicts per suggested drug class: the checks are pure, and a card often offers one class in two doses.
    verdicts: dict[str, list[Verdict]] = field(default_factory=dict)


def _gates_for(classes: Iterable[str]) -> list[Gate]:
    wanted = set(classes)
    return [g for g in GATES if g.drug_classes & wanted]


# The gates guarding each single drug class, worked out once (a suggestion has one class).
_GATES_BY_CLASS: Final[Mapping[str, tuple[Gate, ...]]] = MappingProxyType(
    {c: tuple(_gates_for((c,))) for c in sorted(GATED_CLASSES)}
)


@functools.lru_cache(maxsize=256)  # a draft's kinds are one of a few frozensets: select the gates once each
def _gates_for_kinds(classes: frozenset[str]) -> tuple[Gate, ...]:
    return tuple(_gates_for(classes))


def _evaluate(ctx: _Context) -> list[Verdict]:
    return [CHECKS[g.id](ctx) for g in _gates_for_kinds(ctx.classes)]


def _is_drug(spec: SuggestionSpec) -> bool:
    return spec.action == "create" and (
        spec.resource_type == "MedicationRequest" or spec.drug_class is not None
    )


def apply_gates(
    findings: tuple[Finding, ...], features: Features, hook: str, policy: Policy
) -> tuple[Finding, ...]:
    """Run S01-S14 over the findings' drug suggestions and the draft orders; return gated + gate findings."""
    nsaid_drafts = (
        tuple(d for d in features.draft_orders if d.kinds & NSAID_CLASSES) if hook in ORDER_HOOKS else ()
    )
    nsaid_suggested = any(s.drug_class in NSAID_CLASSES for fd in findings for s in fd.suggestions)
    nsaid_in_play = features.nsaid_active.true or bool(nsaid_drafts) or nsaid_suggested
    # With R10 in this response, a dexamethasone draft is that emergency order: its cautions are info only.
    emergency = any(fd.rule_id in NEVER_BLOCKED_RULES for fd in findings)
    call = _Call(features, policy, hook, nsaid_drafts, nsaid_in_play, emergency)
    hits: dict[str, list[_Hit]] = {}
    gated = tuple(_gate_finding(fd, call, hits) for fd in findings)
    if hook in ORDER_HOOKS:
        for draft in features.draft_orders:
            _gate_draft(draft, call, hits)
    return gated + _gate_findings(hits, policy)


def _gate_finding(finding: Finding, call: _Call, hits: dict[str, list[_Hit]]) -> Finding:
    """Gate one finding's drug suggestions; record passes and removals in its notes."""
    for spec in finding.suggestions:  # a loop, not any() over a generator: most findings offer no drug
        if _is_drug(spec):
            break
    else:
        return finding
    never_blocked = finding.rule_id in NEVER_BLOCKED_RULES
    kept: list[SuggestionSpec] = []
    notes: dict[str, None] = dict.fromkeys(finding.notes)
    withheld: list[str] = []
    for spec in finding.suggestions:
        if not _is_drug(spec):
            kept.append(spec)
            continue
        if spec.drug_class is None or spec.drug_class not in KNOWN_CLASSES:
            # Fail closed: a drug the gates cannot classify is not offered.
            withheld.append(
                f"Withheld: {spec.label}: drug class {spec.drug_class or 'not given'} is unknown to "
                "the safety checks, so they could not run"
            )
            continue
        if spec.drug_class in UNGATED_CLASSES:
            notes[f"No safety check in the catalogue (§5) covers {spec.drug_class}; review its label"] = None
            kept.append(spec)
            continue
        verdicts = call.verdicts.get(spec.drug_class)
        if verdicts is None:
            ctx = _Context(
                call.features,
                call.policy,
                frozenset({spec.drug_class}),
                nsaid_drafts=call.nsaid_drafts,
                nsaid_in_play=call.nsaid_in_play,
            )
            verdicts = [CHECKS[g.id](ctx) for g in _GATES_BY_CLASS.get(spec.drug_class, ())]
            call.verdicts[spec.drug_class] = verdicts
        if never_blocked:
            verdicts = [
                dataclasses.replace(v, level="info") if _RANK[v.level] >= _RANK["info"] else v
                for v in verdicts
            ]
        worst = max((_RANK[v.level] for v in verdicts), default=0)
        target = f"suggestion '{spec.label}' ({finding.rule_id})"
        for v in verdicts:
            if v.level in ("pass", "note"):
                notes[v.text] = None
        if worst >= _RANK["missing"]:
            deciding = [v for v in verdicts if _RANK[v.level] >= _RANK["missing"]]
            why = "; ".join(f"{v.gate_id}: {v.text}" for v in deciding)
            also = [f"{v.gate_id}: {v.text}" for v in verdicts if v.level in ("relative", "info")]
            if also:
                # Shown so that the lesser concerns are not lost once the deciding one is resolved.
                why += "; also " + "; ".join(also)
            if worst == _RANK["absolute"]:
                withheld.append(f"Removed: {spec.label} ({why}; contraindicated)")
            else:
                # One card per lab offers the order (the first gate needing it): point at the gate cards.
                withheld.append(f"Withheld: {spec.label} ({why}; the lab order is on the safety-check card)")
            for v in deciding:
                # A removal needs a card only on order-sign; a missing lab always gets one (it offers the lab)
                card: Indicator | None = (
                    "warning"
                    if v.level == "missing"
                    else ("critical" if call.hook == HOOK_ORDER_SIGN else None)
                )
                effect = (
                    "suggestion withheld until the lab is available"
                    if v.level == "missing"
                    else "suggestion removed"
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
    if not draft.kinds & GATED_CLASSES:
        return
    ctx = _Context(
        call.features,
        call.policy,
        draft.kinds,
        self_reference=draft.reference,
        self_draft=draft,
        nsaid_drafts=call.nsaid_drafts,
        nsaid_in_play=call.nsaid_in_play,
    )
    ref = f" ({draft.reference})" if draft.reference else ""
    target = f"draft order {draft.display}{ref}"
    never_blocked = call.emergency and DEXAMETHASONE in draft.kinds
    for v in _evaluate(ctx):
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
        return (
            "critical" if hook == HOOK_ORDER_SIGN else "warning"
        ), "contraindicated: consider removing the draft"
    if level == "missing":
        return "warning", "check the lab before signing"
    return "warning", "review before signing"


@dataclass(frozen=True)
class _PolicyTexts:
    """A gate's card texts filled with one policy's numbers, each formatted on first use."""

    policy: Policy
    words: dict[str, str]
    texts: dict[tuple[str, str], str] = field(default_factory=dict)

    def get(self, gate: Gate, which: str) -> str:
        """`which` is a summaries key, "then" or "when"."""
        text = self.texts.get((gate.id, which))
        if text is None:
            template = gate.then_text if which == "then" else gate.when_text if which == "when" else (
                gate.summaries[which])
            text = template.format(**self.words)
            self.texts[(gate.id, which)] = text
        return text


_POLICY_TEXTS: dict[int, _PolicyTexts] = {}
_MAX_POLICY_TEXTS: Final = 64  # one policy in production; tests build many


def _policy_texts(policy: Policy) -> _PolicyTexts:
    """The gate texts for this policy; the policy is frozen, so they are built once per policy."""
    cached = _POLICY_TEXTS.get(id(policy))
    if cached is not None and cached.policy is policy:  # it keeps its policy alive: the same id is the same
        return cached
    cached = _PolicyTexts(policy, _numbers(policy))
    if len(_POLICY_TEXTS) >= _MAX_POLICY_TEXTS:
        _POLICY_TEXTS.pop(next(iter(_POLICY_TEXTS)), None)  # the oldest
    _POLICY_TEXTS[id(policy)] = cached
    return cached


def _gate_findings(hits: dict[str, list[_Hit]], policy: Policy) -> tuple[Finding, ...]:
    """One finding per gate that fired, listing every affected suggestion and order."""
    texts = _policy_texts(policy)
    offered_labs: dict[str, str] = {}  # lab -> the gate card that offers it (one order per lab per response)
    out: list[Finding] = []
    for gate in GATES:
        if gate.id not in hits:  # most calls hit no gate, or one or two of the fourteen
            continue
        carded = [h for h in hits[gate.id] if h.indicator is not None]
        if not carded:
            continue
        indicator = min(
            (h.indicator for h in carded if h.indicator is not None), key=INDICATOR_ORDER.__getitem__
        )
        levels = [h.verdict.level for h in carded if h.indicator == indicator]
        worst = max(levels, key=_RANK.__getitem__)
        summary_key = {"absolute": "absolute", "missing": "missing", "info": "info"}.get(worst, "relative")
        summary_key = summary_key if gate.summaries.get(summary_key) else "relative"
        suggestions: list[SuggestionSpec] = []
        notes: list[str] = []
        for h in carded:
            notes.append(f"{h.target}: {h.verdict.text}; {h.effect}")
        for lab in dict.fromkeys(lab for h in carded for lab in h.verdict.labs):
            if lab in offered_labs:
                notes.append(f"{LAB_ORDERS[lab].text}: offered on the {offered_labs[lab]} card")
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
                summary=texts.get(gate, summary_key),
                recommendation=texts.get(gate, "then"),
                # The recommendation already carries the "then" part; the rule line says when it fires.
                rule_text=f"Fires when: {texts.get(gate, 'when')}.",
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


@functools.lru_cache(maxsize=256)  # frozen and fixed per (lab, gate): built once, not per request
def _lab_suggestion(lab: str, gate_id: str) -> SuggestionSpec:
    order = LAB_ORDERS[lab]
    return SuggestionSpec(
        label=order.label,
        action="create",
        resource_type="ServiceRequest",
        code=order.code,
        text=order.text,
        note=f"Requested by safety check {gate_id}: no current result",
    )
