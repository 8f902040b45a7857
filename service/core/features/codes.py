"""The code and pattern tables of extraction: which value set, local code or wording feeds which feature."""

from __future__ import annotations

import re

from service.core import textfind
from service.core.features.contract import SITE_FOOT_ANKLE
from service.core.features.contract import SITE_HIP
from service.core.features.contract import SITE_KNEE
from service.core.features.contract import SITE_SACROILIAC
from service.core.features.contract import SITE_VERTEBRA
from service.core.valuesets import VS
from service.core.vocabulary import BISPHOSPHONATE
from service.core.vocabulary import DENOSUMAB
from service.core.vocabulary import DEXAMETHASONE
from service.core.vocabulary import INDOMETHACIN
from service.core.vocabulary import IV_BISPHOSPHONATE
from service.core.vocabulary import NSAID
from service.core.vocabulary import OPIOID
from service.core.vocabulary import PAMIDRONATE
from service.core.vocabulary import SYSTEMIC_GLUCOCORTICOID
from service.core.vocabulary import TNFI
from service.core.vocabulary import ZOLEDRONIC_ACID

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
LOCAL_FLAGS: dict[str, str] = {
    LOCAL_BME_DEEP: "bme_deep_gt_1cm",
    LOCAL_MRI_CONTRAINDICATED: "mri_contraindicated",
    LOCAL_NEURO_PROGRESSIVE: "neuro_progressive",
    LOCAL_NEURO_DEFICIT: "neuro_deficit",
    LOCAL_CORD_COMPRESSION: "cord_compression_suspected",
    LOCAL_RETROPULSION: "retropulsion",
    LOCAL_ATYPICAL_PAIN: "atypical_pain",
}

# Condition statuses (FHIR R4 condition-clinical / condition-ver-status).
ACTIVE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
EXCLUDED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
TENTATIVE_VERIFICATION = frozenset({"unconfirmed", "provisional", "differential"})

ACTIVE = "active"  # the Condition must be active (clinicalStatus active/recurrence/relapse, or absent)
ANY = "any"  # active or resolved/inactive/remission: history counts
TENTATIVE_OK = "tentative"  # active, and provisional/differential verification also counts (§1.4)

