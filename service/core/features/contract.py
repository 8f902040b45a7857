"""The Features contract: one declaration per feature, with its type, label, unit and group.

The contract between data and knowledge: rules read only `Features`, never FHIR. Field names follow
clinical-rules.md §1. Every field is a `Fact` (value + the resources and dates it came from); a value of None
means unknown. Each field's declaration (`feature(...)`) is the one place its words live: the SMART app's
label, group and unit, the lab Source displays, and the "missing" wording of cards and docs/rules.md all read
`SPECS`. A lab's value is stored in its declared unit, so what is shown always matches what is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from datetime import date
from typing import Any

from service.core.facts import UNKNOWN
from service.core.facts import Fact
from service.core.facts import Source

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

# Feature groups (clinical-rules.md §1 sections), in the order the SMART app shows them.
DEMOGRAPHICS = "Demographics and state"
IMAGING = "Bone marrow edema (imaging)"
FRACTURE = "Vertebral fracture and deformity"
NEURO = "Neurological status"
CAUSES = "Cause and other conditions"
PAIN = "Pain, function, care setting"
TREATMENTS = "Treatments"
LABS = "Labs"
DATA_QUALITY = "Data quality"


@dataclass(frozen=True)
class FeatureSpec:
    """What a feature is called, in which unit its value is stored, and where it is shown."""

    name: str
    type: str  # the field's annotation, e.g. "Fact[float]"
    group: str
    label: str  # the feature in words ("Ionized calcium")
    unit: str = ""  # the unit the value is stored in ("mg/dL"), "" for flags, dates and counts
    missing: str = ""  # the words a card and docs/rules.md use when a rule reports it unknown
    # A lab feature the SMART app shows beside this diagnosis, because the rules read the coded diagnosis only
    # and a result on record must not sit next to "nothing on record" unexplained.
    lab: str = ""


def feature(group: str, label: str, *, unit: str = "", missing: str = "", lab: str = "") -> Any:
    """Declare a Features field: unknown by default, with its words in the field's metadata."""
    return field(
        default=UNKNOWN, metadata={"group": group, "label": label, "unit": unit, "missing": missing, "lab": lab}
    )


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


