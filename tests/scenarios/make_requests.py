"""Write the golden scenario requests: `python -m tests.scenarios.make_requests` (then tools/regenerate_golden.py).

Each scenario is the fewest FHIR resources that make one rule's or gate's point. The JSON files are what the
tests read and what reviewers read; this script only writes them once (and again when a scenario changes).
Codes come from valuesets/ only; clinician inputs use the project-local codes
(service/core/features/codes.py LOCAL_CODES).
"""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import simple_icd_10_cm

from tests import builders as b

HERE = Path(__file__).resolve().parent
PV, SELECT, SIGN = "patient-view", "order-select", "order-sign"
ICD, SCT = b.ICD10CM, b.SNOMED
# hookInstance = uuid5(this namespace, folder path): stable, so the golden card uuids stay stable.
HOOK_INSTANCE_NS = uuid.UUID("0b6c9a52-8a3e-4c1e-9d0f-6d2f6f1b2a11")

Resource = dict[str, Any]


def _valueset_displays() -> dict[tuple[str, str], str]:
    """(system, code) -> display, from the concepts listed in valuesets/*.json."""
    out: dict[tuple[str, str], str] = {}
    for path in sorted((HERE.parents[1] / "valuesets").glob("*.json")):
        for include in json.loads(path.read_text(encoding="utf-8")).get("compose", {}).get("include", []):
            for c in include.get("concept", []):
                if c.get("display"):
                    out.setdefault((include["system"], c["code"]), c["display"])
    return out


DISPLAYS = _valueset_displays()


def display(system: str, code: str) -> str | None:
    """The code's display: the value set's, else the ICD-10-CM description (codes under an is-a filter)."""
    if (system, code) in DISPLAYS:
        return DISPLAYS[(system, code)]
    if system == ICD and simple_icd_10_cm.is_valid_item(code):
        return str(simple_icd_10_cm.get_description(code))
    return None


@dataclass(frozen=True)
class Scenario:
    """One folder: the hook, the patient's record and the hook's draft orders."""

    hook: str
    resources: Sequence[Resource]
    drafts: Sequence[Resource] = ()
    selections: Sequence[str] | None = field(default=None)  # default: every draft is selected


# -- small vocabulary -----------------------------------------------------------------------------------


def adult(birth: str = "1976-03-14") -> Resource:
    """A 50-year-old woman (under the older-adult age of 65 that S02/S07/R33 use)."""
    return b.patient(birth, "female", id="p1")


def older(birth: str = "1956-03-14") -> Resource:
    """A 70-year-old woman."""
    return b.patient(birth, "female", id="p1")


def mri(text: str, when: str = "2026-11-10", code: str = b.MR_LUMBAR_SPINE, id: str = "mri-1") -> Resource:
    """An MRI report whose conclusion carries the finding."""
    return b.report(text, code=code, effective=when, id=id, code_display=display(b.LOINC, code))


def l1_bme(when: str = "2026-11-10") -> Resource:
    """Vertebral BME at L1, extent not stated."""
    return mri("Bone marrow edema at L1.", when)


def knee_bme(when: str = "2026-11-10") -> Resource:
    """BME in the knee (a non-vertebral site)."""
    return mri("Bone marrow edema in the medial femoral condyle of the right knee.", when, code="24802-1")


def hip_bme(when: str = "2026-11-10") -> Resource:
    """BME in the femoral head."""
    return mri("Bone marrow edema of the left femoral head and neck.", when, code="36013-1")


def foot_bme(when: str = "2026-11-10") -> Resource:
    """BME in the midfoot."""
    return mri("Bone marrow edema in the midfoot, navicular and cuboid.", when, code="37222-7")


def cond(code: str, system: str = ICD, id: str = "cond-1", **kw: Any) -> Resource:
    """A Condition with an explicit id."""
    return b.condition(code, system, id=id, display=display(system, code), **kw)


def fracture(onset: str = "2026-11-01", id: str = "fx-1", code: str = "M80.08XA", **kw: Any) -> Resource:
    """An osteoporotic vertebral fracture (ICD-10-CM M80.08XA)."""
    return cond(code, onset=onset, id=id, **kw)


def local(code: str, id: str, **kw: Any) -> Resource:
    """A project-local Observation (clinician input)."""
    return b.local_observation(code, id=id, **kw)