# Condition value set -> feature. `ANY` rows are histories (a resolved ulcer still counts for S02).
CONDITION_FLAGS: tuple[tuple[str, str, str], ...] = (
    (VS.OSTEOPOROSIS, "osteoporosis", ACTIVE),
    (VS.TRANSIENT_OSTEOPOROSIS, "transient_bme_syndrome", ACTIVE),
    (VS.OSTEONECROSIS, "osteonecrosis", ACTIVE),
    (VS.RHEUMATOID_ARTHRITIS, "rheumatoid_arthritis", ACTIVE),
    (VS.AXIAL_SPONDYLOARTHRITIS, "axspa", ACTIVE),
    (VS.PSORIATIC_ARTHRITIS, "psoriatic_arthritis", ACTIVE),
    (VS.CNO, "cno_sapho", ACTIVE),
    (VS.OSTEOARTHRITIS, "osteoarthritis", ACTIVE),
    (VS.CRPS, "crps", ACTIVE),
    (VS.MULTIPLE_MYELOMA, "multiple_myeloma", ACTIVE),
    (VS.BONE_METASTASIS, "bone_metastasis", ACTIVE),
    (VS.MALIGNANCY, "malignancy_active", ACTIVE),
    (VS.MALIGNANCY, "malignancy_history", ANY),
    (VS.MALIGNANCY_HISTORY, "malignancy_history", ANY),
    (VS.BONE_METASTASIS, "malignancy_active", ACTIVE),
    (VS.MULTIPLE_MYELOMA, "malignancy_history", ANY),
    (VS.CHARCOT, "charcot", ACTIVE),
    (VS.DIABETES, "diabetes", ACTIVE),
    (VS.OSTEOMYELITIS, "osteomyelitis", ACTIVE),
    (VS.FOOT_ULCER_INFECTION, "foot_ulcer_or_cellulitis_or_abscess", ACTIVE),
    (VS.OSTEOMYELITIS, "active_infection", ACTIVE),
    (VS.FOOT_ULCER_INFECTION, "active_infection", ACTIVE),
    (VS.ACTIVE_TUBERCULOSIS, "active_infection", ACTIVE),
    (VS.LATENT_TUBERCULOSIS, "latent_tb", ANY),
    (VS.NEURO_DEFICIT, "neuro_deficit", ACTIVE),
    (VS.CORD_COMPRESSION, "cord_compression_suspected", TENTATIVE_OK),
    (VS.CKD_4_5, "ckd_stage_4_5_or_esrd", ACTIVE),
    (VS.DIALYSIS, "dialysis", ACTIVE),
    (VS.GI_BLEED_ULCER, "gi_bleed_or_pud_history", ANY),
    (VS.GI_BLEED_ACTIVE, "gi_bleed_or_pud_history", ANY),
    (VS.GI_BLEED_ACTIVE, "gi_bleed_active", ACTIVE),
    (VS.HEART_FAILURE, "heart_failure", ACTIVE),
    (VS.PREGNANCY, "pregnant", ACTIVE),
    (VS.GESTATION_WEEKS, "pregnant", ACTIVE),
    (VS.ONJ, "onj_history", ANY),
    (VS.DENTAL_DISEASE, "dental_disease", ACTIVE),
    (VS.HYPOCALCEMIA, "hypocalcemia", ACTIVE),
    (VS.HYPOCALCEMIA, "calcium_low", ACTIVE),
    (VS.VITAMIN_D_DEFICIENCY, "vitamin_d_deficiency", ACTIVE),
    (VS.WEIGHT_LOSS, "unexplained_weight_loss", ACTIVE),
    (VS.FEVER, "fever", ACTIVE),
    (VS.IMPAIRED_MOBILITY, "impaired_mobility", ACTIVE),
    (VS.BED_CONFINEMENT, "bed_rest_ordered", ACTIVE),
    (VS.BONE_PAIN, "bone_pain", ACTIVE),
    (VS.LONG_TERM_ANTICOAGULANT, "anticoagulant_active", ACTIVE),
    (VS.LONG_TERM_ANTIPLATELET, "antiplatelet_active", ACTIVE),
    (VS.LONG_TERM_NSAID, "nsaid_active", ACTIVE),
    (VS.LONG_TERM_GLUCOCORTICOID, "long_term_glucocorticoid_coded", ACTIVE),
    (VS.LONG_TERM_BISPHOSPHONATE, "bisphosphonate_given", ANY),
    (VS.LONG_TERM_OPIOID, "opioid_active", ACTIVE),
    (VS.LONG_TERM_BIOLOGIC, "dmard_active", ACTIVE),
    (VS.VERTEBRAL_FRACTURE, "vertebral_fracture", ACTIVE),
    (VS.VERTEBRAL_FRACTURE_UNSTABLE, "vertebral_fracture", ACTIVE),
    (VS.VERTEBRAL_FRACTURE_UNSTABLE, "spinal_instability", ACTIVE),
    (VS.PATHOLOGIC_FRACTURE_NEOPLASTIC, "pathologic_fracture_neoplastic", ACTIVE),
    (VS.BME_PROXY, "bme_present", ACTIVE),
    (VS.TRANSIENT_OSTEOPOROSIS, "bme_present", ACTIVE),
)

FLAGS_BY_SET: dict[str, tuple[tuple[str, str, str], ...]] = {
    name: tuple(row for row in CONDITION_FLAGS if row[0] == name) for name in {row[0] for row in CONDITION_FLAGS}
}

