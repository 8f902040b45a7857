"""Features: the patient's FHIR resources and the hook's draft orders mapped to the catalogue's named facts.

The contract between data and knowledge: rules read only `Features`, never FHIR. Field names follow
clinical-rules.md §1. Every field is a `Fact` (value + the resources and dates it came from); a value of None
means unknown. Pure module: no flask, no requests; the clock (`today`) and value sets are passed in.

How `extract` decides True / False / unknown:
- True needs positive data, and every True carries its Sources (resource, date, short display; `via` says how
  it was found when not a plain coded match: "report text: '<sentence>'", "medication text", "proxy code").
- False from absence only where §1 names a single complete source: the Condition-only flags of §1.3/§1.5
  (`_CONDITION_ONLY`) when Conditions were supplied and every value set behind the flag is loaded; drug flags
  when medication resources were supplied and none is unidentified; imaging "done" flags when imaging
  resources were supplied. Explicit negatives ("no retropulsion", local Observation valueBoolean false) also
  give False. Everything else (neuro_deficit, cord compression, pregnancy, extent, labs) stays unknown.
- Labs: the newest Observation decides; a unit we cannot convert gives an unknown value (the Source says so).
- `mri_contraindicated` defaults to False, as clinical-rules §1.2 says, unless a local Observation says True.

Contract additions by the features helper: `unresolved_medications` (count of orders whose drug could not be
identified, with their Sources), `pain_nrs_baseline` (the score R24 compares against). Project-local codes are
listed in `LOCAL_CODES` (system `LOCAL_SYSTEM`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from service.core import docrefs
from service.core import textfind
from service.core.facts import UNKNOWN
from service.core.facts import Fact
from service.core.facts import Source
from service.core.policy import Policy
from service.core.valuesets import VS
from service.core.valuesets import ValueSetIndex
from service.core.vocabulary import BED_REST
from service.core.vocabulary import BISPHOSPHONATE
from service.core.vocabulary import DENOSUMAB
from service.core.vocabulary import DEXAMETHASONE
from service.core.vocabulary import INDOMETHACIN
from service.core.vocabulary import IV_BISPHOSPHONATE
from service.core.vocabulary import MRI
from service.core.vocabulary import NSAID
from service.core.vocabulary import OPIOID
from service.core.vocabulary import PAMIDRONATE
from service.core.vocabulary import SYSTEMIC_GLUCOCORTICOID
from service.core.vocabulary import TNFI
from service.core.vocabulary import VERTEBRAL_AUGMENTATION
from service.core.vocabulary import ZOLEDRONIC_ACID

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


# Fact is frozen, so every unknown field and flag can share the one unknown Fact: building ~110 of them per
# extraction was a third of the cost of a request with few resources.
_UNKNOWN: Fact[Any] = UNKNOWN
_FALSE: Fact[Any] = Fact(False)  # likewise the one sourceless False


@dataclass(frozen=True)
class Features:
    """Everything the rules may know about the patient; see clinical-rules.md §1 for each field."""

    today: date
    patient_reference: str = ""

    # §1.1 demographics and state
    age_years: Fact[int] = _UNKNOWN
    sex: Fact[str] = _UNKNOWN
    pregnant: Fact[bool] = _UNKNOWN
    gestational_age_weeks: Fact[int] = _UNKNOWN

    # §1.2 bone marrow edema (imaging)
    bme_present: Fact[bool] = _UNKNOWN
    bme_from_report_text: Fact[bool] = _UNKNOWN  # source (d) used
    bme_sites: Fact[frozenset[str]] = _UNKNOWN
    bme_vertebral_level: Fact[str] = _UNKNOWN
    bme_extent: Fact[str] = _UNKNOWN  # EXTENT_* or unknown
    bme_deep_gt_1cm: Fact[bool] = _UNKNOWN
    ramris_bme_score: Fact[float] = _UNKNOWN
    bme_first_seen_date: Fact[date] = _UNKNOWN
    bone_pain: Fact[bool] = _UNKNOWN  # R01 trigger
    last_mri_date: Fact[date] = _UNKNOWN
    mri_contraindicated: Fact[bool] = _UNKNOWN
    dect_or_ct_done: Fact[bool] = _UNKNOWN
    spect_ct_done: Fact[bool] = _UNKNOWN
    bone_scan_done: Fact[bool] = _UNKNOWN
    wbc_scan_done: Fact[bool] = _UNKNOWN
    on_features: Fact[bool] = _UNKNOWN  # rim/double-line/crescent
    ischemic_bme: Fact[bool] = _UNKNOWN  # report text
    new_symptoms_or_complication: Fact[bool] = _UNKNOWN  # R36

    # §1.3 vertebral fracture and deformity
    vertebral_fracture: Fact[bool] = _UNKNOWN
    vertebral_fracture_count: Fact[int] = _UNKNOWN
    fracture_onset_date: Fact[date] = _UNKNOWN
    pathologic_fracture_neoplastic: Fact[bool] = _UNKNOWN
    kyphosis_pct: Fact[float] = _UNKNOWN
    height_loss_pct: Fact[float] = _UNKNOWN
    retropulsion: Fact[bool] = _UNKNOWN
    spinal_instability: Fact[bool] = _UNKNOWN
    accumulated_skeletal_damage: Fact[bool] = _UNKNOWN

    # §1.4 neurological status
    neuro_deficit: Fact[bool] = _UNKNOWN
    cord_compression_suspected: Fact[bool] = _UNKNOWN
    neuro_progressive: Fact[bool] = _UNKNOWN

    # §1.5 etiology and comorbidity
    malignancy_active: Fact[bool] = _UNKNOWN
    malignancy_history: Fact[bool] = _UNKNOWN
    bone_metastasis: Fact[bool] = _UNKNOWN
    multiple_myeloma: Fact[bool] = _UNKNOWN
    osteoporosis: Fact[bool] = _UNKNOWN
    vitamin_d_deficiency: Fact[bool] = _UNKNOWN
    transient_bme_syndrome: Fact[bool] = _UNKNOWN
    osteonecrosis: Fact[bool] = _UNKNOWN
    rheumatoid_arthritis: Fact[bool] = _UNKNOWN
    axspa: Fact[bool] = _UNKNOWN
    psoriatic_arthritis: Fact[bool] = _UNKNOWN
    cno_sapho: Fact[bool] = _UNKNOWN
    diabetes: Fact[bool] = _UNKNOWN
    charcot: Fact[bool] = _UNKNOWN
    foot_ulcer_or_cellulitis_or_abscess: Fact[bool] = _UNKNOWN
    osteomyelitis: Fact[bool] = _UNKNOWN
    inflammatory_dx: Fact[bool] = _UNKNOWN  # RA/axSpA/CNO/PsA
    unexplained_weight_loss: Fact[bool] = _UNKNOWN
    fever: Fact[bool] = _UNKNOWN
    atypical_pain: Fact[bool] = _UNKNOWN  # clinician input only
    # safety comorbidities [NOT IN SEEDS]
    ckd_stage_4_5_or_esrd: Fact[bool] = _UNKNOWN
    gi_bleed_or_pud_history: Fact[bool] = _UNKNOWN
    gi_bleed_active: Fact[bool] = _UNKNOWN
    heart_failure: Fact[bool] = _UNKNOWN
    hypocalcemia: Fact[bool] = _UNKNOWN  # E83.51 or low lab
    onj_history: Fact[bool] = _UNKNOWN
    dental_disease: Fact[bool] = _UNKNOWN
    recent_cabg_date: Fact[date] = _UNKNOWN
    tnfi_screening_concern: Fact[bool] = _UNKNOWN  # S13
    active_infection: Fact[bool] = _UNKNOWN  # S13/S14

    # §1.6 pain, function, care setting
    pain_nrs_latest: Fact[int] = _UNKNOWN
    pain_nrs_series: tuple[tuple[date, int], ...] = ()  # oldest first
    pain_severe: Fact[bool] = _UNKNOWN
    pain_persistent_days: Fact[int] = _UNKNOWN
    impaired_mobility: Fact[bool] = _UNKNOWN
    parenteral_opioid: Fact[bool] = _UNKNOWN
    hospitalized_for_pain: Fact[bool] = _UNKNOWN

    # §1.7 treatment history
    nsaid_active: Fact[bool] = _UNKNOWN
    nsaid_start_date: Fact[date] = _UNKNOWN
    nsaid_days: Fact[int] = _UNKNOWN
    nsaid_active_ingredients: Fact[frozenset[str]] = _UNKNOWN  # S06
    nsaid_response_insufficient: Fact[bool] = _UNKNOWN
    iv_bisphosphonate_given: Fact[bool] = _UNKNOWN
    iv_bisphosphonate_active: Fact[bool] = _UNKNOWN
    bisphosphonate_given: Fact[bool] = _UNKNOWN  # any, incl. oral
    tnfi_active: Fact[bool] = _UNKNOWN
    denosumab_given: Fact[bool] = _UNKNOWN
    iloprost_given: Fact[bool] = _UNKNOWN
    calcitonin_active: Fact[bool] = _UNKNOWN
    opioid_active: Fact[bool] = _UNKNOWN
    opioid_days: Fact[int] = _UNKNOWN
    cns_depressant_active: Fact[bool] = _UNKNOWN  # S12
    systemic_glucocorticoid_active: Fact[bool] = _UNKNOWN
    glucocorticoid_days: Fact[int] = _UNKNOWN
    long_term_glucocorticoid_coded: Fact[bool] = _UNKNOWN  # Z79.52
    treatment_induced_cause: Fact[bool] = _UNKNOWN  # R20 others
    anticoagulant_active: Fact[bool] = _UNKNOWN
    antiplatelet_active: Fact[bool] = _UNKNOWN
    bed_rest_ordered: Fact[bool] = _UNKNOWN
    offloading_in_place: Fact[bool] = _UNKNOWN
    augmentation_done: Fact[bool] = _UNKNOWN
    core_decompression_done: Fact[bool] = _UNKNOWN
    conservative_start_date: Fact[date] = _UNKNOWN
    dmard_active: Fact[bool] = _UNKNOWN  # R15 warning

    # §1.8 labs (value in the unit named; Fact.as_of is the lab date, for staleness)
    egfr: Fact[float] = _UNKNOWN  # mL/min/1.73m2
    creatinine: Fact[float] = _UNKNOWN  # mg/dL
    calcium: Fact[float] = _UNKNOWN  # mg/dL (total)
    calcium_low: Fact[bool] = _UNKNOWN  # by lab flag / ref range
    calcium_ionized: Fact[float] = _UNKNOWN
    albumin: Fact[float] = _UNKNOWN  # g/dL
    vitd_25oh: Fact[float] = _UNKNOWN  # ng/mL

    # hook input
    draft_orders: tuple[DraftOrder, ...] = ()

    # added by the features extractor (contract additions; see the module docstring)
    unresolved_medications: Fact[int] = _UNKNOWN  # orders whose drug could not be identified
    pain_nrs_baseline: Fact[int] = _UNKNOWN  # last score on/before the NSAID start (R24 basis)


# ----------------------------------------------------------------------------------------------------
# Extraction: one pass over the prefetched resources, plain dict access, one value-set lookup per coding.
# ----------------------------------------------------------------------------------------------------

# Project-local CodeSystem: clinician input and imaging findings no standard code covers (codes.md A1, B).
LOCAL_SYSTEM = "https://bme-cds.example.org/fhir/CodeSystem/bme-cds"
LOCAL_BME = "bme"  # valueBoolean, or valueCodeableConcept with local code present/absent
LOCAL_BME_EXTENT = "bme-extent"  # valueCodeableConcept local code limited / extensive_full_vertebral_body
LOCAL_BME_DEEP = "bme-deep-gt-1cm"  # valueBoolean
LOCAL_KYPHOSIS_PCT = "kyphosis-pct"  # valueQuantity (%)
LOCAL_HEIGHT_LOSS_PCT = "height-loss-pct"  # valueQuantity (%)
LOCAL_RAMRIS_BME = "ramris-bme"  # valueQuantity / valueInteger
LOCAL_MRI_CONTRAINDICATED = "mri-contraindicated"  # valueBoolean
LOCAL_NEURO_PROGRESSIVE = "neuro-progressive"  # valueBoolean
LOCAL_NEURO_DEFICIT = "neuro-deficit"  # valueBoolean
LOCAL_CORD_COMPRESSION = "cord-compression-suspected"  # valueBoolean
LOCAL_RETROPULSION = "retropulsion"  # valueBoolean
LOCAL_ATYPICAL_PAIN = "atypical-pain"  # valueBoolean
LOCAL_PRESENT = "present"
LOCAL_ABSENT = "absent"
LOCAL_CODES: dict[str, str] = {
    LOCAL_BME: "Bone marrow edema (imaging finding); valueBoolean or valueCodeableConcept present/absent",
    LOCAL_BME_EXTENT: "Extent of BME; valueCodeableConcept limited | extensive_full_vertebral_body",
    LOCAL_BME_DEEP: "BME deeper than 1 cm from the articular surface; valueBoolean",
    LOCAL_KYPHOSIS_PCT: "Kyphosis, percent; valueQuantity",
    LOCAL_HEIGHT_LOSS_PCT: "Vertebral body height loss, percent; valueQuantity",
    LOCAL_RAMRIS_BME: "RAMRIS bone marrow edema score; valueQuantity or valueInteger",
    LOCAL_MRI_CONTRAINDICATED: "MRI contraindicated (clinician input); valueBoolean",
    LOCAL_NEURO_PROGRESSIVE: "Progressive neurological deterioration (clinician input); valueBoolean",
    LOCAL_NEURO_DEFICIT: "Neurological deficit on examination (clinician input); valueBoolean",
    LOCAL_CORD_COMPRESSION: "Spinal cord compression suspected (clinician input); valueBoolean",
    LOCAL_RETROPULSION: "Retropulsion of fragments into the canal; valueBoolean",
    LOCAL_ATYPICAL_PAIN: "Atypical pain (clinician input); valueBoolean",
}

# Where the local-code Observations go (boolean ones).
_LOCAL_FLAGS: dict[str, str] = {
    LOCAL_BME_DEEP: "bme_deep_gt_1cm",
    LOCAL_MRI_CONTRAINDICATED: "mri_contraindicated",
    LOCAL_NEURO_PROGRESSIVE: "neuro_progressive",
    LOCAL_NEURO_DEFICIT: "neuro_deficit",
    LOCAL_CORD_COMPRESSION: "cord_compression_suspected",
    LOCAL_RETROPULSION: "retropulsion",
    LOCAL_ATYPICAL_PAIN: "atypical_pain",
}

# Condition statuses (FHIR R4 condition-clinical / condition-ver-status).
_ACTIVE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
_EXCLUDED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
_TENTATIVE_VERIFICATION = frozenset({"unconfirmed", "provisional", "differential"})

_ACTIVE = "active"  # the Condition must be active (clinicalStatus active/recurrence/relapse, or absent)
_ANY = "any"  # active or resolved/inactive/remission: history counts
_TENTATIVE_OK = "tentative"  # active, and provisional/differential verification also counts (§1.4)

# Condition value set -> feature. `_ANY` rows are histories (a resolved ulcer still counts for S02).
_CONDITION_FLAGS: tuple[tuple[str, str, str], ...] = (
    (VS.OSTEOPOROSIS, "osteoporosis", _ACTIVE),
    (VS.TRANSIENT_OSTEOPOROSIS, "transient_bme_syndrome", _ACTIVE),
    (VS.OSTEONECROSIS, "osteonecrosis", _ACTIVE),
    (VS.RHEUMATOID_ARTHRITIS, "rheumatoid_arthritis", _ACTIVE),
    (VS.AXIAL_SPONDYLOARTHRITIS, "axspa", _ACTIVE),
    (VS.PSORIATIC_ARTHRITIS, "psoriatic_arthritis", _ACTIVE),
    (VS.CNO, "cno_sapho", _ACTIVE),
    (VS.MULTIPLE_MYELOMA, "multiple_myeloma", _ACTIVE),
    (VS.BONE_METASTASIS, "bone_metastasis", _ACTIVE),
    (VS.MALIGNANCY, "malignancy_active", _ACTIVE),
    (VS.MALIGNANCY, "malignancy_history", _ANY),
    (VS.MALIGNANCY_HISTORY, "malignancy_history", _ANY),
    (VS.BONE_METASTASIS, "malignancy_active", _ACTIVE),
    (VS.MULTIPLE_MYELOMA, "malignancy_history", _ANY),
    (VS.CHARCOT, "charcot", _ACTIVE),
    (VS.DIABETES, "diabetes", _ACTIVE),
    (VS.OSTEOMYELITIS, "osteomyelitis", _ACTIVE),
    (VS.FOOT_ULCER_INFECTION, "foot_ulcer_or_cellulitis_or_abscess", _ACTIVE),
    (VS.OSTEOMYELITIS, "active_infection", _ACTIVE),
    (VS.FOOT_ULCER_INFECTION, "active_infection", _ACTIVE),
    (VS.NEURO_DEFICIT, "neuro_deficit", _ACTIVE),
    (VS.CORD_COMPRESSION, "cord_compression_suspected", _TENTATIVE_OK),
    (VS.CKD_4_5, "ckd_stage_4_5_or_esrd", _ACTIVE),
    (VS.GI_BLEED_ULCER, "gi_bleed_or_pud_history", _ANY),
    (VS.GI_BLEED_ACTIVE, "gi_bleed_or_pud_history", _ANY),
    (VS.GI_BLEED_ACTIVE, "gi_bleed_active", _ACTIVE),
    (VS.HEART_FAILURE, "heart_failure", _ACTIVE),
    (VS.PREGNANCY, "pregnant", _ACTIVE),
    (VS.GESTATION_WEEKS, "pregnant", _ACTIVE),
    (VS.ONJ, "onj_history", _ANY),
    (VS.DENTAL_DISEASE, "dental_disease", _ACTIVE),
    (VS.HYPOCALCEMIA, "hypocalcemia", _ACTIVE),
    (VS.HYPOCALCEMIA, "calcium_low", _ACTIVE),
    (VS.VITAMIN_D_DEFICIENCY, "vitamin_d_deficiency", _ACTIVE),
    (VS.WEIGHT_LOSS, "unexplained_weight_loss", _ACTIVE),
    (VS.FEVER, "fever", _ACTIVE),
    (VS.IMPAIRED_MOBILITY, "impaired_mobility", _ACTIVE),
    (VS.BED_CONFINEMENT, "bed_rest_ordered", _ACTIVE),
    (VS.BONE_PAIN, "bone_pain", _ACTIVE),
    (VS.LONG_TERM_ANTICOAGULANT, "anticoagulant_active", _ACTIVE),
    (VS.LONG_TERM_ANTIPLATELET, "antiplatelet_active", _ACTIVE),
    (VS.LONG_TERM_NSAID, "nsaid_active", _ACTIVE),
    (VS.LONG_TERM_GLUCOCORTICOID, "long_term_glucocorticoid_coded", _ACTIVE),
    (VS.LONG_TERM_BISPHOSPHONATE, "bisphosphonate_given", _ANY),
    (VS.LONG_TERM_OPIOID, "opioid_active", _ACTIVE),
    (VS.LONG_TERM_BIOLOGIC, "dmard_active", _ACTIVE),
    (VS.VERTEBRAL_FRACTURE, "vertebral_fracture", _ACTIVE),
    (VS.VERTEBRAL_FRACTURE_UNSTABLE, "vertebral_fracture", _ACTIVE),
    (VS.VERTEBRAL_FRACTURE_UNSTABLE, "spinal_instability", _ACTIVE),
    (VS.PATHOLOGIC_FRACTURE_NEOPLASTIC, "pathologic_fracture_neoplastic", _ACTIVE),
    (VS.BME_PROXY, "bme_present", _ACTIVE),
    (VS.TRANSIENT_OSTEOPOROSIS, "bme_present", _ACTIVE),
)

_FLAGS_BY_SET: dict[str, tuple[tuple[str, str, str], ...]] = {
    name: tuple(row for row in _CONDITION_FLAGS if row[0] == name)
    for name in {row[0] for row in _CONDITION_FLAGS}
}

# Features that come only from Condition.code (clinical-rules §1.3, §1.5): when Conditions were supplied and
# every value set behind the feature is loaded, no match means False ("not on the problem list"). All other
# features stay unknown without positive data (e.g. neuro_deficit: absence of a code is not an examination).
_CONDITION_ONLY: dict[str, tuple[str, ...]] = {
    "osteoporosis": (VS.OSTEOPOROSIS,),
    "transient_bme_syndrome": (VS.TRANSIENT_OSTEOPOROSIS,),
    "osteonecrosis": (VS.OSTEONECROSIS,),
    "rheumatoid_arthritis": (VS.RHEUMATOID_ARTHRITIS,),
    "axspa": (VS.AXIAL_SPONDYLOARTHRITIS,),
    "psoriatic_arthritis": (VS.PSORIATIC_ARTHRITIS,),
    "cno_sapho": (VS.CNO,),
    "multiple_myeloma": (VS.MULTIPLE_MYELOMA,),
    "bone_metastasis": (VS.BONE_METASTASIS,),
    "malignancy_active": (VS.MALIGNANCY, VS.BONE_METASTASIS),
    "malignancy_history": (VS.MALIGNANCY, VS.MALIGNANCY_HISTORY, VS.MULTIPLE_MYELOMA),
    "charcot": (VS.CHARCOT,),
    "diabetes": (VS.DIABETES,),
    "osteomyelitis": (VS.OSTEOMYELITIS,),
    "foot_ulcer_or_cellulitis_or_abscess": (VS.FOOT_ULCER_INFECTION,),
    "ckd_stage_4_5_or_esrd": (VS.CKD_4_5,),
    "gi_bleed_or_pud_history": (VS.GI_BLEED_ULCER, VS.GI_BLEED_ACTIVE),
    "gi_bleed_active": (VS.GI_BLEED_ACTIVE,),
    "heart_failure": (VS.HEART_FAILURE,),
    "onj_history": (VS.ONJ,),
    "dental_disease": (VS.DENTAL_DISEASE,),
    "vitamin_d_deficiency": (VS.VITAMIN_D_DEFICIENCY,),
    "vertebral_fracture": (VS.VERTEBRAL_FRACTURE, VS.VERTEBRAL_FRACTURE_UNSTABLE),
    "pathologic_fracture_neoplastic": (VS.PATHOLOGIC_FRACTURE_NEOPLASTIC,),
    "long_term_glucocorticoid_coded": (VS.LONG_TERM_GLUCOCORTICOID,),
}

# The flags condition_features reads from the accumulator, listed once rather than rebuilt per request. The
# excluded ones are combined with other sources (labs, medications, reports) elsewhere in `finish`.
_CONDITION_FEATURES: tuple[str, ...] = tuple(
    sorted(
        ({f for _, f, _ in _CONDITION_FLAGS} | set(_CONDITION_ONLY) | set(_LOCAL_FLAGS.values()))
        - {
            "bme_present",
            "calcium_low",
            "hypocalcemia",
            "nsaid_active",
            "opioid_active",
            "anticoagulant_active",
            "bisphosphonate_given",
            "dmard_active",
            "spinal_instability",
            "retropulsion",
            "pregnant",
        }
    )
)

_LAB_SETS: dict[str, str] = {
    VS.LAB_EGFR: "egfr",
    VS.LAB_CREATININE: "creatinine",
    VS.LAB_CALCIUM: "calcium",
    VS.LAB_CALCIUM_IONIZED: "calcium_ionized",
    VS.LAB_ALBUMIN: "albumin",
    VS.LAB_VITAMIN_D: "vitd_25oh",
}

# Unit normalisation. Keys are units lower-cased without spaces, braces, underscores or carets; values are the
# factor to the feature's unit. An unlisted unit gives an unknown value, never a guess. Sources: vitamin D
# nmol/L / 2.496 is clinical-rules.md §1.8; the others are molar-mass conversions [NOT IN SEEDS]: creatinine
# 113.12 g/mol (1 mg/dL = 88.4 umol/L), calcium 40.08 g/mol (1 mmol/L = 4.008 mg/dL), albumin g/L = g/dL x 10.
# No rule thresholds creatinine or calcium values (calcium_low uses the lab's own flag or reference range).
_UNITS: dict[str, dict[str, float]] = {
    "egfr": {"ml/min/1.73m2": 1.0, "ml/min/1.73sqm": 1.0, "ml/min/1.73m^2": 1.0},
    "creatinine": {"mg/dl": 1.0, "umol/l": 1 / 88.4, "µmol/l": 1 / 88.4, "μmol/l": 1 / 88.4},
    "calcium": {"mg/dl": 1.0, "mmol/l": 4.008},
    "calcium_ionized": {"mg/dl": 1.0, "mmol/l": 4.008},
    "albumin": {"g/dl": 1.0, "g/l": 0.1},
    "vitd_25oh": {"ng/ml": 1.0, "ug/l": 1.0, "µg/l": 1.0, "nmol/l": 1 / 2.496},
}
_UNIT_LABEL: dict[str, str] = {
    "egfr": "mL/min/1.73m2",
    "creatinine": "mg/dL",
    "calcium": "mg/dL",
    "calcium_ionized": "mg/dL",
    "albumin": "g/dL",
    "vitd_25oh": "ng/mL",
}
_LAB_LABEL: dict[str, str] = {
    "egfr": "eGFR",
    "creatinine": "Creatinine",
    "calcium": "Calcium",
    "calcium_ionized": "Ionized calcium",
    "albumin": "Albumin",
    "vitd_25oh": "25-OH vitamin D",
}
_LOW_INTERPRETATION = frozenset({"L", "LL", "LU", "<"})
_HIGH_INTERPRETATION = frozenset({"H", "HH", "HU", ">"})
_NORMAL_INTERPRETATION = frozenset({"N"})

# Medication classes: value set -> feature stems. Text matching uses the ingredient names (the IN displays of
# these value sets) plus the synonyms below, because real orders carry SCD/SBD codes (codes.md D).
_RX_SETS: tuple[str, ...] = (
    VS.RX_NSAID,
    VS.RX_INDOMETHACIN,
    VS.RX_IV_BISPHOSPHONATE,
    VS.RX_ZOLEDRONIC_ACID,
    VS.RX_PAMIDRONATE,
    VS.RX_BISPHOSPHONATE,
    VS.RX_DENOSUMAB,
    VS.RX_TNFI,
    VS.RX_OPIOID,
    VS.RX_SYSTEMIC_GLUCOCORTICOID,
    VS.RX_DEXAMETHASONE,
    VS.RX_ANTICOAGULANT,
    VS.RX_ILOPROST,
    VS.RX_OSTEOPOROSIS_THERAPY,
)
RX_CALCITONIN = "calcitonin"  # no verified RxNorm code (codes.md F.6): matched by name only
# Other names of the same ingredients, as they appear in SCD/SBD displays (INN acid forms, salts).
_NAME_SYNONYMS: dict[str, str] = {
    "alendronic acid": "alendronate",
    "zoledronate": "zoledronic acid",
    "ibandronic acid": "ibandronate",
    "risedronic acid": "risedronate",
    "pamidronic acid": "pamidronate",
    "indometacin": "indomethacin",
}
# Text patterns below are lower-case and searched in textfind.fold(text): case-insensitive at case-sensitive
# speed (see textfind). Whole words share one \b(?:...)\b group: same matches, fewer branches to try.
# Non-systemic forms of glucocorticoids (display or route words); they do not count as systemic use.
_NON_SYSTEMIC = re.compile(
    r"ophthalmic|topical|cutaneous|cream|ointment|lotion|inhal|nasal|intra-?articular"
    r"|\b(?:otic|gel|dental|eye|ear|skin)\b"
)
_PARENTERAL = re.compile(
    r"intravenous|intramuscular|subcutaneous|inject(?:ion|able)|infusion|prefilled\s+syringe|auto-?injector"
    r"|\b(?:iv|im|sc|sq)\b"
)

_MED_ACTIVE = {
    "MedicationRequest": frozenset({"active", "on-hold"}),
    "MedicationStatement": frozenset({"active"}),
    "MedicationAdministration": frozenset({"in-progress", "on-hold"}),
}
_MED_NOT_GIVEN = {
    "MedicationRequest": frozenset({"entered-in-error", "cancelled", "draft"}),
    "MedicationStatement": frozenset({"entered-in-error", "not-taken"}),
    "MedicationAdministration": frozenset({"entered-in-error", "not-done"}),
}
_EXCLUDED_STATUS = frozenset({"entered-in-error", "cancelled"})

_INPATIENT_CLASSES = frozenset({"IMP", "EMER", "ACUTE"})  # v3 ActCode: inpatient, emergency, inpatient acute
_PAIN_REASON_SETS = frozenset(
    {
        VS.VERTEBRAL_FRACTURE,
        VS.VERTEBRAL_FRACTURE_UNSTABLE,
        VS.BME_PROXY,
        VS.TRANSIENT_OSTEOPOROSIS,
        VS.BONE_PAIN,
    }
)
_PAIN_REASON = re.compile(r"back\s+pain|bone\s+pain|marrow\s+o?edema|vertebral\s+fracture|compression\s+fracture")
_BED_REST = re.compile(r"\b(?:bed\s*-?\s*rest|strict\s+immobili[sz]ation)\b")
_AUGMENTATION = re.compile(r"vertebroplasty|kyphoplasty|vertebral\s+augmentation")
_CORE_DECOMPRESSION = re.compile(r"core\s+decompression")
_OFFLOADING = re.compile(r"total\s+contact\s+cast|off-?loading")
_CABG = re.compile(r"coronary\s+artery\s+bypass|\bcabg\b")
_MRI_TEXT = re.compile(r"\bmri?\b|magnetic\s+resonance")

_REGION_SITES: dict[str, str] = {
    VS.IMAGING_REGION_SPINE: SITE_VERTEBRA,
    VS.IMAGING_REGION_LUMBAR_SPINE: SITE_VERTEBRA,
    VS.IMAGING_REGION_THORACIC_SPINE: SITE_VERTEBRA,
    VS.IMAGING_REGION_CERVICAL_SPINE: SITE_VERTEBRA,
    VS.IMAGING_REGION_WHOLE_SPINE: SITE_VERTEBRA,
    VS.IMAGING_REGION_SACROILIAC: SITE_SACROILIAC,
    VS.IMAGING_REGION_HIP: SITE_HIP,
    VS.IMAGING_REGION_KNEE: SITE_KNEE,
    VS.IMAGING_REGION_FOOT_ANKLE: SITE_FOOT_ANKLE,
}

MAX_PRESENTED_BYTES = 200_000  # presentedForm data larger than this is not decoded (reports are a few kB)
DISPLAY_CHARS = 80  # Source.display length cap
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


# -- small, junk-tolerant accessors --------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    """A FHIR repeating element as a list: tolerates a single object where an array belongs, and None."""
    if isinstance(value, list):
        return value
    if value is None:
        return []
    return [value]


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The dict items of a repeating element; strings and other junk are dropped."""
    return [v for v in _as_list(value) if isinstance(v, dict)]