def lab(loinc: str, value: float, unit: str, id: str, when: str = "2026-11-01", **kw: Any) -> Resource:
    """A lab result."""
    return b.observation(loinc, value, unit, when, id=id, display=display(b.LOINC, loinc), **kw)


def egfr(value: float, when: str = "2026-11-01") -> Resource:
    """eGFR (LOINC 98979-8, CKD-EPI 2021)."""
    return lab("98979-8", value, "mL/min/{1.73_m2}", "egfr-1", when)


def pain(score: int, when: str, id: str) -> Resource:
    """A pain NRS score."""
    return b.pain(score, when, id=id)


def med(rxnorm: str | None, text: str, id: str, authored: str | None = "2026-11-01", **kw: Any) -> Resource:
    """A MedicationRequest in the record."""
    return b.medication_request(rxnorm, text, authored, id=id, **kw)


def draft(rxnorm: str | None, text: str, id: str = "draft-1", **kw: Any) -> Resource:
    """A draft MedicationRequest in context.draftOrders."""
    return b.draft_medication_request(rxnorm, text, id=id, **kw)


NAPROXEN = ("7258", "naproxen 500 MG Oral Tablet")
OXYCODONE = ("7804", "oxycodone hydrochloride 5 MG Oral Tablet")
PREDNISONE = ("8640", "prednisone 20 MG Oral Tablet")
ADALIMUMAB = ("327361", "adalimumab 40 MG/0.4ML Prefilled Syringe")
ZOLEDRONIC = ("77655", "zoledronic acid 5 MG/100ML Injection")
DENOSUMAB = ("993449", "denosumab 60 MG/ML Prefilled Syringe")
INDOMETHACIN = ("5781", "indomethacin 25 MG Oral Capsule")


def naproxen_draft() -> Resource:
    """A naproxen draft order (RxNorm ingredient 7258)."""
    return draft(*NAPROXEN, id="draft-naproxen")


# Refractory knee BME (catalogue §1.7): BME first seen 2026-08-01, naproxen since 2026-08-05, pain still 6/10.
def refractory(pain_from: str = "2026-08-10", pain_to: str = "2026-11-15") -> list[Resource]:
    """BME first seen 2026-08-01, an NSAID course since 2026-08-05, pain >= 4 from pain_from to pain_to."""
    return [
        adult(),
        knee_bme("2026-08-01"),
        med(*NAPROXEN, id="mr-naproxen", authored="2026-08-05"),
        pain(6, pain_from, "pain-1"),
        pain(6, pain_to, "pain-2"),
    ]


GOOD_LABS = [
    lab("17861-6", 9.4, "mg/dL", "calcium-1"),
    lab("1751-7", 4.0, "g/dL", "albumin-1"),
    lab("62292-8", 32.0, "ng/mL", "vitd-1"),
]


# -- the scenarios ----------------------------------------------------------------------------------------


