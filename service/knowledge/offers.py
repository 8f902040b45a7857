"""The orders the rules may suggest: codes from codes.md (V-A / V-B only), doses as the seeds word them.

A dose is the seed's own text (seed 002); where the seeds give none, `dose_text` is None and the note says so.
Where codes.md has no verified code, `code` is None and the order is text. Pure module.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from service.core import vocabulary as vocab
from service.core.features import SITE_FOOT_ANKLE
from service.core.features import SITE_HIP
from service.core.features import SITE_KNEE
from service.core.features import SITE_OTHER
from service.core.features import SITE_SACROILIAC
from service.core.features import SITE_VERTEBRA
from service.core.findings import Code
from service.core.findings import SuggestionSpec
from service.core.rulemodel import Ctx
from service.core.rulemodel import Offer
from service.knowledge.evidence import NO_CODE_NOTE
from service.knowledge.evidence import NO_DOSE_NOTE

MEDICATION: Literal["MedicationRequest"] = "MedicationRequest"
Priority = Literal["routine", "urgent", "stat"]



def _rx(code: str, name: str) -> Code:
    return Code(vocab.RXNORM, code, name)


def _drug(label: str, code: Code | None, text: str, dose: str | None, drug_class: str,
          note: str | None = None, priority: Priority | None = None) -> SuggestionSpec:
    return SuggestionSpec(label=label, resource_type=MEDICATION, code=code, text=text, dose_text=dose,
                          note=note if dose is not None or note else NO_DOSE_NOTE, drug_class=drug_class,
                          priority=priority)


# --- Drugs (codes.md D1; doses: seed 002, verbatim) ---------------------------------------------------------
NAPROXEN = _drug("Naproxen 375-1100 mg/day in two doses, for 2-4 weeks, then reassess",
                 _rx("7258", "naproxen"), "naproxen", "375-1100 mg/day in two doses", vocab.NSAID)
DICLOFENAC = _drug("Diclofenac 75-150 mg/day in divided doses, for 2-4 weeks, then reassess",
                   _rx("3355", "diclofenac"), "diclofenac", "75-150 mg/day in divided doses", vocab.NSAID)
INDOMETHACIN = _drug("Indomethacin 150 mg/day in divided doses, for 2-4 weeks, then reassess",
                     _rx("5781", "indomethacin"), "indomethacin", "150 mg/day in divided doses",
                     vocab.INDOMETHACIN)
CELECOXIB = _drug("Celecoxib 200-400 mg/day, for 2-4 weeks, then reassess", _rx("140587", "celecoxib"),
                  "celecoxib", "200-400 mg/day", vocab.NSAID)
NSAIDS: tuple[SuggestionSpec, ...] = (NAPROXEN, DICLOFENAC, INDOMETHACIN, CELECOXIB)

PAMIDRONATE_3_DAYS = _drug("Pamidronate 30 mg IV on 3 consecutive days, repeated every 3 months",
                           _rx("11473", "pamidronate"), "pamidronate",
                           "30 mg intravenously on 3 consecutive days, repeated every 3 "
                           "months", vocab.PAMIDRONATE)
PAMIDRONATE_MONTHLY = _drug("Pamidronate 45-90 mg (or 1 mg/kg) IV every month or every 3 months "
                            "(alternative)",
                            _rx("11473", "pamidronate"), "pamidronate",
                            "45-90 mg (or 1 mg/kg) intravenously every month or every 3 "
                            "months", vocab.PAMIDRONATE)
ZOLEDRONIC_ACID = _drug("Zoledronic acid IV (institutional protocol; the seeds give no dose)",
                        _rx("77655", "zoledronic acid"), "zoledronic acid", None, vocab.ZOLEDRONIC_ACID)

INFLIXIMAB = _drug("Infliximab 3-5 mg/kg IV at 0,2,6 weeks then every 6-8 weeks", _rx("191831", "infliximab"),
                   "infliximab", "3-5 mg/kg IV at 0,2,6 weeks then every 6-8 weeks", vocab.TNFI)
ETANERCEPT = _drug("Etanercept 50 mg/week subcutaneously", _rx("214555", "etanercept"), "etanercept",
                   "50 mg/week subcutaneously", vocab.TNFI)
ADALIMUMAB = _drug("Adalimumab 40 mg every 2 weeks subcutaneously", _rx("327361", "adalimumab"), "adalimumab",
                   "40 mg every 2 weeks subcutaneously", vocab.TNFI)
TNFIS: tuple[SuggestionSpec, ...] = (INFLIXIMAB, ETANERCEPT, ADALIMUMAB)

DEXAMETHASONE = _drug("Dexamethasone, high dose, now (institutional protocol; the seeds give no dose)",
                      _rx("3264", "dexamethasone"), "dexamethasone", None, vocab.DEXAMETHASONE,
                      priority="stat")
DENOSUMAB = _drug("Denosumab, single dose (institutional protocol; the seeds give no dose)",
                  _rx("993449", "denosumab"), "denosumab", None, vocab.DENOSUMAB)
ILOPROST = _drug("Iloprost IV, 5-day infusion (institutional protocol; the seeds give no dose)",
                 _rx("40138", "iloprost"), "iloprost", None, vocab.ILOPROST)
CALCITONIN = _drug("Calcitonin for the first 4 weeks (institutional protocol; the seeds give no dose or "
                   "route)",
                   None, "calcitonin", None, vocab.CALCITONIN,
                   note=NO_DOSE_NOTE + " No verified RxNorm code for calcitonin (codes.md F): ordered as "
                                       "text. Limit to the first 4 weeks.")


def _service(label: str, text: str, code: Code | None = None, note: str | None = None,
             priority: Priority | None = None) -> SuggestionSpec:
    return SuggestionSpec(label=label, resource_type="ServiceRequest", code=code, text=text,
                          note=note if code is not None or note else NO_CODE_NOTE, priority=priority)


def _loinc(code: str, display: str) -> Code:
    return Code(vocab.LOINC, code, display)


# --- Referrals and care (no verified codes: codes.md E4) ----------------------------------------------------
SPINE_SURGERY_STAT = _service("Urgent referral to spine surgery", "Referral to spine surgery (urgent)",
                              priority="stat")
HAEMATOLOGY_REFERRAL = _service("Referral to haematology/oncology (myeloma team)",
                                "Referral to haematology/oncology")
RHEUMATOLOGY_REFERRAL = _service("Referral to rheumatology to review disease-modifying therapy",
                                 "Referral to rheumatology")
CORE_DECOMPRESSION_REFERRAL = _service("Orthopaedic referral: evaluate for core decompression",
                                       "Referral to orthopaedics for core decompression evaluation",
                                       note=NO_CODE_NOTE + " (codes.md E3)")
PHYSIOTHERAPY = _service("Physiotherapy: core strengthening, posture and early mobilisation",
                         "Referral to physiotherapy")
PROTECTED_WEIGHT_BEARING = _service("Physiotherapy / gait aid for protected weight-bearing",
                                    "Physiotherapy and gait aid for protected weight-bearing")
OFFLOADING = _service("Offloading (e.g. total contact cast)", "Offloading device (e.g. total contact cast)")
FOLLOW_UP_VISIT = _service("Follow-up visit to reassess the response", "Follow-up visit to reassess response")

# --- Labs (codes.md B) --------------------------------------------------------------------------------------
CALCIUM_LAB = _service("Serum calcium", "Calcium [Mass/volume] in Serum or Plasma",
                       _loinc("17861-6", "Calcium [Mass/volume] in Serum or Plasma"))
ALBUMIN_LAB = _service("Serum albumin (for corrected calcium)", "Albumin [Mass/volume] in Serum or Plasma",
                       _loinc("1751-7", "Albumin [Mass/volume] in Serum or Plasma"))
VITD_LAB = _service("25-OH vitamin D", "25-Hydroxyvitamin D2+D3 [Mass/volume] in Serum or Plasma",
                    _loinc("62292-8", "25-Hydroxyvitamin D2+D3 [Mass/volume] in Serum or Plasma"))
DENOSUMAB_LABS: tuple[SuggestionSpec, ...] = (CALCIUM_LAB, ALBUMIN_LAB, VITD_LAB)

# --- Imaging (codes.md C1, LOINC Radiology Playbook) --------------------------------------------------------
MRI_BY_REGION: dict[str, Code] = {
    "cervical": _loinc("24935-9", "MR Cervical spine"),
    "thoracic": _loinc("24980-5", "MR Thoracic spine"),
    "lumbar": _loinc("24968-0", "MR Lumbar spine"),
    "sacral": _loinc("36059-4", "MR Sacrum"),
    "spine": _loinc("36067-7", "MR Spine"),
    SITE_HIP: _loinc("36013-1", "MR Hip"),
    SITE_KNEE: _loinc("24802-1", "MR Knee"),
    SITE_FOOT_ANKLE: _loinc("37222-7", "MR Ankle and Foot"),
    SITE_SACROILIAC: _loinc("36031-3", "MR Sacroiliac Joint"),
}
CONTRAST_MRI_BY_REGION: dict[str, Code] = {
    "cervical": _loinc("24937-5", "MR Cervical spine WO and W contrast IV"),
    "thoracic": _loinc("24981-3", "MR Thoracic spine WO and W contrast IV"),
    "lumbar": _loinc("24967-2", "MR Lumbar spine WO and W contrast IV"),
    "spine": _loinc("36400-0", "MR Spine WO and W contrast IV"),
    SITE_HIP: _loinc("30688-6", "MR Hip WO and W contrast IV"),
    SITE_KNEE: _loinc("24803-9", "MR Knee WO and W contrast IV"),
    SITE_FOOT_ANKLE: _loinc("30682-9", "MR Foot WO and W contrast IV"),
}
CT_BY_REGION: dict[str, Code] = {
    "thoracic": _loinc("24978-9", "CT Thoracic spine"),
    "lumbar": _loinc("24963-1", "CT Lumbar spine"),
    "spine": _loinc("28566-8", "CT Spine"),
    SITE_HIP: _loinc("36014-9", "CT Hip"),
    SITE_KNEE: _loinc("36037-0", "CT Knee"),
    SITE_FOOT_ANKLE: _loinc("35991-9", "CT Foot"),
}
DCE_MRI_HIP = _service("MRI hip with and without IV contrast (dynamic contrast-enhanced)",
                       "MR Hip WO and W contrast IV", CONTRAST_MRI_BY_REGION[SITE_HIP],
                       note="Dynamic contrast-enhanced protocol: osteonecrosis vs transient BME syndrome")
WBC_SCAN_IN111 = _service("Labelled-WBC scan (In-111)", "NM Bone Views W In-111 tagged WBC IV",
                          _loinc("25032-4", "NM Bone Views W In-111 tagged WBC IV"))
WBC_SCAN_TC99M = _service("Labelled-WBC scan (Tc-99m)", "NM Bone Views W Tc-99m tagged WBC IV",
                          _loinc("42700-5", "NM Bone Views W Tc-99m tagged WBC IV"))

# --- Vertebral augmentation (codes.md E1, CPT, V-B) ---------------------------------------------------------
KYPHOPLASTY_THORACIC = Code(vocab.CPT, "22513", "Percutaneous vertebral augmentation (e.g. kyphoplasty), "
                                          "1 vertebral body; thoracic")
KYPHOPLASTY_LUMBAR = Code(vocab.CPT, "22514", "Percutaneous vertebral augmentation (e.g. kyphoplasty), "
                                        "1 vertebral body; lumbar")
AUGMENTATION_NOTE = ("Vertebroplasty CPT 22510/22511, kyphoplasty 22513/22514, add-ons 22512/22515 (codes.md "
                     "E1, V-B: check with your coding team).")


def spine_region(level: str | None) -> str:
    """Spine region from a vertebral level such as 'T12' or 'L1'; 'spine' when unknown."""
    first = (level or "").strip()[:1].upper()
    return {"C": "cervical", "T": "thoracic", "L": "lumbar", "S": "sacral"}.get(first, "spine")


def _regions(ctx: Ctx) -> tuple[str, ...]:
    sites = ctx.features.bme_sites.value or frozenset()
    regions: list[str] = []
    if SITE_VERTEBRA in sites or ctx.features.vertebral_fracture.value is True:
        regions.append(spine_region(ctx.features.bme_vertebral_level.value))
    # "other" names no region: the order says "affected area" rather than guess one.
    regions += sorted("affected area" if s == SITE_OTHER else s for s in sites if s != SITE_VERTEBRA)
    return tuple(regions)


REGION_WORDS: dict[str, str] = {
    "cervical": "cervical spine", "thoracic": "thoracic spine", "lumbar": "lumbar spine", "sacral": "sacrum",
    SITE_HIP: "hip", SITE_KNEE: "knee", SITE_FOOT_ANKLE: "foot and ankle",
    SITE_SACROILIAC: "sacroiliac joints",
}


def _imaging(kind: str, table: dict[str, Code], region: str, note: str | None = None,
             priority: Priority | None = None) -> SuggestionSpec:
    code = table.get(region)
    if code is not None:
        return _service(f"{kind}: {code.display}", code.display, code, note=note, priority=priority)
    where = REGION_WORDS.get(region, region)
    # No verified code for this region: a text order that says so.
    note = f"{note}. {NO_CODE_NOTE}" if note else NO_CODE_NOTE
    return _service(f"{kind}: {where}", f"{kind} of the {where}", None, note=note, priority=priority)


def mri_for_regions(ctx: Ctx) -> tuple[SuggestionSpec, ...]:
    """MRI of each affected region (text order for a region without a verified code)."""
    regions = _regions(ctx) or ("affected area",)
    return tuple(_imaging("MRI", MRI_BY_REGION, r) for r in regions)


def ct_for_regions(ctx: Ctx) -> tuple[SuggestionSpec, ...]:
    """CT of each affected region with a dual-energy note; no LOINC exists for DECT (codes.md F)."""
    regions = _regions(ctx) or ("affected area",)
    return tuple(_imaging("CT", CT_BY_REGION, r, note="dual-energy protocol for bone marrow edema")
                 for r in regions)


def contrast_mri_for_regions(ctx: Ctx) -> tuple[SuggestionSpec, ...]:
    """MRI with and without IV contrast of each affected region."""
    regions = _regions(ctx) or ("spine",)
    return tuple(_imaging("MRI with and without IV contrast", CONTRAST_MRI_BY_REGION, r) for r in regions)


def urgent_spine_mri(ctx: Ctx) -> SuggestionSpec:
    """Urgent MRI of the spine with and without contrast, by level where known."""
    region = spine_region(ctx.features.bme_vertebral_level.value)
    return _imaging("Urgent MRI with and without IV contrast", CONTRAST_MRI_BY_REGION,
                    region if region in CONTRAST_MRI_BY_REGION else "spine", priority="stat")


URGENT_SPINE_MRI_EXAMPLE = _imaging("Urgent MRI with and without IV contrast", CONTRAST_MRI_BY_REGION,
                                    "spine", priority="stat")


def augmentation_referral(ctx: Ctx) -> SuggestionSpec:
    """Referral for vertebral augmentation evaluation, coded by level when the level is thoracic or lumbar."""
    region = spine_region(ctx.features.bme_vertebral_level.value)
    code = {"thoracic": KYPHOPLASTY_THORACIC, "lumbar": KYPHOPLASTY_LUMBAR}.get(region)
    return _service("Referral for vertebral augmentation evaluation (vertebroplasty / kyphoplasty)",
                    "Vertebral augmentation evaluation", code, note=AUGMENTATION_NOTE)


AUGMENTATION_REFERRAL_EXAMPLE = _service(
    "Referral for vertebral augmentation evaluation (vertebroplasty / kyphoplasty)",
    "Vertebral augmentation evaluation", KYPHOPLASTY_LUMBAR, note=AUGMENTATION_NOTE)


def bisphosphonates(ctx: Ctx) -> tuple[SuggestionSpec, ...]:
    """The IV bisphosphonate options in the policy's order (bp.default_agent first, recommended)."""
    if ctx.policy["bp.default_agent"] == "zoledronic_acid":
        return (replace(ZOLEDRONIC_ACID, is_recommended=True), PAMIDRONATE_3_DAYS, PAMIDRONATE_MONTHLY)
    return (replace(PAMIDRONATE_3_DAYS, is_recommended=True), PAMIDRONATE_MONTHLY)


BISPHOSPHONATE_CATALOGUE = (PAMIDRONATE_3_DAYS, PAMIDRONATE_MONTHLY, ZOLEDRONIC_ACID)

MRI_OFFER = Offer("MRI of each affected region (LOINC playbook code by region, codes.md "
                  "C1).", mri_for_regions,
                  tuple(_imaging("MRI", MRI_BY_REGION, r) for r in MRI_BY_REGION))
CT_OFFER = Offer("CT of each affected region with the note 'dual-energy protocol for bone marrow edema' (no "
                 "LOINC code exists for DECT).", ct_for_regions,
                 tuple(_imaging("CT", CT_BY_REGION, r) for r in CT_BY_REGION))
CONTRAST_MRI_OFFER = Offer("MRI with and without IV contrast of each affected "
                           "region.", contrast_mri_for_regions,
                           tuple(_imaging("MRI with and without IV contrast", CONTRAST_MRI_BY_REGION, r)
                                 for r in CONTRAST_MRI_BY_REGION))