def _str(value: Any) -> str:
    """A string value, or '' for anything else."""
    return value if isinstance(value, str) else ""


def _codings(concept: Any) -> list[dict[str, Any]]:
    """The codings of a CodeableConcept (or of a bare Coding / list of Codings)."""
    if isinstance(concept, dict):  # fast path: a well-formed CodeableConcept
        coding = concept.get("coding")
        if isinstance(coding, list):
            return [c for c in coding if isinstance(c, dict)]
    out: list[dict[str, Any]] = []
    for c in _dicts(concept):
        if "coding" in c:
            out.extend(_dicts(c.get("coding")))
        elif "code" in c or "system" in c:
            out.append(c)
    return out


def _concept_text(concept: Any) -> str:
    """CodeableConcept.text, else the first coding display, else the first code ('' if none)."""
    for c in _dicts(concept):
        text = _str(c.get("text")).strip()
        if text:
            return text
    for coding in _codings(concept):
        for key in ("display", "code"):
            text = _str(coding.get(key)).strip()
            if text:
                return text
    return ""


def _all_text(concept: Any) -> str:
    """Every text and display in a CodeableConcept, joined; for name and keyword matching."""
    if concept is None:
        return ""  # fast path: an absent element (most bodySites and dosage routes)
    if isinstance(concept, dict) and isinstance(concept.get("coding"), list):
        # Fast path: a well-formed CodeableConcept; the same parts, in the same order, as below.
        text = concept.get("text")
        parts = [text] if isinstance(text, str) and text else []
        for coding in concept["coding"]:
            if isinstance(coding, dict):
                display = coding.get("display")
                if isinstance(display, str) and display:
                    parts.append(display)
        return " | ".join(parts)
    parts = []
    for c in _dicts(concept):
        parts.append(_str(c.get("text")))
    for coding in _codings(concept):
        parts.append(_str(coding.get("display")))
    return " | ".join(p for p in parts if p)