def scenarios() -> dict[str, Scenario]:
    """Folder path (relative to tests/scenarios) -> scenario."""
    s: dict[str, Scenario] = {}

    def add(path: str, hook: str, resources: Sequence[Resource], drafts: Sequence[Resource] = ()) -> None:
        if path.startswith("S") and "no-bme" not in path:
            # Order hooks check drafts only for a BME patient (issue 12): each gate scenario has knee BME.
            resources = [*resources, knee_bme()]
        s[path] = Scenario(hook, list(resources), list(drafts))

    # Stage B: diagnosis and etiology
    add("R01/fires-fracture-without-mri", PV, [adult(), fracture()])
    add(
        "R01/quiet-mri-contraindicated",
        PV,
        [adult(), fracture(), local("mri-contraindicated", "obs-mri-ci", value_boolean=True)],
    )
    add("R01/quiet-mri-done-this-episode", PV, [adult(), fracture(), l1_bme("2026-11-10")])
    add(
        "R02/fires-mri-contraindicated",
        PV,
        [adult(), fracture(), local("mri-contraindicated", "obs-mri-ci", value_boolean=True)],
    )
    add(
        "R02/quiet-mri-possible",
        PV,
        [adult(), fracture(), local("mri-contraindicated", "obs-mri-ci", value_boolean=False)],
    )
    add("R03/fires-history-of-cancer", PV, [adult(), l1_bme(), fracture(), cond("Z85.3", id="hx-ca")])
    add(
        "R03/fires-two-vertebral-fractures",
        PV,
        [
            adult(),
            l1_bme(),
            fracture(id="fx-1", body_site="L1 vertebra"),
            fracture(id="fx-2", code="M80.08XA", body_site="T12 vertebra"),
        ],
    )
    add("R03/quiet-one-fracture-no-warning-sign", PV, [adult(), l1_bme(), fracture()])
    add("R04/fires-hip-bme", PV, [adult(), hip_bme()])
    add("R04/quiet-osteonecrosis-diagnosed", PV, [adult(), hip_bme(), cond("M87.052", id="on-1")])
    add("R05/fires-knee-bme-no-cause", PV, [adult(), knee_bme()])
    add("R05/quiet-osteoporosis-is-the-cause", PV, [adult(), knee_bme(), cond("M81.0", id="op-1")])

    # Stage A: red flags
    add("R06/fires-cauda-equina", PV, [adult(), l1_bme(), cond("G83.4", id="neuro-1")])
    add("R06/fires-deficit-at-order-sign", SIGN, [adult(), fracture(), cond("G83.4", id="neuro-1")], [naproxen_draft()])
    add(
        "R06/quiet-neuro-exam-normal",
        PV,
        [adult(), l1_bme(), local("neuro-deficit", "obs-neuro", value_boolean=False)],
    )
    add("R07/fires-unstable-fracture", PV, [adult(), l1_bme(), fracture(code="S32.002A")])
    add(
        "R07/fires-retropulsion",
        PV,
        [adult(), mri("L1 burst fracture with retropulsion of a fragment; bone marrow edema at L1."), fracture()],
    )
    add("R07/quiet-stable-fracture", PV, [adult(), l1_bme(), fracture(code="S32.010A")])
    add(
        "R08/fires-kyphosis-15-pct",
        PV,
        [adult(), fracture(), local("kyphosis-pct", "obs-kyph", value=15, unit="%")],
    )
    add(
        "R08/fires-height-loss-20-pct",
        PV,
        [adult(), fracture(), local("height-loss-pct", "obs-height", value=20, unit="%")],
    )
    add(
        "R08/quiet-kyphosis-14-pct",
        PV,
        [adult(), fracture(), local("kyphosis-pct", "obs-kyph", value=14, unit="%")],
    )
    add(
        "R09/fires-progressive-deterioration",
        PV,
        [adult(), l1_bme(), local("neuro-progressive", "obs-prog", value_boolean=True)],
    )
    add(
        "R09/quiet-not-progressive",
        PV,
        [adult(), l1_bme(), local("neuro-progressive", "obs-prog", value_boolean=False)],
    )
    add(
        "R10/fires-provisional-cord-compression",
        PV,
        [adult(), l1_bme(), cond("G95.20", id="cord-1", verification="provisional")],
    )
    add(
        "R10/quiet-no-bme-no-fracture",
        PV,
        [adult(), cond("G95.20", id="cord-1", verification="provisional")],
    )
    add("R11/fires-myeloma-with-bme", PV, [adult(), l1_bme(), cond("C90.00", id="mm-1")])
    # Labs current so the gates pass: R22's NSAIDs stay visible but not recommended ("defer to the myeloma team").
    add(
        "R11/fires-myeloma-nsaids-deferred",
        PV,
        [adult(), l1_bme(), cond("C90.00", id="mm-1"), egfr(72), *GOOD_LABS],
    )
    add(
        "R11/quiet-myeloma-without-bme",
        PV,
        [adult(), mri("No bone marrow edema. Normal marrow signal at L1."), cond("C90.00", id="mm-1")],
    )
    add("R12/fires-fracture-with-bone-metastasis", PV, [adult(), l1_bme(), fracture(), cond("C79.51", id="met-1")])
    add("R12/quiet-metastasis-without-fracture", PV, [adult(), l1_bme(), cond("C79.51", id="met-1")])
    add("R13/fires-diabetic-foot", PV, [adult(), foot_bme(), cond("E11.9", id="dm-1")])
    add(
        "R13/fires-diabetic-foot-with-ulcer",
        PV,
        [adult(), foot_bme(), cond("E11.9", id="dm-1"), cond("L97.509", id="ulcer-1")],
    )
    add("R13/quiet-foot-bme-no-diabetes", PV, [adult(), foot_bme()])
    add(
        "R14/fires-transient-osteoporosis-of-hip",
        PV,
        [adult(), hip_bme(), cond("240159007", SCT, id="tbmes-1")],
    )
    add("R14/quiet-hip-bme-cause-open", PV, [adult(), hip_bme()])
    add("R15/fires-ra-with-bme", PV, [adult(), knee_bme(), cond("M06.9", id="ra-1")])
    add(
        "R15/fires-ramris-above-2",
        PV,
        [adult(), knee_bme(), cond("M06.9", id="ra-1"), local("ramris-bme", "obs-ramris", value=3)],
    )
    add(
        "R15/quiet-ra-without-bme",
        PV,
        [adult(), mri("No bone marrow edema in the right knee.", code="24802-1"), cond("M06.9", id="ra-1")],
    )
    si_bme = mri("Bone marrow edema of the left sacroiliac joint.", code="36031-3")
    add("R16/fires-axspa-with-bme", PV, [adult(), si_bme, cond("M45.9", id="axspa-1")])
    add("R16/quiet-si-bme-no-axspa", PV, [adult(), si_bme])
    add("R17/fires-osteonecrosis", PV, [adult(), hip_bme(), cond("M87.052", id="on-1")])
    add(
        "R17/fires-double-line-sign",
        PV,
        [adult(), mri("Bone marrow edema of the left femoral head with a double-line sign.", code="36013-1")],
    )
    add("R17/quiet-hip-bme-only", PV, [adult(), hip_bme()])
    add("R18/fires-cno-with-bme", PV, [adult(), knee_bme(), cond("M86.38", id="cno-1")])
    add(
        "R18/quiet-cno-without-bme",
        PV,
        [adult(), mri("No bone marrow edema in the right knee.", code="24802-1"), cond("M86.38", id="cno-1")],
    )
    add("R19/fires-osteoporosis", PV, [adult(), knee_bme(), cond("M81.0", id="op-1")])
    add("R19/quiet-no-bone-loss", PV, [adult(), knee_bme()])
    add(
        "R20/fires-active-prednisone",
        PV,
        [adult(), knee_bme(), med(*PREDNISONE, id="mr-pred", authored="2026-10-20")],
    )
    add(
        "R20/quiet-prednisone-stopped",
        PV,
        [adult(), knee_bme(), med(*PREDNISONE, id="mr-pred", authored="2026-01-20", status="stopped")],
    )

    # Stage C: vertebral BME
    whole = mri("Acute L1 compression fracture with bone marrow edema of the entire L1 vertebral body.")
    focal = mri("Acute L1 compression fracture with focal bone marrow edema at the L1 endplate.")
    add("R21/fires-whole-vertebral-body", PV, [adult(), whole, fracture()])
    # With current labs S08/S09 pass, so the card carries the pamidronate regimens as seed 002 words them.
    add("R21/fires-whole-vertebral-body-labs-current", PV, [adult(), whole, fracture(), egfr(72), *GOOD_LABS])
    add("R21/fires-naproxen-drafted", SELECT, [adult(), whole, fracture()], [naproxen_draft()])
    add("R21/quiet-focal-endplate", PV, [adult(), focal, fracture()])
    add("R21/quiet-oxycodone-drafted", SELECT, [adult(), whole, fracture()], [draft(*OXYCODONE, id="draft-oxy")])
    add("R22/fires-focal-endplate", PV, [adult(), focal, fracture()])
    # With current labs the gates pass, so the card carries the seed's four NSAIDs with their doses.
    add("R22/fires-focal-endplate-labs-current", PV, [adult(), focal, fracture(), egfr(72), *GOOD_LABS])
    add("R22/fires-knee-generic-first-line", PV, [adult(), knee_bme()])
    add("R22/quiet-nsaid-already-active", PV, [adult(), focal, fracture(), med(*NAPROXEN, id="mr-naproxen")])
    add("R23/fires-fracture-10-days-old", PV, [adult(), l1_bme(), fracture(onset="2026-11-11")])
    add("R23/quiet-fracture-40-days-old", PV, [adult(), l1_bme(), fracture(onset="2026-10-12")])
    nsaid_trial = [
        adult(),
        l1_bme("2026-10-20"),
        med(*NAPROXEN, id="mr-naproxen", authored="2026-10-25"),
        pain(8, "2026-10-25", "pain-1"),
    ]
    add("R24/fires-pain-unchanged-after-21-days", PV, [*nsaid_trial, pain(7, "2026-11-15", "pain-2")])
    add("R24/quiet-pain-halved-after-21-days", PV, [*nsaid_trial, pain(3, "2026-11-15", "pain-2")])
    add(
        "R24/fires-adalimumab-without-inflammatory-dx",
        SELECT,
        [adult(), l1_bme()],
        [draft(*ADALIMUMAB, id="draft-ada")],
    )
    add(
        "R24/quiet-adalimumab-with-ra",
        SELECT,
        [adult(), l1_bme(), cond("M06.9", id="ra-1")],
        [draft(*ADALIMUMAB, id="draft-ada")],
    )
    add("R25/fires-severe-pain-no-opioid", PV, [adult(), l1_bme(), pain(8, "2026-11-18", "pain-1")])
    add(
        "R25/quiet-severe-pain-on-opioid",
        PV,
        [adult(), l1_bme(), pain(8, "2026-11-18", "pain-1"), med(*OXYCODONE, id="mr-oxy", authored="2026-11-15")],
    )
    add("R25/fires-oxycodone-drafted", SELECT, [adult(), l1_bme()], [draft(*OXYCODONE, id="draft-oxy")])
    add("R25/quiet-oxycodone-drafted-knee-bme", SELECT, [adult(), knee_bme()], [draft(*OXYCODONE, id="draft-oxy")])
    add(
        "R26/fires-a-iv-morphine",
        PV,
        [
            adult(),
            l1_bme(),
            fracture(),
            med(
                "7052",
                "morphine sulfate 4 MG/ML Injectable Solution",
                id="mr-morph",
                authored="2026-11-12",
                route="intravenous",
            ),
        ],
    )
    add(
        "R26/quiet-a-oral-morphine",
        PV,
        [
            adult(),
            l1_bme(),
            fracture(),
            med("7052", "morphine sulfate 15 MG Oral Tablet", id="mr-morph", authored="2026-11-12", route="oral"),
        ],
    )
    add(
        "R26/fires-b-severe-pain-21-days-on-nsaid",
        PV,
        [
            adult(),
            l1_bme("2026-10-25"),
            fracture(onset="2026-10-25"),
            med(*NAPROXEN, id="mr-naproxen", authored="2026-10-26"),
            pain(8, "2026-10-26", "pain-1"),
            pain(8, "2026-11-15", "pain-2"),
        ],
    )
    add(
        "R26/quiet-b-severe-pain-20-days-on-nsaid",
        PV,
        [
            adult(),
            l1_bme("2026-10-26"),
            fracture(onset="2026-10-26"),
            med(*NAPROXEN, id="mr-naproxen", authored="2026-10-26"),
            pain(8, "2026-10-27", "pain-1"),
            pain(8, "2026-11-15", "pain-2"),
        ],
    )
    add(
        "R26/fires-c-pain-90-days",
        PV,
        [
            adult(),
            l1_bme("2026-08-17"),
            fracture(onset="2026-08-17"),
            pain(5, "2026-08-20", "pain-1"),
            pain(5, "2026-11-15", "pain-2"),
        ],
    )
    add(
        "R26/quiet-c-pain-89-days",
        PV,
        [
            adult(),
            l1_bme("2026-08-18"),
            fracture(onset="2026-08-18"),
            pain(5, "2026-08-20", "pain-1"),
            pain(5, "2026-11-15", "pain-2"),
        ],
    )
    add(
        "R26/quiet-c-augmentation-done",
        PV,
        [
            adult(),
            l1_bme("2026-08-17"),
            fracture(onset="2026-08-17"),
            pain(5, "2026-08-20", "pain-1"),
            pain(5, "2026-11-15", "pain-2"),
            b.procedure("22514", performed="2026-11-01", id="proc-kypho"),
        ],
    )
    add("R27/fires-prednisone-drafted", SELECT, [adult(), knee_bme()], [draft(*PREDNISONE, id="draft-pred")])
    add(
        "R27/quiet-prednisone-for-cord-compression",
        SELECT,
        [adult(), l1_bme(), cond("G95.20", id="cord-1", verification="provisional")],
        [draft(*PREDNISONE, id="draft-pred")],
    )
    add("R28/fires-vertebral-bme", PV, [adult(), l1_bme()])
    add("R28/quiet-knee-bme", PV, [adult(), knee_bme()])

    # Stage D: refractory BME
    add("R29/fires-missing-labs", PV, refractory())
    add("R29/fires-low-vitamin-d", PV, [*refractory(), *GOOD_LABS[:2], lab("62292-8", 12.0, "ng/mL", "vitd-1")])
    add("R29/fires-current-labs", PV, [*refractory(), *GOOD_LABS])
    add(
        "R29/quiet-denosumab-given",
        PV,
        [*refractory(), *GOOD_LABS, med(*DENOSUMAB, id="mr-dmab", authored="2026-09-01", status="completed")],
    )
    add("R29/quiet-pain-for-60-days", PV, refractory(pain_from="2026-09-16", pain_to="2026-10-01"))
    add("R30/fires-refractory", PV, refractory())
    add("R30/fires-osteonecrosis", PV, [adult(), hip_bme(), cond("M87.052", id="on-1")])
    add(
        "R30/quiet-iloprost-given",
        PV,
        [*refractory(), med("40138", "iloprost", id="mr-ilo", authored="2026-10-01", status="completed")],
    )
    add("R31/fires-refractory", PV, refractory())
    add("R31/quiet-pain-for-60-days", PV, refractory(pain_from="2026-09-16", pain_to="2026-10-01"))

    # Stage E: pitfalls and follow-up
    bed_rest = b.draft_service_request(None, text="Strict bed rest", id="draft-bedrest")
    add("R32/fires-bed-rest-drafted", SELECT, [adult(), l1_bme(), fracture()], [bed_rest])
    add("R32/quiet-bed-rest-unstable-spine", SELECT, [adult(), l1_bme(), fracture(code="S32.002A")], [bed_rest])
    add("R32/fires-bed-confinement-on-record", PV, [adult(), l1_bme(), cond("Z74.01", id="bed-1")])
    add("R32/quiet-no-bed-rest", PV, [adult(), l1_bme(), cond("R26.2", id="mob-1")])
    add("R33/fires-opioid-for-30-days", PV, [adult(), l1_bme(), med(*OXYCODONE, id="mr-oxy", authored="2026-10-22")])
    add("R33/quiet-opioid-for-10-days", PV, [adult(), l1_bme(), med(*OXYCODONE, id="mr-oxy", authored="2026-11-11")])
    add("R33/fires-opioid-drafted-age-70", SIGN, [older(), l1_bme()], [draft(*OXYCODONE, id="draft-oxy")])
    add("R33/quiet-opioid-drafted-age-50", SIGN, [adult(), l1_bme()], [draft(*OXYCODONE, id="draft-oxy")])
    add("R34/fires-z79-52-long-term-steroid", PV, [adult(), knee_bme(), cond("Z79.52", id="z7952")])
    add(
        "R34/fires-prednisone-for-120-days",
        PV,
        [adult(), knee_bme(), med(*PREDNISONE, id="mr-pred", authored="2026-07-24")],
    )
    add(
        "R34/quiet-prednisone-for-30-days",
        PV,
        [adult(), knee_bme(), med(*PREDNISONE, id="mr-pred", authored="2026-10-22")],
    )
    add(
        "R34/fires-prednisone-drafted-on-long-term-use",
        SIGN,
        [adult(), knee_bme(), cond("Z79.52", id="z7952")],
        [draft(*PREDNISONE, id="draft-pred")],
    )
    add("R34/quiet-prednisone-drafted-first-course", SIGN, [adult(), knee_bme()], [draft(*PREDNISONE, id="draft-pred")])
    add(
        "R35/fires-naproxen-started-3-days-ago",
        PV,
        [adult(), knee_bme(), med(*NAPROXEN, id="mr-naproxen", authored="2026-11-18")],
    )
    add("R35/quiet-naproxen-start-unknown", PV, [adult(), knee_bme(), med(*NAPROXEN, id="mr-naproxen", authored=None)])
    add("R35/fires-zoledronic-acid-active", PV, [adult(), knee_bme(), med(*ZOLEDRONIC, id="mr-zol")])
    add("R36/fires-knee-mri-100-days-old", PV, [adult(), knee_bme("2026-08-13")])
    add("R36/quiet-knee-mri-30-days-old", PV, [adult(), knee_bme("2026-10-22")])
    add("R37/fires-bme", PV, [adult(), l1_bme()])
    add("R37/quiet-red-flag-neuro-deficit", PV, [adult(), l1_bme(), cond("G83.4", id="neuro-1")])

    # Stage F: safety gates, mostly on a naproxen draft at order-select
    nap = [naproxen_draft()]
    add("S01/fires-egfr-25", SELECT, [adult(), egfr(25)], nap)
    add("S01/fires-no-egfr-on-record", SELECT, [adult()], nap)
    add("S01/fires-egfr-45-caution", SELECT, [adult(), egfr(45)], nap)
    add("S01/quiet-egfr-72", SELECT, [adult(), egfr(72)], nap)
    add("S01/fires-dialysis-at-sign", SIGN, [adult(), egfr(72), cond("Z99.2", id="dial-1")], nap)
    add("S01/quiet-egfr-25-no-bme", SELECT, [adult(), egfr(25)], nap)
    add(
        "S02/fires-ulcer-history",
        SELECT,
        [adult(), egfr(72), cond("K25.4", id="pud-1", clinical_status="resolved")],
        nap,
    )
    add("S02/fires-active-gi-bleed-at-sign", SIGN, [adult(), egfr(72), cond("K92.2", id="gib-1")], nap)
    add("S02/quiet-no-gi-history", SELECT, [adult(), egfr(72), cond("M81.0", id="op-1")], nap)
    add(
        "S03/fires-warfarin-active",
        SELECT,
        [adult(), egfr(72), med("11289", "warfarin sodium 5 MG Oral Tablet", id="mr-warf")],
        nap,
    )
    add(
        "S03/quiet-warfarin-stopped",
        SELECT,
        [adult(), egfr(72), med("11289", "warfarin sodium 5 MG Oral Tablet", id="mr-warf", status="stopped")],
        nap,
    )
    add("S04/fires-heart-failure", SELECT, [adult(), egfr(72), cond("I50.9", id="hf-1")], nap)
    add(
        "S04/fires-cabg-7-days-ago-at-sign",
        SIGN,
        [
            adult(),
            egfr(72),
            b.procedure(None, text="Coronary artery bypass graft", performed="2026-11-14", id="proc-cabg"),
        ],
        nap,
    )
    add(
        "S04/quiet-cabg-60-days-ago",
        SIGN,
        [
            adult(),
            egfr(72),
            b.procedure(None, text="Coronary artery bypass graft", performed="2026-09-22", id="proc-cabg"),
            cond("M81.0", id="op-1"),
        ],
        nap,
    )
    add(
        "S05/fires-pregnant-24-weeks",
        SELECT,
        [adult(), egfr(72), cond("Z33.1", id="preg-1"), cond("Z3A.24", id="ga-1")],
        nap,
    )
    add(
        "S05/fires-pregnant-32-weeks-at-sign",
        SIGN,
        [adult(), egfr(72), cond("Z33.1", id="preg-1"), cond("Z3A.32", id="ga-1")],
        nap,
    )
    add(
        "S05/quiet-pregnant-12-weeks",
        SELECT,
        [adult(), egfr(72), cond("Z33.1", id="preg-1"), cond("Z3A.12", id="ga-1")],
        nap,
    )
    ibuprofen = ("5640", "ibuprofen 400 MG Oral Tablet")
    add("S06/fires-ibuprofen-active", SELECT, [adult(), egfr(72), med(*ibuprofen, id="mr-ibu")], nap)
    add("S06/quiet-ibuprofen-stopped", SELECT, [adult(), egfr(72), med(*ibuprofen, id="mr-ibu", status="stopped")], nap)
    add("S07/fires-indomethacin-age-70", SELECT, [older(), egfr(72)], [draft(*INDOMETHACIN, id="draft-indo")])
    add("S07/quiet-indomethacin-age-50", SELECT, [adult(), egfr(72)], [draft(*INDOMETHACIN, id="draft-indo")])
    zol = [draft(*ZOLEDRONIC, id="draft-zol")]
    add("S08/fires-zoledronic-acid-egfr-30", SELECT, [adult(), egfr(30), *GOOD_LABS], zol)
    add("S08/quiet-zoledronic-acid-egfr-40", SELECT, [adult(), egfr(40), *GOOD_LABS], zol)
    dmab = [draft(*DENOSUMAB, id="draft-dmab")]
    add("S09/fires-hypocalcaemia", SELECT, [adult(), egfr(72), *GOOD_LABS, cond("E83.51", id="hypoca-1")], dmab)
    add("S09/fires-no-calcium-or-vitamin-d", SELECT, [adult(), egfr(72)], dmab)
    add("S09/quiet-calcium-and-vitamin-d-current", SELECT, [adult(), egfr(72), *GOOD_LABS], dmab)
    add("S10/fires-dental-disease", SELECT, [adult(), egfr(72), *GOOD_LABS, cond("K08.9", id="dent-1")], zol)
    add("S10/quiet-no-dental-disease", SELECT, [adult(), egfr(72), *GOOD_LABS, cond("M81.0", id="op-1")], zol)
    add("S11/fires-denosumab-egfr-25", SELECT, [adult(), egfr(25), *GOOD_LABS], dmab)
    add("S11/quiet-denosumab-egfr-60", SELECT, [adult(), egfr(60), *GOOD_LABS], dmab)
    add("S12/quiet-opioid-drafted-no-cns-depressant", SELECT, [adult()], [draft(*OXYCODONE, id="draft-oxy")])
    add(
        "S12/fires-oxycodone-with-lorazepam",
        SELECT,
        [adult(), med("197901", "lorazepam 1 MG Oral Tablet", id="mr-lzp")],
        [draft(*OXYCODONE, id="draft-oxy")],
    )
    axspa = cond("M45.9", id="axspa-1")  # the TNF-alpha inhibitor's indication, so R24 stays out of S13
    add(
        "S13/fires-adalimumab-with-osteomyelitis",
        SELECT,
        [adult(), cond("M86.9", id="om-1"), axspa],
        [draft(*ADALIMUMAB, id="draft-ada")],
    )
    add(
        "S13/fires-adalimumab-with-latent-tb",
        SELECT,
        [adult(), cond("Z22.7", id="ltbi-1"), axspa],
        [draft(*ADALIMUMAB, id="draft-ada")],
    )
    add(
        "S13/quiet-adalimumab-no-infection",
        SELECT,
        [adult(), cond("M81.0", id="op-1"), axspa],
        [draft(*ADALIMUMAB, id="draft-ada")],
    )
    add(
        "S14/fires-prednisone-with-diabetes",
        SELECT,
        [adult(), cond("E11.9", id="dm-1")],
        [draft(*PREDNISONE, id="draft-pred")],
    )
    add(
        "S14/quiet-prednisone-no-diabetes",
        SELECT,
        [adult(), cond("M81.0", id="op-1")],
        [draft(*PREDNISONE, id="draft-pred")],
    )
    return s