# Features that come only from Condition.code (clinical-rules §1.3, §1.5): when Conditions were supplied and
# every value set behind the feature is loaded, no match means False ("not on the problem list"). All other
# features stay unknown without positive data (e.g. neuro_deficit: absence of a code is not an examination).
CONDITION_ONLY: dict[str, tuple[str, ...]] = {
    "osteoporosis": (VS.OSTEOPOROSIS,),
    "transient_bme_syndrome": (VS.TRANSIENT_OSTEOPOROSIS,),
    "osteonecrosis": (VS.OSTEONECROSIS,),
    "rheumatoid_arthritis": (VS.RHEUMATOID_ARTHRITIS,),
    "axspa": (VS.AXIAL_SPONDYLOARTHRITIS,),
    "psoriatic_arthritis": (VS.PSORIATIC_ARTHRITIS,),
    "cno_sapho": (VS.CNO,),
    "osteoarthritis": (VS.OSTEOARTHRITIS,),
    "crps": (VS.CRPS,),
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
    "dialysis": (VS.DIALYSIS,),
    "latent_tb": (VS.LATENT_TUBERCULOSIS,),
    "onj_history": (VS.ONJ,),
    "dental_disease": (VS.DENTAL_DISEASE,),
    "vitamin_d_deficiency": (VS.VITAMIN_D_DEFICIENCY,),
    "vertebral_fracture": (VS.VERTEBRAL_FRACTURE, VS.VERTEBRAL_FRACTURE_UNSTABLE),
    "pathologic_fracture_neoplastic": (VS.PATHOLOGIC_FRACTURE_NEOPLASTIC,),
    "long_term_glucocorticoid_coded": (VS.LONG_TERM_GLUCOCORTICOID,),
}