def _status_code(concept: Any) -> str:
    """The first code of a status CodeableConcept (clinicalStatus, verificationStatus), lower-cased."""
    if isinstance(concept, str):
        return concept.strip().lower()
    if isinstance(concept, dict):  # fast path: a well-formed status whose first coding has the code
        coding = concept.get("coding")
        if isinstance(coding, list) and coding and isinstance(coding[0], dict):
            code = coding[0].get("code")
            if isinstance(code, str) and code.strip():
                return code.strip().lower()
    for coding in _codings(concept):
        code = _str(coding.get("code")).strip().lower()
        if code:
            return code
    return ""


def parse_date(value: Any) -> date | None:
    """The date part of a FHIR date/dateTime/instant ('2024', '2024-03-05T10:00:00Z'); None if junk."""
    if not isinstance(value, str):
        return None
    if len(value) >= 10 and value[4] == "-" and value[7] == "-":
        try:  # fast path: a full date or dateTime
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    m = _DATE.match(value.strip())
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1))
    except ValueError:
        return None


def _full_date(value: Any) -> date | None:
    """A complete YYYY-MM-DD date, or None (partial dates are too coarse for an age)."""
    if isinstance(value, str) and len(value.strip()) >= 10:
        return parse_date(value)
    return None


def _period_start(value: Any) -> date | None:
    """Period.start (else Period.end) of a dict, or None."""
    if isinstance(value, dict):
        return parse_date(value.get("start")) or parse_date(value.get("end"))
    return None


def _effective(resource: dict[str, Any]) -> date | None:
    """Clinically relevant date of an Observation/DiagnosticReport: effective[x], else issued."""
    return (
        parse_date(resource.get("effectiveDateTime"))
        or _period_start(resource.get("effectivePeriod"))
        or parse_date(resource.get("effectiveInstant"))
        or parse_date(resource.get("issued"))
    )


def _number(value: Any) -> float | None:
    """A JSON number as float; bools, strings and NaN are not numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if f == f else None


def _short(text: str) -> str:
    """Text trimmed to DISPLAY_CHARS for a Source.display."""
    text = " ".join(text.split())
    return text if len(text) <= DISPLAY_CHARS else text[: DISPLAY_CHARS - 3].rstrip() + "..."


def _ref(resource: dict[str, Any]) -> str:
    """'Type/id' for a resource, '' when it has no id."""
    rid = resource.get("id")
    kind = _str(resource.get("resourceType"))
    return f"{kind}/{rid}" if isinstance(rid, str) and rid and kind else ""


def _ref_id(reference: str) -> str:
    """The id part of a reference: 'Medication/abc', 'urn:uuid:abc', 'http://x/Medication/abc/_history/2'."""
    ref = reference.strip()
    if ref.startswith("urn:uuid:") or ref.startswith("urn:oid:"):
        return ref.rsplit(":", 1)[-1]
    parts = [p for p in ref.split("/") if p]
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return parts[-1] if parts else ""


def _unit_key(unit: str) -> str:
    """A unit string in comparison form: lower-case, no spaces, braces, underscores."""
    return unit.lower().replace(" ", "").replace("{", "").replace("}", "").replace("_", "")


# -- the accumulator --


class _Acc:
    """Mutable scratchpad for one extraction; `build` freezes it into Features."""

    def __init__(self) -> None:
        self.true: dict[str, list[Source]] = {}
        self.false: dict[str, list[Source]] = {}
        self.values: dict[str, Fact[Any]] = {}
        self.seen_types: set[str] = set()

    def yes(self, name: str, source: Source) -> None:
        """Positive evidence for a boolean feature."""
        self.true.setdefault(name, []).append(source)

    def no(self, name: str, source: Source) -> None:
        """Explicit negative evidence (e.g. 'no retropulsion'); loses to any positive evidence."""
        self.false.setdefault(name, []).append(source)

    def flag(self, name: str) -> Fact[bool]:
        """The boolean Fact so far: True with its sources, False with its sources, or unknown."""
        if name in self.true:
            return Fact(True, tuple(self.true[name]), _newest(self.true[name]))
        if name in self.false:
            return Fact(False, tuple(self.false[name]), _newest(self.false[name]))
        return _UNKNOWN


def _newest(sources: list[Source]) -> date | None:
    dates = [s.date for s in sources if s.date is not None]
    return max(dates) if dates else None


@dataclass(frozen=True)
class _Med:
    """One medication order/statement/administration, classified."""

    source: Source
    classes: frozenset[str]  # value-set names (rx-*) and RX_CALCITONIN
    ingredients: frozenset[str]  # ingredient names found in the text or the IN displays
    active: bool
    given: bool
    start: date | None
    route: str  # route wording, folded (textfind.fold)
    drug: str  # the drug's display, folded
    resolved: bool  # False: the drug could not be identified (unresolved reference, no code, no text)

    # Route checks are read only for opioids (parenteral) and glucocorticoids (systemic), so they are worked
    # out when read rather than for every order: two regex scans of the drug text each.
    @property
    def parenteral(self) -> bool:
        """Given by injection or infusion, by its route or its drug's wording."""
        return bool(_PARENTERAL.search(self.route) or _PARENTERAL.search(self.drug))

    @property
    def systemic(self) -> bool:
        """Not an eye, skin, inhaled, nasal or joint form (by route or drug wording)."""
        return not (_NON_SYSTEMIC.search(self.route) or _NON_SYSTEMIC.search(self.drug))