def build_request(path: str, scenario: Scenario) -> dict[str, Any]:
    """The complete CDS Hooks request for one scenario (every prefetch key present)."""
    hook_instance = str(uuid.uuid5(HOOK_INSTANCE_NS, path))
    selections = (
        list(scenario.selections)
        if scenario.selections is not None
        else [f"{d['resourceType']}/{d['id']}" for d in scenario.drafts]
    )
    out = b.request(
        scenario.hook,
        scenario.resources,
        scenario.drafts,
        selections=selections,
        hook_instance=hook_instance,
    )
    # FHIR JSON has no empty arrays: an empty searchset Bundle has total 0 and no "entry".
    for value in out["prefetch"].values():
        if value.get("resourceType") == "Bundle" and not value.get("entry"):
            value.pop("entry", None)
    return out


def dump(value: Any) -> str:
    """JSON as committed: indent 2, UTF-8, trailing newline."""
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def write_all(root: Path = HERE, emit: Callable[[str], None] = print) -> int:
    """Write every scenario's request.json (removing scenario folders no longer defined); return the count."""
    defined = scenarios()
    for id_dir in sorted(p for p in root.iterdir() if p.is_dir() and p.name[:1] in "RS" and p.name[1:].isdigit()):
        for folder in id_dir.iterdir():
            if folder.is_dir() and f"{id_dir.name}/{folder.name}" not in defined:
                shutil.rmtree(folder)
                emit(f"removed {id_dir.name}/{folder.name}")
    for path, scenario in defined.items():
        folder = root / path
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "request.json").write_text(dump(build_request(path, scenario)), encoding="utf-8")
    return len(defined)


if __name__ == "__main__":
    count = write_all()
    print(f"wrote {count} scenario requests", file=sys.stderr)