# The flags condition_features reads from the accumulator. The excluded ones are combined with other sources
# (labs, medications, reports) elsewhere in `finish`.
CONDITION_FEATURES: tuple[str, ...] = tuple(
    sorted(
        ({f for _, f, _ in CONDITION_FLAGS} | set(CONDITION_ONLY) | set(LOCAL_FLAGS.values()))
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

LAB_SETS: dict[str, str] = {
    VS.LAB_EGFR: "egfr",
    VS.LAB_CREATININE: "creatinine",
    VS.LAB_CALCIUM: "calcium",
    VS.LAB_CALCIUM_IONIZED: "calcium_ionized",
    VS.LAB_ALBUMIN: "albumin",
    VS.LAB_VITAMIN_D: "vitd_25oh",
}
# Every value set an Observation is read by (labs, pain NRS, body temperature): the prefetch template's code
# list (hooks/common.py) is generated from these, so the EHR sends exactly what the features read.
OBSERVATION_SETS: tuple[str, ...] = (*LAB_SETS, VS.OBS_PAIN_NRS, VS.OBS_BODY_TEMPERATURE)

# Unit normalisation. Keys are units lower-cased without spaces, braces, underscores or carets; values are the
# factor to the unit the feature is declared in (contract.py). An unlisted unit gives an unknown value, never a
# guess. Sources: vitamin D nmol/L / 2.496 is clinical-rules.md §1.8; the others are molar-mass conversions
# [NOT IN SEEDS]: creatinine 113.12 g/mol (1 mg/dL = 88.4 umol/L), calcium 40.08 g/mol (1 mmol/L = 4.008 mg/dL),
# albumin g/L = g/dL x 10. No rule thresholds creatinine or calcium values (calcium_low uses the lab's own flag
# or reference range).
UNITS: dict[str, dict[str, float]] = {
    "egfr": {"ml/min/1.73m2": 1.0, "ml/min/1.73sqm": 1.0, "ml/min/1.73m^2": 1.0},
    "creatinine": {"mg/dl": 1.0, "umol/l": 1 / 88.4, "µmol/l": 1 / 88.4, "μmol/l": 1 / 88.4},
    "calcium": {"mg/dl": 1.0, "mmol/l": 4.008},
    "calcium_ionized": {"mg/dl": 1.0, "mmol/l": 4.008},
    "albumin": {"g/dl": 1.0, "g/l": 0.1},
    "vitd_25oh": {"ng/ml": 1.0, "ug/l": 1.0, "µg/l": 1.0, "nmol/l": 1 / 2.496},
}
LOW_INTERPRETATION = frozenset({"L", "LL", "LU", "<"})
HIGH_INTERPRETATION = frozenset({"H", "HH", "HU", ">"})
NORMAL_INTERPRETATION = frozenset({"N"})

# Medication classes: value set -> feature stems. Text matching uses the ingredient names (the IN displays of
# these value sets) plus the synonyms below, because real orders carry SCD/SBD codes (codes.md D).
RX_SETS: tuple[str, ...] = (
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
    VS.RX_CONVENTIONAL_DMARD,
    VS.RX_BENZODIAZEPINE,
    VS.RX_CNS_DEPRESSANT,
)
RX_CALCITONIN = "calcitonin"  # no verified RxNorm code (codes.md F.6): matched by name only
# Other names of the same ingredients, as they appear in SCD/SBD displays (INN acid forms, salts).
NAME_SYNONYMS: dict[str, str] = {
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
NON_SYSTEMIC = re.compile(
    r"ophthalmic|topical|cutaneous|cream|ointment|lotion|inhal|nasal|intra-?articular"
    r"|\b(?:otic|gel|dental|eye|ear|skin)\b"
)
PARENTERAL = re.compile(
    r"intravenous|intramuscular|subcutaneous|inject(?:ion|able)|infusion|prefilled\s+syringe|auto-?injector"
    r"|\b(?:iv|im|sc|sq)\b"
)

MED_ACTIVE = {
    "MedicationRequest": frozenset({"active", "on-hold"}),
    "MedicationStatement": frozenset({"active"}),
    "MedicationAdministration": frozenset({"in-progress", "on-hold"}),
}
MED_NOT_GIVEN = {
    "MedicationRequest": frozenset({"entered-in-error", "cancelled", "draft"}),
    "MedicationStatement": frozenset({"entered-in-error", "not-taken"}),
    "MedicationAdministration": frozenset({"entered-in-error", "not-done"}),
}
EXCLUDED_STATUS = frozenset({"entered-in-error", "cancelled"})

INPATIENT_CLASSES = frozenset({"IMP", "EMER", "ACUTE"})  # v3 ActCode: inpatient, emergency, inpatient acute
PAIN_REASON_SETS = frozenset(
    {
        VS.VERTEBRAL_FRACTURE,
        VS.VERTEBRAL_FRACTURE_UNSTABLE,
        VS.BME_PROXY,
        VS.TRANSIENT_OSTEOPOROSIS,
        VS.BONE_PAIN,
    }
)
PAIN_REASON = re.compile(r"back\s+pain|bone\s+pain|marrow\s+o?edema|vertebral\s+fracture|compression\s+fracture")
BED_REST_WORDS = re.compile(r"\b(?:bed\s*-?\s*rest|strict\s+immobili[sz]ation)\b")
AUGMENTATION = re.compile(r"vertebroplasty|kyphoplasty|vertebral\s+augmentation")
CORE_DECOMPRESSION = re.compile(r"core\s+decompression")
OFFLOADING = re.compile(r"total\s+contact\s+cast|off-?loading")
CABG = re.compile(r"coronary\s+artery\s+bypass|\bcabg\b")
# Any wording a procedure feature reads (the four patterns above, joined).
PROCEDURE_WORDS = re.compile("|".join(p.pattern for p in (AUGMENTATION, CORE_DECOMPRESSION, OFFLOADING, CABG)))
MRI_TEXT = re.compile(r"\bmri?\b|magnetic\s+resonance")
# An imaging report that names an MRI in its title ("MRI LUMBAR SPINE WO CONTRAST", EHR-internal code) is an MRI
# done; these statuses say it was not (yet) done.
NOT_DONE_STATUS = frozenset({"registered", "cancelled", "entered-in-error"})
# A DocumentReference is an imaging report when its text has a radiology report's sections; another document
# that names an MRI (a clinic note "MRI ordered") is not a study done.
REPORT_SECTIONS = re.compile(r"\b(?:impression|findings)\s*:")

REGION_SITES: dict[str, str] = {
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


NO_SETS: frozenset[str] = frozenset()
# Value-set groups tested per resource.
MRI_SETS = frozenset({VS.IMAGING_MRI, VS.MODALITY_MR, VS.PROC_MRI})
CT_SETS = frozenset({VS.IMAGING_CT, VS.MODALITY_CT})
FRACTURE_SETS = frozenset({VS.VERTEBRAL_FRACTURE, VS.VERTEBRAL_FRACTURE_UNSTABLE})
NSAID_SETS = frozenset({VS.RX_NSAID, VS.RX_INDOMETHACIN})
IV_BP_SETS = frozenset({VS.RX_IV_BISPHOSPHONATE, VS.RX_ZOLEDRONIC_ACID, VS.RX_PAMIDRONATE})
BP_SETS = IV_BP_SETS | {VS.RX_BISPHOSPHONATE}
GC_SETS = frozenset({VS.RX_SYSTEMIC_GLUCOCORTICOID, VS.RX_DEXAMETHASONE})
TNFI_SETS = frozenset({VS.RX_TNFI})
DENOSUMAB_SETS = frozenset({VS.RX_DENOSUMAB})
ILOPROST_SETS = frozenset({VS.RX_ILOPROST})
CALCITONIN_SETS = frozenset({RX_CALCITONIN})
OPIOID_SETS = frozenset({VS.RX_OPIOID})
ANTICOAGULANT_SETS = frozenset({VS.RX_ANTICOAGULANT})
DMARD_SETS = frozenset({VS.RX_CONVENTIONAL_DMARD})
# Conventional DMARDs no value set codes yet (docs/valuesets.md "Not verified here"): an active one named in an
# order keeps dmard_active unknown instead of False, so "no DMARD" is never said of a patient taking one.
UNCODED_DMARDS = re.compile(r"sulfasalazine|sulphasalazine|hydroxychloroquine")
# A finished medication course: a request/statement that completed, or was stopped after use (FHIR R4
# medicationrequest-status / medication-statement-status). Its length needs both ends dated.
MED_FINISHED = {
    "MedicationRequest": frozenset({"completed", "stopped"}),
    "MedicationStatement": frozenset({"completed", "stopped"}),
    "MedicationAdministration": frozenset({"completed", "stopped"}),
}
BENZODIAZEPINE_SETS = frozenset({VS.RX_BENZODIAZEPINE})
CNS_DEPRESSANT_SETS = frozenset({VS.RX_CNS_DEPRESSANT, VS.RX_BENZODIAZEPINE})
# Treatment-history flags that are only "a matching drug was given (or is active)": (feature, drug classes,
# active order required). A flag can be False only when every drug could be identified (see can_deny_*).
MEDICATION_FLAGS: tuple[tuple[str, frozenset[str], bool], ...] = (
    ("iv_bisphosphonate_given", IV_BP_SETS, False),
    ("iv_bisphosphonate_active", IV_BP_SETS, True),
    ("bisphosphonate_given", BP_SETS, False),
    ("tnfi_active", TNFI_SETS, True),
    ("denosumab_given", DENOSUMAB_SETS, False),
    ("iloprost_given", ILOPROST_SETS, False),
    ("calcitonin_active", CALCITONIN_SETS, True),
    ("benzodiazepine_active", BENZODIAZEPINE_SETS, True),
    ("cns_depressant_active", CNS_DEPRESSANT_SETS, True),
)
ORDER_KINDS: dict[str, tuple[str, ...]] = {
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
TEXT_FLAGS: dict[str, str] = {
    textfind.KIND_DEEP: "bme_deep_gt_1cm",
    textfind.KIND_ON: "on_features",
    textfind.KIND_ISCHEMIC: "ischemic_bme",
    textfind.KIND_RETROPULSION: "retropulsion",
    textfind.KIND_CORD: "cord_compression_suspected",
    textfind.KIND_ANKYLOSIS: "ankylosis",
    textfind.KIND_SPECT: "spect_ct_done",
    textfind.KIND_DECT: "dect_or_ct_done",
    textfind.KIND_MARROW_REPLACEMENT: "marrow_replacement",
    textfind.KIND_ON_UNSETTLED: "on_features_unsettled",
}