@dataclass(frozen=True)
class _Lab:
    """The newest candidate observation for one lab feature."""

    when: date | None
    resource: dict[str, Any]


@dataclass(frozen=True)
class _Names:
    """What is built once per (immutable) value-set index: the ingredient-name matcher and loaded-set facts."""

    pattern: re.Pattern[str] | None
    folded: bool  # the pattern is lower-case without re.I: search textfind.fold(text), not the text
    classes: dict[str, frozenset[str]]  # canonical ingredient name -> value-set names
    ingredient_of_code: dict[tuple[str, str], str]  # (RXNORM, IN code) -> ingredient name
    loaded: frozenset[str]  # valuesets.names(), which builds a new frozenset per call
    condition_only_loaded: frozenset[str]  # _CONDITION_ONLY features whose value sets are all loaded
    by_part: bool  # no name holds a "|": no match spans the " | " that _all_text puts between parts


_NAMES_CACHE: dict[int, tuple[ValueSetIndex, _Names]] = {}


def _names(valuesets: ValueSetIndex) -> _Names:
    """The ingredient-name matcher for this index (built once per index: the index is immutable)."""
    cached = _NAMES_CACHE.get(id(valuesets))
    if cached is not None and cached[0] is valuesets:
        return cached[1]
    classes: dict[str, set[str]] = {}
    of_code: dict[tuple[str, str], str] = {}
    loaded = valuesets.names()
    for name in _RX_SETS:
        if name not in loaded:
            continue
        for concept in valuesets.concepts(name):
            display = (concept.display or "").strip().lower()
            # Ingredient (IN) rows have a bare name as display; SCD rows ("... 500 MG Tablet") are skipped.
            if display and not any(ch.isdigit() for ch in display):
                classes.setdefault(display, set()).add(name)
                of_code[(concept.system, concept.code)] = display
    classes.setdefault(RX_CALCITONIN, set()).add(RX_CALCITONIN)
    all_names = set(classes) | set(_NAME_SYNONYMS)
    # Lower-case ASCII names match folded text exactly as re.I matches the original (textfind.fold); a name
    # with other characters (none so far) keeps re.I, whose Unicode case rules fold does not reproduce.
    folded = all(n.isascii() for n in all_names)
    source = r"\b(" + "|".join(re.escape(n) for n in sorted(all_names, key=len, reverse=True)) + r")\b"
    pattern = re.compile(source, 0 if folded else re.I) if all_names else None
    built = _Names(
        pattern,
        folded,
        {k: frozenset(v) for k, v in classes.items()},
        of_code,
        loaded,
        frozenset(f for f, sets in _CONDITION_ONLY.items() if all(name in loaded for name in sets)),
        not any("|" in n for n in all_names),
    )
    if len(_NAMES_CACHE) > 8:
        _NAMES_CACHE.clear()
    _NAMES_CACHE[id(valuesets)] = (valuesets, built)
    return built


