"""THE rule table: R01-R37 of clinical-rules.md §3, one frozen Rule row per card, in stage order.

This is the file a clinician-informaticist edits. Rows name conditions from `predicates.py` (each reads as
English), cards phrase the recommendation as an option, evidence quotes the seed files verbatim, and every
number that is a policy choice is a {policy.key} placeholder filled from Policy. Rows that share an id are
variants of one rule (per hook, or per tier); the engine emits at most one Finding per id, the first variant
that fires. `docs/rules.md` is generated from this table (tools/render_rules_doc.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Literal

from service.core import predicates as p
from service.core.features import SITE_VERTEBRA
from service.core.findings import SuggestionSpec
from service.core.rulemodel import CardSpec
from service.core.rulemodel import Ctx
from service.core.rulemodel import Deferral
from service.core.rulemodel import Offer
from service.core.rulemodel import Pred
from service.core.rulemodel import Rule
from service.core.rulemodel import RuleTable
from service.core.rulemodel import all_of
from service.core.rulemodel import any_of
from service.core.rulemodel import fixed
from service.core.vocabulary import BED_REST
from service.core.vocabulary import HOOK_PATIENT_VIEW
from service.core.vocabulary import HOOKS
from service.core.vocabulary import ORDER_HOOKS
from service.knowledge import evidence as t
from service.knowledge import offers as o
from service.knowledge.evidence import s000
from service.knowledge.evidence import s001
from service.knowledge.evidence import s002
from service.knowledge.evidence import s003

PV = (HOOK_PATIENT_VIEW,)

# Stage gates the engine applies before a stage's rows (clinical-rules.md §2): red flags suppress R21-R31.
STAGE_GATES: dict[str, Pred] = {"C": p.STAGE_C_GATE, "D": p.STAGE_D_GATE}

# R11: the myeloma card replaces the generic drug pathway (clinical-rules.md §2.2 and R11).
DEFERRALS: tuple[Deferral, ...] = (
    Deferral(trigger="R11", targets=("R21", "R22"), note="defer to the myeloma team"),
)


# --- Offers: which orders a card suggests for this patient -----------------------------------------------
def _r10(ctx: Ctx) -> tuple[SuggestionSpec, ...]:
    return (o.DEXAMETHASONE, o.urgent_spine_mri(ctx), o.SPINE_SURGERY_STAT)


def _r11(ctx: Ctx) -> tuple[SuggestionSpec, ...]:
    painful_fracture = ctx.features.vertebral_fracture.value is True and p.pain_still_present(ctx)
    # Red flags send the patient to surgery first (C11): no augmentation referral beside them.
    if painful_fracture and not ctx.red_flag:
        return (o.HAEMATOLOGY_REFERRAL, o.augmentation_referral(ctx))
    return (o.HAEMATOLOGY_REFERRAL,)


def _r12(ctx: Ctx) -> tuple[SuggestionSpec, ...]:
    return () if ctx.red_flag else (o.augmentation_referral(ctx),)


def _r13(ctx: Ctx) -> tuple[SuggestionSpec, ...]:
    out: list[SuggestionSpec] = []
    if ctx.features.offloading_in_place.value is not True:
        out.append(o.OFFLOADING)
    if p.foot_infection_suspected(ctx) and ctx.features.wbc_scan_done.value is not True:
        out += [o.WBC_SCAN_IN111, o.WBC_SCAN_TC99M]
    return tuple(out)


def _tnfi_add_on(ctx: Ctx) -> tuple[SuggestionSpec, ...]:
    return o.TNFIS if p.tnfi_allowed(ctx) else ()


def _r21(ctx: Ctx) -> tuple[SuggestionSpec, ...]:
    damage = ctx.features.accumulated_skeletal_damage.value is True
    return o.bisphosphonates(ctx) + (_tnfi_add_on(ctx) if damage else ())


def _r24(ctx: Ctx) -> tuple[SuggestionSpec, ...]:
    return o.bisphosphonates(ctx) + _tnfi_add_on(ctx)


def _r29_labs(ctx: Ctx) -> tuple[SuggestionSpec, ...]:
    wanted = {"calcium": o.CALCIUM_LAB, "albumin": o.ALBUMIN_LAB, "vitd_25oh": o.VITD_LAB}
    return tuple(spec for name, spec in wanted.items() if not p.lab_is_current(ctx, name))


def _deletable_type(resource_type: str) -> Literal["MedicationRequest", "ServiceRequest", "DeviceRequest"]:
    # SuggestionSpec names three order types; a bed-rest order is a ServiceRequest unless it says otherwise.
    if resource_type == "MedicationRequest":
        return "MedicationRequest"
    if resource_type == "DeviceRequest":
        return "DeviceRequest"
    return "ServiceRequest"


def _r32_delete(ctx: Ctx) -> tuple[SuggestionSpec, ...]:
    deletes = tuple(
        SuggestionSpec(label=f"Remove the bed-rest order ({d.display})", action="delete",
                       resource_type=_deletable_type(d.resource_type), text=d.display,
                       delete_reference=d.reference)
        for d in ctx.drafts() if BED_REST in d.kinds and d.reference)
    return (*deletes, o.PHYSIOTHERAPY)


def _r35_due(ctx: Ctx) -> tuple[str, ...]:
    start = ctx.features.nsaid_start_date.value
    if start is None:
        return ()
    due = start + timedelta(days=ctx.policy.int("reassess.first_days"))
    return (f"NSAID started {start.isoformat()}: reassessment due {due.isoformat()}.",)


def _r36(ctx: Ctx) -> tuple[SuggestionSpec, ...]:
    # Local imaging only; whole-body imaging is never suggested routinely (seed 002).
    return o.mri_for_regions(ctx)


MYELOMA_OFFER = Offer("Referral to haematology/oncology; if a vertebral fracture is painful (NRS >= "
                      "{pain.persistent_nrs}) and no red flag fired, also a vertebral augmentation "
                      "referral.", _r11,
                      (o.HAEMATOLOGY_REFERRAL, o.AUGMENTATION_REFERRAL_EXAMPLE))
AUGMENTATION_OFFER = Offer("Referral for vertebral augmentation evaluation (CPT 22513 thoracic / 22514 "
                           "lumbar by level; text when the level is unknown).",
                           lambda ctx: (o.augmentation_referral(ctx),), (o.AUGMENTATION_REFERRAL_EXAMPLE,))
BISPHOSPHONATE_OFFER_R21 = Offer(
    "IV bisphosphonate (policy bp.default_agent first, recommended): pamidronate regimens as seed 002 words "
    "them; plus the TNF-alpha inhibitors if accumulated skeletal damage is documented and an inflammatory "
    "diagnosis is documented (or policy tnfi.require_inflammatory_dx is off).", _r21,
    (*o.BISPHOSPHONATE_CATALOGUE, *o.TNFIS))
SECOND_LINE_OFFER = Offer(
    "IV bisphosphonate (generally preferred; policy bp.default_agent first) or, only with a documented "
    "inflammatory diagnosis (policy tnfi.require_inflammatory_dx), a TNF-alpha inhibitor.", _r24,
    (*o.BISPHOSPHONATE_CATALOGUE, *o.TNFIS))

RULES: tuple[Rule, ...] = (
    # ============================== Stage A: red flags (critical; suppress R21-R31) ========================
    Rule(
        id="R06", title="Neurological deficit", stage="A", hooks=HOOKS,
        when=(p.has_vertebral_bme_or_fracture, p.has_neuro_deficit),
        card=CardSpec("critical",
                      "Neurological deficit with vertebral BME or fracture: immediate surgical consultation "
                      "required; no conservative care",
                      "Immediate spine surgery consultation is required; do not pursue conservative "
                      "management.",
                      "Fires when vertebral BME or a vertebral fracture is documented together with a "
                      "neurological deficit (motor weakness, sensory change, bowel/bladder dysfunction): "
                      "this indicates spinal cord or nerve-root compromise."),
        evidence=(t.NO_CONSERVATIVE_002,
                  s002("Any neurological deficits (motor weakness, sensory changes, bowel/bladder "
                       "dysfunction) indicating spinal cord or nerve root compromise")),
        offer=fixed("Urgent (stat) referral to spine surgery, as text (no verified "
                    "code).", o.SPINE_SURGERY_STAT),
    ),
    Rule(
        id="R07", title="Spinal instability or retropulsion", stage="A", hooks=HOOKS,
        when=(p.has_vertebral_fracture, p.has_spinal_instability),
        card=CardSpec("critical",
                      "Unstable spine or retropulsion: immediate surgical consultation required; immobilise "
                      "the spine until stabilised",
                      "Immediate spine surgery consultation is required, with the spine immobilised until "
                      "it is surgically stabilised.",
                      "Fires when a vertebral fracture is documented with spinal instability or retropulsion "
                      "of bone fragments into the canal."),
        evidence=(t.NO_CONSERVATIVE_002,
                  s002("Spinal instability with retropulsion of bone fragments into the spinal canal"),
                  s002("Spinal immobilization is necessary until surgical stabilization is achieved in "
                       "unstable fractures")),
        offer=fixed("Urgent (stat) referral to spine surgery, as text (no verified "
                    "code).", o.SPINE_SURGERY_STAT),
    ),
    Rule(
        id="R08", title="Significant spinal deformity", stage="A", hooks=HOOKS,
        when=(p.has_vertebral_fracture, p.has_significant_deformity),
        card=CardSpec("critical",
                      "Significant deformity (kyphosis >={deformity.kyphosis_pct}% or height loss "
                      ">={deformity.height_loss_pct}%): immediate surgical consultation required",
                      "Immediate spine surgery consultation is required; do not pursue conservative "
                      "management or augmentation first.",
                      "Fires when a vertebral fracture is documented and kyphosis is measured at >= "
                      "{deformity.kyphosis_pct}% or vertebral height loss at >= "
                      "{deformity.height_loss_pct}%. An unmeasured deformity never fires this rule."),
        evidence=(t.NO_CONSERVATIVE_002,
                  s002("Significant spinal deformity (≥15% kyphosis, ≥20% vertebral body height loss)")),
        offer=fixed("Urgent (stat) referral to spine surgery, as text (no verified "
                    "code).", o.SPINE_SURGERY_STAT),
    ),
    Rule(
        id="R09", title="Progressive neurological deterioration", stage="A", hooks=HOOKS,
        when=(p.has_progressive_neuro_deterioration,),
        card=CardSpec("critical",
                      "Progressive neurological deterioration: urgent surgical decompression is needed, "
                      "whatever the fracture's age",
                      "Urgent surgical decompression is needed; do not delay the surgical referral for "
                      "medical optimisation.",
                      "Fires when progressive neurological deterioration is documented (clinician input)."),
        evidence=(s002("Progressive neurologic deterioration, which demands urgent surgical decompression "
                       "regardless of fracture age"),
                  s002("Do not delay surgical referral while attempting \"medical optimization\" in the "
                       "presence of progressive cord compression, as this worsens outcomes and increases "
                       "mortality")),
        offer=fixed("Urgent (stat) referral to spine surgery, as text (no verified "
                    "code).", o.SPINE_SURGERY_STAT),
    ),
    Rule(
        id="R10", title="Suspected spinal cord compression: high-dose dexamethasone now", stage="A",
        hooks=HOOKS,
        when=(p.cord_compression_suspected, p.has_bme_or_vertebral_fracture),
        card=CardSpec("critical",
                      "Suspected cord compression: start high-dose dexamethasone now, before imaging "
                      "confirms it; urgent MRI and surgical consult",
                      "Start high-dose dexamethasone immediately on clinical suspicion (institutional dose), "
                      "with an urgent MRI of the spine with and without contrast and an urgent spine surgery "
                      "referral.",
                      "Fires when spinal cord compression is suspected (a provisional diagnosis counts) with "
                      "BME or a vertebral fracture. This card is never suppressed or blocked.",
                      selection_behavior="any"),
        evidence=(s000("In cases of spinal cord compression with bone marrow edema, high-dose dexamethasone "
                       "therapy should be initiated immediately upon clinical suspicion, even before "
                       "radiographic confirmation"),
                  s002("Do not delay surgical referral while attempting \"medical optimization\" in the "
                       "presence of progressive cord compression, as this worsens outcomes and increases "
                       "mortality")),
        offer=Offer("Dexamethasone (RxNorm 3264, stat, no dose: the seeds say only 'high-dose'); urgent MRI "
                    "of the spine with and without IV contrast (by level); urgent spine surgery "
                    "referral.", _r10,
                    (o.DEXAMETHASONE, o.URGENT_SPINE_MRI_EXAMPLE, o.SPINE_SURGERY_STAT)),
    ),
    # ============================== Stage B: diagnosis and etiology ========================================
    Rule(
        id="R01", title="Confirm BME on MRI and identify the cause", stage="B", hooks=PV,
        when=(p.bme_suspected, p.no_mri_for_this_episode),
        unless=(p.mri_contraindicated,),
        card=CardSpec("info",
                      "Consider MRI of the affected area: the gold standard to confirm bone marrow edema and "
                      "find its cause",
                      "Consider an MRI of the affected region with fluid-sensitive sequences (STIR or "
                      "fat-saturated T2) plus T1.",
                      "Fires when BME, bone pain or a vertebral fracture is documented and no MRI is on "
                      "record for this episode, unless MRI is documented as contraindicated.",
                      selection_behavior="any"),
        evidence=(t.MRI_CONFIRM_000,
                  s001("MRI is the gold standard for detecting bone marrow edema, showing characteristic T2 "
                       "hyperintensity within affected bone"),
                  s002("Obtain MRI with fluid-sensitive sequences (STIR or fat-saturated T2) to confirm bone "
                       "marrow edema and assess fracture acuity"),
                  s003("X-rays are often the first imaging study ordered to assess bone health")),
        offer=o.MRI_OFFER,
        notes=("BME is a descriptive finding, not a diagnosis (seed 001).",
               "Diffusion-weighted imaging can show change earlier than T2 in acute ischaemic injury (seed "
               "000)."),
    ),
    Rule(
        id="R02", title="MRI not possible: dual-energy CT or other imaging", stage="B", hooks=PV,
        when=(p.bme_suspected, p.no_mri_for_this_episode, p.mri_contraindicated),
        card=CardSpec("info",
                      "MRI not possible: consider dual-energy CT, which detects BME (sensitivity 89%, "
                      "specificity 96%)",
                      "Consider a CT of the affected region with a dual-energy protocol; MRI remains "
                      "superior when it becomes possible.",
                      "Fires when imaging is needed (as in R01) and MRI is documented as contraindicated.",
                      selection_behavior="any"),
        evidence=(s002("Dual-energy CT can detect bone marrow edema with 89% sensitivity and 96% specificity "
                       "when MRI is contraindicated, though MRI remains superior"),
                  s003("CT scans are sometimes used to evaluate bone abnormalities, especially when MRI is "
                       "not feasible or necessary"),
                  s000("SPECT/CT has shown 63-80% agreement with MRI in detection of acute vertebral "
                       "compression fractures")),
        offer=o.CT_OFFER,
    ),
    Rule(
        id="R03", title="Suspected malignancy: contrast-enhanced MRI", stage="B", hooks=PV,
        when=(p.has_bme_or_vertebral_fracture, p.has_malignancy_warning_sign),
        card=CardSpec("warning",
                      "Malignancy must be excluded: consider contrast-enhanced MRI",
                      "Consider an MRI with and without IV contrast of the affected region to evaluate "
                      "epidural extension and paraspinal involvement.",
                      "Fires when BME or a vertebral fracture is documented with a malignancy warning sign: "
                      "history of cancer or active cancer, unexplained weight loss, fever, atypical pain, or "
                      "two or more vertebral fractures.",
                      selection_behavior="any"),
        evidence=(s002("Contrast-enhanced MRI is necessary if malignancy is suspected (history of cancer, "
                       "unexplained weight loss, fever, atypical pain patterns) to evaluate epidural "
                       "extension and paraspinal involvement"),
                  s002("Multiple vertebral fractures should raise suspicion for malignancy requiring "
                       "contrast-enhanced MRI evaluation"),
                  s003("Bone metastasis")),
        offer=o.CONTRAST_MRI_OFFER,
    ),
    Rule(
        id="R04", title="Osteonecrosis versus transient BME syndrome", stage="B", hooks=PV,
        when=(p.has_hip_bme,),
        unless=(p.has_osteonecrosis, p.has_tbmes),
        card=CardSpec("info",
                      "Hip BME: consider dynamic contrast-enhanced MRI to tell osteonecrosis from transient "
                      "BME syndrome",
                      "Consider a dynamic contrast-enhanced MRI of the hip: osteonecrosis shows a rim of "
                      "hyperperfusion around an avascular area, transient BME syndrome a subchondral spot.",
                      "Fires when the hip / femoral head is a BME site and neither osteonecrosis nor "
                      "transient BME syndrome is diagnosed."),
        evidence=(s001("Consider dynamic contrast-enhanced MRI to differentiate osteonecrosis (rim of "
                       "hyperperfusion around avascular area) from transient bone marrow edema syndrome "
                       "(subchondral spot of marked hyperperfusion)"),
                  s001("Bone marrow edema appears throughout the femoral head and neck without the "
                       "characteristic rim sign of osteonecrosis")),
        offer=fixed("MRI hip with and without IV contrast (LOINC 30688-6), optional.", o.DCE_MRI_HIP),
    ),
    Rule(
        id="R05", title="BME is nonspecific: look for the cause", stage="B", hooks=PV,
        when=(p.has_bme, p.no_known_cause),
        card=CardSpec("info",
                      "BME is nonspecific (seen in up to 30% of healthy controls): consider clinical "
                      "correlation and a search for the cause",
                      "Consider clinical correlation and a search for the cause (traumatic, degenerative, "
                      "inflammatory, neoplastic, ischaemic, infectious, metabolic, treatment-induced); blood "
                      "tests can exclude systemic causes.",
                      "Fires when BME is documented and no cause of BME is documented.",
                      fold="Cause: BME is nonspecific; look for the underlying cause (blood tests can exclude "
                           "systemic ones)."),
        evidence=(s001("Seen in up to 30% of healthy controls, as well as in degenerative changes, "
                       "postpartum patients, chronic back pain, and athletes"),
                  s001("Do not diagnose inflammatory arthropathy based on bone marrow edema alone"),
                  s003("blood tests may be conducted to rule out underlying systemic conditions that could "
                       "contribute to bone marrow edema, such as autoimmune diseases or infections"),
                  s000("The treatment of bone marrow edema should focus on addressing the underlying cause")),
        notes=("The seeds name no specific lab panel, so none is suggested.",),
    ),
    Rule(
        id="R11", title="Multiple myeloma", stage="B", hooks=PV,
        when=(p.has_myeloma, p.has_bme),
        card=CardSpec("info",
                      "BME in multiple myeloma: consider treating the myeloma; vertebral augmentation for "
                      "painful pathological fractures",
                      "Consider treating the underlying myeloma with the haematology/oncology team; generic "
                      "BME drug suggestions are deferred to the myeloma team.",
                      "Fires when multiple myeloma and BME are documented. R21/R22 drug suggestions then "
                      "become not recommended, with the note 'defer to the myeloma team'."),
        evidence=(s000("For bone marrow edema in multiple myeloma patients, treatment should focus on the "
                       "underlying disease with appropriate anti-myeloma therapy"),
                  s001("Focus treatment on the underlying malignancy with appropriate anti-myeloma therapy"),
                  s001("Consider vertebral augmentation for pathologic fractures with persistent pain"),
                  t.KYPHOPLASTY_CANCER_001),
        offer=MYELOMA_OFFER,
        uses=("vertebral_fracture", "pain_nrs_latest"),
        policy_keys=("pain.persistent_nrs",),
    ),
    Rule(
        id="R12", title="Cancer-related vertebral fracture", stage="B", hooks=PV,
        when=(p.has_vertebral_fracture, p.has_cancer_related_fracture_basis),
        card=CardSpec("info",
                      "Cancer-related vertebral fracture: consider balloon kyphoplasty, the treatment of "
                      "choice for pain (about 80% get relief)",
                      "Consider a vertebral augmentation evaluation, after the malignancy work-up (R03) and "
                      "the red-flag checks (R06-R10).",
                      "Fires when a vertebral fracture is documented with bone metastasis, a neoplastic "
                      "pathological fracture or an active malignancy. No referral is suggested while a red "
                      "flag fires: surgery comes first."),
        evidence=(t.KYPHOPLASTY_CANCER_000, t.KYPHOPLASTY_CANCER_001),
        offer=Offer("Referral for vertebral augmentation evaluation (CPT by level), unless a red flag "
                    "fired.", _r12,
                    (o.AUGMENTATION_REFERRAL_EXAMPLE,)),
    ),
    Rule(
        id="R13", title="Diabetic foot / Charcot with BME: infection suspected", stage="B", hooks=PV,
        variant="infection suspected",
        when=(p.has_foot_ankle_bme, p.has_diabetes_or_charcot, p.foot_infection_suspected),
        card=CardSpec("warning",
                      "Foot BME in diabetes/Charcot with infection suspected: offloading is mandatory; "
                      "consider WBC imaging for osteomyelitis",
                      "Consider offloading the foot (the sources call it mandatory) and labelled-WBC "
                      "imaging, since MRI often cannot tell Charcot BME from osteomyelitis.",
                      "Fires when the foot / ankle is a BME site, diabetes or Charcot is documented, and a "
                      "foot ulcer, cellulitis, abscess or osteomyelitis is documented.",
                      selection_behavior="any"),
        evidence=(s000("For diabetic patients with bone marrow edema in the foot (as seen in Charcot "
                       "neuroarthropathy), offloading devices are essential to prevent further damage"),
                  s001("Offloading devices are mandatory to prevent further damage when bone marrow edema is "
                       "present in the foot"),
                  s001("MRI often cannot distinguish Charcot-related bone marrow edema from osteomyelitis"),
                  s001("Consider WBC imaging if infection is suspected, as it may be more effective than MRI "
                       "in differentiating osteomyelitis from Charcot arthropathy"),
                  s003("Conditions associated with infections like diabetic foot and Charcot's foot")),
        offer=Offer("Offloading (text; no verified code) unless offloading is in place; labelled-WBC scan "
                    "(LOINC 25032-4 or 42700-5) unless one was done.", _r13,
                    (o.OFFLOADING, o.WBC_SCAN_IN111, o.WBC_SCAN_TC99M)),
    ),
    Rule(
        id="R13", title="Diabetic foot / Charcot neuroarthropathy with BME", stage="B", hooks=PV,
        when=(p.has_foot_ankle_bme, p.has_diabetes_or_charcot),
        card=CardSpec("warning",
                      "Foot BME in diabetes/Charcot: offloading is mandatory; consider ruling out "
                      "osteomyelitis",
                      "Consider offloading the foot (the sources call it mandatory) and look for ulceration, "
                      "cellulitis or abscess as signs of infection.",
                      "Fires when the foot / ankle is a BME site and diabetes or Charcot neuroarthropathy is "
                      "documented."),
        evidence=(s000("For diabetic patients with bone marrow edema in the foot (as seen in Charcot "
                       "neuroarthropathy), offloading devices are essential to prevent further damage"),
                  s001("Offloading devices are mandatory to prevent further damage when bone marrow edema is "
                       "present in the foot"),
                  s001("MRI often cannot distinguish Charcot-related bone marrow edema from osteomyelitis")),
        offer=Offer("Offloading (text; no verified code) unless offloading is in "
                    "place.", _r13, (o.OFFLOADING,)),
    ),
    Rule(
        id="R14", title="Transient BME syndrome (idiopathic; hip)", stage="B", hooks=PV,
        when=(any_of(p.has_tbmes, all_of(p.has_hip_bme, p.no_rim_sign, p.no_known_cause),
                       describe="transient BME syndrome is documented, or hip BME with the rim sign "
                                "positively absent and no other cause documented"),),
        card=CardSpec("info",
                      "Transient BME syndrome is self-limiting (3-9 months): consider NSAIDs and protected "
                      "weight-bearing",
                      "Consider conservative care with NSAIDs (see R22, after the safety checks) and "
                      "protected weight-bearing with assistive devices in the acute phase.",
                      "Fires when transient BME syndrome is documented, or the hip is a BME site with no rim "
                      "sign and no other cause.",
                      fold="Transient BME syndrome: self-limiting (3-9 months); NSAIDs and protected "
                           "weight-bearing with a gait aid in the acute phase."),
        evidence=(t.TBMES_COURSE_001,
                  s001("Conservative treatment with NSAIDs and protected weight-bearing"),
                  s000("Weight-bearing restrictions or protected weight-bearing with appropriate assistive "
                       "devices may be necessary during the acute phase")),
        offer=fixed("Physiotherapy / gait aid for protected weight-bearing "
                    "(text).", o.PROTECTED_WEIGHT_BEARING),
        missing=("on_features",),
    ),
    Rule(
        id="R15", title="Rheumatoid arthritis with BME: high risk of progression", stage="B", hooks=PV,
        variant="RAMRIS > 2 or no active DMARD",
        when=(p.has_ra, p.has_bme, any_of(p.ramris_above_2, p.no_active_dmard)),
        card=CardSpec("warning",
                      "BME in RA strongly predicts erosive progression: consider aggressive "
                      "disease-modifying therapy",
                      "Consider treating the RA aggressively with disease-modifying therapy, with a "
                      "rheumatology review.",
                      "Fires as a warning when RA and BME are documented and the RAMRIS BME score is above 2 "
                      "or no DMARD is active."),
        evidence=(s001("In rheumatoid arthritis, MRI bone edema is the strongest independent predictor of "
                       "subsequent radiographic progression (coefficient 0.75-0.82, p<0.001)"),
                  s001("Patients with baseline bone marrow edema score >2 RAMRIS units have 2.77-fold "
                       "increased odds of radiographic progression"),
                  s001("Treat the underlying inflammatory disease aggressively with disease-modifying "
                       "therapy when bone marrow edema is present"),
                  s003("Tumor necrosis factor inhibitors, primarily used for rheumatoid arthritis, reduce "
                       "BMLs, lower disease activity, and diminish erosions")),
        offer=fixed("Referral to rheumatology / DMARD review (text). No drug: the seeds name none for RA.",
                    o.RHEUMATOLOGY_REFERRAL),
    ),
    Rule(
        id="R15", title="Rheumatoid arthritis with BME", stage="B", hooks=PV,
        when=(p.has_ra, p.has_bme),
        card=CardSpec("info",
                      "BME in RA strongly predicts erosive progression: consider aggressive "
                      "disease-modifying therapy",
                      "Consider treating the RA aggressively with disease-modifying therapy, with a "
                      "rheumatology review.",
                      "Fires when rheumatoid arthritis and BME are documented."),
        evidence=(s001("In rheumatoid arthritis, MRI bone edema is the strongest independent predictor of "
                       "subsequent radiographic progression (coefficient 0.75-0.82, p<0.001)"),
                  s001("Treat the underlying inflammatory disease aggressively with disease-modifying "
                       "therapy when bone marrow edema is present")),
        offer=fixed("Referral to rheumatology / DMARD review (text). No drug: the seeds name none for RA.",
                    o.RHEUMATOLOGY_REFERRAL),
        missing=("ramris_bme_score", "dmard_active"),
    ),
    Rule(
        id="R16", title="Axial spondyloarthritis / ankylosing spondylitis with BME", stage="B", hooks=PV,
        when=(p.has_axspa, p.has_bme),
        card=CardSpec("info",
                      "BME in axSpA: deep BME (>1 cm from the articular surface) is more specific; consider "
                      "treating the underlying disease",
                      "Consider evaluating STIR and T1 together and treating the underlying disease; BME "
                      "alone does not make the diagnosis.",
                      "Fires when axSpA / ankylosing spondylitis and BME are documented."),
        evidence=(s001("Look for deep bone marrow edema extending >1 cm from the articular surface, which is "
                       "more specific for inflammatory conditions like axial spondyloarthritis"),
                  s001("Evaluate both STIR and T1-weighted sequences to distinguish inflammatory from "
                       "structural changes"),
                  t.TNFI_ADD_002),
        notes=("With vertebral BME and accumulated skeletal damage (collapse, severe ankylosis), seed 002 "
               "adds a TNF-alpha inhibitor: see R21.",),
        missing=("bme_deep_gt_1cm",),
    ),
    Rule(
        id="R17", title="Osteonecrosis / ischaemic BME", stage="B", hooks=PV,
        when=(p.has_ischemic_bme,),
        card=CardSpec("info",
                      "Ischaemic BME or early osteonecrosis: consider core decompression; untreated BME can "
                      "progress in weight-bearing joints",
                      "Consider an orthopaedic evaluation for core decompression; hyperbaric oxygen may help "
                      "if vascular compromise is suspected; iloprost: see R30.",
                      "Fires when osteonecrosis is documented, or the report describes ischaemic BME or "
                      "osteonecrosis features."),
        evidence=(s000("Core decompression is effective for ischemic bone marrow edema and early stages of "
                       "osteonecrosis"),
                  s000("Without treatment, bone marrow edema may progress to osteonecrosis in some cases, "
                       "particularly in weight-bearing joints"),
                  t.HYPERBARIC_000,
                  s003("Core decompression with autologous bone marrow stem cells is employed for treating "
                       "hip osteonecrosis")),
        offer=Offer("Orthopaedic referral for core decompression evaluation (text; codes.md E3 unverified), "
                    "unless core decompression is on record.",
                    lambda ctx: () if ctx.features.core_decompression_done.value is True
                    else (o.CORE_DECOMPRESSION_REFERRAL,), (o.CORE_DECOMPRESSION_REFERRAL,)),
    ),
    Rule(
        id="R18", title="Chronic non-bacterial osteitis (CNO)", stage="B", hooks=PV,
        when=(p.has_cno, p.has_bme),
        card=CardSpec("info",
                      "In CNO, BME is an early feature that tracks disease activity: consider evaluating it "
                      "with MRI",
                      "Consider MRI to evaluate and follow disease activity.",
                      "Fires when CNO/SAPHO and BME are documented.",
                      selection_behavior="any"),
        evidence=(s000("In chronic non-bacterial osteitis (CNO), bone marrow edema is an early and "
                       "activity-related disease feature that requires MRI for proper evaluation"),
                  s001("Bone marrow edema is an early, activity-related disease feature requiring MRI for "
                       "proper evaluation")),
        offer=o.MRI_OFFER,
    ),
    Rule(
        id="R19", title="BME with bone loss or metabolic bone disease", stage="B", hooks=PV,
        when=(p.has_bme, p.has_bone_loss),
        card=CardSpec("info",
                      "Bisphosphonates work for BME, especially with bone loss or metabolic bone disorders: "
                      "consider them",
                      "Consider bisphosphonate therapy; doses are given only on the vertebral pathway "
                      "(R21/R24), because the seeds state none elsewhere.",
                      "Fires when BME is documented with osteoporosis or vitamin D deficiency.",
                      fold="Bone loss: bisphosphonates are effective for BME, particularly with bone loss or "
                           "metabolic bone disorders."),
        evidence=(s000("Bisphosphonates are effective for bone marrow edema, particularly when associated "
                       "with bone loss or metabolic bone disorders"),
                  s003("Vitamin-D deficiency")),
    ),
    Rule(
        id="R20", title="Treatment-induced BME", stage="B", hooks=PV,
        when=(p.has_bme, p.has_treatment_cause),
        card=CardSpec("info",
                      "Possible treatment-induced BME (e.g. glucocorticoids): consider reviewing the "
                      "causative therapy",
                      "Consider whether the causative therapy can be reduced or stopped.",
                      "Fires when BME is documented with an active systemic glucocorticoid, cyclosporin, "
                      "cytostatics, or recent radiotherapy or surgery at the site."),
        evidence=(t.GC_CAUSE_003,
                  s003("Cytostatics (medications that inhibit cell growth or division)")),
        notes=("Long-term glucocorticoids: see R34.",),
    ),
    # ============================== Stage C: vertebral algorithm (no red flag, neurologically intact) ======
    Rule(
        id="R21", title="Extensive vertebral BME: IV bisphosphonate first, no NSAID trial", stage="C",
        hooks=PV,
        when=(p.extensive_bme_bp_first,),
        unless=(p.on_iv_bisphosphonate,),
        card=CardSpec("info",
                      "Whole-vertebral-body BME risks collapse: consider IV bisphosphonate now, without an "
                      "NSAID trial",
                      "Consider starting an IV bisphosphonate directly; the source prefers pamidronate. "
                      "Safety checks on renal function, calcium and dental status apply.",
                      "Fires when vertebral BME is documented as involving the whole vertebral body (an "
                      "unknown extent never fires it), no red flag fired, no neurological deficit is "
                      "documented, no IV bisphosphonate is active, and policy "
                      "pathway.extensive_bme_bisphosphonate_first is "
                      "{pathway.extensive_bme_bisphosphonate_first}.",
                      selection_behavior="at-most-one"),
        evidence=(s002("Start intravenous bisphosphonates directly without NSAID trial, as extensive bone "
                       "marrow edema in a full vertebral body carries risk of vertebral collapse"),
                  t.PAMIDRONATE_002, t.PAMIDRONATE_ALT_002, t.TNFI_ADD_002),
        offer=BISPHOSPHONATE_OFFER_R21,
        uses=("accumulated_skeletal_damage", "impaired_mobility", "pain_severe"),
        missing=("neuro_deficit",),
        notes=("Seeds 000/001 put NSAIDs first for most BME (conflict C1); this rule follows seed 002 only "
               "for positively documented whole-vertebral-body BME.",),
        smart_link=True,
        policy_keys=("bp.default_agent", "tnfi.require_inflammatory_dx"),
    ),
    Rule(
        id="R21", title="Extensive vertebral BME: NSAID being ordered", stage="C", hooks=ORDER_HOOKS,
        variant="NSAID draft order",
        when=(p.extensive_bme_bp_first, p.drafting_nsaid),
        unless=(p.on_iv_bisphosphonate,),
        card=CardSpec("warning",
                      "Source guidance advises IV bisphosphonate instead of an NSAID trial in extensive "
                      "vertebral BME",
                      "Consider an IV bisphosphonate instead of the NSAID being ordered.",
                      "Fires when an NSAID is being ordered for a patient whose vertebral BME is documented "
                      "as involving the whole vertebral body (R21).",
                      selection_behavior="at-most-one"),
        evidence=(s002("Start intravenous bisphosphonates directly without NSAID trial, as extensive bone "
                       "marrow edema in a full vertebral body carries risk of vertebral collapse"),
                  t.PAMIDRONATE_002),
        offer=BISPHOSPHONATE_OFFER_R21,
        smart_link=True,
        policy_keys=("bp.default_agent", "tnfi.require_inflammatory_dx"),
    ),
    Rule(
        id="R22", title="Limited vertebral BME (or other BME sites): NSAID/COXIB trial for 2-4 weeks",
        stage="C",
        hooks=PV,
        when=(any_of(p.vertebral_nsaid_first, all_of(p.has_bme, p.has_non_vertebral_bme_only),
                       describe="vertebral BME where the whole-vertebral-body pathway (R21) does not apply, "
                                "or BME documented at non-vertebral sites only (generic first line)"),
              p.first_line_nsaid_not_tried),
        unless=(p.on_second_line,),
        card=CardSpec("info",
                      "First line: consider an NSAID/COXIB at the maximum tolerated dose for 2-4 weeks, then "
                      "reassess",
                      "Consider an NSAID or COXIB at the maximum tolerated dose for 2-4 weeks, then evaluate "
                      "the response; safety checks on kidneys, GI bleeding, anticoagulants, heart failure "
                      "and pregnancy apply.",
                      "Fires for vertebral BME that is limited or of undocumented extent (or where R21 is "
                      "switched off), and as the generic first line for BME at other sites, when no NSAID "
                      "and no second-line agent is active, no red flag fired and no neurological deficit is "
                      "documented.",
                      selection_behavior="at-most-one"),
        evidence=(t.NSAID_TRIAL_002, t.NSAID_AGENTS_002, t.NSAID_FIRST_000, t.NSAID_FIRST_001,
                  t.NSAID_EFFECT_003),
        offer=fixed("One of: naproxen, diclofenac, indomethacin, celecoxib, with seed 002's doses. Ibuprofen "
                    "is not named in the seeds.", *o.NSAIDS),
        missing=("bme_extent",),
        smart_link=True,
    ),
    Rule(
        id="R23", title="Calcitonin in acute compression fractures (optional)", stage="C", hooks=PV,
        when=(p.has_vertebral_bme, p.has_vertebral_fracture, p.recent_vertebral_fracture,
              p.calcitonin_not_active),
        card=CardSpec("info",
                      "Consider calcitonin in the first {calcitonin.max_days} days: clinically important "
                      "pain reduction in acute compression fractures",
                      "Consider calcitonin during the first {calcitonin.max_days} days after the fracture; "
                      "the seeds give no dose or route.",
                      "Fires when vertebral BME and a vertebral fracture are documented, the fracture began "
                      "at most {calcitonin.max_days} days ago, and no calcitonin is active.",
                      fold="Calcitonin: consider in the first {calcitonin.max_days} days of an acute "
                           "compression fracture (no dose in the seeds; not for long-term use)."),
        evidence=(s002("Consider calcitonin for the first 4 weeks, which demonstrates clinically important "
                       "pain reduction in acute compression fractures"),),
        offer=fixed("Calcitonin (text: no verified RxNorm code; no dose in the seeds).", o.CALCITONIN),
        notes=("NOT IN SEEDS: regulators have warned about long-term calcitonin use; clinical review "
               "required.",),
    ),
    Rule(
        id="R24", title="Insufficient NSAID response at 2-4 weeks: second line", stage="C", hooks=PV,
        when=(p.has_vertebral_bme, p.nsaid_trial_long_enough, p.nsaid_response_insufficient),
        unless=(p.on_second_line,),
        card=CardSpec("info",
                      "Insufficient NSAID response after {nsaid.trial_min_days}+ days: consider IV "
                      "bisphosphonate (preferred) or a TNF-alpha inhibitor",
                      "Consider an IV bisphosphonate (generally preferred) or, with a documented "
                      "inflammatory diagnosis, a TNF-alpha inhibitor; evaluate the response 3-6 months after "
                      "starting.",
                      "Fires when vertebral BME is documented, the NSAID has run >= {nsaid.trial_min_days} "
                      "days and the response is documented as insufficient (less than "
                      "{nsaid.min_pain_reduction_pct}% pain reduction, or still severe), and no second-line "
                      "agent is active.",
                      selection_behavior="at-most-one"),
        evidence=(s002("Initiate intravenous bisphosphonates (generally preferred) or TNF-α inhibitors for "
                       "patients with insufficient response to NSAIDs at 2-4 weeks"),
                  t.TNFI_AGENTS_002, t.PAMIDRONATE_002, t.PAMIDRONATE_ALT_002,
                  s002("Evaluate treatment response at 3-6 months after initiating second-line therapy")),
        offer=SECOND_LINE_OFFER,
        missing=("inflammatory_dx",),
        smart_link=True,
        policy_keys=("bp.default_agent", "tnfi.require_inflammatory_dx"),
    ),
    Rule(
        id="R24", title="TNF-alpha inhibitor ordered without an inflammatory diagnosis", stage="C",
        hooks=ORDER_HOOKS, variant="TNF-alpha inhibitor draft order",
        when=(p.has_bme, p.drafting_tnfi, p.tnfi_without_inflammatory_dx),
        card=CardSpec("warning",
                      "TNF-alpha inhibitor for BME without a documented inflammatory disease: consider an IV "
                      "bisphosphonate instead",
                      "Consider an IV bisphosphonate, which the source prefers as second line; this service "
                      "offers a TNF-alpha inhibitor only with a documented RA, axSpA, PsA or CNO diagnosis.",
                      "Fires when a TNF-alpha inhibitor is being ordered for a patient with BME, policy "
                      "tnfi.require_inflammatory_dx is {tnfi.require_inflammatory_dx}, and no inflammatory "
                      "diagnosis is documented (the gate is NOT IN SEEDS; conflict C8).",
                      selection_behavior="at-most-one"),
        evidence=(s002("Initiate intravenous bisphosphonates (generally preferred) or TNF-α inhibitors for "
                       "patients with insufficient response to NSAIDs at 2-4 weeks"),
                  s003("Tumor necrosis factor inhibitors, primarily used for rheumatoid arthritis, reduce "
                       "BMLs, lower disease activity, and diminish erosions")),
        offer=Offer("IV bisphosphonate options (policy bp.default_agent first).", o.bisphosphonates,
                    o.BISPHOSPHONATE_CATALOGUE),
        missing=("inflammatory_dx",),
        smart_link=True,
        policy_keys=("bp.default_agent",),
    ),
    Rule(
        id="R25", title="Opioid being ordered: short-term only if needed", stage="C", hooks=ORDER_HOOKS,
        variant="opioid draft order",
        when=(p.has_vertebral_bme, p.drafting_opioid),
        card=CardSpec("info",
                      "Short-term opioids may be needed for severe pain; consider caution: sedation, nausea, "
                      "falls, respiratory depression",
                      "Consider keeping the opioid short-term, watching for sedation, nausea, falls, "
                      "respiratory depression and deconditioning.",
                      "Fires when an opioid is being ordered for a patient with vertebral BME."),
        evidence=(t.SHORT_NARCOTICS_000, t.SHORT_NARCOTICS_001, t.LIMIT_NARCOTICS_002),
    ),
    Rule(
        id="R25", title="Severe pain: short-term opioid only if needed", stage="C", hooks=PV,
        when=(p.has_vertebral_bme, p.pain_severe, p.not_on_opioid),
        card=CardSpec("info",
                      "Short-term opioids may be needed for severe pain; consider caution: sedation, nausea, "
                      "falls, respiratory depression",
                      "If the pain needs an opioid, consider a short-term course only; no opioid is "
                      "suggested because the seeds allow but do not recommend starting one.",
                      "Fires when vertebral BME is documented, pain is severe (latest NRS >= "
                      "{pain.severe_nrs}) and no opioid is active.",
                      fold="Severe pain: a short-term opioid only if needed (sedation, nausea, falls)."),
        evidence=(t.SHORT_NARCOTICS_000, t.SHORT_NARCOTICS_001, t.LIMIT_NARCOTICS_002),
        uses=("pain_nrs_latest",),
    ),
    Rule(
        id="R26", title="Vertebral augmentation early: parenteral opioids or admission", stage="C", hooks=PV,
        variant="(a) early",
        when=(p.has_vertebral_bme, p.has_vertebral_fracture, p.augmentation_not_done,
              p.needs_parenteral_opioid_or_admission),
        card=CardSpec("info",
                      "Severe pain needing parenteral opioids or admission: consider early vertebroplasty or "
                      "kyphoplasty",
                      "Consider a vertebral augmentation evaluation now rather than waiting for the "
                      "conservative window.",
                      "Fires when a vertebral fracture with vertebral BME needs parenteral opioids or "
                      "admission for pain, no augmentation is on record, and no red flag fired."),
        evidence=(t.AUGMENT_EARLY_001,
                  s002("Vertebral augmentation shows superior pain relief in patients with full bone marrow "
                       "edema present (94-97% pain response) compared to absent edema (71% response), though "
                       "absence of edema should not exclude patients from consideration")),
        offer=AUGMENTATION_OFFER,
        missing=("kyphosis_pct", "height_loss_pct"),
        smart_link=True,
    ),
    Rule(
        id="R26", title="Vertebral augmentation: offer after persistent pain", stage="C", hooks=PV,
        variant="(c) offer",
        when=(p.has_vertebral_bme, p.has_vertebral_fracture, p.augmentation_not_done,
              p.pain_past_offer_window),
        card=CardSpec("info",
                      "Pain persisting >={augmentation.offer_after_days} days despite conservative care: "
                      "consider offering vertebral augmentation",
                      "Consider offering a referral for vertebroplasty or kyphoplasty.",
                      "Fires when a vertebral fracture with vertebral BME has had pain for >= "
                      "{augmentation.offer_after_days} days, no augmentation is on record, and no red flag "
                      "fired."),
        evidence=(t.AUGMENT_3M_000, t.AUGMENT_3M_001,
                  s002("Vertebral augmentation demonstrates benefit even in fractures older than 12 weeks "
                       "with persistent symptoms")),
        offer=AUGMENTATION_OFFER,
        missing=("kyphosis_pct", "height_loss_pct"),
        notes=("Most osteoporotic vertebral compression fracture pain resolves on its own within 6-8 weeks "
               "(seeds 000, 001).",),
        smart_link=True,
    ),
    Rule(
        id="R26", title="Vertebral augmentation: consider after severe pain", stage="C", hooks=PV,
        variant="(b) consider",
        when=(p.has_vertebral_bme, p.has_vertebral_fracture, p.augmentation_not_done,
              p.severe_pain_past_consider_window),
        card=CardSpec("info",
                      "Severe pain persisting >={augmentation.consider_after_days} days despite analgesics: "
                      "consider vertebroplasty or kyphoplasty",
                      "Consider a referral for vertebral augmentation evaluation.",
                      "Fires when a vertebral fracture with vertebral BME has severe pain (NRS >= "
                      "{pain.severe_nrs}) persisting >= {augmentation.consider_after_days} days despite "
                      "analgesics, no augmentation is on record, and no red flag fired."),
        evidence=(t.AUGMENT_3W_002,
                  s002("Vertebral augmentation shows superior pain relief in patients with full bone marrow "
                       "edema present (94-97% pain response) compared to absent edema (71% response), though "
                       "absence of edema should not exclude patients from consideration")),
        offer=AUGMENTATION_OFFER,
        missing=("kyphosis_pct", "height_loss_pct"),
        smart_link=True,
    ),
    Rule(
        id="R27", title="Glucocorticoids only as a bridge", stage="C", hooks=ORDER_HOOKS,
        when=(p.has_bme, p.drafting_glucocorticoid),
        unless=(p.cord_compression_suspected,),
        card=CardSpec("info",
                      "Consider glucocorticoids only as a short bridge until other agents work; avoid "
                      "long-term use",
                      "Consider a short course only (oral prednisolone or an intra-articular injection) "
                      "while other agents take effect.",
                      "Fires when a systemic glucocorticoid is being ordered for a patient with BME (not for "
                      "suspected cord compression, R10)."),
        evidence=(t.GC_BRIDGE_002,
                  s003("Corticosteroid injections are sometimes given directly into the affected joint to "
                       "alleviate symptoms"), t.GC_CAUSE_003),
    ),
    Rule(
        id="R28", title="Supportive care and mobilisation", stage="C", hooks=PV,
        when=(p.has_vertebral_bme,),
        card=CardSpec("info",
                      "Consider physiotherapy for core strength and posture, early mobilisation, and patient "
                      "education",
                      "Consider patient education and lifestyle advice in the plan, physiotherapy once "
                      "neurologically stable, and early mobilisation.",
                      "Fires on the vertebral BME pathway (vertebral BME, no red flag, no neurological "
                      "deficit).",
                      fold="Physiotherapy for core strength and posture, early mobilisation, patient "
                           "education."),
        evidence=(s002("Provide patient education and lifestyle recommendations as part of all treatment "
                       "plans"),
                  t.PHYSIO_002, t.MOBILISE_001),
        offer=fixed("Physiotherapy referral (text; no verified code).", o.PHYSIOTHERAPY),
    ),
    # ============================== Stage D: refractory BME (no red flag) ==================================
    Rule(
        id="R29", title="Refractory BME: correct calcium / vitamin D before denosumab", stage="D", hooks=PV,
        variant="calcium or vitamin D low",
        when=(p.is_refractory, p.denosumab_not_given, p.calcium_or_vitd_low),
        card=CardSpec("warning",
                      "Refractory BME: calcium or vitamin D is low; consider correcting it before denosumab",
                      "Consider correcting calcium and vitamin D before denosumab.",
                      "Fires when BME is refractory, no denosumab is on record, and calcium is low (lab flag "
                      "or hypocalcaemia diagnosis) or 25-OH vitamin D is below {vitd.min_ng_ml} ng/mL."),
        evidence=(s001("Ensure vitamin D and calcium homeostasis are balanced before initiating denosumab"),),
        uses=("calcium", "vitd_25oh", "hypocalcemia", "calcium_low"),
        smart_link=True,
    ),
    Rule(
        id="R29", title="Refractory BME: check calcium and vitamin D first", stage="D", hooks=PV,
        variant="labs missing or stale",
        when=(p.is_refractory, p.denosumab_not_given, p.denosumab_labs_not_current),
        card=CardSpec("info",
                      "Refractory BME: consider denosumab once calcium and vitamin D are checked; results "
                      "are missing or stale",
                      "Consider checking serum calcium (with albumin) and 25-OH vitamin D; denosumab is not "
                      "suggested until they are current and balanced.",
                      "Fires when BME is refractory, no denosumab is on record, and calcium or 25-OH vitamin "
                      "D is missing or older than {labs.max_age_days} days. A missing lab never counts as "
                      "normal.",
                      selection_behavior="any"),
        evidence=(s001("Ensure vitamin D and calcium homeostasis are balanced before initiating denosumab"),
                  s001("Denosumab (single dose) shows 93% partial or complete resolution of bone marrow "
                       "edema at 6-12 weeks, with 50% complete recovery")),
        offer=Offer("Lab requests for whichever of calcium (LOINC 17861-6), albumin (1751-7) and 25-OH "
                    "vitamin D (62292-8) is missing or stale; no denosumab "
                    "suggestion.", _r29_labs, o.DENOSUMAB_LABS),
        missing=("calcium", "albumin", "vitd_25oh"),
        smart_link=True,
    ),
    Rule(
        id="R29", title="Refractory BME: single-dose denosumab", stage="D", hooks=PV,
        when=(p.is_refractory, p.denosumab_not_given),
        card=CardSpec("info",
                      "Refractory BME: consider single-dose denosumab (93% partial or complete resolution at "
                      "6-12 weeks, 50% complete)",
                      "Consider a single dose of denosumab (institutional dose); calcium and vitamin D are "
                      "current.",
                      "Fires when BME is refractory (pain persisting >= {refractory.after_days} days despite "
                      "a documented first-line course), no denosumab is on record, and current calcium and "
                      "25-OH vitamin D are not low."),
        evidence=(s001("Denosumab (single dose) shows 93% partial or complete resolution of bone marrow "
                       "edema at 6-12 weeks, with 50% complete recovery"),
                  s001("Ensure vitamin D and calcium homeostasis are balanced before initiating denosumab"),
                  t.ILOPROST_ALTERNATIVE_001),
        offer=fixed("Denosumab (RxNorm 993449), single dose; the seeds give no dose.", o.DENOSUMAB),
        uses=("calcium", "vitd_25oh", "calcium_low"),
        dynamic_notes=p.calcium_flag_note,
        smart_link=True,
    ),
    Rule(
        id="R30", title="Iloprost (prostacyclin analogue)", stage="D", hooks=PV,
        when=(p.iloprost_in_scope, p.iloprost_not_given),
        card=CardSpec("info",
                      "Consider iloprost (5-day infusion): rest-pain relief within days, function improving "
                      "over 1-3 months",
                      "Consider a 5-day iloprost infusion (institutional protocol); the evidence is not "
                      "traceable and the infusion is resource-heavy.",
                      "Fires when policy iloprost.enabled is {iloprost.enabled} and BME is refractory, or "
                      "ischaemic BME / early osteonecrosis is documented (policy iloprost.scope "
                      "{iloprost.scope}), and no iloprost is on record."),
        evidence=(s000("Iloprost (a stable prostacyclin analogue) has shown excellent results in treating "
                       "bone marrow edema, with complete relief of symptoms within days of treatment "
                       "initiation"),
                  s000("During a five-day iloprost infusion protocol, patients typically report relief of "
                       "rest pain, with significant functional improvement within 1-3 months"),
                  t.ILOPROST_ALTERNATIVE_001,
                  s003("Prostaglandin I2 (prostacyclin) and related analogs boost bone regeneration and "
                       "microcirculation")),
        offer=fixed("Iloprost (RxNorm 40138), IV, 5-day course; the seeds give no dose.", o.ILOPROST),
    ),
    Rule(
        id="R31", title="Physical and other modalities", stage="D", hooks=PV,
        when=(p.is_refractory,),
        card=CardSpec("info",
                      "Refractory BME: consider ESWT or pulsed electromagnetic fields; hyperbaric oxygen if "
                      "vascular compromise",
                      "Consider extracorporeal shock wave therapy (especially hip BME) or pulsed "
                      "electromagnetic fields; PRP or stem-cell injections in OA- or overuse-related BME.",
                      "Fires when BME is refractory. Information only: no order codes are verified for these "
                      "modalities.",
                      fold="Refractory: ESWT or pulsed electromagnetic fields; hyperbaric oxygen if vascular "
                           "compromise."),
        evidence=(s000("Extracorporeal shock wave therapy (ESWT) and pulsed electromagnetic fields (PEFs) "
                       "have shown promise in treating bone marrow edema"),
                  t.HYPERBARIC_000,
                  s003("It has shown promise in providing pain relief and functional improvement in hip bone "
                       "marrow edema cases, potentially by improving blood flow"),
                  s003("Platelet-rich plasma and stem cell injections have shown promise in treating bone "
                       "marrow edema, especially in cases related to osteoarthritis or overuse")),
    ),
    # ============================== Stage E: pitfalls and follow-up (always run) ===========================
    Rule(
        id="R32", title="Bed rest being ordered", stage="E", hooks=ORDER_HOOKS,
        variant="bed-rest draft order",
        when=(p.has_bme_or_vertebral_fracture, p.drafting_bed_rest),
        unless=(p.spinal_instability_documented,),
        card=CardSpec("warning",
                      "Avoid prolonged bed rest: it worsens bone loss and deconditioning, raises DVT risk "
                      "and mortality; consider early mobilisation",
                      "Consider removing the bed-rest order and mobilising early with physiotherapy; "
                      "protected weight-bearing of a limb is allowed.",
                      "Fires when a bed-rest or strict immobilisation order is being placed for a patient "
                      "with BME or a vertebral fracture, unless spinal instability is documented (immobilise "
                      "until stabilised, R07).",
                      selection_behavior="any"),
        evidence=(t.BED_REST_002, t.BED_REST_001, t.IMMOBILISATION_001),
        offer=Offer("Delete the draft bed-rest order; create a physiotherapy referral (text).", _r32_delete,
                    (o.PHYSIOTHERAPY,)),
    ),
    Rule(
        id="R32", title="No prolonged bed rest or immobilisation", stage="E", hooks=PV,
        when=(p.has_bme_or_vertebral_fracture, p.bed_rest_on_record),
        unless=(p.spinal_instability_documented,),
        card=CardSpec("warning",
                      "Avoid prolonged bed rest: it worsens bone loss and deconditioning, raises DVT risk "
                      "and mortality; consider early mobilisation",
                      "Consider reviewing the bed-rest order and mobilising early with physiotherapy; "
                      "protected weight-bearing of a limb is allowed.",
                      "Fires when bed rest is on record for a patient with BME or a vertebral fracture, "
                      "unless spinal instability is documented (R07)."),
        evidence=(t.BED_REST_002, t.BED_REST_001, t.IMMOBILISATION_001),
        offer=fixed("Physiotherapy referral (text; no verified code).", o.PHYSIOTHERAPY),
    ),
    Rule(
        id="R33", title="Opioid being ordered: limit opioids", stage="E", hooks=ORDER_HOOKS,
        variant="opioid draft order",
        when=(p.has_bme_or_vertebral_fracture, p.drafting_opioid,
              any_of(p.older_adult, p.on_opioid_past_short_course)),
        card=CardSpec("warning",
                      "Limit opioids: sedation, falls, respiratory depression and deconditioning, especially "
                      "in older adults; consider the shortest course",
                      "Consider the shortest opioid course, watching for sedation and falls.",
                      "Fires when an opioid is being ordered for a patient with BME or a vertebral fracture "
                      "who is >= {age.older_adult_years} years old or already on an opioid for > "
                      "{opioid.max_short_course_days} days."),
        evidence=(t.LIMIT_NARCOTICS_002, s001("Do not overuse narcotics, which increase fall risk and "
                                              "deconditioning"), t.SHORT_NARCOTICS_000),
        missing=("age_years",),
    ),
    Rule(
        id="R33", title="Limit opioids", stage="E", hooks=PV,
        when=(p.has_bme_or_vertebral_fracture, p.on_opioid_past_short_course),
        card=CardSpec("warning",
                      "Limit opioids: sedation, falls, respiratory depression and deconditioning, especially "
                      "in older adults; consider tapering",
                      "Consider reviewing the opioid: it has run beyond a short course.",
                      "Fires when an opioid has been active for > {opioid.max_short_course_days} days in a "
                      "patient with BME or a vertebral fracture."),
        evidence=(t.LIMIT_NARCOTICS_002, s001("Do not overuse narcotics, which increase fall risk and "
                                              "deconditioning")),
    ),
    Rule(
        id="R34", title="Glucocorticoid being ordered on top of long-term use", stage="E", hooks=ORDER_HOOKS,
        variant="glucocorticoid draft order",
        when=(p.has_bme, p.drafting_glucocorticoid, p.long_term_glucocorticoid),
        unless=(p.cord_compression_suspected,),
        card=CardSpec("warning",
                      "Avoid long-term glucocorticoids in BME: consider them only as a short bridge; they "
                      "are themselves a cause of BME",
                      "Consider whether this glucocorticoid is needed: long-term use is already documented.",
                      "Fires when a systemic glucocorticoid is being ordered for a patient with BME and "
                      "long-term use (>= {glucocorticoid.long_term_days} days, or Z79.52) is documented; "
                      "never for suspected cord compression (R10)."),
        evidence=(t.GC_BRIDGE_002, t.GC_CAUSE_003),
    ),
    Rule(
        id="R34", title="Avoid long-term glucocorticoids", stage="E", hooks=PV,
        when=(p.has_bme, p.long_term_glucocorticoid),
        card=CardSpec("warning",
                      "Avoid long-term glucocorticoids in BME: consider them only as a short bridge; they "
                      "are themselves a cause of BME",
                      "Consider reviewing the glucocorticoid and a taper where possible.",
                      "Fires when BME is documented with long-term systemic glucocorticoid use (>= "
                      "{glucocorticoid.long_term_days} days, or Z79.52)."),
        evidence=(t.GC_BRIDGE_002, t.GC_CAUSE_003),
    ),
    Rule(
        id="R35", title="Reassessment timing: second-line therapy", stage="E", hooks=PV,
        variant="second line",
        when=(p.has_bme, p.on_second_line),
        card=CardSpec("info",
                      "Consider evaluating the response 3-6 months after starting second-line therapy",
                      "Consider a response evaluation 3-6 months after the IV bisphosphonate or TNF-alpha "
                      "inhibitor started.",
                      "Fires when BME is documented and an IV bisphosphonate or TNF-alpha inhibitor is "
                      "active.",
                      fold="Reassess: evaluate the response 3-6 months after starting second-line therapy."),
        evidence=(s002("Evaluate treatment response at 3-6 months after initiating second-line therapy"),),
        offer=fixed("Follow-up visit (text).", o.FOLLOW_UP_VISIT),
    ),
    Rule(
        id="R35", title="Reassessment timing: NSAID trial", stage="E", hooks=PV, variant="NSAID trial",
        when=(p.has_bme, p.nsaid_started),
        card=CardSpec("info",
                      "Consider reassessing the NSAID response {reassess.first_days} days after starting "
                      "(seed: 2-4 weeks; first review 4-6 weeks)",
                      "Consider reassessing the response to decide on escalation.",
                      "Fires when BME is documented and an NSAID with a known start date is active; the "
                      "reassessment date is the start + {reassess.first_days} days.",
                      fold="Reassess the NSAID response {reassess.first_days} days after starting, to decide "
                           "on escalation."),
        evidence=(s002("Evaluate treatment response at 2-4 weeks; if insufficient response, advance to "
                       "second-line treatment"),
                  s002("Reassess at 4-6 weeks initially to evaluate treatment response and determine if "
                       "escalation is needed")),
        offer=fixed("Follow-up visit (text).", o.FOLLOW_UP_VISIT),
        dynamic_notes=_r35_due,
    ),
    Rule(
        id="R36", title="Follow-up imaging: new symptoms or complications", stage="E", hooks=PV,
        variant="new symptoms or complication",
        when=(p.has_bme, p.new_symptoms_or_complication),
        card=CardSpec("info",
                      "New symptoms or a suspected complication: consider local follow-up imaging (not "
                      "whole-body)",
                      "Consider imaging the affected region; routine whole-body scans are not recommended.",
                      "Fires when BME is documented with new symptoms or a suspected complication (vascular "
                      "occlusion, nerve compression, new fracture).",
                      selection_behavior="any",
                      fold="New symptoms or complication: local follow-up imaging of the region, not "
                           "whole-body."),
        evidence=(s002("Local follow-up imaging should be considered if differential diagnosis needs further "
                       "exploration, new symptoms arise, or complications such as vascular occlusion, nerve "
                       "compression, or new fractures are suspected"),
                  s002("Routine follow-up whole-body scans are not typically recommended after initial "
                       "evaluation")),
        offer=Offer("MRI of each affected region (never whole-body).", _r36, o.MRI_OFFER.catalogue),
    ),
    Rule(
        id="R36", title="Follow-up MRI to assess resolution", stage="E", hooks=PV,
        when=(p.has_bme, p.last_mri_older_than_followup, p.followup_mri_indicated),
        card=CardSpec("info",
                      "Consider a follow-up MRI to assess resolution (last MRI >= {followup.mri_after_days} "
                      "days ago)",
                      "Consider repeating the MRI of the affected region; no routine whole-body imaging.",
                      "Fires when BME is documented, the last MRI is >= {followup.mri_after_days} days old, "
                      "and pain persists (NRS >= {pain.persistent_nrs}), or the BME is at the hip, knee or "
                      "foot, or policy followup.routine_mri is {followup.routine_mri}.",
                      selection_behavior="any",
                      fold="Follow-up MRI of the region to assess resolution (last MRI >= "
                           "{followup.mri_after_days} days ago)."),
        evidence=(s000("Follow-up imaging: Repeat MRI after 3 months to assess resolution of bone marrow "
                       "edema"),
                  s002("Routine follow-up whole-body scans are not typically recommended after initial "
                       "evaluation")),
        offer=Offer("MRI of each affected region (never whole-body).", _r36, o.MRI_OFFER.catalogue),
    ),
    Rule(
        id="R37", title="Expected course", stage="E", hooks=PV,
        when=(p.has_bme,),
        unless=(p.red_flag_fired,),
        card=CardSpec("info",
                      "Consider explaining the expected course: BME often resolves in 3-6 months; fracture "
                      "pain often eases in 6-8 weeks",
                      "Consider explaining the expected course to the patient and reassessing if it "
                      "deviates.",
                      "Fires when BME is documented and no red flag fired (explanatory text).",
                      fold="Course: BME usually resolves in 3-6 months; fracture pain often eases in 6-8 "
                           "weeks."),
        evidence=(s000("Bone marrow edema typically resolves within 1-3 months in cases of compression "
                       "fractures"),
                  s000("With appropriate treatment, most cases of bone marrow edema resolve within 3-6 "
                       "months"),
                  t.TBMES_COURSE_001,
                  s000("Most patients with osteoporotic vertebral compression fractures experience "
                       "spontaneous resolution of pain within 6-8 weeks, even without medication"),
                  s003("Bone marrow edema usually goes away on its own with time and rest")),
        notes=("Transient BME syndrome resolves in 3-9 months (seed 001).",
               "'Rest' means activity modification, not bed rest (conflict C6; see R32)."),
    ),
)


# Some data is only worth asking for in one setting: the extent (limited vs whole vertebral body) describes
# vertebral BME, so a card about knee BME must not list it as missing.
MISSING_ONLY_IF: dict[str, Callable[[Ctx], bool]] = {
    "bme_extent": lambda ctx: SITE_VERTEBRA in (ctx.features.bme_sites.value or frozenset()),
}

RULE_TABLE = RuleTable(RULES, STAGE_GATES, DEFERRALS, MISSING_ONLY_IF)


def rule_ids() -> tuple[str, ...]:
    """Distinct rule ids in table order."""
    return tuple(dict.fromkeys(r.id for r in RULES))


__all__ = ["DEFERRALS", "RULES", "RULE_TABLE", "STAGE_GATES", "rule_ids"]
