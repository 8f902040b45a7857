"""Features: the patient's FHIR resources and the hook's draft orders mapped to the catalogue's named facts.

The contract between data and knowledge: rules read only `Features`, never FHIR. Field names follow
clinical-rules.md §1. Every field is a `Fact` (value + the resources and dates it came from); a value of None
means unknown. Pure module: no flask, no requests; the clock (`today`) and value sets are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import date
from typing import Any

from service.facts import Fact
from service.facts import Source

# bme_sites values (clinical-rules.md §1.2)
SITE_VERTEBRA = "vertebra"
SITE_HIP = "hip_femoral_head"
SITE_KNEE = "knee"
SITE_FOOT_ANKLE = "foot_ankle"
SITE_SACROILIAC = "sacroiliac"
SITE_OTHER = "other"

# bme_extent values; unknown extent is Fact(None), never one of these
EXTENT_LIMITED = "limited"
EXTENT_EXTENSIVE = "extensive_full_vertebral_body"

# DraftOrder.kinds values: what a draft order is, for the order-select/order-sign checks
ORDER_NSAID = "nsaid"
ORDER_INDOMETHACIN = "indomethacin"
ORDER_IV_BISPHOSPHONATE = "iv_bisphosphonate"
ORDER_ZOLEDRONIC = "zoledronic_acid"
ORDER_PAMIDRONATE = "pamidronate"
ORDER_BISPHOSPHONATE = "bisphosphonate"
ORDER_DENOSUMAB = "denosumab"
ORDER_OPIOID = "opioid"
ORDER_SYSTEMIC_GLUCOCORTICOID = "systemic_glucocorticoid"
ORDER_DEXAMETHASONE = "dexamethasone"
ORDER_TNFI = "tnfi"
ORDER_BED_REST = "bed_rest"
ORDER_AUGMENTATION = "vertebral_augmentation"
ORDER_MRI = "mri"


@dataclass(frozen=True)
class DraftOrder:
    """One order from context.draftOrders, classified."""

    reference: str  # "MedicationRequest/abc" (the draft's id), "" if it has none
    resource_type: str
    kinds: frozenset[str]  # ORDER_* values; empty when unrecognised (e.g. a draft without a medication yet)
    display: str  # what the order is, in words ("naproxen 500 MG Oral Tablet")
    codes: tuple[tuple[str, str], ...] = ()  # (system, code) of the ordered item
    route: str | None = None
    selected: bool = False  # listed in context.selections (order-select)
    source: Source | None = None


def _f() -> Fact[Any]:
    return Fact()


@dataclass(frozen=True)
class Features:
    """Everything the rules may know about the patient; see clinical-rules.md §1 for each field."""

    today: date
    patient_reference: str = ""

    # §1.1 demographics and state
    age_years: Fact[int] = field(default_factory=_f)
    sex: Fact[str] = field(default_factory=_f)
    pregnant: Fact[bool] = field(default_factory=_f)
    gestational_age_weeks: Fact[int] = field(default_factory=_f)

    # §1.2 bone marrow edema (imaging)
    bme_present: Fact[bool] = field(default_factory=_f)
    bme_from_report_text: Fact[bool] = field(default_factory=_f)  # source (d) used
    bme_sites: Fact[frozenset[str]] = field(default_factory=_f)
    bme_vertebral_level: Fact[str] = field(default_factory=_f)
    bme_extent: Fact[str] = field(default_factory=_f)  # EXTENT_* or unknown
    bme_deep_gt_1cm: Fact[bool] = field(default_factory=_f)
    ramris_bme_score: Fact[float] = field(default_factory=_f)
    bme_first_seen_date: Fact[date] = field(default_factory=_f)
    bone_pain: Fact[bool] = field(default_factory=_f)  # R01 trigger
    last_mri_date: Fact[date] = field(default_factory=_f)
    mri_contraindicated: Fact[bool] = field(default_factory=_f)
    dect_or_ct_done: Fact[bool] = field(default_factory=_f)
    spect_ct_done: Fact[bool] = field(default_factory=_f)
    bone_scan_done: Fact[bool] = field(default_factory=_f)
    wbc_scan_done: Fact[bool] = field(default_factory=_f)
    on_features: Fact[bool] = field(default_factory=_f)  # rim/double-line/crescent
    ischemic_bme: Fact[bool] = field(default_factory=_f)  # report text
    new_symptoms_or_complication: Fact[bool] = field(default_factory=_f)  # R36

    # §1.3 vertebral fracture and deformity
    vertebral_fracture: Fact[bool] = field(default_factory=_f)
    vertebral_fracture_count: Fact[int] = field(default_factory=_f)
    fracture_onset_date: Fact[date] = field(default_factory=_f)
    pathologic_fracture_neoplastic: Fact[bool] = field(default_factory=_f)
    kyphosis_pct: Fact[float] = field(default_factory=_f)
    height_loss_pct: Fact[float] = field(default_factory=_f)
    retropulsion: Fact[bool] = field(default_factory=_f)
    spinal_instability: Fact[bool] = field(default_factory=_f)
    accumulated_skeletal_damage: Fact[bool] = field(default_factory=_f)

    # §1.4 neurological status
    neuro_deficit: Fact[bool] = field(default_factory=_f)
    cord_compression_suspected: Fact[bool] = field(default_factory=_f)
    neuro_progressive: Fact[bool] = field(default_factory=_f)

    # §1.5 etiology and comorbidity
    malignancy_active: Fact[bool] = field(default_factory=_f)
    malignancy_history: Fact[bool] = field(default_factory=_f)
    bone_metastasis: Fact[bool] = field(default_factory=_f)
    multiple_myeloma: Fact[bool] = field(default_factory=_f)
    osteoporosis: Fact[bool] = field(default_factory=_f)
    vitamin_d_deficiency: Fact[bool] = field(default_factory=_f)
    transient_bme_syndrome: Fact[bool] = field(default_factory=_f)
    osteonecrosis: Fact[bool] = field(default_factory=_f)
    rheumatoid_arthritis: Fact[bool] = field(default_factory=_f)
    axspa: Fact[bool] = field(default_factory=_f)
    psoriatic_arthritis: Fact[bool] = field(default_factory=_f)
    cno_sapho: Fact[bool] = field(default_factory=_f)
    diabetes: Fact[bool] = field(default_factory=_f)
    charcot: Fact[bool] = field(default_factory=_f)
    foot_ulcer_or_cellulitis_or_abscess: Fact[bool] = field(default_factory=_f)
    osteomyelitis: Fact[bool] = field(default_factory=_f)
    inflammatory_dx: Fact[bool] = field(default_factory=_f)  # RA/axSpA/CNO/PsA
    unexplained_weight_loss: Fact[bool] = field(default_factory=_f)
    fever: Fact[bool] = field(default_factory=_f)
    atypical_pain: Fact[bool] = field(default_factory=_f)  # clinician input only
    # safety comorbidities [NOT IN SEEDS]
    ckd_stage_4_5_or_esrd: Fact[bool] = field(default_factory=_f)
    gi_bleed_or_pud_history: Fact[bool] = field(default_factory=_f)
    gi_bleed_active: Fact[bool] = field(default_factory=_f)
    heart_failure: Fact[bool] = field(default_factory=_f)
    hypocalcemia: Fact[bool] = field(default_factory=_f)  # E83.51 or low lab
    onj_history: Fact[bool] = field(default_factory=_f)
    dental_disease: Fact[bool] = field(default_factory=_f)
    recent_cabg_date: Fact[date] = field(default_factory=_f)
    tnfi_screening_concern: Fact[bool] = field(default_factory=_f)  # S13
    active_infection: Fact[bool] = field(default_factory=_f)  # S13/S14

    # §1.6 pain, function, care setting
    pain_nrs_latest: Fact[int] = field(default_factory=_f)
    pain_nrs_series: tuple[tuple[date, int], ...] = ()  # oldest first
    pain_severe: Fact[bool] = field(default_factory=_f)
    pain_persistent_days: Fact[int] = field(default_factory=_f)
    impaired_mobility: Fact[bool] = field(default_factory=_f)
    parenteral_opioid: Fact[bool] = field(default_factory=_f)
    hospitalized_for_pain: Fact[bool] = field(default_factory=_f)

    # §1.7 treatment history
    nsaid_active: Fact[bool] = field(default_factory=_f)
    nsaid_start_date: Fact[date] = field(default_factory=_f)
    nsaid_days: Fact[int] = field(default_factory=_f)
    nsaid_active_ingredients: Fact[frozenset[str]] = field(default_factory=_f)  # S06
    nsaid_response_insufficient: Fact[bool] = field(default_factory=_f)
    iv_bisphosphonate_given: Fact[bool] = field(default_factory=_f)
    iv_bisphosphonate_active: Fact[bool] = field(default_factory=_f)
    bisphosphonate_given: Fact[bool] = field(default_factory=_f)  # any, incl. oral
    tnfi_active: Fact[bool] = field(default_factory=_f)
    denosumab_given: Fact[bool] = field(default_factory=_f)
    iloprost_given: Fact[bool] = field(default_factory=_f)
    calcitonin_active: Fact[bool] = field(default_factory=_f)
    opioid_active: Fact[bool] = field(default_factory=_f)
    opioid_days: Fact[int] = field(default_factory=_f)
    cns_depressant_active: Fact[bool] = field(default_factory=_f)  # S12
    systemic_glucocorticoid_active: Fact[bool] = field(default_factory=_f)
    glucocorticoid_days: Fact[int] = field(default_factory=_f)
    long_term_glucocorticoid_coded: Fact[bool] = field(default_factory=_f)  # Z79.52
    treatment_induced_cause: Fact[bool] = field(default_factory=_f)  # R20 others
    anticoagulant_active: Fact[bool] = field(default_factory=_f)
    antiplatelet_active: Fact[bool] = field(default_factory=_f)
    bed_rest_ordered: Fact[bool] = field(default_factory=_f)
    offloading_in_place: Fact[bool] = field(default_factory=_f)
    augmentation_done: Fact[bool] = field(default_factory=_f)
    core_decompression_done: Fact[bool] = field(default_factory=_f)
    conservative_start_date: Fact[date] = field(default_factory=_f)
    dmard_active: Fact[bool] = field(default_factory=_f)  # R15 warning

    # §1.8 labs (value in the unit named; Fact.as_of is the lab date, for staleness)
    egfr: Fact[float] = field(default_factory=_f)  # mL/min/1.73m2
    creatinine: Fact[float] = field(default_factory=_f)  # mg/dL
    calcium: Fact[float] = field(default_factory=_f)  # mg/dL (total)
    calcium_low: Fact[bool] = field(default_factory=_f)  # by lab flag / ref range
    calcium_ionized: Fact[float] = field(default_factory=_f)
    albumin: Fact[float] = field(default_factory=_f)  # g/dL
    vitd_25oh: Fact[float] = field(default_factory=_f)  # ng/mL

    # hook input
    draft_orders: tuple[DraftOrder, ...] = ()