class _Extractor:
    """One extraction run: dispatches each resource once, then derives the cross-resource features."""

    def __init__(self, today: date, valuesets: ValueSetIndex, policy: Policy) -> None:
        self.today = today
        self.vs = valuesets
        self.policy = policy
        self.names = _names(valuesets)
        self.loaded = self.names.loaded
        self.acc = _Acc()
        self.medications: dict[str, dict[str, Any]] = {}  # Medication resources by id
        self.pending_meds: list[dict[str, Any]] = []  # med orders, resolved after the pass
        self.meds: list[_Med] = []
        self.labs: dict[str, _Lab] = {}
        self.pain: list[tuple[date, int, Source]] = []
        self.temperature: _Lab | None = None
        self.encounters: list[tuple[dict[str, Any], bool, tuple[str, ...]]] = []
        self.conditions_by_id: dict[str, frozenset[str]] = {}
        self.bme_dates: list[date] = []
        self.fracture_keys: dict[tuple[str, str], Source] = {}
        self.fracture_dates: list[tuple[date, Source]] = []
        self.text_values: dict[str, tuple[date | None, Any, Source]] = {}  # newest text value per feature
        self.sites: dict[str, list[Source]] = {}
        self.levels: list[tuple[str, Source]] = []
        self.extent: dict[str, list[Source]] = {}
        self.gestation: tuple[int, Source] | None = None
        self.ramris: tuple[date | None, float, Source] | None = None
        self.last_mri: tuple[date, Source] | None = None
        self.patient: dict[str, Any] | None = None

    # -- value-set classification (one names_for call per coding) --

    def classify(self, concept: Any) -> frozenset[str]:
        """Every value set any coding of `concept` belongs to."""
        return self.classify_codings(_codings(concept))

    def classify_codings(self, codings: list[dict[str, Any]]) -> frozenset[str]:
        """Every value set any of these codings belongs to (one names_for call per coding)."""
        # Most codings are in no value set and most concepts have one coding: keep the index's own frozenset
        # instead of building a set and freezing a copy per call.
        found: frozenset[str] = _NO_SETS
        for coding in codings:
            system = coding.get("system")
            code = coding.get("code")
            if isinstance(system, str) and isinstance(code, str) and code:
                hits = self.vs.names_for(system, code)
                if hits:
                    found = found | hits if found else hits
        return found

    # -- dispatch --

    def add_all(self, resources: Iterable[Any]) -> None:
        """Route each resource to its handler; anything that is not a dict with a resourceType is ignored."""
        # One loop here rather than a method call per resource: the call was a tenth of a small handler's cost.
        seen_types = self.acc.seen_types
        for resource in resources:
            if not isinstance(resource, dict):
                continue
            kind = resource.get("resourceType")
            if not isinstance(kind, str):
                continue
            seen_types.add(kind)
            handler = _HANDLERS.get(kind)
            if handler is not None:
                handler(self, resource)

    # -- per type --

    def patient_(self, r: dict[str, Any]) -> None:
        # Prefer a Patient with an id: a junk Patient without one must not shadow the real one.
        current = self.patient
        if current is None or (not isinstance(current.get("id"), str) and isinstance(r.get("id"), str)):
            self.patient = r

    def medication_(self, r: dict[str, Any]) -> None:
        rid = r.get("id")
        if isinstance(rid, str) and rid:
            self.medications[rid] = r

    def med_order_(self, r: dict[str, Any]) -> None:
        self.pending_meds.append(r)

    def condition_(self, r: dict[str, Any]) -> None:
        verification = _status_code(r.get("verificationStatus"))
        if verification in _EXCLUDED_VERIFICATION:
            return
        tentative = verification in _TENTATIVE_VERIFICATION
        clinical = _status_code(r.get("clinicalStatus"))
        if not clinical:
            # clinicalStatus is required unless entered-in-error; an abatement says it is over.
            has_abatement = any(k.startswith("abatement") for k in r)
            clinical = "inactive" if has_abatement else "active"
        active = clinical in _ACTIVE_CLINICAL
        names = self.classify(r.get("code"))
        rid = r.get("id")
        if isinstance(rid, str) and rid:
            self.conditions_by_id[rid] = names
        if not names:
            return
        when = (
            parse_date(r.get("onsetDateTime"))
            or _period_start(r.get("onsetPeriod"))
            or parse_date(r.get("recordedDate"))
        )
        label = _concept_text(r.get("code"))
        status_note = "" if active else f" ({clinical})"
        src = Source(_ref(r), _short(f"Condition: {label}{status_note}"), when)
        body_text = _all_text(r.get("bodySite"))
        # A pathological fracture of "other site" (M84.48/58/68) is vertebral only with a spine body site.
        if VS.FRACTURE_NEEDS_SPINE_SITE in names and SITE_VERTEBRA in textfind.sites_in(body_text):
            names = names | {VS.VERTEBRAL_FRACTURE}
        for _set, feature, scope in (row for n in sorted(names) for row in _FLAGS_BY_SET.get(n, ())):
            if scope == _ANY:
                ok = not tentative
            elif scope == _TENTATIVE_OK:
                ok = active
            else:
                ok = active and not tentative
            if not ok:
                continue
            if feature == "bme_present":
                self.acc.yes(
                    feature,
                    Source(
                        src.reference, src.display, when, via="proxy code (no BME code exists; codes.md A1)"
                    ),
                )
                if when is not None:
                    self.bme_dates.append(when)
                for site in textfind.sites_in(body_text):
                    self.sites.setdefault(site, []).append(src)
                continue
            self.acc.yes(feature, src)
        if active and not tentative:
            if names & _FRACTURE_SETS:
                code = next(
                    (c.get("code") for c in _codings(r.get("code")) if isinstance(c.get("code"), str)), ""
                )
                self.fracture_keys[(str(code).upper().replace(".", ""), body_text.lower())] = src
                if when is not None:
                    self.fracture_dates.append((when, src))
            if VS.GESTATION_WEEKS in names:
                weeks = _gestation_weeks(r.get("code"))
                if weeks is not None and (self.gestation is None or weeks > self.gestation[0]):
                    self.gestation = (weeks, src)

    def observation_(self, r: dict[str, Any]) -> None:
        status = r.get("status")
        if isinstance(status, str) and status.lower() in _EXCLUDED_STATUS:
            return
        when = _effective(r)
        codings = _codings(r.get("code"))
        for c in codings:
            if c.get("system") == LOCAL_SYSTEM:
                self.local_observation(r, _str(c.get("code")), when)
                break
        names = self.classify_codings(codings)
        # Hot path (labs dominate prefetch): look at the few sets this code is in, not at every lab set.
        for name in names:
            feature = _LAB_SETS.get(name)
            if feature is not None:
                current = self.labs.get(feature)
                if current is None or _later(when, current.when):
                    self.labs[feature] = _Lab(when, r)
            elif name == VS.OBS_PAIN_NRS and when is not None:
                score = _pain_score(r)
                if score is not None:
                    self.pain.append((when, score, Source(_ref(r), f"Pain NRS {score}/10", when)))
            elif name == VS.OBS_BODY_TEMPERATURE:
                if self.temperature is None or _later(when, self.temperature.when):
                    self.temperature = _Lab(when, r)
        # Free text on any Observation may carry an imaging finding (valueString, note).
        value_string = r.get("valueString")
        notes = r.get("note")
        if value_string or notes:
            texts = [_str(value_string)] + [_str(n.get("text")) for n in _dicts(notes)]
            text = "\n".join(t for t in texts if t)
            if text:
                self.report_text(r, text, when, region_sites=())

    def local_observation(self, r: dict[str, Any], code: str, when: date | None) -> None:
        """Clinician input and structured imaging findings in the project-local code system."""
        src_ref = _ref(r)
        flag = _obs_bool(r)
        if code == LOCAL_BME:
            if flag is None:
                return
            src = Source(src_ref, f"BME observation: {'present' if flag else 'absent'}", when)
            if flag:
                self.acc.yes("bme_present", src)
                if when is not None:
                    self.bme_dates.append(when)
                for site in textfind.sites_in(_all_text(r.get("bodySite"))):
                    self.sites.setdefault(site, []).append(src)
            else:
                self.acc.no("bme_present", src)
        elif code == LOCAL_BME_EXTENT:
            value = _local_value_code(r)
            if value in (EXTENT_LIMITED, EXTENT_EXTENSIVE):
                self.extent.setdefault(value, []).append(Source(src_ref, f"BME extent: {value}", when))
        elif code in (LOCAL_KYPHOSIS_PCT, LOCAL_HEIGHT_LOSS_PCT, LOCAL_RAMRIS_BME):
            number = _obs_number(r)
            if number is None:
                return
            feature = {
                LOCAL_KYPHOSIS_PCT: "kyphosis_pct",
                LOCAL_HEIGHT_LOSS_PCT: "height_loss_pct",
                LOCAL_RAMRIS_BME: "ramris_bme_score",
            }[code]
            label = {
                "kyphosis_pct": "Kyphosis {:g}%",
                "height_loss_pct": "Height loss {:g}%",
                "ramris_bme_score": "RAMRIS BME score {:g}",
            }[feature]
            self.put_newest(feature, when, number, Source(src_ref, label.format(number), when))
        elif code in _LOCAL_FLAGS and flag is not None:
            feature = _LOCAL_FLAGS[code]
            src = Source(
                src_ref, _short(f"{LOCAL_CODES[code].split(';')[0]}: {'yes' if flag else 'no'}"), when
            )
            if flag:
                self.acc.yes(feature, src)
            else:
                self.acc.no(feature, src)

    def put_newest(self, feature: str, when: date | None, value: Any, src: Source) -> None:
        """Keep the newest value for a numeric feature from text or local observations."""
        current = self.text_values.get(feature)
        if current is None or _later(when, current[0]):
            self.text_values[feature] = (when, value, src)

    def diagnostic_report_(self, r: dict[str, Any]) -> None:
        status = _str(r.get("status")).lower()
        if status in _EXCLUDED_STATUS:
            return
        names = self.classify(r.get("code"))
        # Lab panels, most reports, have neither conclusionCode nor presentedForm: skip building empty lists.
        raw_codes = r.get("conclusionCode")
        conclusion_codes = _dicts(raw_codes) if raw_codes is not None else []
        text = _str(r.get("conclusion"))
        forms = r.get("presentedForm")
        if forms is not None:
            parts = [text] + [_attachment_text(form) for form in _dicts(forms)]
            text = "\n".join(p for p in parts if p)
        if not (names or conclusion_codes or text):
            return  # most reports (lab panels): no coded study, no conclusion, nothing below would use them
        when = _effective(r)
        label = _concept_text(r.get("code")) or "Diagnostic report"
        src = Source(_ref(r), _short(f"Report: {label}"), when)
        self.imaging(names, when, src)
        for c_names in (self.classify(cc) for cc in conclusion_codes):
            if VS.BME_PROXY in c_names or VS.TRANSIENT_OSTEOPOROSIS in c_names:
                self.acc.yes(
                    "bme_present", Source(src.reference, src.display, when, via="report conclusion code")
                )
                if when is not None:
                    self.bme_dates.append(when)
            if c_names & _FRACTURE_SETS:
                self.acc.yes(
                    "vertebral_fracture",
                    Source(src.reference, src.display, when, via="report conclusion code"),
                )
        if text:
            region = [s for n, s in _REGION_SITES.items() if n in names] or textfind.sites_in(label)
            self.report_text(r, text, when, region_sites=tuple(region))

    def imaging(self, names: frozenset[str], when: date | None, src: Source) -> None:
        """Imaging done (MRI date, CT, bone scan, WBC scan) from a study's, report's or procedure's codes."""
        if names & _MRI_SETS and when is not None:
            if self.last_mri is None or when > self.last_mri[0]:
                self.last_mri = (when, src)
        if names & _CT_SETS:
            self.acc.yes("dect_or_ct_done", src)
        if VS.IMAGING_NM_BONE in names:
            self.acc.yes("bone_scan_done", src)
        if VS.IMAGING_WBC_SCAN in names:
            self.acc.yes("wbc_scan_done", src)

    def report_text(
        self, r: dict[str, Any], text: str, when: date | None, region_sites: tuple[str, ...]
    ) -> None:
        """Findings in free text (clinical-rules §1.2 source d); each gets a Source quoting its sentence."""
        found = textfind.find(text)
        if not found:
            return
        ref = _ref(r)
        kind = _str(r.get("resourceType")) or "Resource"
        display = _short(f"{kind} text")  # the same for every finding of this text

        def src(q: str) -> Source:
            return Source(ref, display, when, via=f"report text: '{q}'")

        bme = False
        for f in found:
            if f.kind == textfind.KIND_BME:
                if f.value is True:
                    bme = True
                    self.acc.yes("bme_present", src(f.quote))
                    self.acc.yes("bme_from_report_text", src(f.quote))
                    if when is not None:
                        self.bme_dates.append(when)
                else:
                    self.acc.no("bme_present", src(f.quote))
            elif f.kind == textfind.KIND_SITE:
                self.sites.setdefault(str(f.value), []).append(src(f.quote))
            elif f.kind == textfind.KIND_LEVEL:
                self.levels.append((str(f.value), src(f.quote)))
            elif f.kind == textfind.KIND_EXTENT:
                self.extent.setdefault(str(f.value), []).append(src(f.quote))
            elif f.kind in _TEXT_FLAGS:
                feature = _TEXT_FLAGS[f.kind]
                if f.value is True:
                    self.acc.yes(feature, src(f.quote))
                else:
                    self.acc.no(feature, src(f.quote))
            elif f.kind in (textfind.KIND_KYPHOSIS, textfind.KIND_HEIGHT_LOSS):
                feature = "kyphosis_pct" if f.kind == textfind.KIND_KYPHOSIS else "height_loss_pct"
                self.put_newest(feature, when, float(f.value), src(f.quote))  # type: ignore[arg-type]
        if bme and region_sites and not any(f.kind == textfind.KIND_SITE for f in found):
            # The text names no site: the report's own code says which region was imaged.
            for site in region_sites:
                self.sites.setdefault(site, []).append(
                    Source(ref, _short(f"{kind}: imaged region"), when, via="report code (imaged region)")
                )

    def imaging_study_(self, r: dict[str, Any]) -> None:
        status = _str(r.get("status")).lower()
        if status in _EXCLUDED_STATUS:
            return
        when = parse_date(r.get("started"))
        names: set[str] = set()
        for modality in _dicts(r.get("modality")):
            names |= self.classify(modality)
        for series in _dicts(r.get("series")):
            names |= self.classify(series.get("modality"))
        for code in _dicts(r.get("procedureCode")):
            names |= self.classify(code)
        description = _str(r.get("description"))
        label = description or ", ".join(
            sorted(n.split("-", 1)[-1].upper() for n in names if n.startswith("modality-"))
        )
        src = Source(_ref(r), _short(f"Imaging study: {label or 'imaging'}"), when)
        self.imaging(frozenset(names), when, src)
        if description:
            if textfind.has_spect(description):
                self.acc.yes("spect_ct_done", src)
            if textfind.has_dect(description):
                self.acc.yes("dect_or_ct_done", src)

    def procedure_(self, r: dict[str, Any]) -> None:
        status = _str(r.get("status")).lower()
        if status and status not in ("completed", "in-progress"):
            return
        names = self.classify(r.get("code"))
        text = textfind.fold(_all_text(r.get("code")))
        # Most procedures (colonoscopy, medication review) feed nothing below: say so before building the
        # date, display and Source that only a contributing procedure needs.
        if names.isdisjoint(_PROCEDURE_SETS) and not (
            _has_any(text, _PROCEDURE_NEEDS) and _PROCEDURE_WORDS.search(text)
        ):
            return
        when = parse_date(r.get("performedDateTime")) or _period_start(r.get("performedPeriod"))
        src = Source(_ref(r), _short(f"Procedure: {_concept_text(r.get('code')) or 'procedure'}"), when)
        self.imaging(names, when, src)
        if VS.PROC_VERTEBRAL_AUGMENTATION in names or _AUGMENTATION.search(text):
            self.acc.yes("augmentation_done", src)
        if _CORE_DECOMPRESSION.search(text):
            self.acc.yes(
                "core_decompression_done", Source(src.reference, src.display, when, via="procedure text")
            )
        if _OFFLOADING.search(text):
            self.acc.yes(
                "offloading_in_place", Source(src.reference, src.display, when, via="procedure text")
            )
        if _CABG.search(text) and when is not None:
            current = self.acc.values.get("recent_cabg_date")
            if current is None or (current.value is not None and when > current.value):
                self.acc.values["recent_cabg_date"] = Fact(
                    when, (Source(src.reference, src.display, when, via="procedure text"),), when
                )

    def service_request_(self, r: dict[str, Any]) -> None:
        status = _str(r.get("status")).lower()
        if status not in ("active", "on-hold"):
            return
        text = textfind.fold(_all_text(r.get("code")))
        names = self.classify(r.get("code"))
        when = parse_date(r.get("authoredOn"))
        src = Source(_ref(r), _short(f"Order: {_concept_text(r.get('code')) or 'service request'}"), when)
        if _BED_REST.search(text) or VS.BED_CONFINEMENT in names:
            self.acc.yes("bed_rest_ordered", Source(src.reference, src.display, when, via="order text"))

    def care_plan_(self, r: dict[str, Any]) -> None:
        if _str(r.get("status")).lower() not in ("active", "on-hold"):
            return
        when = _period_start(r.get("period"))
        for activity in _dicts(r.get("activity")):
            detail = activity.get("detail")
            if not isinstance(detail, dict):
                continue
            if _str(detail.get("status")).lower() in (
                "completed",
                "cancelled",
                "stopped",
                "entered-in-error",
            ):
                continue
            text = _all_text(detail.get("code")) + " " + _str(detail.get("description"))
            src = Source(_ref(r), _short(f"Care plan activity: {text.strip()}"), when, via="care plan text")
            folded = textfind.fold(text)
            if _BED_REST.search(folded):
                self.acc.yes("bed_rest_ordered", src)
            if _OFFLOADING.search(folded):
                self.acc.yes("offloading_in_place", src)

    def device_request_(self, r: dict[str, Any]) -> None:
        if _str(r.get("status")).lower() not in ("active", "on-hold", "completed"):
            return
        text = _all_text(r.get("codeCodeableConcept"))
        if _OFFLOADING.search(textfind.fold(text)):
            when = parse_date(r.get("authoredOn"))
            self.acc.yes(
                "offloading_in_place", Source(_ref(r), _short(f"Device: {text}"), when, via="device text")
            )

    def encounter_(self, r: dict[str, Any]) -> None:
        status = _str(r.get("status")).lower()
        if status in ("cancelled", "entered-in-error", "planned"):
            return
        classes = {_str(c.get("code")).upper() for c in _dicts(r.get("class"))}
        if not classes & _INPATIENT_CLASSES:
            self.encounters.append((r, False, ()))
            return
        names: set[str] = set()
        for reason in _dicts(r.get("reasonCode")):
            names |= self.classify(reason)
        by_reason = bool(names & _PAIN_REASON_SETS) or bool(
            _PAIN_REASON.search(textfind.fold(_all_text(r.get("reasonCode"))))
        )
        refs = tuple(_ref_id(_str(x.get("reference"))) for x in _dicts(r.get("reasonReference")))
        self.encounters.append((r, by_reason, refs))

    # -- medications (after the pass, so a Medication later in the list still resolves) --

    def resolve_medication(
        self, r: dict[str, Any], extra: dict[str, dict[str, Any]]
    ) -> dict[str, Any] | None:
        """The medication CodeableConcept of an order: inline, contained, in the record or in the drafts."""
        inline = r.get("medicationCodeableConcept")
        if isinstance(inline, dict):
            return inline
        reference = r.get("medicationReference")
        if not isinstance(reference, dict):
            return None
        ref = _str(reference.get("reference"))
        med: dict[str, Any] | None = None
        if ref.startswith("#"):
            wanted = ref[1:]
            med = next((c for c in _dicts(r.get("contained")) if c.get("id") == wanted), None)
        elif ref:
            rid = _ref_id(ref)
            med = extra.get(rid) or self.medications.get(rid)
        if med is not None and isinstance(med.get("code"), dict):
            return dict(med["code"])
        display = _str(reference.get("display"))
        # A reference with only a display still names the drug in words.
        return {"text": display} if display else None

    def classify_medication(
        self, concept: dict[str, Any] | None
    ) -> tuple[frozenset[str], frozenset[str], str, bool]:
        """(classes, ingredient names, display, classes came from the text only) of a medication concept."""
        if concept is None:
            return frozenset(), frozenset(), "", False
        codings = _codings(concept)  # once: both loops below read them
        coded = self.classify_codings(codings)
        classes = set(coded)
        ingredients: set[str] = set()
        for coding in codings:
            name = self.names.ingredient_of_code.get((_str(coding.get("system")), _str(coding.get("code"))))
            if name:
                ingredients.add(name)
        text = _all_text(concept)
        if self.names.pattern is not None and text:
            # Text and display are usually the same words ("X | X"). No match spans the " | " between parts
            # (non-word characters, like the ends of a string to \b), so each distinct part is searched once:
            # the same names, half the scanning.
            parts = dict.fromkeys(text.split(" | ")) if self.names.by_part else (text,)
            for part in parts:
                searched = textfind.fold(part) if self.names.folded else part
                for m in self.names.pattern.finditer(searched):
                    name = part[m.start(1) : m.end(1)].lower()  # as written: fold() is not lower()
                    name = _NAME_SYNONYMS.get(name, name)
                    ingredients.add(name)
                    classes |= self.names.classes.get(name, frozenset())
        return frozenset(classes), frozenset(ingredients), _concept_text(concept), bool(classes) and not coded

    def medication_order(self, r: dict[str, Any], extra: dict[str, dict[str, Any]]) -> None:
        kind = _str(r.get("resourceType"))
        status = _str(r.get("status")).lower()
        if status in _MED_NOT_GIVEN.get(kind, frozenset()):
            return
        active = status in _MED_ACTIVE.get(kind, frozenset())
        concept = self.resolve_medication(r, extra)
        classes, ingredients, display, by_text = self.classify_medication(concept)
        start = _med_start(r)
        instructions, dosage = r.get("dosageInstruction"), r.get("dosage")
        route_text = " "  # what the two lines below give when the order carries no dosage (most do not)
        if instructions is not None or dosage is not None:
            route_text = " ".join(_all_text(d.get("route")) for d in _dicts(instructions))
            route_text += " " + _all_text(_dict(dosage).get("route"))
        resolved = bool(display or classes)
        label = display or "unidentified medication"
        src = Source(
            _ref(r),
            _short(f"{label} ({status or 'no status'})"),
            start,
            via="medication text" if by_text else "",
        )
        self.meds.append(
            _Med(
                source=src,
                classes=classes,
                ingredients=ingredients,
                active=active,
                given=True,
                start=start,
                route=textfind.fold(route_text),
                drug=textfind.fold(display),
                resolved=resolved,
            )
        )

    # -- cross-resource features --

    def finish(
        self, patient_id: str | None, draft_orders: Sequence[Mapping[str, Any]], selections: Sequence[str]
    ) -> Features:
        """Resolve medications, derive pain, labs, episode and draft-order features; freeze into Features."""
        drafts = _draft_resources(draft_orders)
        draft_meds = {
            str(d["id"]): d
            for d in drafts
            if d.get("resourceType") == "Medication" and isinstance(d.get("id"), str)
        }
        for r in self.pending_meds:
            self.medication_order(r, {})
        acc = self.acc
        out: dict[str, Any] = dict(acc.values)
        out.update(self.demographics(patient_id))
        out.update(self.condition_features())
        out.update(self.bme_features())
        out.update(self.medication_features())
        out.update(self.lab_features(out))
        out.update(self.pain_features(out))
        out.update(self.episode_features(out))
        # Flags set directly by a handler (procedures, orders, care plans) and not derived above.
        for name in sorted(set(acc.true) | set(acc.false)):
            if name in _FIELDS and name not in out:
                out[name] = acc.flag(name)
        if "augmentation_done" not in out and "Procedure" in acc.seen_types:
            out["augmentation_done"] = _FALSE
        out["draft_orders"] = tuple(
            self.draft_order(d, draft_meds, frozenset(selections))
            for d in drafts
            if d.get("resourceType") != "Medication"
        )
        return _freeze(self.today, out)

    def demographics(self, patient_id: str | None) -> dict[str, Any]:
        """patient_reference, age_years, sex, pregnancy and gestational age."""
        out: dict[str, Any] = {}
        p = self.patient
        pid = patient_id or (p.get("id") if p is not None and isinstance(p.get("id"), str) else "")
        out["patient_reference"] = f"Patient/{pid}" if pid else ""
        if p is not None:
            src_ref = _ref(p)
            age = _age(_str(p.get("birthDate")), self.today)
            if age is not None:
                out["age_years"] = Fact(
                    age, (Source(src_ref, f"Born {p.get('birthDate')}: {age} years"),), self.today
                )
            gender = _str(p.get("gender")).lower()
            if gender in ("male", "female", "other"):
                out["sex"] = Fact(gender, (Source(src_ref, f"Gender: {gender}"),))
        out["pregnant"] = self.acc.flag("pregnant")
        if self.gestation is not None:
            weeks, src = self.gestation
            out["gestational_age_weeks"] = Fact(weeks, (src,), src.date)
        return out

    def condition_features(self) -> dict[str, Any]:
        """Flags from Condition codes; False only when Conditions were supplied (see _CONDITION_ONLY)."""
        out: dict[str, Any] = {}
        # Only features whose value sets are all loaded can be denied (built once per index, see _Names).
        deniable = self.names.condition_only_loaded if "Condition" in self.acc.seen_types else _NO_SETS
        true, false = self.acc.true, self.acc.false
        for feature in _CONDITION_FEATURES:
            if feature in true or feature in false:  # most are in neither: skip building their flag
                out[feature] = self.acc.flag(feature)
            else:
                out[feature] = _FALSE if feature in deniable else _UNKNOWN
        members = [
            out.get(f, _UNKNOWN) for f in ("rheumatoid_arthritis", "axspa", "cno_sapho", "psoriatic_arthritis")
        ]
        if any(m.true for m in members):
            out["inflammatory_dx"] = Fact(True, tuple(s for m in members if m.true for s in m.sources))
        elif all(m.value is False for m in members):
            out["inflammatory_dx"] = _FALSE
        if self.fracture_keys:
            out["vertebral_fracture_count"] = Fact(
                len(self.fracture_keys), tuple(self.fracture_keys.values())
            )
        elif out.get("vertebral_fracture", _UNKNOWN).value is False:
            out["vertebral_fracture_count"] = Fact(0)
        if self.fracture_dates:
            when, src = max(self.fracture_dates, key=lambda x: x[0])
            out["fracture_onset_date"] = Fact(when, (src,), when)
        retro = self.acc.flag("retropulsion")
        out["retropulsion"] = retro
        unstable = self.acc.flag("spinal_instability")
        if unstable.true or retro.true:
            out["spinal_instability"] = Fact(True, unstable.sources + (retro.sources if retro.true else ()))
        damage = [s for s in self.acc.true.get("vertebral_fracture", [])] + self.acc.true.get("ankylosis", [])
        if damage:
            out["accumulated_skeletal_damage"] = Fact(True, tuple(damage))
        mri = self.acc.flag("mri_contraindicated")
        # clinical-rules §1.2: "Not reliably derivable. Default false; allow an explicit override."
        out["mri_contraindicated"] = mri if mri.known else _FALSE
        return out

    def bme_features(self) -> dict[str, Any]:
        """bme_present and what the imaging said about it."""
        out: dict[str, Any] = {}
        acc = self.acc
        positives = acc.true.get("bme_present", [])
        negatives = acc.false.get("bme_present", [])
        newest_pos = _newest(positives)
        newest_neg = _newest(negatives)
        if positives and not (newest_neg is not None and (newest_pos is None or newest_neg > newest_pos)):
            present: Fact[bool] = Fact(True, tuple(positives), newest_pos)
        elif negatives:
            # Either no positive at all, or a newer report says the edema is gone ("has resolved").
            present = Fact(False, tuple(negatives), newest_neg)
        else:
            present = _UNKNOWN
        out["bme_present"] = present
        for feature in (
            "on_features",
            "ischemic_bme",
            "bme_deep_gt_1cm",
            "bone_scan_done",
            "wbc_scan_done",
            "dect_or_ct_done",
            "spect_ct_done",
        ):
            out[feature] = acc.flag(feature)
        imaging_seen = bool(self.acc.seen_types & {"ImagingStudy", "DiagnosticReport"})
        for feature in ("bone_scan_done", "wbc_scan_done", "dect_or_ct_done", "spect_ct_done"):
            if not out[feature].known and imaging_seen:
                out[feature] = _FALSE
        if self.last_mri is not None:
            out["last_mri_date"] = Fact(self.last_mri[0], (self.last_mri[1],), self.last_mri[0])
        for feature in ("kyphosis_pct", "height_loss_pct", "ramris_bme_score"):
            if feature in self.text_values:
                when, value, src = self.text_values[feature]
                out[feature] = Fact(float(value), (src,), when)
        if not present.true:
            return out
        text = acc.true.get("bme_from_report_text", [])
        out["bme_from_report_text"] = Fact(True, tuple(text)) if text else _FALSE
        if self.sites:
            out["bme_sites"] = Fact(frozenset(self.sites), tuple(s for v in self.sites.values() for s in v))
        if self.levels:
            ordered: list[str] = []
            for level, _ in self.levels:
                for part in level.split(", "):
                    if part not in ordered:
                        ordered.append(part)
            out["bme_vertebral_level"] = Fact(", ".join(ordered), tuple(s for _, s in self.levels))
        # Unknown extent stays unknown: it must never trigger the extensive pathway (R21).
        if EXTENT_EXTENSIVE in self.extent:
            out["bme_extent"] = Fact(EXTENT_EXTENSIVE, tuple(self.extent[EXTENT_EXTENSIVE]))
        elif EXTENT_LIMITED in self.extent:
            out["bme_extent"] = Fact(EXTENT_LIMITED, tuple(self.extent[EXTENT_LIMITED]))
        if self.bme_dates:
            first = min(self.bme_dates)
            out["bme_first_seen_date"] = Fact(first, tuple(s for s in positives if s.date == first), first)
        return out

    def medication_features(self) -> dict[str, Any]:
        """Treatment history (clinical-rules §1.7) from orders, statements, administrations and Z79 codes."""
        out: dict[str, Any] = {}
        meds = self.meds
        unresolved = [m for m in meds if not m.resolved]
        if unresolved:
            out["unresolved_medications"] = Fact(len(unresolved), tuple(m.source for m in unresolved))
        elif self.pending_meds:
            out["unresolved_medications"] = Fact(0)
        # With an unidentified active drug we cannot say "not on an NSAID"; without any med data neither.
        seen = bool(self.pending_meds)  # medication resources were supplied (even if all were excluded)
        can_deny_active = seen and not any(not m.resolved and m.active for m in meds)
        can_deny_given = seen and not unresolved

        def matching(classes: frozenset[str], *, active: bool, systemic: bool = False) -> list[_Med]:
            return [
                m
                for m in meds
                if m.classes & classes and (m.active if active else m.given) and (m.systemic or not systemic)
            ]

        def fact(feature: str, found: list[_Med], can_deny: bool) -> Fact[bool]:
            coded = self.acc.true.get(feature, [])
            if found or coded:
                sources = tuple(m.source for m in found) + tuple(coded)
                return Fact(True, sources, _newest(list(sources)))
            return _FALSE if can_deny else _UNKNOWN

        def duration(found: list[_Med], start_feature: str | None, days_feature: str) -> None:
            starts = [(m.start, m.source) for m in found if m.start is not None]
            if not starts:
                return
            start, src = min(starts, key=lambda x: x[0])
            if start_feature is not None:
                out[start_feature] = Fact(start, (src,), start)
            out[days_feature] = Fact(max(0, (self.today - start).days), (src,), start)

        nsaid = matching(_NSAID_SETS, active=True)
        out["nsaid_active"] = fact("nsaid_active", nsaid, can_deny_active)
        duration(nsaid, "nsaid_start_date", "nsaid_days")
        if nsaid:
            nsaid_names = frozenset(
                n
                for m in nsaid
                for n in m.ingredients
                if self.names.classes.get(n, frozenset()) & _NSAID_SETS
            )
            out["nsaid_active_ingredients"] = Fact(nsaid_names, tuple(m.source for m in nsaid))
        elif out["nsaid_active"].value is False:
            out["nsaid_active_ingredients"] = Fact(frozenset())
        for feature, classes, active in _MEDICATION_FLAGS:
            out[feature] = fact(
                feature, matching(classes, active=active), can_deny_active if active else can_deny_given
            )
        opioid = matching(_OPIOID_SETS, active=True)
        out["opioid_active"] = fact("opioid_active", opioid, can_deny_active)
        duration(opioid, None, "opioid_days")
        parenteral = [m for m in opioid if m.parenteral]
        if parenteral:
            out["parenteral_opioid"] = Fact(True, tuple(m.source for m in parenteral))
        elif opioid or can_deny_active:
            out["parenteral_opioid"] = _FALSE
        steroid = matching(_GC_SETS, active=True, systemic=True)
        out["systemic_glucocorticoid_active"] = fact(
            "systemic_glucocorticoid_active", steroid, can_deny_active
        )
        duration(steroid, None, "glucocorticoid_days")
        out["anticoagulant_active"] = fact(
            "anticoagulant_active", matching(_ANTICOAGULANT_SETS, active=True), can_deny_active
        )
        out["antiplatelet_active"] = self.acc.flag("antiplatelet_active")
        tnfi = out["tnfi_active"]
        dmard = self.acc.true.get("dmard_active", [])
        if dmard or tnfi.true:
            out["dmard_active"] = Fact(True, tuple(dmard) + (tnfi.sources if tnfi.true else ()))
        return out

    def lab_features(self, so_far: Mapping[str, Any]) -> dict[str, Any]:
        """Newest value of each lab in the feature's unit; unknown unit means unknown value (§1.8)."""
        out: dict[str, Any] = {}
        for feature, lab in self.labs.items():
            out[feature] = _lab_fact(feature, lab)
        calcium_low = self.acc.flag("calcium_low")  # from a hypocalcemia Condition
        calcium_lab = self.labs.get("calcium")
        lab_low = _calcium_low(calcium_lab) if calcium_lab is not None else _UNKNOWN
        if calcium_low.true or lab_low.true:
            out["calcium_low"] = Fact(True, calcium_low.sources + lab_low.sources)
        else:
            out["calcium_low"] = lab_low
        coded = so_far.get("hypocalcemia", _UNKNOWN)
        hypo = self.acc.flag("hypocalcemia")
        if hypo.true or lab_low.true:
            out["hypocalcemia"] = Fact(True, hypo.sources + lab_low.sources)
        elif lab_low.value is False and "Condition" in self.acc.seen_types and VS.HYPOCALCEMIA in self.loaded:
            out["hypocalcemia"] = Fact(False, lab_low.sources, lab_low.as_of)
        else:
            out["hypocalcemia"] = coded if coded.known else _UNKNOWN
        if not self.acc.flag("fever").true and self.temperature is not None:
            flags = _interpretations(self.temperature.resource)
            if flags & _HIGH_INTERPRETATION:
                r = self.temperature.resource
                out["fever"] = Fact(
                    True,
                    (Source(_ref(r), "Body temperature flagged high", self.temperature.when),),
                    self.temperature.when,
                )
        return out

    def pain_features(self, so_far: Mapping[str, Any]) -> dict[str, Any]:
        """Pain NRS series, latest, severity, persistence (§1.6) and the NSAID response (§1.7)."""
        out: dict[str, Any] = {}
        if not self.pain:
            return out
        series = sorted(self.pain, key=lambda x: x[0])
        out["pain_nrs_series"] = tuple((d, v) for d, v, _ in series)
        when, latest, src = series[-1]
        out["pain_nrs_latest"] = Fact(latest, (src,), when)
        severe_at = self.policy.int("pain.severe_nrs")
        out["pain_severe"] = Fact(latest >= severe_at, (src,), when)
        persistent_at = self.policy.int("pain.persistent_nrs")
        episode = _min_date(so_far.get("bme_first_seen_date"), so_far.get("fracture_onset_date"))
        considered = [x for x in series if episode is None or x[0] >= episode]
        if considered:
            last_date = considered[-1][0]
            run_start: date | None = None
            run_sources: list[Source] = []
            for d, v, s in reversed(considered):
                if v < persistent_at:
                    break
                run_start = d
                run_sources.append(s)
            if run_start is None:
                out["pain_persistent_days"] = Fact(0, (considered[-1][2],), last_date)
            else:
                covers_all = len(run_sources) == len(considered)
                begin = episode if (covers_all and episode is not None) else run_start
                out["pain_persistent_days"] = Fact(
                    (last_date - begin).days, tuple(reversed(run_sources)), last_date
                )
        start_fact = so_far.get("nsaid_start_date")
        start = start_fact.value if isinstance(start_fact, Fact) else None
        if isinstance(start_fact, Fact) and isinstance(start, date):
            baseline = [x for x in series if x[0] <= start]
            # The response is judged in the trial window only (§1.7, C3): days trial_min..trial_max.
            lo, hi = self.policy.int("nsaid.trial_min_days"), self.policy.int("nsaid.trial_max_days")
            after = [x for x in series if lo <= (x[0] - start).days <= hi]
            if baseline and after:
                b_when, b_value, b_src = baseline[-1]
                a_when, a_value, a_src = after[-1]
                out["pain_nrs_baseline"] = Fact(b_value, (b_src,), b_when)
                reduction = 100.0 * (b_value - a_value) / b_value if b_value > 0 else 0.0
                insufficient = a_value >= severe_at or (
                    b_value > 0 and reduction < self.policy.float("nsaid.min_pain_reduction_pct")
                )
                out["nsaid_response_insufficient"] = Fact(
                    insufficient,
                    (b_src, a_src, start_fact.sources[0]) if start_fact.sources else (b_src, a_src),
                    a_when,
                )
        return out

    def episode_features(self, so_far: Mapping[str, Any]) -> dict[str, Any]:
        """Hospitalisation for pain and the start of conservative care."""
        out: dict[str, Any] = {}
        episode = _min_date(so_far.get("bme_first_seen_date"), so_far.get("fracture_onset_date"))
        hospital: list[Source] = []
        for r, by_reason, refs in self.encounters:
            qualifies = by_reason or any(
                self.conditions_by_id.get(x, frozenset()) & _PAIN_REASON_SETS for x in refs
            )
            if not qualifies:
                continue
            start = _period_start(r.get("period"))
            ongoing = _str(r.get("status")).lower() in ("in-progress", "arrived", "triaged", "onleave")
            if ongoing or episode is None or start is None or start >= episode:
                hospital.append(
                    Source(_ref(r), _short(f"Admission/ED visit: {_all_text(r.get('reasonCode'))}"), start)
                )
        if hospital:
            out["hospitalized_for_pain"] = Fact(True, tuple(hospital))
        elif self.encounters:
            out["hospitalized_for_pain"] = _FALSE
        if episode is not None:
            basis = [
                f
                for f in (so_far.get("bme_first_seen_date"), so_far.get("fracture_onset_date"))
                if isinstance(f, Fact) and f.value == episode
            ]
            out["conservative_start_date"] = Fact(
                episode, tuple(s for f in basis for s in f.sources), episode
            )
        elif any(
            isinstance(f, Fact) and f.true
            for f in (so_far.get("bme_present"), so_far.get("vertebral_fracture"))
        ):
            # An undated episode: the first analgesic order is the best start we have (§1.7).
            starts = [f.value for f in (so_far.get("nsaid_start_date"),) if isinstance(f, Fact) and f.value]
            if starts:
                out["conservative_start_date"] = Fact(min(starts), (), min(starts))
        return out

    def draft_order(
        self, r: Mapping[str, Any], draft_meds: dict[str, dict[str, Any]], selections: frozenset[str]
    ) -> DraftOrder:
        """One context.draftOrders entry, classified into ORDER_* kinds."""
        res = dict(r)
        kind = _str(res.get("resourceType"))
        reference = _ref(res)
        kinds: set[str] = set()
        route: str | None = None
        if kind.startswith("Medication"):
            concept = self.resolve_medication(res, draft_meds)
            classes, _, display, _ = self.classify_medication(concept)
            codes = tuple(
                (_str(c.get("system")), _str(c.get("code"))) for c in _codings(concept) if c.get("code")
            )
            route_text = " ".join(_all_text(d.get("route")) for d in _dicts(res.get("dosageInstruction")))
            route = route_text.strip() or None
            systemic = not (
                _NON_SYSTEMIC.search(textfind.fold(route_text)) or _NON_SYSTEMIC.search(textfind.fold(display))
            )
            for name in classes:
                if name in _GC_SETS and not systemic:
                    continue
                kinds.update(_ORDER_KINDS.get(name, ()))
            when = parse_date(res.get("authoredOn"))
        else:
            code = res.get("code") if kind != "DeviceRequest" else res.get("codeCodeableConcept")
            names = self.classify(code)
            text = textfind.fold(_all_text(code))
            display = _concept_text(code)
            codes = tuple(
                (_str(c.get("system")), _str(c.get("code"))) for c in _codings(code) if c.get("code")
            )
            if kind == "ServiceRequest":
                if names & {VS.IMAGING_MRI, VS.PROC_MRI} or _MRI_TEXT.search(text):
                    kinds.add(MRI)
                if VS.PROC_VERTEBRAL_AUGMENTATION in names or _AUGMENTATION.search(text):
                    kinds.add(VERTEBRAL_AUGMENTATION)
                if VS.BED_CONFINEMENT in names or _BED_REST.search(text):
                    kinds.add(BED_REST)
            when = parse_date(res.get("authoredOn"))
        label = display or f"{kind or 'order'} without a named item"
        return DraftOrder(
            reference=reference,
            resource_type=kind,
            kinds=frozenset(kinds),
            display=_short(label),
            codes=codes,
            route=route,
            selected=bool(reference) and reference in selections,
            source=Source(reference, _short(f"Draft order: {label}"), when),
        )