@dataclass(frozen=True)
class Features:
    """Everything the rules may know about the patient; see clinical-rules.md §1 for each field."""

    today: date
    patient_reference: str = ""

    # §1.1 demographics and state
    age_years: Fact[int] = feature(DEMOGRAPHICS, "Age", unit="years", missing="age is not known")
    sex: Fact[str] = feature(DEMOGRAPHICS, "Sex")
    pregnant: Fact[bool] = feature(DEMOGRAPHICS, "Pregnant")
    gestational_age_weeks: Fact[int] = feature(DEMOGRAPHICS, "Gestational age weeks")

    # §1.2 bone marrow edema (imaging)
    bme_present: Fact[bool] = feature(IMAGING, "Bone marrow edema on imaging")
    bme_from_report_text: Fact[bool] = feature(IMAGING, "Edema found in report text")  # source (d) used
    bme_sites: Fact[frozenset[str]] = feature(IMAGING, "Sites of the edema", missing="BME site is not documented")
    bme_vertebral_level: Fact[str] = feature(IMAGING, "Vertebral level")
    # EXTENT_* or unknown
    bme_extent: Fact[str] = feature(
        IMAGING, "Extent of the edema", missing="BME extent (limited vs whole vertebral body) is not documented"
    )
    bme_deep_gt_1cm: Fact[bool] = feature(
        IMAGING, "BME deep > 1 cm", missing="BME depth (>1 cm from the articular surface) is not documented"
    )
    ramris_bme_score: Fact[float] = feature(IMAGING, "RAMRIS BME score", missing="RAMRIS BME score is not recorded")
    bme_first_seen_date: Fact[date] = feature(IMAGING, "BME first seen date")
    bone_pain: Fact[bool] = feature(IMAGING, "Bone pain")  # R01 trigger
    last_mri_date: Fact[date] = feature(IMAGING, "Last MRI date", missing="no MRI is on record")
    mri_contraindicated: Fact[bool] = feature(IMAGING, "MRI contraindicated")
    dect_or_ct_done: Fact[bool] = feature(IMAGING, "DECT or CT done")
    spect_ct_done: Fact[bool] = feature(IMAGING, "SPECT/CT done")
    bone_scan_done: Fact[bool] = feature(IMAGING, "Bone scan done")
    wbc_scan_done: Fact[bool] = feature(IMAGING, "WBC scan done")
    on_features: Fact[bool] = feature(
        IMAGING,
        "Osteonecrosis signs (rim, double line, crescent)",
        missing="MRI rim sign / osteonecrosis features are not documented",
    )
    ischemic_bme: Fact[bool] = feature(IMAGING, "Ischemic BME")  # report text
    new_symptoms_or_complication: Fact[bool] = feature(IMAGING, "New symptoms or complication")  # R36

    # §1.3 vertebral fracture and deformity
    vertebral_fracture: Fact[bool] = feature(FRACTURE, "Vertebral fracture")
    vertebral_fracture_count: Fact[int] = feature(FRACTURE, "Vertebral fracture count")
    fracture_onset_date: Fact[date] = feature(
        FRACTURE, "Fracture onset date", missing="fracture onset date is not documented"
    )
    pathologic_fracture_neoplastic: Fact[bool] = feature(FRACTURE, "Pathologic fracture neoplastic")
    kyphosis_pct: Fact[float] = feature(FRACTURE, "Kyphosis %", unit="%", missing="kyphosis % is not measured")
    height_loss_pct: Fact[float] = feature(
        FRACTURE, "Height loss %", unit="%", missing="vertebral height loss % is not measured"
    )
    retropulsion: Fact[bool] = feature(FRACTURE, "Retropulsion")
    spinal_instability: Fact[bool] = feature(
        FRACTURE, "Spinal instability", missing="spinal stability is not documented"
    )
    accumulated_skeletal_damage: Fact[bool] = feature(
        FRACTURE,
        "Accumulated skeletal damage",
        missing="accumulated skeletal damage (collapse, ankylosis) is not documented",
    )

    # §1.4 neurological status
    neuro_deficit: Fact[bool] = feature(NEURO, "Neuro deficit", missing="neurological examination is not documented")
    cord_compression_suspected: Fact[bool] = feature(NEURO, "Cord compression suspected")
    neuro_progressive: Fact[bool] = feature(NEURO, "Neuro progressive")

    # §1.5 etiology and comorbidity
    malignancy_active: Fact[bool] = feature(CAUSES, "Malignancy active")
    malignancy_history: Fact[bool] = feature(CAUSES, "Malignancy history")
    bone_metastasis: Fact[bool] = feature(CAUSES, "Bone metastasis")
    multiple_myeloma: Fact[bool] = feature(CAUSES, "Multiple myeloma")
    osteoporosis: Fact[bool] = feature(CAUSES, "Osteoporosis")
    # R19 reads the coded diagnosis (E55.9 etc.); the seeds give no 25-OH vitamin D threshold for it.
    vitamin_d_deficiency: Fact[bool] = feature(CAUSES, "Vitamin D deficiency diagnosis", lab="vitd_25oh")
    transient_bme_syndrome: Fact[bool] = feature(CAUSES, "Transient BME syndrome")
    osteonecrosis: Fact[bool] = feature(CAUSES, "Osteonecrosis")
    rheumatoid_arthritis: Fact[bool] = feature(CAUSES, "Rheumatoid arthritis")
    axspa: Fact[bool] = feature(CAUSES, "AxSpA")
    psoriatic_arthritis: Fact[bool] = feature(CAUSES, "Psoriatic arthritis")
    cno_sapho: Fact[bool] = feature(CAUSES, "CNO SAPHO")
    osteoarthritis: Fact[bool] = feature(CAUSES, "Osteoarthritis")  # a cause of BME (R05)
    crps: Fact[bool] = feature(CAUSES, "Complex regional pain syndrome")  # a cause of BME (R05)
    diabetes: Fact[bool] = feature(CAUSES, "Diabetes")
    charcot: Fact[bool] = feature(CAUSES, "Charcot")
    foot_ulcer_or_cellulitis_or_abscess: Fact[bool] = feature(CAUSES, "Foot ulcer or cellulitis or abscess")
    osteomyelitis: Fact[bool] = feature(CAUSES, "Osteomyelitis")
    # RA/axSpA/CNO/PsA
    inflammatory_dx: Fact[bool] = feature(
        CAUSES, "Inflammatory diagnosis", missing="no inflammatory diagnosis (RA, axSpA, PsA, CNO) could be checked"
    )
    marrow_replacement: Fact[bool] = feature(CAUSES, "Marrow replacement on imaging")  # report text
    cause_in_report: Fact[bool] = feature(CAUSES, "Cause named in the imaging report")  # R05; report text
    unexplained_weight_loss: Fact[bool] = feature(CAUSES, "Unexplained weight loss")
    fever: Fact[bool] = feature(CAUSES, "Fever")
    atypical_pain: Fact[bool] = feature(CAUSES, "Atypical pain")  # clinician input only
    # safety comorbidities [NOT IN SEEDS]
    ckd_stage_4_5_or_esrd: Fact[bool] = feature(CAUSES, "CKD stage 4-5 or ESRD")
    gi_bleed_or_pud_history: Fact[bool] = feature(CAUSES, "GI bleed or PUD history")
    gi_bleed_active: Fact[bool] = feature(CAUSES, "GI bleed active")
    heart_failure: Fact[bool] = feature(CAUSES, "Heart failure")
    hypocalcemia: Fact[bool] = feature(CAUSES, "Hypocalcemia")  # E83.51 or low lab
    onj_history: Fact[bool] = feature(CAUSES, "ONJ history")
    dental_disease: Fact[bool] = feature(CAUSES, "Dental disease")
    recent_cabg_date: Fact[date] = feature(CAUSES, "Recent CABG date")
    tnfi_screening_concern: Fact[bool] = feature(CAUSES, "TNF inhibitor screening concern")  # S13
    active_infection: Fact[bool] = feature(CAUSES, "Active infection")  # S13/S14 (active TB included)
    latent_tb: Fact[bool] = feature(CAUSES, "Latent tuberculosis")  # S13: Z22.7, positive TST/IGRA
    dialysis: Fact[bool] = feature(CAUSES, "On dialysis")  # S01/S08/S11: Z99.2, Z49, dialysis procedures

    # §1.6 pain, function, care setting
    pain_nrs_latest: Fact[int] = feature(
        PAIN, "Latest pain score (NRS)", unit="/10", missing="pain score (NRS 0-10) is not recorded"
    )
    pain_nrs_series: tuple[tuple[date, int], ...] = ()  # oldest first
    pain_severe: Fact[bool] = feature(PAIN, "Pain severe")
    pain_persistent_days: Fact[int] = feature(
        PAIN, "Pain persistent days", missing="how long the pain has persisted is not known"
    )
    impaired_mobility: Fact[bool] = feature(PAIN, "Impaired mobility")
    parenteral_opioid: Fact[bool] = feature(PAIN, "Parenteral opioid")
    hospitalized_for_pain: Fact[bool] = feature(PAIN, "Hospitalized for pain")

    # §1.7 treatment history
    nsaid_active: Fact[bool] = feature(TREATMENTS, "NSAID active")
    nsaid_start_date: Fact[date] = feature(TREATMENTS, "NSAID start date")
    nsaid_days: Fact[int] = feature(TREATMENTS, "NSAID days")
    nsaid_course_days: Fact[int] = feature(  # first-line history: the longest finished NSAID course
        TREATMENTS, "Longest completed NSAID course", unit="days", missing="no finished NSAID course is dated")
    nsaid_active_ingredients: Fact[frozenset[str]] = feature(TREATMENTS, "NSAID active ingredients")  # S06
    nsaid_response_insufficient: Fact[bool] = feature(
        TREATMENTS,
        "NSAID response insufficient",
        missing="NSAID response (pain scores before and after) is not documented",
    )
    iv_bisphosphonate_given: Fact[bool] = feature(TREATMENTS, "IV bisphosphonate given")
    iv_bisphosphonate_active: Fact[bool] = feature(TREATMENTS, "IV bisphosphonate active")
    bisphosphonate_given: Fact[bool] = feature(TREATMENTS, "Bisphosphonate given")  # any, incl. oral
    tnfi_active: Fact[bool] = feature(TREATMENTS, "TNF inhibitor active")
    denosumab_given: Fact[bool] = feature(TREATMENTS, "Denosumab given")
    iloprost_given: Fact[bool] = feature(TREATMENTS, "Iloprost given")
    calcitonin_active: Fact[bool] = feature(TREATMENTS, "Calcitonin active")
    opioid_active: Fact[bool] = feature(TREATMENTS, "Opioid active")
    opioid_days: Fact[int] = feature(TREATMENTS, "Opioid days")
    cns_depressant_active: Fact[bool] = feature(TREATMENTS, "CNS depressant active")  # S12 (incl. benzodiazepines)
    benzodiazepine_active: Fact[bool] = feature(TREATMENTS, "Benzodiazepine active")  # S12
    systemic_glucocorticoid_active: Fact[bool] = feature(TREATMENTS, "Systemic glucocorticoid active")
    glucocorticoid_days: Fact[int] = feature(TREATMENTS, "Glucocorticoid days")
    long_term_glucocorticoid_coded: Fact[bool] = feature(TREATMENTS, "Long term glucocorticoid coded")  # Z79.52
    treatment_induced_cause: Fact[bool] = feature(TREATMENTS, "Treatment induced cause")  # R20 others
    anticoagulant_active: Fact[bool] = feature(TREATMENTS, "Anticoagulant active")
    antiplatelet_active: Fact[bool] = feature(TREATMENTS, "Antiplatelet active")
    bed_rest_ordered: Fact[bool] = feature(TREATMENTS, "Bed rest ordered")
    offloading_in_place: Fact[bool] = feature(TREATMENTS, "Offloading in place")
    augmentation_done: Fact[bool] = feature(TREATMENTS, "Augmentation done")
    core_decompression_done: Fact[bool] = feature(TREATMENTS, "Core decompression done")
    conservative_start_date: Fact[date] = feature(TREATMENTS, "Conservative start date")
    # R15 warning
    dmard_active: Fact[bool] = feature(TREATMENTS, "DMARD active", missing="DMARD therapy could not be checked")

    # §1.8 labs (value in the declared unit; Fact.as_of is the lab date, for staleness)
    egfr: Fact[float] = feature(LABS, "eGFR", unit="mL/min/1.73m2", missing="eGFR")
    creatinine: Fact[float] = feature(LABS, "Creatinine", unit="mg/dL")
    calcium: Fact[float] = feature(LABS, "Calcium", unit="mg/dL", missing="serum calcium")
    calcium_low: Fact[bool] = feature(LABS, "Calcium low")  # by lab flag / ref range
    calcium_ionized: Fact[float] = feature(LABS, "Ionized calcium", unit="mg/dL")
    albumin: Fact[float] = feature(LABS, "Albumin", unit="g/dL", missing="serum albumin (for corrected calcium)")
    vitd_25oh: Fact[float] = feature(LABS, "25-OH vitamin D", unit="ng/mL", missing="25-OH vitamin D")

    # hook input
    draft_orders: tuple[DraftOrder, ...] = ()

    # added by the features extractor (beyond clinical-rules.md §1)
    # orders whose drug could not be identified
    unresolved_medications: Fact[int] = feature(DATA_QUALITY, "Unresolved medications")
    # last score on/before the NSAID start (R24 basis)
    pain_nrs_baseline: Fact[int] = feature(DATA_QUALITY, "Pain score before the NSAID", unit="/10")


# Every Fact field's declaration, in field order.
SPECS: Mapping[str, FeatureSpec] = {
    f.name: FeatureSpec(f.name, str(f.type), **f.metadata) for f in fields(Features) if "label" in f.metadata
}