_FIELDS = frozenset(Features.__dataclass_fields__)
# Every field's default, in field order (all but `today` have one).
_DEFAULTS: dict[str, Any] = {
    name: f.default for name, f in Features.__dataclass_fields__.items() if name != "today"
}


def _freeze(today: date, values: dict[str, Any]) -> Features:
    """Features(today=today, **values), without the frozen __init__'s object.__setattr__ per field."""
    # The generated __init__ of a frozen dataclass sets each of the ~110 fields through object.__setattr__:
    # ~13 us per request. Filling __dict__ gives the same object (same fields, order and values; Features has
    # no __post_init__); an unknown name is still an error, as it is for __init__.
    unknown = values.keys() - _FIELDS
    if unknown:
        raise TypeError(f"Features has no field(s) {sorted(unknown)}")
    features = Features.__new__(Features)
    state = features.__dict__
    state["today"] = today
    state.update(_DEFAULTS)
    state.update(values)
    return features
_NO_SETS: frozenset[str] = frozenset()
# Value-set groups tested per resource (built once, not as set literals on every call).
_MRI_SETS = frozenset({VS.IMAGING_MRI, VS.MODALITY_MR, VS.PROC_MRI})
_CT_SETS = frozenset({VS.IMAGING_CT, VS.MODALITY_CT})
_FRACTURE_SETS = frozenset({VS.VERTEBRAL_FRACTURE, VS.VERTEBRAL_FRACTURE_UNSTABLE})
# Every set `imaging` or `procedure_` reads, and every text pattern `procedure_` searches: a procedure with
# none of them contributes nothing.
_PROCEDURE_SETS = _MRI_SETS | _CT_SETS | {VS.IMAGING_NM_BONE, VS.IMAGING_WBC_SCAN, VS.PROC_VERTEBRAL_AUGMENTATION}
_PROCEDURE_WORDS = re.compile(
    "|".join(p.pattern for p in (_AUGMENTATION, _CORE_DECOMPRESSION, _OFFLOADING, _CABG))
)
# A word every _PROCEDURE_WORDS match contains, one per alternative (plasty: vertebro-/kyphoplasty). A
# substring test costs ~50 ns, the search ~1 us per 60 characters: the search runs only when one is there.
_PROCEDURE_NEEDS = ("plasty", "vertebral", "core", "contact", "loading", "coronary", "cabg")


def _has_any(text: str, words: tuple[str, ...]) -> bool:
    """True when one of `words` occurs in `text` (a plain loop: cheaper than any() over a generator)."""
    for word in words:
        if word in text:
            return True
    return False


_NSAID_SETS = frozenset({VS.RX_NSAID, VS.RX_INDOMETHACIN})
_IV_BP_SETS = frozenset({VS.RX_IV_BISPHOSPHONATE, VS.RX_ZOLEDRONIC_ACID, VS.RX_PAMIDRONATE})
_BP_SETS = _IV_BP_SETS | {VS.RX_BISPHOSPHONATE}
_GC_SETS = frozenset({VS.RX_SYSTEMIC_GLUCOCORTICOID, VS.RX_DEXAMETHASONE})
_TNFI_SETS = frozenset({VS.RX_TNFI})
_DENOSUMAB_SETS = frozenset({VS.RX_DENOSUMAB})
_ILOPROST_SETS = frozenset({VS.RX_ILOPROST})
_CALCITONIN_SETS = frozenset({RX_CALCITONIN})
_OPIOID_SETS = frozenset({VS.RX_OPIOID})
_ANTICOAGULANT_SETS = frozenset({VS.RX_ANTICOAGULANT})
# Treatment-history flags that are only "a matching drug was given (or is active)": (feature, drug classes,
# active order required). A flag can be False only when every drug could be identified (see can_deny_*).
_MEDICATION_FLAGS: tuple[tuple[str, frozenset[str], bool], ...] = (
    ("iv_bisphosphonate_given", _IV_BP_SETS, False),
    ("iv_bisphosphonate_active", _IV_BP_SETS, True),
    ("bisphosphonate_given", _BP_SETS, False),
    ("tnfi_active", _TNFI_SETS, True),
    ("denosumab_given", _DENOSUMAB_SETS, False),
    ("iloprost_given", _ILOPROST_SETS, False),
    ("calcitonin_active", _CALCITONIN_SETS, True),
)
_ORDER_KINDS: dict[str, tuple[str, ...]] = {
    VS.RX_NSAID: (NSAID,),
    VS.RX_INDOMETHACIN: (INDOMETHACIN, NSAID),
    VS.RX_IV_BISPHOSPHONATE: (IV_BISPHOSPHONATE, BISPHOSPHONATE),
    VS.RX_ZOLEDRONIC_ACID: (ZOLEDRONIC_ACID, IV_BISPHOSPHONATE, BISPHOSPHONATE),
    VS.RX_PAMIDRONATE: (PAMIDRONATE, IV_BISPHOSPHONATE, BISPHOSPHONATE),
    VS.RX_BISPHOSPHONATE: (BISPHOSPHONATE,),
    VS.RX_DENOSUMAB: (DENOSUMAB,),
    VS.RX_OPIOID: (OPIOID,),
    VS.RX_TNFI: (TNFI,),
    VS.RX_SYSTEMIC_GLUCOCORTICOID: (SYSTEMIC_GLUCOCORTICOID,),
    VS.RX_DEXAMETHASONE: (DEXAMETHASONE, SYSTEMIC_GLUCOCORTICOID),
}
_TEXT_FLAGS: dict[str, str] = {
    textfind.KIND_DEEP: "bme_deep_gt_1cm",
    textfind.KIND_ON: "on_features",
    textfind.KIND_ISCHEMIC: "ischemic_bme",
    textfind.KIND_RETROPULSION: "retropulsion",
    textfind.KIND_CORD: "cord_compression_suspected",
    textfind.KIND_ANKYLOSIS: "ankylosis",
    textfind.KIND_SPECT: "spect_ct_done",
    textfind.KIND_DECT: "dect_or_ct_done",
}
_HANDLERS: dict[str, Callable[[_Extractor, dict[str, Any]], None]] = {
    "Patient": _Extractor.patient_,
    "Medication": _Extractor.medication_,
    "MedicationRequest": _Extractor.med_order_,
    "MedicationStatement": _Extractor.med_order_,
    "MedicationAdministration": _Extractor.med_order_,
    "Condition": _Extractor.condition_,
    "Observation": _Extractor.observation_,
    "DiagnosticReport": _Extractor.diagnostic_report_,
    # Oracle Health sends imaging reports as DocumentReferences when no ImagingStudy is available (issue 7).
    "DocumentReference": lambda ex, r: ex.diagnostic_report_(docrefs.as_report(r)),
    "ImagingStudy": _Extractor.imaging_study_,
    "Procedure": _Extractor.procedure_,
    "ServiceRequest": _Extractor.service_request_,
    "CarePlan": _Extractor.care_plan_,
    "DeviceRequest": _Extractor.device_request_,
    "Encounter": _Extractor.encounter_,
}


# -- helpers used by the extractor ---------------------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    """The value if it is a dict, else an empty dict."""
    return value if isinstance(value, dict) else {}


def _later(a: date | None, b: date | None) -> bool:
    """True when `a` is newer than `b`; a dated value beats an undated one."""
    if a is None:
        return False
    return b is None or a > b


def _min_date(*facts: Any) -> date | None:
    """The earliest date among date Facts (unknowns skipped)."""
    dates = [f.value for f in facts if isinstance(f, Fact) and isinstance(f.value, date)]
    return min(dates) if dates else None


def _age(birth: str, today: date) -> int | None:
    """Age in whole years at `today`; a partial birthDate gives an age only when it is unambiguous."""
    full = _full_date(birth)
    if full is not None:
        return today.year - full.year - ((today.month, today.day) < (full.month, full.day))
    start = parse_date(birth)
    if start is None:
        return None
    month_given = len(birth.strip()) >= 7
    end = date(start.year, start.month, 28) if month_given else date(start.year, 12, 31)
    youngest = today.year - end.year - ((today.month, today.day) < (end.month, end.day))
    oldest = today.year - start.year - ((today.month, today.day) < (start.month, start.day))
    return youngest if youngest == oldest else None


def _gestation_weeks(concept: Any) -> int | None:
    """Weeks of gestation from an ICD-10-CM Z3A code (Z3A.08-Z3A.42 are exact weeks; Z3A.49 is >42)."""
    for coding in _codings(concept):
        code = _str(coding.get("code")).upper().replace(".", "")
        if code.startswith("Z3A") and len(code) == 5 and code[3:].isdigit():
            weeks = int(code[3:])
            if 8 <= weeks <= 42:
                return weeks
            if weeks == 49:
                return 42  # "greater than 42 weeks": 42 is a safe lower bound for the >=20/>=30 checks
    return None


def _pain_score(r: dict[str, Any]) -> int | None:
    """A 0-10 NRS score from valueQuantity or valueInteger; anything else is not a score."""
    value = _number(r.get("valueInteger"))
    if value is None:
        value = _number(_dict(r.get("valueQuantity")).get("value"))
    if value is None or not 0 <= value <= 10:
        return None
    return int(round(value))


def _obs_bool(r: dict[str, Any]) -> bool | None:
    """valueBoolean, or valueCodeableConcept with local code present/absent."""
    value = r.get("valueBoolean")
    if isinstance(value, bool):
        return value
    code = _local_value_code(r)
    if code == LOCAL_PRESENT:
        return True
    if code == LOCAL_ABSENT:
        return False
    return None


def _local_value_code(r: dict[str, Any]) -> str:
    """The local-system code in valueCodeableConcept, or ''."""
    for coding in _codings(r.get("valueCodeableConcept")):
        if coding.get("system") == LOCAL_SYSTEM:
            return _str(coding.get("code"))
    return ""


def _obs_number(r: dict[str, Any]) -> float | None:
    """valueQuantity.value or valueInteger as a float."""
    value = _number(_dict(r.get("valueQuantity")).get("value"))
    return value if value is not None else _number(r.get("valueInteger"))


def _interpretations(r: dict[str, Any]) -> frozenset[str]:
    """Interpretation codes (v3 ObservationInterpretation: L, LL, H, N ...) upper-cased."""
    return frozenset(
        _str(c.get("code")).upper() for i in _dicts(r.get("interpretation")) for c in _codings(i)
    )


def _lab_fact(feature: str, lab: _Lab) -> Fact[float]:
    """The newest lab as a Fact in the feature's unit; an unrecognised unit gives an unknown value."""
    r = lab.resource
    ref = _ref(r)
    quantity = _dict(r.get("valueQuantity"))
    value = _number(quantity.get("value"))
    unit = _str(quantity.get("code")) or _str(quantity.get("unit"))
    name = _LAB_LABEL[feature]
    if value is None:
        return Fact(None, (Source(ref, f"{name}: no numeric value", lab.when),), lab.when)
    factor = _UNITS[feature].get(_unit_key(unit))
    if factor is None:
        return Fact(
            None,
            (
                Source(
                    ref,
                    _short(f"{name} {value:g} {unit or '(no unit)'}: unit not recognised, value not used"),
                    lab.when,
                ),
            ),
            lab.when,
        )
    converted = round(value * factor, 2)
    comparator = _str(quantity.get("comparator"))
    shown = f"{name} {comparator}{converted:g} {_UNIT_LABEL[feature]}"
    if factor != 1.0:
        shown += f" (reported {comparator}{value:g} {unit})"
    return Fact(converted, (Source(ref, _short(shown), lab.when),), lab.when)


def _calcium_low(lab: _Lab) -> Fact[bool]:
    """Low calcium from the lab's own flag (L/LL) or its reference range; no threshold is invented."""
    r = lab.resource
    flags = _interpretations(r)
    ref = _ref(r)
    if flags & _LOW_INTERPRETATION:
        return Fact(True, (Source(ref, "Calcium flagged low by the lab", lab.when),), lab.when)
    value = _number(_dict(r.get("valueQuantity")).get("value"))
    for rng in _dicts(r.get("referenceRange")):
        low = _dict(rng.get("low"))
        low_value = _number(low.get("value"))
        if value is None or low_value is None:
            continue
        unit = _unit_key(
            _str(_dict(r.get("valueQuantity")).get("code")) or _str(_dict(r.get("valueQuantity")).get("unit"))
        )
        low_unit = _unit_key(_str(low.get("code")) or _str(low.get("unit"))) or unit
        if low_unit != unit:
            continue  # ranges in another unit are not compared (no silent conversion)
        below = value < low_value
        text = f"Calcium {value:g} {'below' if below else 'within'} lab range (low {low_value:g})"
        return Fact(below, (Source(ref, text, lab.when),), lab.when)
    if flags & (_HIGH_INTERPRETATION | _NORMAL_INTERPRETATION):
        return Fact(False, (Source(ref, "Calcium not flagged low by the lab", lab.when),), lab.when)
    return _UNKNOWN


def _attachment_text(form: dict[str, Any]) -> str:
    """Text of a text/plain attachment (base64 `data`), capped; anything undecodable gives ''."""
    content_type = _str(form.get("contentType")).lower()
    if content_type and not content_type.startswith("text/plain"):
        return ""
    data = form.get("data")
    if not isinstance(data, str) or not data or len(data) > MAX_PRESENTED_BYTES * 4 // 3 + 4:
        return ""
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return ""
    return raw[:MAX_PRESENTED_BYTES].decode("utf-8", errors="replace")


def _med_start(r: dict[str, Any]) -> date | None:
    """When the drug started: dosage bounds start, else dispense validity start, else authoredOn/effective."""
    instructions, dosages = r.get("dosageInstruction"), r.get("dosage")
    # Many orders carry no dosage at all (Synthea's none): then there are no lists to build.
    for dosage in _dicts(instructions) + _dicts(dosages) if instructions or dosages else ():
        start = _period_start(_dict(_dict(dosage.get("timing")).get("repeat")).get("boundsPeriod"))
        if start is not None:
            return start
    validity = _period_start(_dict(r.get("dispenseRequest")).get("validityPeriod"))
    if validity is not None:
        return validity
    return (
        parse_date(r.get("authoredOn"))
        or parse_date(r.get("effectiveDateTime"))
        or _period_start(r.get("effectivePeriod"))
        or parse_date(r.get("dateAsserted"))
    )


def _draft_resources(draft_orders: Any) -> list[dict[str, Any]]:
    """Draft resources from a list of resources, a list of Bundle entries, or a Bundle."""
    items: Any = draft_orders
    if isinstance(items, Mapping):
        items = items.get("entry") if items.get("resourceType") == "Bundle" else [items]
    out: list[dict[str, Any]] = []
    for item in _as_list(items) if not isinstance(items, (list, tuple)) else items:
        if isinstance(item, Mapping) and "resource" in item and "resourceType" not in item:
            item = item.get("resource")
        if isinstance(item, Mapping) and isinstance(item.get("resourceType"), str):
            out.append(dict(item))
    return out


def extract(
    resources: Sequence[Mapping[str, Any]],
    *,
    today: date,
    valuesets: ValueSetIndex,
    policy: Policy,
    patient_id: str | None = None,
    draft_orders: Sequence[Mapping[str, Any]] = (),
    selections: Sequence[str] = (),
) -> Features:
    """Map a patient's FHIR R4 resources and the hook's draft orders to Features (one linear pass)."""
    extractor = _Extractor(today, valuesets, policy)
    extractor.add_all(resources)
    return extractor.finish(patient_id, draft_orders, selections)
