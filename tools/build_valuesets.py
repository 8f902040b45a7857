"""Generate `valuesets/*.json` (FHIR R4 ValueSets) from the readable table below.

Run `python tools/build_valuesets.py` from the repository root; the committed JSON is its output and
`tests/valuesets/test_generator.py` fails when they differ. Needs `simple-icd-10-cm` 1.5.0 (CDC ICD-10-CM
April 2026) to check ICD-10-CM codes, take their displays and expand the prefix rows offline.

Source of truth: docs codes.md (verified terminology) and clinical-rules.md §1 (which concepts the features
need). Only codes marked V-A or V-B go in, and each carries its evidence; UNVERIFIED codes are left out.
See `service/core/valuesets.py` for the file conventions (evidence extension, ICD-10-CM is-a = prefix).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import warnings  # noqa: E402

from tools.extract_valueset_sources import CDC_OPIOID_FILES  # noqa: E402 (after the path set-up)

with warnings.catch_warnings():
    # simple-icd-10-cm 1.5.0 uses the deprecated importlib.resources.read_text when it loads its data.
    warnings.simplefilter("ignore", DeprecationWarning)
    import simple_icd_10_cm as icd10

from service.core.valuesets import CPT  # noqa: E402
from service.core.valuesets import DCM  # noqa: E402
from service.core.valuesets import EVIDENCE_EXTENSION_URL  # noqa: E402
from service.core.valuesets import ICD10CM  # noqa: E402
from service.core.valuesets import LOINC  # noqa: E402
from service.core.valuesets import RXNORM  # noqa: E402
from service.core.valuesets import SNOMED  # noqa: E402
from service.core.valuesets import VALUESET_URL_BASE  # noqa: E402
from service.core.valuesets import VS  # noqa: E402
from service.core.valuesets import computable_name  # noqa: E402

OUT_DIR = ROOT / "valuesets"
VERSION = "0.1.0"
# Fixed so that regenerating gives byte-identical files (the generator test compares them).
DATE = "2026-11-21"
TIMESTAMP = "2026-11-21T00:00:00Z"
PUBLISHER = "BME CDS project"

ICD_EVIDENCE = "V-A: simple_icd_10_cm 1.5.0 (CDC ICD-10-CM April 2026) is_valid_item/get_description"
CANVAS22 = "canvas_sdk/value_set/v2022/condition.py"
CANVAS26 = "canvas_sdk/value_set/v2026/condition.py"
ODTP = "OHDSI Athena export (Ingredient, S, V), dr-you-group/OsteoporosisTreatmentPathways@dc04b417"
OHDSI = "OHDSI/PhenotypeLibrary@40106e4e"


@dataclass(frozen=True)
class Code:
    """One row of the table: a code, its display and why it is trusted."""

    system: str
    code: str
    display: str
    evidence: str
    prefix: bool = False  # ICD-10-CM only: the row admits every descendant (codes.md "prefix")


@dataclass(frozen=True)
class Spec:
    """One value set to generate."""

    name: str
    title: str
    description: str
    include: tuple[Code, ...]
    exclude: tuple[Code, ...] = ()


def icd(code: str, section: str, *, prefix: bool = False, note: str = "") -> Code:
    """ICD-10-CM row; the display is the official one from simple_icd_10_cm, and the code must exist."""
    if not icd10.is_valid_item(code):
        raise SystemExit(f"ICD-10-CM {code} does not exist in simple_icd_10_cm")
    kind = "prefix row" if prefix else "code"
    evidence = f"{ICD_EVIDENCE}; codes.md {section} ({kind})" + (f"; {note}" if note else "")
    return Code(ICD10CM, code, icd10.get_description(code), evidence, prefix)


def sct(code: str, display: str, evidence: str) -> Code:
    """SNOMED CT row."""
    return Code(SNOMED, code, display, evidence)


def loinc(code: str, display: str, evidence: str) -> Code:
    """LOINC row."""
    return Code(LOINC, code, display, evidence)


def rx(code: str, display: str, evidence: str) -> Code:
    """RxNorm ingredient (TTY=IN) row."""
    return Code(RXNORM, code, display, evidence)


def cpt(code: str, display: str, evidence: str) -> Code:
    """CPT row (short descriptor; full CPT descriptors are AMA-copyrighted)."""
    return Code(CPT, code, display, evidence)


def dcm(code: str, display: str) -> Code:
    """DICOM CID 29 acquisition-modality row."""
    evidence = (
        "V-A: DICOM CID 29 Acquisition Modality (1.2.840.10008.6.1.19), bvdh/dicom-terminology-in-fhir "
        "ValueSet-dicom-cid-29-AcquisitionModality.fsh (20231115); codes.md C3"
    )
    return Code(DCM, code, display, evidence)



# ---------------------------------------------------------------------------------------------------------
# Published value sets copied into tools/valueset_sources/ by tools/extract_valueset_sources.py (issue 12):
# whole classes from the CDC opioid CDS value sets (CC0), VSAC eCQM expansions (canvas 0.261.0, codes.md
# V-A) and HL7 FHIR R4 examples. The build reads only these committed extracts.
# ---------------------------------------------------------------------------------------------------------

SOURCES = ROOT / "tools" / "valueset_sources"
CDC_REPO = "cqframework/opioid-cds-r4@b29bdcbf input/vocabulary/valueset/"
# RxNorm dose forms given by injection (IV/IM/SC): "Injection", "Injectable Solution/Suspension",
# "Auto-Injector", "Pen Injector", "Prefilled Syringe", "Cartridge" (injectable cartridges). Drug implants,
# transdermal, mucosal and nasal forms are not parenteral injections and stay out.
PARENTERAL = re.compile(r"Inject|Prefilled Syringe|\bCartridge\b")
NSAID_NAME = re.compile(
    r"\b(ketorolac|meloxicam|nabumetone|etodolac|piroxicam|sulindac|diclofenac|naproxen|ibuprofen|celecoxib|"
    r"indomethacin|ketoprofen|flurbiprofen|oxaprozin|diflunisal|fenoprofen|mefenamic|meclofenamate|tolmetin)\b",
    re.I,
)


def _source(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SOURCES / name).read_text(encoding="utf-8"))
    return data


CDC_SETS: dict[str, Any] = _source("cdc-opioid-cds.json")["sets"]
VSAC_SETS: list[dict[str, Any]] = _source("vsac-ecqm-canvas.json")["sets"]
HL7_EXAMPLES: list[dict[str, str]] = _source("hl7-fhir-r4-examples.json")["codes"]


def _keep(display: str, only: re.Pattern[str] | None, drop: re.Pattern[str] | None) -> bool:
    return (only is None or only.search(display) is not None) and (drop is None or drop.search(display) is None)


def cdc(file: str, *, only: re.Pattern[str] | None = None, drop: re.Pattern[str] | None = None) -> tuple[Code, ...]:
    """Rows of one CDC opioid CDS value set (its published expansion), optionally filtered by display."""
    vs = CDC_SETS[file]
    evidence = (
        f"V-A: CDC opioid CDS value set {vs['url']} (expansion {vs['expansion_timestamp']}), {CDC_REPO}{file}, "
        "CC0-1.0"
    )
    return tuple(
        Code(vs["system"], code, display, evidence) for code, display in vs["codes"] if _keep(display, only, drop)
    )


def vsac(
    name: str,
    file: str,
    system: str,
    *,
    only: re.Pattern[str] | None = None,
    drop: re.Pattern[str] | None = None,
) -> tuple[Code, ...]:
    """Rows of one VSAC expansion in canvas 0.261.0 (file and line given), optionally filtered by display."""
    for vs in VSAC_SETS:
        if vs["name"] == name and vs["file"].endswith(file) and vs["system"] == system:
            base = f"V-A: VSAC '{name}' {vs['oid']} ({vs['expansion']}), {vs['file']}"
            return tuple(
                Code(system, code, display, f"{base} l.{line}")
                for code, display, line in vs["codes"]
                if _keep(display, only, drop)
            )
    raise SystemExit(f"no VSAC extract {name!r} in {file} for {system}")


def hl7_example(code: str) -> Code:
    """LOINC row seen in an HL7 FHIR R4 example resource (codes.md V-A: an HL7-published example)."""
    for row in HL7_EXAMPLES:
        if row["code"] == code:
            evidence = f"V-A: HL7 FHIR R4 example {row['resource']} (npm hl7.fhir.r4.examples 4.0.1, {row['file']})"
            return Code(LOINC, code, row["display"], evidence)
    raise SystemExit(f"LOINC {code} is in no HL7 example extract")


def icd_new(code: str, note: str, *, prefix: bool = False) -> Code:
    """ICD-10-CM row that codes.md does not list: existence and display from simple_icd_10_cm (V-A)."""
    if not icd10.is_valid_item(code):
        raise SystemExit(f"ICD-10-CM {code} does not exist in simple_icd_10_cm")
    kind = "prefix row" if prefix else "code"
    evidence = f"{ICD_EVIDENCE}; issue 12 addition ({kind}); {note}"
    return Code(ICD10CM, code, icd10.get_description(code), evidence, prefix)


DIALYSIS_NOT_ONGOING = re.compile(r"Removal|Hemoperfusion|albumin", re.I)

VSAC_OPIOID_SETS = ("Opioids", "Opioids, All", "Schedule II, III and IV Opioid Medications")


def opioid_products(only: re.Pattern[str] | None = None) -> tuple[Code, ...]:
    """Opioid clinical/branded drugs: every CDC opioid set, then the VSAC opioid sets (for injectables)."""
    rows = [row for f in CDC_OPIOID_FILES for row in cdc(f, only=only)]
    rows += [row for n in VSAC_OPIOID_SETS for row in vsac(n, "v2026/medication.py", RXNORM, only=only)]
    return tuple(rows)


# ---------------------------------------------------------------------------------------------------------
# Conditions (codes.md A)
# ---------------------------------------------------------------------------------------------------------

VSAC_OSTEOPOROSIS = (
    f"V-A: VSAC 'Osteoporosis' 2.16.840.1.113883.3.464.1003.113.12.1038 (eCQM 2021-05-06), {CANVAS22}"
)
VSAC_OSTEOPOROTIC_FX = (
    f"V-A: VSAC 'Osteoporotic Fractures' 2.16.840.1.113883.3.464.1003.113.12.1050 (eCQM 2021), {CANVAS22}"
)
ODTP_COHORTS = "V-A: OHDSI Athena export, dr-you-group/OsteoporosisTreatmentPathways@dc04b417 inst/cohorts/"

TRANSIENT_OSTEOPOROSIS_SCT = (
    sct("240159007", "Transient osteoporosis of hip (disorder)", f"{VSAC_OSTEOPOROSIS} l.29491; codes.md A1"),
    sct("699528002", "Transient osteoporosis (disorder)", f"{VSAC_OSTEOPOROSIS} l.29502; codes.md A1"),
    sct(
        "240158004", "Regional migrating osteoporosis (disorder)", f"{VSAC_OSTEOPOROSIS} l.29490; codes.md A1"
    ),
    sct(
        "240160002",
        "Transient osteoporosis of hip in pregnancy (disorder)",
        "V-A: VSAC 'Complications of Pregnancy, Childbirth and the Puerperium' (eCQM 2025-05-08), "
        f"{CANVAS26} l.28440; codes.md A1",
    ),
)

PATH_FX_VERTEBRA_METASTATIC = sct(
    "866087009",
    "Pathologic fracture of vertebra at site of metastatic neoplasm (disorder)",
    f"V-A: VSAC 'Comorbid Conditions for Respiratory Conditions' (eCQM 2025-05-08), {CANVAS26} l.20327; "
    "codes.md A2",
)
BONE_METASTASIS_SCT = sct(
    "94222008",
    "Metastatic malignant neoplasm to bone (disorder)",
    "V-A: VSAC 'Advanced Illness' 2.16.840.1.113883.3.464.1003.110.12.1082 (eCQM 2025-05-08), "
    f"{CANVAS26} l.1606; codes.md A9",
)
MYELOMA_SCT = (
    sct(
        "109989006",
        "Multiple myeloma (disorder)",
        "V-A: VSAC 'Malignant Neoplasm of Lymphatic and Hematopoietic Tissue' "
        f"2.16.840.1.113883.3.464.1003.108.12.1009 (eCQM 2025-05-08), {CANVAS26} l.6952; {OHDSI} "
        "inst/cohorts/581.json; codes.md A8",
    ),
    sct(
        "94704006",
        "Multiple myeloma in remission (disorder)",
        "V-A: VSAC 'Malignant Neoplasm of Lymphatic and Hematopoietic Tissue' (eCQM 2025-05-08), "
        f"{CANVAS26} l.7642; codes.md A8",
    ),
)


def _unstable_burst_prefixes() -> tuple[Code, ...]:
    # codes.md A2: under S22.0/S32.0 the 6th character 2 means "unstable burst"; each such subcategory
    # (e.g. S22.002, S32.012) is a prefix row for its 7th-character encounter codes.
    rows = []
    for parent in ("S22.0", "S32.0"):
        for code in icd10.get_descendants(parent):
            if icd10.is_subcategory(code) and len(icd10.remove_dot(code)) == 6 and code.endswith("2"):
                rows.append(
                    icd(
                        code,
                        "A2",
                        prefix=True,
                        note="6th character 2 = unstable burst (feeds spinal_instability)",
                    )
                )
    return tuple(rows)


def _malignant_categories() -> tuple[Code, ...]:
    # codes.md A9 names the block C00-C96; in simple_icd_10_cm that heading has no children, so the block
    # is written as each 3-character C category of chapter 2 (C00..C96, including C4A, C7A, C7B).
    rows = []
    for code in icd10.get_descendants("2"):
        if code.startswith("C") and icd10.is_category(code):
            rows.append(icd(code, "A9", prefix=True, note="category in block C00-C96 Malignant neoplasms"))
    return tuple(rows)


def _pregnancy_categories() -> tuple[Code, ...]:
    # codes.md A18: chapter 15 (O00-O9A), prefix O; written as each 3-character O category of chapter 15.
    rows = []
    for code in icd10.get_descendants("15"):
        if icd10.is_category(code):
            rows.append(icd(code, "A18", prefix=True, note="category in chapter 15 (O00-O9A)"))
    return tuple(rows)



# Chapter 15 codes that name only the puerperium, childbirth (delivery) or lactation: the patient is no longer
# pregnant. A code is judged by its own title, or, when that names none of these words, by its nearest parent's
# title below the block. A title that also names pregnancy (trimester, fetus, labour, antepartum, ...) stays
# pregnancy: when in doubt the pregnancy gate still applies.
_PREGNANT_WORDS = re.compile(
    r"pregnan|gestation|trimester|antepartum|fetus|fetal|maternal care|labor\b|abortion|ectopic|molar|"
    r"hydatidiform|placenta|amniotic|ovum",
    re.I,
)
_AFTER_BIRTH_WORDS = re.compile(
    r"puerper|postpartum|post-partum|childbirth|delivery|lactation|obstetric surgical wound|obstetric death", re.I
)


def _title_that_decides(code: str) -> str:
    while True:
        title = icd10.get_description(code)
        if _PREGNANT_WORDS.search(title) or _AFTER_BIRTH_WORDS.search(title):
            return title
        parent = icd10.get_parent(code)
        if not parent or icd10.is_block(parent) or icd10.is_chapter(parent):
            return title
        code = parent


def _puerperium_rows() -> tuple[Code, ...]:
    after_birth = set()
    for code in icd10.get_descendants("15"):
        if icd10.is_block(code) or icd10.is_chapter(code):
            continue
        title = _title_that_decides(code)
        if _AFTER_BIRTH_WORDS.search(title) and not _PREGNANT_WORDS.search(title):
            after_birth.add(code)
    # Only the top-most such codes; a code with children becomes a prefix row over all of them.
    top = [c for c in icd10.get_descendants("15") if c in after_birth and not set(icd10.get_ancestors(c)) & after_birth]
    note = "title names the puerperium, childbirth or lactation and not pregnancy"
    return tuple(icd_new(c, note, prefix=not icd10.is_leaf(c)) for c in top)


PUERPERIUM_ROWS = _puerperium_rows()


CONDITIONS: tuple[Spec, ...] = (
    Spec(
        VS.VERTEBRAL_FRACTURE,
        "Vertebral compression or fragility fracture",
        "Vertebral fracture / collapse (clinical-rules §1.3 vertebral_fracture). Excludes pathological "
        "fractures coded to 'other site' (see fracture-needs-spine-site).",
        (
            icd("M48.5", "A2", prefix=True),
            icd(
                "M80.08",
                "A2",
                prefix=True,
                note=f"also VSAC 'Osteoporotic Fractures' {CANVAS22} l.29661-29666",
            ),
            icd(
                "M80.88",
                "A2",
                prefix=True,
                note=f"also VSAC 'Osteoporotic Fractures' {CANVAS22} l.29805-29810",
            ),
            icd("S22.0", "A2", prefix=True),
            icd("S32.0", "A2", prefix=True),
            sct(
                "84138006",
                "Collapse of vertebra",
                f"{ODTP_COHORTS}ODTP_New_users_of_Denosumab_as_first_line_therapy.json l.410; codes.md A2",
            ),
            sct(
                "50448004",
                "Fracture of vertebral column",
                f"{ODTP_COHORTS}ODTP_New_users_of_Denosumab_as_first_line_therapy.json l.733; codes.md A2",
            ),
            sct(
                "125607007",
                "Fracture of thoracic spine",
                f"{ODTP_COHORTS}ODTP_Osteoporotic_fracture_Vertebral.json l.36; codes.md A2",
            ),
            sct(
                "125608002",
                "Fracture of lumbar spine",
                f"{ODTP_COHORTS}ODTP_Osteoporotic_fracture_Vertebral.json l.19; codes.md A2",
            ),
            sct(
                "240198002",
                "Osteoporotic vertebral collapse (disorder)",
                f"{VSAC_OSTEOPOROSIS} l.29495; also VSAC 'Osteoporotic Fractures' l.29829; codes.md A2",
            ),
            sct(
                "311890007",
                "Collapse of lumbar vertebra due to osteoporosis (disorder)",
                f"{VSAC_OSTEOPOROTIC_FX} l.29831; codes.md A2",
            ),
            sct(
                "311891006",
                "Collapse of thoracic vertebra due to osteoporosis (disorder)",
                f"{VSAC_OSTEOPOROTIC_FX} l.29832; codes.md A2",
            ),
            sct(
                "203450003",
                "Osteoporosis with pathological fracture of lumbar vertebrae (disorder)",
                f"{VSAC_OSTEOPOROTIC_FX} l.29825; codes.md A2",
            ),
            sct(
                "203451004",
                "Osteoporosis with pathological fracture of thoracic vertebrae (disorder)",
                f"{VSAC_OSTEOPOROTIC_FX} l.29826; codes.md A2",
            ),
            PATH_FX_VERTEBRA_METASTATIC,
        ),
    ),
    Spec(
        VS.VERTEBRAL_FRACTURE_UNSTABLE,
        "Unstable burst fracture of thoracic or lumbar vertebra",
        "ICD-10-CM S22.0x2* / S32.0x2* 'Unstable burst fracture' (codes.md A2 feature hint; clinical-rules "
        "§1.3 spinal_instability, R07).",
        _unstable_burst_prefixes(),
    ),
    Spec(
        VS.FRACTURE_NEEDS_SPINE_SITE,
        "Pathological or fragility fracture, site not vertebral by code",
        "Fractures whose code does not say 'vertebra' (codes.md A2: 'spine site not implied; check "
        "bodySite'). Count as a vertebral fracture only when Condition.bodySite names the spine.",
        (
            icd("M84.48", "A2", prefix=True, note="spine site not implied; check bodySite"),
            icd("M84.58", "A2", prefix=True, note="neoplastic; spine site not implied; check bodySite"),
            icd("M84.68", "A2", prefix=True, note="spine site not implied; check bodySite"),
            sct(
                "443165006",
                "Pathological fracture due to osteoporosis (disorder)",
                f"{VSAC_OSTEOPOROTIC_FX} l.29835; {OHDSI} inst/cohorts/1185.json; codes.md A2",
            ),
            sct(
                "702561005",
                "Insufficiency fracture (disorder)",
                "V-B: Belgian be-vs-diagnostic-imaging-indication v1.0.0 only (note B-BE); codes.md A2",
            ),
        ),
    ),
    Spec(
        VS.PATHOLOGIC_FRACTURE_NEOPLASTIC,
        "Pathological fracture in neoplastic disease",
        "Malignant (neoplastic) pathological fracture (clinical-rules §1.3 pathologic_fracture_neoplastic).",
        (
            icd(
                "M84.58",
                "A2",
                prefix=True,
                note="see also codes.md A9 (Noridian pairing with C41.2/C79.51/C90.0x)",
            ),
            PATH_FX_VERTEBRA_METASTATIC,
        ),
    ),
    Spec(
        VS.OSTEOPOROSIS,
        "Osteoporosis",
        "Osteoporosis with or without current pathological fracture (codes.md A3; clinical-rules R19).",
        (
            sct(
                "64859006",
                "Osteoporosis (disorder)",
                f"{VSAC_OSTEOPOROSIS} l.29475; Synthea osteoporosis module (106459b9); {OHDSI} "
                "inst/cohorts/1221.json; codes.md A3",
            ),
            sct(
                "102447009",
                "Postmenopausal osteoporosis (disorder)",
                f"{VSAC_OSTEOPOROSIS} l.29476; codes.md A3",
            ),
            sct(
                "203438009", "Vertebral osteoporosis (disorder)", f"{VSAC_OSTEOPOROSIS} l.29484; codes.md A3"
            ),
            sct(
                "390833005",
                "Osteoporosis caused by corticosteroid (disorder)",
                f"{VSAC_OSTEOPOROSIS} l.29501; codes.md A3",
            ),
            icd("M81", "A3", prefix=True),
            icd("M81.0", "A3"),
            icd("M81.6", "A3"),
            icd("M81.8", "A3"),
            icd("M80.0", "A3", prefix=True),
            icd("M80.8", "A3", prefix=True),
        ),
    ),
    Spec(
        VS.TRANSIENT_OSTEOPOROSIS,
        "Transient osteoporosis / bone marrow edema syndrome",
        "Transient (regional migratory) osteoporosis, the BME syndrome of the hip (codes.md A1/A4; "
        "clinical-rules R14). M81.6 is a proxy: mapping it is a policy decision (codes.md A4).",
        (
            *TRANSIENT_OSTEOPOROSIS_SCT,
            icd("M81.6", "A1/A4", note="proxy for transient (regional) osteoporosis; a policy decision"),
        ),
    ),
    Spec(
        VS.BME_PROXY,
        "Bone marrow edema: proxy codes",
        "No code for BME exists (codes.md A1). These are related syndromes and the ICD-10-CM codes coders "
        "commonly use as proxies; mapping BME to them is a policy decision. M25.55- (pain in hip) is "
        "deliberately left out: codes.md says 'symptom only; do not use alone'.",
        (
            *TRANSIENT_OSTEOPOROSIS_SCT,
            icd(
                "M89.8X", "A1", prefix=True, note="commonest proxy for BME of a given site; a policy decision"
            ),
            icd("R93.7", "A1", note="imaging-finding proxy; a policy decision"),
            icd("M85.8", "A1", prefix=True, note="alternative proxy; a policy decision"),
            icd("M81.6", "A1", note="proxy for transient (regional) osteoporosis; a policy decision"),
        ),
    ),
    Spec(
        VS.OSTEONECROSIS,
        "Osteonecrosis / avascular necrosis",
        "Osteonecrosis (codes.md A5; clinical-rules R17). M87.180 (ONJ) is excluded: codes.md keeps it out "
        "of the osteonecrosis trigger set (see value set onj).",
        (
            sct(
                "397758007",
                "Avascular necrosis of bone (disorder)",
                "V-B: Belgian be-vs-diagnostic-imaging-indication (note B-BE) plus two public mapping tables "
                "(MedDRA->SNOMED; SNOMED->ICD-10-CM M87.9); codes.md A5",
            ),
            sct(
                "444849002",
                "Avascular necrosis of bone of hip (disorder)",
                "V-B: Belgian be-vs-diagnostic-imaging-indication only (note B-BE); codes.md A5",
            ),
            icd("M87", "A5", prefix=True),
            icd("M87.0", "A5", prefix=True),
            icd("M87.05", "A5", prefix=True),
            icd("M87.051", "A5"),
            icd("M87.052", "A5"),
            icd("M87.059", "A5"),
            icd("M87.1", "A5", prefix=True),
            icd("M87.15", "A5", prefix=True),
            icd("M87.2", "A5", prefix=True),
            icd("M87.3", "A5", prefix=True),
            icd("M87.35", "A5", prefix=True),
            icd("M87.8", "A5", prefix=True),
            icd("M87.85", "A5", prefix=True),
            icd("M87.9", "A5"),
        ),
        exclude=(
            icd("M87.180", "A5", note="ONJ: kept out of the osteonecrosis trigger set (safety rule S10)"),
        ),
    ),
    Spec(
        VS.RHEUMATOID_ARTHRITIS,
        "Rheumatoid arthritis",
        "Rheumatoid arthritis (codes.md A6; clinical-rules R15, inflammatory_dx). M06.4 (inflammatory "
        "polyarthropathy) is excluded, the strict reading codes.md offers, because this set gates TNFi.",
        (
            sct(
                "69896004",
                "Rheumatoid arthritis (disorder)",
                "V-A: VSAC 'Rheumatoid Arthritis' 2.16.840.1.113883.3.464.1003.113.12.1005 (eCQM 2021), "
                f"{CANVAS22} l.30216; {OHDSI} inst/cohorts/1059.json; codes.md A6",
            ),
            icd("M05", "A6", prefix=True),
            icd("M06", "A6", prefix=True),
            icd("M05.9", "A6"),
            icd("M06.9", "A6"),
            icd("M06.08", "A6"),
        ),
        exclude=(icd("M06.4", "A6", note="inflammatory polyarthropathy is not RA (strict reading)"),),
    ),
    Spec(
        VS.AXIAL_SPONDYLOARTHRITIS,
        "Axial spondyloarthritis / ankylosing spondylitis",
        "Axial SpA and AS (codes.md A7; clinical-rules R16, inflammatory_dx).",
        (
            sct(
                "9631008",
                "Ankylosing spondylitis (disorder)",
                "V-A: VSAC 'Ankylosing Spondylitis' 2.16.840.1.113883.3.464.1003.113.12.1045 (eCQM 2021), "
                f"{CANVAS22} l.28516; {OHDSI} inst/cohorts/1059.json; codes.md A7",
            ),
            sct(
                "784332006",
                "Spondyloarthritis (disorder)",
                "V-B: Belgian be-vs-diagnostic-imaging-indication only (note B-BE); codes.md A7",
            ),
            icd("M45", "A7", prefix=True),
            icd("M45.A", "A7", prefix=True, note="non-radiographic axial spondyloarthritis"),
            icd("M46.1", "A7"),
            icd("M08.1", "A7"),
        ),
    ),
    Spec(
        VS.PSORIATIC_ARTHRITIS,
        "Psoriatic arthritis",
        "Arthropathic psoriasis (codes.md A7; part of inflammatory_dx).",
        (icd("L40.5", "A7", prefix=True),),
    ),
    Spec(
        VS.CNO,
        "Chronic non-bacterial osteomyelitis (proxy)",
        "ICD-10-CM M86.3- chronic multifocal osteomyelitis as the proxy for CNO/CRMO/SAPHO (codes.md A7; "
        "clinical-rules R18); a mapping decision.",
        (icd("M86.3", "A7", prefix=True, note="proxy for CNO/CRMO; a mapping decision"),),
    ),
    Spec(
        VS.MULTIPLE_MYELOMA,
        "Multiple myeloma",
        "Multiple myeloma (codes.md A8; clinical-rules R11).",
        (
            *MYELOMA_SCT,
            sct(
                "739301006",
                "Osteoporosis co-occurrent and due to multiple myeloma (disorder)",
                f"{VSAC_OSTEOPOROSIS} l.29506; codes.md A8",
            ),
            icd("C90.0", "A8", prefix=True),
            icd("C90.00", "A8"),
            icd("C90.01", "A8"),
            icd("C90.02", "A8"),
        ),
    ),
    Spec(
        VS.BONE_METASTASIS,
        "Bone metastasis",
        "Secondary malignant neoplasm of bone or bone marrow (codes.md A9; clinical-rules R12).",
        (
            BONE_METASTASIS_SCT,
            PATH_FX_VERTEBRA_METASTATIC,
            icd("C79.5", "A9", prefix=True),
            icd("C79.51", "A9"),
            icd("C79.52", "A9"),
        ),
    ),
    Spec(
        VS.MALIGNANCY,
        "Malignant neoplasm",
        "Any malignant neoplasm (codes.md A9 'active malignancy'; clinical-rules R03, R12). Whether it is "
        "active comes from Condition.clinicalStatus, not from the code.",
        (
            sct(
                "363346000",
                "Malignant neoplastic disease (disorder)",
                f"V-A: VSAC 'Comorbid Conditions for Respiratory Conditions', {CANVAS26} l.18269; {OHDSI} "
                "inst/cohorts/793.json; codes.md A9",
            ),
            sct(
                "128462008",
                "Metastatic malignant neoplasm (disorder)",
                f"V-A: VSAC 'Advanced Illness' (eCQM 2025-05-08), {CANVAS26} l.802; codes.md A9",
            ),
            BONE_METASTASIS_SCT,
            *MYELOMA_SCT,
            *_malignant_categories(),
            icd("C41.2", "A9"),
            icd("C79.9", "A9"),
            icd("C80.0", "A9"),
            icd("C80.1", "A9"),
        ),
    ),
    Spec(
        VS.MALIGNANCY_HISTORY,
        "History of malignant neoplasm",
        "Personal history of malignancy (codes.md A9; clinical-rules R03).",
        (
            sct(
                "266987004",
                "History of malignant neoplasm (situation)",
                f"V-A: {OHDSI} inst/cohorts/31.json l.91 (Athena name 'H/O: malignant neoplasm'); "
                "codes.md A9",
            ),
            icd("Z85", "A9", prefix=True),
            icd("Z85.9", "A9"),
        ),
    ),
    Spec(
        VS.CHARCOT,
        "Charcot neuroarthropathy",
        "Neuropathic (Charcot) arthropathy (codes.md A10; clinical-rules R13).",
        (
            sct(
                "201724008",
                "Neuropathic arthropathy due to diabetes mellitus (disorder)",
                "V-A: VSAC 'Diabetes' 2.16.840.1.113883.3.464.1003.103.12.1001 (eCQM 2025-05-08), "
                f"{CANVAS26} l.2506; codes.md A10",
            ),
            sct(
                "781000119106",
                "Neuropathic arthropathy due to type 2 diabetes mellitus (disorder)",
                f"V-A: VSAC 'Diabetes' (eCQM 2025-05-08), {CANVAS26} l.2793; codes.md A10",
            ),
            sct(
                "71771000119100",
                "Neuropathic arthropathy due to type 1 diabetes mellitus (disorder)",
                f"V-A: VSAC 'Diabetes' (eCQM 2025-05-08), {CANVAS26} l.2719; codes.md A10",
            ),
            icd("M14.6", "A10", prefix=True),
            icd("M14.67", "A10", prefix=True),
            icd("M14.671", "A10"),
            icd("M14.672", "A10"),
            icd("M14.679", "A10"),
            icd("M14.68", "A10"),
            icd("E08.610", "A10"),
            icd("E10.610", "A10"),
            icd("E11.610", "A10"),
            icd("E13.610", "A10"),
        ),
    ),
    Spec(
        VS.DIABETES,
        "Diabetes mellitus",
        "Diabetes mellitus (codes.md A11; clinical-rules R13, S14).",
        (
            sct(
                "73211009",
                "Diabetes mellitus (disorder)",
                f"V-A: VSAC 'Diabetes' (eCQM 2025-05-08), {CANVAS26} l.2740; {OHDSI} inst/cohorts/1194.json; "
                "codes.md A11",
            ),
            sct(
                "44054006",
                "Diabetes mellitus type 2 (disorder)",
                f"V-A: VSAC 'Diabetes' (eCQM 2025-05-08), {CANVAS26} l.2658; codes.md A11",
            ),
            sct(
                "46635009",
                "Diabetes mellitus type 1 (disorder)",
                f"V-A: VSAC 'Diabetes' (eCQM 2025-05-08), {CANVAS26} l.2666; codes.md A11",
            ),
            icd("E08", "A11", prefix=True),
            icd("E09", "A11", prefix=True),
            icd("E10", "A11", prefix=True),
            icd("E11", "A11", prefix=True),
            icd("E13", "A11", prefix=True),
        ),
    ),
    Spec(
        VS.OSTEOMYELITIS,
        "Osteomyelitis",
        "Osteomyelitis, including vertebral (codes.md A12; clinical-rules R13). The M86 prefix also admits "
        "M86.3- (chronic multifocal osteomyelitis), as codes.md lists it.",
        (
            sct(
                "60168000",
                "Osteomyelitis (disorder)",
                f"V-A: {OHDSI} inst/cohorts/1073.json l.719; also Belgian value set; codes.md A12",
            ),
            sct(
                "203241002",
                "Osteomyelitis of vertebra (disorder)",
                f"V-A: VSAC 'Competing Conditions for Respiratory Conditions' (2025), {CANVAS26} l.22752; "
                f"{OHDSI} inst/cohorts/1073.json; codes.md A12",
            ),
            sct(
                "72061000119104",
                "Osteomyelitis due to type 2 diabetes mellitus (disorder)",
                f"V-A: VSAC 'Diabetes', {CANVAS26} l.2726; codes.md A12",
            ),
            sct(
                "72041000119103",
                "Osteomyelitis due to type 1 diabetes mellitus (disorder)",
                f"V-A: VSAC 'Diabetes', {CANVAS26} l.2724; codes.md A12",
            ),
            sct(
                "294981000119103",
                "Osteomyelitis of foot (disorder)",
                "V-B: Belgian be-vs-diagnostic-imaging-indication only (note B-BE); codes.md A12",
            ),
            icd("M86", "A12", prefix=True),
            icd("M86.9", "A12"),
            icd("M86.17", "A12", prefix=True),
            icd("M86.67", "A12", prefix=True),
            icd("M86.8X7", "A12"),
            icd("M46.2", "A12", prefix=True),
        ),
    ),
    Spec(
        VS.FOOT_ULCER_INFECTION,
        "Foot ulcer, cellulitis or abscess",
        "Signs of foot infection (codes.md A11/A12; clinical-rules §1.5 "
        "foot_ulcer_or_cellulitis_or_abscess).",
        (
            icd("E11.621", "A11", note="feeds the infection-suspicion flag"),
            icd("L97.5", "A12", prefix=True),
            icd("L03.115", "A12"),
            icd("L03.116", "A12"),
            icd("L02.61", "A12", prefix=True),
        ),
    ),
    Spec(
        VS.NEURO_DEFICIT,
        "Neurological deficit (cauda equina, paraplegia, bladder/bowel)",
        "Neurological deficit red flag (codes.md A14; clinical-rules §1.4). R29.818 (nonspecific) is in "
        "neuro-sign-nonspecific instead; cord compression is its own set.",
        (
            sct(
                "192970008",
                "Cauda equina syndrome (disorder)",
                "V-A: VSAC 'Neurologic impairment' 2.16.840.1.113883.3.464.1003.114.12.1012 "
                "(eCQM 2025-05-08), "
                f"{CANVAS26} l.52643; codes.md A14",
            ),
            sct(
                "16846261000119106",
                "Compression of cauda equina (disorder)",
                f"V-A: VSAC 'Neurologic impairment' (eCQM 2025-05-08), {CANVAS26} l.52642; codes.md A14",
            ),
            sct(
                "12454008",
                "Cauda equina syndrome with neurogenic urinary bladder (disorder)",
                f"V-A: VSAC 'Neurologic impairment' (eCQM 2025-05-08), {CANVAS26} l.52638; codes.md A14",
            ),
            sct(
                "782388003",
                "Incomplete cauda equina syndrome (disorder)",
                f"V-A: VSAC 'Neurologic impairment' (eCQM 2025-05-08), {CANVAS26} l.52681; codes.md A14",
            ),
            sct(
                "312444006",
                "Spastic paraparesis (finding)",
                "V-A: VSAC 'Frailty Symptom' (2025), canvas_sdk/value_set/v2026/symptom.py l.144; "
                "codes.md A14",
            ),
            sct(
                "264552009",
                "Neurological deficit (finding)",
                "V-B: Belgian be-vs-diagnostic-imaging-indication only (note B-BE); codes.md A14",
            ),
            icd("G83.4", "A14"),
            icd("G82.2", "A14", prefix=True),
            icd("G82.20", "A14"),
            icd("G82.21", "A14"),
            icd("G82.22", "A14"),
            icd("N31.9", "A14"),
            icd("R32", "A14"),
            icd("R15.9", "A14"),
        ),
    ),
    Spec(
        VS.CORD_COMPRESSION,
        "Spinal cord compression",
        "Cord compression (codes.md A13; clinical-rules §1.4). SNOMED 71286001 is UNVERIFIED and left out.",
        (
            icd("G95.2", "A13", prefix=True),
            icd("G95.20", "A13"),
            icd("G95.29", "A13"),
        ),
    ),
    Spec(
        VS.CKD_4_5,
        "Chronic kidney disease stage 4-5, ESRD, dialysis",
        "Advanced CKD (codes.md A15; safety rules S01, S08, S11).",
        (
            sct(
                "431857002",
                "Chronic kidney disease stage 4 (disorder)",
                "V-A: VSAC 'Kidney Failure' 2.16.840.1.113883.3.464.1003.109.12.1028 (eCQM 2021), "
                f"{CANVAS22} l.8073; codes.md A15",
            ),
            sct(
                "433146000",
                "Chronic kidney disease stage 5 (disorder)",
                f"V-A: VSAC 'Advanced Illness' (2025), {CANVAS26} l.1234; {OHDSI} inst/cohorts/42.json; "
                "codes.md A15",
            ),
            sct(
                "46177005",
                "End-stage renal disease (disorder)",
                f"V-A: VSAC 'Advanced Illness', {CANVAS26} l.1274; {OHDSI} inst/cohorts/42.json l.57; "
                "codes.md A15",
            ),
            icd("N18.4", "A15"),
            icd("N18.5", "A15"),
            icd("N18.6", "A15"),
            icd("Z99.2", "A15"),
            icd("I12.0", "A15"),
            icd("I13.2", "A15"),
        ),
    ),
    Spec(
        VS.CKD_STAGE_UNSPECIFIED,
        "Chronic kidney disease, stage not specified",
        "CKD without a stage (codes.md A15: 'stage not specified; use with eGFR'); never implies stage 4-5.",
        (
            sct(
                "709044004",
                "Chronic kidney disease (disorder)",
                f"V-A: {OHDSI} inst/cohorts/41.json l.68; codes.md A15",
            ),
        ),
    ),
)


ULCER_WITH_HEMORRHAGE = tuple(
    icd(f"{cat}.{sub}", "A16", note="ulcer with hemorrhage")
    for cat in ("K25", "K26", "K27", "K28")
    for sub in "0246"
)
GI_HEMORRHAGE_SCT = (
    sct(
        "74474003",
        "Gastrointestinal hemorrhage (disorder)",
        f"V-A: {OHDSI} inst/cohorts/299.json l.74 and 1197.json l.91; also Belgian value set; codes.md A16",
    ),
    sct(
        "12274003",
        "Acute peptic ulcer with hemorrhage (disorder)",
        "V-A: VSAC 'Acute Peptic Ulcer' 2.16.840.1.113883.3.3157.4031 (eCQM 2025-05-08), "
        f"{CANVAS26} l.51339; codes.md A16",
    ),
    sct(
        "87763006",
        "Lower gastrointestinal hemorrhage (disorder)",
        "V-B: Belgian be-vs-diagnostic-imaging-indication only (note B-BE); codes.md A16",
    ),
)
GI_HEMORRHAGE_ICD = (
    *ULCER_WITH_HEMORRHAGE,
    icd("K92.0", "A16"),
    icd("K92.1", "A16"),
    icd("K92.2", "A16"),
)

CONDITIONS_2: tuple[Spec, ...] = (
    Spec(
        VS.GI_BLEED_ULCER,
        "GI bleeding or peptic ulcer, active or past",
        "Any GI hemorrhage, peptic ulcer (with or without hemorrhage) or history of peptic ulcer (codes.md "
        "A16; safety rule S02 'history'). gi-bleed-active is the hemorrhage subset.",
        (
            *GI_HEMORRHAGE_SCT,
            sct(
                "13200003",
                "Peptic ulcer (disorder)",
                f"V-A: {OHDSI} inst/cohorts/1197.json l.193; codes.md A16",
            ),
            sct(
                "196682000",
                "Acute peptic ulcer (disorder)",
                "V-A: VSAC 'Acute Peptic Ulcer' 2.16.840.1.113883.3.3157.4031 (eCQM 2025-05-08), "
                f"{CANVAS26} l.51340; codes.md A16",
            ),
            *GI_HEMORRHAGE_ICD,
            icd("K25", "A16", prefix=True, note="ulcer without hemorrhage: history, a relative risk only"),
            icd("K26", "A16", prefix=True, note="ulcer without hemorrhage: history, a relative risk only"),
            icd("K27", "A16", prefix=True, note="ulcer without hemorrhage: history, a relative risk only"),
            icd("K28", "A16", prefix=True, note="ulcer without hemorrhage: history, a relative risk only"),
            icd("Z87.11", "A16"),
        ),
    ),
    Spec(
        VS.GI_BLEED_ACTIVE,
        "GI hemorrhage or ulcer with hemorrhage",
        "Bleeding codes only (codes.md A16; safety rule S02 'active bleed or ulcer with haemorrhage'). "
        "Whether it is active comes from Condition.clinicalStatus.",
        (*GI_HEMORRHAGE_SCT, *GI_HEMORRHAGE_ICD),
    ),
    Spec(
        VS.HEART_FAILURE,
        "Heart failure",
        "Heart failure (codes.md A17; safety rules S04, S13).",
        (
            sct(
                "84114007",
                "Heart failure (disorder)",
                f"V-A: VSAC 'Advanced Illness' (2025), {CANVAS26} l.1491; {OHDSI} inst/cohorts/967.json; "
                "codes.md A17",
            ),
            sct(
                "42343007",
                "Congestive heart failure (disorder)",
                f"V-A: VSAC 'Advanced Illness' (2025), {CANVAS26} l.1208; codes.md A17",
            ),
            sct(
                "48447003",
                "Chronic heart failure (disorder)",
                f"V-A: VSAC 'Advanced Illness' (2025), {CANVAS26} l.1278; codes.md A17",
            ),
            sct(
                "703272007",
                "Heart failure with reduced ejection fraction (disorder)",
                f"V-A: VSAC 'Advanced Illness' (2025), {CANVAS26} l.1358; codes.md A17",
            ),
            icd("I50", "A17", prefix=True),
            icd("I50.9", "A17"),
            icd("I11.0", "A17"),
            icd("I13.0", "A17"),
            icd("I13.2", "A15/A17"),
        ),
    ),
    Spec(
        VS.PREGNANCY,
        "Pregnancy",
        "Pregnancy (codes.md A18; safety rule S05): chapter 15 without the codes whose title names only the "
        "puerperium, childbirth or lactation (those are the value set puerperium). Use Condition.clinicalStatus "
        "and dates.",
        (
            sct(
                "77386006",
                "Pregnancy (finding)",
                "V-A: VSAC 'Pregnancy' 2.16.840.1.113883.3.526.3.378 (eCQM 2025-05-08), "
                f"{CANVAS26} l.5799; {OHDSI} inst/cohorts/671.json; codes.md A18",
            ),
            *_pregnancy_categories(),
            icd("Z33.1", "A18"),
            icd("Z3A", "A18", prefix=True, note="weeks of gestation"),
        ),
        exclude=PUERPERIUM_ROWS,
    ),
    Spec(
        VS.PUERPERIUM,
        "Puerperium, childbirth or lactation (not pregnancy)",
        "Chapter 15 codes whose title names only the puerperium, childbirth (delivery) or lactation, and Z39 "
        "postpartum care (issue 12: puerperium codes must not count as pregnancy). Method: a code is judged by "
        "its own ICD-10-CM title or its nearest parent's; any mention of pregnancy keeps it in pregnancy.",
        (*PUERPERIUM_ROWS, icd_new("Z39", "encounter for maternal postpartum care", prefix=True)),
    ),
    Spec(
        VS.GESTATION_WEEKS,
        "Weeks of gestation",
        "ICD-10-CM Z3A (codes.md A18): gestational age for S05 (>=20 and >=30 weeks). Read the weeks from "
        "the code's display; codes.md says to check the codes before relying on them.",
        (icd("Z3A", "A18", prefix=True, note="weeks of gestation"),),
    ),
    Spec(
        VS.ONJ,
        "Osteonecrosis of the jaw",
        "ONJ history (codes.md A5/A19; safety rule S10).",
        (icd("M87.180", "A19", note="S10 (ONJ history)"),),
    ),
    Spec(
        VS.DENTAL_DISEASE,
        "Dental disease",
        "Active dental disease (codes.md A19; safety rule S10).",
        (
            icd("K08.9", "A19", note="S10"),
            sct(
                "80967001",
                "Dental caries (disorder)",
                "V-A: VSAC 'Dental Caries' 2.16.840.1.113883.3.464.1003.125.12.1004 (2025), "
                f"{CANVAS26} l.50875; codes.md A19",
            ),
        ),
    ),
    Spec(
        VS.HYPOCALCEMIA,
        "Hypocalcemia",
        "Hypocalcemia (codes.md A19; safety rule S09).",
        (icd("E83.51", "A19"),),
    ),
    Spec(
        VS.VITAMIN_D_DEFICIENCY,
        "Vitamin D deficiency",
        "Vitamin D deficiency (codes.md A19; clinical-rules R19, R29).",
        (icd("E55.9", "A19"),),
    ),
    Spec(
        VS.WEIGHT_LOSS,
        "Abnormal weight loss",
        "Unexplained weight loss (codes.md A19; clinical-rules R03).",
        (icd("R63.4", "A19"),),
    ),
    Spec(VS.FEVER, "Fever", "Fever (codes.md A19; clinical-rules R03).", (icd("R50.9", "A19"),)),
    Spec(
        VS.IMPAIRED_MOBILITY,
        "Impaired mobility",
        "Difficulty in walking (codes.md A19; clinical-rules §1.6 impaired_mobility).",
        (icd("R26.2", "A19"),),
    ),
    Spec(
        VS.BED_CONFINEMENT,
        "Bed confinement status",
        "Proxy for bed rest (codes.md A19/E4; clinical-rules R32); no SNOMED bed-rest code is verified.",
        (icd("Z74.01", "A19", note="R32 proxy for bed rest"),),
    ),
    Spec(
        VS.BONE_PAIN,
        "Bone pain",
        "Bone pain (codes.md A19; clinical-rules R01 trigger).",
        (
            sct(
                "12584003",
                "Bone pain (finding)",
                "V-A: VSAC 'Pain Warranting Further Investigation for Prostate Cancer' (2025), "
                f"{CANVAS26} l.8300; {OHDSI} inst/cohorts/1283.json; codes.md A19",
            ),
        ),
    ),
    Spec(
        VS.LONG_TERM_ANTICOAGULANT,
        "Long-term anticoagulant use",
        "Z79.01 (codes.md A19; safety rule S03).",
        (icd("Z79.01", "A19"),),
    ),
    Spec(
        VS.LONG_TERM_ANTIPLATELET,
        "Long-term antithrombotic/antiplatelet use",
        "Z79.02 (codes.md A19; safety rule S03).",
        (icd("Z79.02", "A19"),),
    ),
    Spec(
        VS.LONG_TERM_NSAID,
        "Long-term NSAID use",
        "Z79.1 (codes.md A19; clinical-rules R22, S06).",
        (icd("Z79.1", "A19"),),
    ),
    Spec(
        VS.LONG_TERM_GLUCOCORTICOID,
        "Long-term systemic steroid use",
        "Z79.52 (codes.md A19; clinical-rules R34).",
        (icd("Z79.52", "A19"),),
    ),
    Spec(
        VS.LONG_TERM_BISPHOSPHONATE,
        "Long-term bisphosphonate use",
        "Z79.83 (codes.md A19; treatment history).",
        (icd("Z79.83", "A19"),),
    ),
    Spec(
        VS.LONG_TERM_OPIOID,
        "Long-term opiate analgesic use",
        "Z79.891 (codes.md A19; clinical-rules R33).",
        (icd("Z79.891", "A19"),),
    ),
    Spec(
        VS.LONG_TERM_BIOLOGIC,
        "Long-term immunosuppressive biologic use",
        "Z79.620 (codes.md A19; TNFi history).",
        (icd("Z79.620", "A19"),),
    ),
    Spec(
        VS.OSTEOARTHRITIS,
        "Osteoarthritis",
        "ICD-10-CM block M15-M19 (issue 12 finding 8: a documented cause of BME; seed 003 'Osteoarthritis "
        "affects joints like the hip, knee' among the degenerative causes). Read only as a cause (R05).",
        tuple(icd_new(code, "osteoarthritis, a degenerative cause of BME (seed 003)", prefix=True)
              for code in ("M15", "M16", "M17", "M18", "M19")),
    ),
    Spec(
        VS.CRPS,
        "Complex regional pain syndrome",
        "CRPS I (G90.5-), CRPS II / causalgia (G56.4-, G57.7-) and algoneurodystrophy (M89.0-) (issue 12 "
        "finding 8: seed 003 'Complex regional pain syndrome (Sudek's atrophy of bone)' among the ischaemic "
        "causes). Read only as a cause (R05).",
        (
            icd_new("G90.5", "CRPS I (seed 003)", prefix=True),
            icd_new("G56.4", "causalgia of upper limb = CRPS II (seed 003)", prefix=True),
            icd_new("G57.7", "causalgia of lower limb = CRPS II (seed 003)", prefix=True),
            icd_new("M89.0", "algoneurodystrophy (Sudeck's atrophy, seed 003)", prefix=True),
        ),
    ),
    Spec(
        VS.LATENT_TUBERCULOSIS,
        "Latent tuberculosis infection or a positive TB screening test",
        "Latent TB (issue 12 finding 2; TNF-alpha inhibitors need it treated first): Z22.7, the positive "
        "tuberculin skin test / IGRA codes R76.11-R76.12 and the history code Z86.15. No SNOMED latent-TB "
        "concept was found in the sources on hand, so none is listed.",
        (
            icd_new("Z22.7", "latent tuberculosis"),
            icd_new("R76.11", "positive tuberculin skin test without active TB"),
            icd_new("R76.12", "positive interferon-gamma release assay without active TB"),
            icd_new("Z86.15", "history of latent TB infection: treatment completion is not coded"),
        ),
    ),
    Spec(
        VS.ACTIVE_TUBERCULOSIS,
        "Tuberculosis disease",
        "Tuberculosis disease (a TNF-alpha inhibitor contraindication): ICD-10-CM A15-A19 and the SNOMED "
        "tuberculosis disorders of VSAC 'Comorbid Conditions for Respiratory Conditions' (non-tuberculous "
        "mycobacteria, vaccination, contact and history concepts filtered out).",
        (
            *(icd_new(c, "tuberculosis category A15-A19", prefix=True) for c in ("A15", "A17", "A18", "A19")),
            *vsac("Comorbid Conditions for Respiratory Conditions", "v2026/condition.py", SNOMED),
        ),
    ),
    Spec(
        VS.DIALYSIS,
        "Renal dialysis (status, condition or procedure)",
        "Dialysis (issue 12 finding 1; clinical-rules S01/S08/S11 'dialysis'): Z99.2 and Z49 (ICD-10-CM), "
        "ESRD on dialysis (SNOMED), and dialysis procedures and ESRD dialysis services from VSAC 'Dialysis "
        "Services', 'Hemodialysis' and 'Peritoneal Dialysis' (CPT, SNOMED). Catheter removal, hemoperfusion and "
        "extracorporeal albumin dialysis are left out: they do not show renal dialysis is ongoing.",
        (
            icd("Z99.2", "A15"),
            icd_new("Z49", "encounter for care involving renal dialysis", prefix=True),
            *vsac("Kidney Failure", "v2022/condition.py", SNOMED),
            *vsac("Dialysis Services", "v2026/procedure.py", SNOMED, drop=DIALYSIS_NOT_ONGOING),
            *vsac("Dialysis Services", "v2026/procedure.py", CPT, drop=DIALYSIS_NOT_ONGOING),
            *vsac("Hemodialysis", "v2022/procedure.py", SNOMED),
            *vsac("Hemodialysis", "v2022/procedure.py", CPT),
            *vsac("Peritoneal Dialysis", "v2022/procedure.py", SNOMED),
            *vsac("Peritoneal Dialysis", "v2022/procedure.py", CPT),
        ),
    ),
)


# ---------------------------------------------------------------------------------------------------------
# LOINC labs and observations (codes.md B)
# ---------------------------------------------------------------------------------------------------------

EGFR = "V-A: VSAC 'Estimated Glomerular Filtration Rate' 2.16.840.1.113883.3.6929.3.1000 (eCQM 2025-05-08), "
LAB_FILE = "canvas_sdk/value_set/v2026/laboratory_test.py"
CREAT = f"V-A: VSAC 'Creatinine Lab Test' 2.16.840.1.113883.3.666.5.2363 (2025), {LAB_FILE}"
PDDI_CALCIUM = "V-A: HL7 PDDI CDS IG value set valueset-calcium-LOINC; codes.md B"

_EGFR_ROWS = (
    (
        "98979-8",
        "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood by "
        "Creatinine-based formula (CKD-EPI 2021)",
        1679,
    ),
    (
        "98980-6",
        "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood by "
        "Creatinine and Cystatin C-based formula (CKD-EPI 2021)",
        1680,
    ),
    (
        "62238-1",
        "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood by "
        "Creatinine-based formula (CKD-EPI)",
        1672,
    ),
    (
        "94677-2",
        "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood by "
        "Creatinine and Cystatin C-based formula (CKD-EPI)",
        1678,
    ),
    (
        "88293-6",
        "Glomerular filtration rate/1.73 sq M.predicted among blacks [Volume Rate/Area] in Serum, Plasma "
        "or Blood by Creatinine-based formula (CKD-EPI)",
        1676,
    ),
    (
        "88294-4",
        "Glomerular filtration rate/1.73 sq M.predicted among non-blacks [Volume Rate/Area] in Serum, "
        "Plasma or Blood by Creatinine-based formula (CKD-EPI)",
        1677,
    ),
    (
        "77147-7",
        "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood by "
        "Creatinine-based formula (MDRD)",
        1675,
    ),
    (
        "48642-3",
        "Glomerular filtration rate/1.73 sq M.predicted among non-blacks [Volume Rate/Area] in Serum, "
        "Plasma or Blood by Creatinine-based formula (MDRD)",
        1668,
    ),
    (
        "48643-1",
        "Glomerular filtration rate/1.73 sq M.predicted among blacks [Volume Rate/Area] in Serum, Plasma "
        "or Blood by Creatinine-based formula (MDRD)",
        1669,
    ),
    (
        "50044-7",
        "Glomerular filtration rate/1.73 sq M.predicted among females [Volume Rate/Area] in Serum, Plasma "
        "or Blood by Creatinine-based formula (MDRD)",
        1670,
    ),
    (
        "70969-1",
        "Glomerular filtration rate/1.73 sq M.predicted among males [Volume Rate/Area] in Serum, Plasma "
        "or Blood by Creatinine-based formula (MDRD)",
        1674,
    ),
    (
        "50210-4",
        "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood by "
        "Cystatin C-based formula",
        1671,
    ),
    (
        "69405-9",
        "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood",
        1673,
    ),
)

OBSERVATIONS: tuple[Spec, ...] = (
    Spec(
        VS.LAB_EGFR,
        "eGFR (any method)",
        "Estimated GFR, every method-specific code (codes.md B; clinical-rules §1.8): accept any, take the "
        "newest. 88293-6/88294-4/48642-3/48643-1 are legacy race-based equations.",
        (
            *(loinc(c, d, f"{EGFR}{LAB_FILE} l.{line}; codes.md B") for c, d, line in _EGFR_ROWS),
            hl7_example("33914-3"),
        ),
    ),
    Spec(
        VS.LAB_CREATININE,
        "Creatinine, serum/plasma/blood",
        "Creatinine (codes.md B). Units differ: mg/dL ([Mass/volume]) vs umol/L ([Moles/volume]).",
        (
            loinc("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", f"{CREAT} l.586; codes.md B"),
            loinc("14682-9", "Creatinine [Moles/volume] in Serum or Plasma", f"{CREAT} l.584; codes.md B"),
            loinc("38483-4", "Creatinine [Mass/volume] in Blood", f"{CREAT} l.587; codes.md B"),
            loinc("59826-8", "Creatinine [Moles/volume] in Blood", f"{CREAT} l.590; codes.md B"),
            loinc(
                "77140-2", "Creatinine [Moles/volume] in Serum, Plasma or Blood", f"{CREAT} l.591; codes.md B"
            ),
        ),
    ),
    Spec(
        VS.LAB_CALCIUM,
        "Calcium, total, serum/plasma",
        "Total calcium (codes.md B; safety rule S09), in mass or substance units (mg/dL or mmol/L).",
        (
            loinc(
                "17861-6",
                "Calcium [Mass/volume] in Serum or Plasma",
                "V-A: HL7 US Core example Observation-serum-calcium (STU3.1-STU7); HL7 PDDI CDS IG "
                "valueset-calcium-LOINC; codes.md B",
            ),
            hl7_example("2000-8"),
        ),
    ),
    Spec(
        VS.LAB_CALCIUM_IONIZED,
        "Calcium, ionized",
        "Ionized calcium (codes.md B; safety rule S09).",
        (
            loinc("1994-3", "Calcium.ionized [Moles/volume] in Blood", PDDI_CALCIUM),
            loinc("1995-0", "Calcium.ionized [Moles/volume] in Serum or Plasma", PDDI_CALCIUM),
            loinc(
                "17864-0",
                "Calcium.ionized [Mass/volume] in Serum or Plasma by Ion-selective membrane electrode (ISE)",
                PDDI_CALCIUM,
            ),
            hl7_example("13959-2"),
        ),
    ),
    Spec(
        VS.LAB_ALBUMIN,
        "Albumin, serum/plasma",
        "Albumin, for corrected calcium (codes.md B).",
        (
            loinc(
                "1751-7",
                "Albumin [Mass/volume] in Serum or Plasma",
                f"V-A: VSAC 'Albumin lab test' 2.16.840.1.113762.1.4.1248.221 (2025), {LAB_FILE} l.391; "
                "codes.md B",
            ),
        ),
    ),
    Spec(
        VS.LAB_VITAMIN_D,
        "25-hydroxyvitamin D",
        "25-OH vitamin D (codes.md B; safety rule S09, R29). Units differ: ng/mL vs nmol/L.",
        (
            loinc(
                "14635-7",
                "25-hydroxyvitamin D3 [Moles/volume] in Serum or Plasma",
                "V-A: HL7 Order Catalog IG v1.0.0 ObservationDefinition/example-observation-vitamin-d; "
                "codes.md B",
            ),
            loinc(
                "62292-8",
                "25-Hydroxyvitamin D2+D3 [Mass/volume] in Serum or Plasma",
                "V-B: several independent public repositories agree on code and display; codes.md B",
            ),
            loinc(
                "1989-3",
                "25-Hydroxyvitamin D3 [Mass/volume] in Serum or Plasma",
                "V-B: most public sources agree; some mislabel it 'D2+D3' (check on a terminology server); "
                "codes.md B",
            ),
        ),
    ),
    Spec(
        VS.OBS_PAIN_NRS,
        "Pain 0-10 numeric rating",
        "Pain NRS 0-10 (codes.md B; clinical-rules §1.6 pain_nrs_latest).",
        (
            loinc(
                "72514-3",
                "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
                "V-A: VSAC 'Standardized Pain Assessment Tool' 2.16.840.1.113883.3.526.3.1028 (2025), "
                "canvas_sdk/value_set/v2026/assessment.py l.225; codes.md B",
            ),
        ),
    ),
    Spec(
        VS.OBS_BODY_TEMPERATURE,
        "Body temperature",
        "Body temperature, for fever (codes.md B; clinical-rules R03).",
        (
            loinc(
                "8310-5",
                "Body temperature",
                "V-A: VSAC 'Body Temperature' 2.16.840.1.113762.1.4.1045.152, "
                "canvas_sdk/value_set/v2026/physical_exam.py l.210; codes.md B",
            ),
        ),
    ),
)


# ---------------------------------------------------------------------------------------------------------
# Imaging (codes.md C)
# ---------------------------------------------------------------------------------------------------------

XRAY_STUDY = (
    "V-A: VSAC 'XRay Study' 2.16.840.1.113883.3.464.1003.198.12.1034 (eCQM 2025-05-08), "
    "canvas_sdk/value_set/v2026/diagnostic_study.py"
)
BONE_SCAN = (
    "V-A: VSAC 'Bone Scan' 2.16.840.1.113883.3.526.3.320 (2025), "
    "canvas_sdk/value_set/v2026/diagnostic_study.py"
)

# (region, modality, code, display, line) from codes.md C1; region names the imaging-region-* set.
LUMBAR, THORACIC, CERVICAL, WHOLE_SPINE = "lumbar-spine", "thoracic-spine", "cervical-spine", "whole-spine"
SACROILIAC, HIP, KNEE, FOOT_ANKLE = "sacroiliac", "hip", "knee", "foot-ankle"
LE_JOINT, BONE_MARROW, WHOLE_BODY = "lower-extremity-joint", "bone-marrow", "whole-body"
PLAYBOOK: tuple[tuple[str, str, str, str, int], ...] = (
    (LUMBAR, "MR", "24968-0", "MR Lumbar spine", 1241),
    (LUMBAR, "MR", "30679-5", "MR Lumbar spine WO contrast", 1596),
    (LUMBAR, "MR", "30678-7", "MR Lumbar spine W contrast IV", 1595),
    (LUMBAR, "MR", "24967-2", "MR Lumbar spine WO and W contrast IV", 1240),
    (THORACIC, "MR", "24980-5", "MR Thoracic spine", 1252),
    (THORACIC, "MR", "36532-0", "MR Thoracic spine WO contrast", 2303),
    (THORACIC, "MR", "24981-3", "MR Thoracic spine WO and W contrast IV", 1253),
    (CERVICAL, "MR", "24935-9", "MR Cervical spine", 1223),
    (CERVICAL, "MR", "30667-0", "MR Cervical spine WO contrast", 1586),
    (CERVICAL, "MR", "24937-5", "MR Cervical spine WO and W contrast IV", 1225),
    (WHOLE_SPINE, "MR", "36067-7", "MR Spine", 1860),
    (WHOLE_SPINE, "MR", "36531-2", "MR Spine WO contrast", 2302),
    (WHOLE_SPINE, "MR", "36400-0", "MR Spine WO and W contrast IV", 2175),
    (WHOLE_SPINE, "MR", "42698-1", "MR Cervical and thoracic and lumbar spine", 3822),
    (WHOLE_SPINE, "MR", "30854-4", "MR Cervical and thoracic and lumbar spine WO contrast", 1677),
    (WHOLE_SPINE, "MR", "30855-1", "MR Cervical and thoracic and lumbar spine WO and W contrast IV", 1678),
    (SACROILIAC, "MR", "36059-4", "MR Sacrum", 1853),
    (SACROILIAC, "MR", "36031-3", "MR Sacroiliac Joint", 1831),
    (SACROILIAC, "MR", "36502-3", "MR Sacroiliac Joint WO contrast", 2273),
    (HIP, "MR", "36013-1", "MR Hip", 1816),
    (HIP, "MR", "30687-8", "MR Hip WO contrast", 1604),
    (HIP, "MR", "36199-8", "MR Hip W contrast IV", 1982),
    (HIP, "MR", "30688-6", "MR Hip WO and W contrast IV", 1605),
    (HIP, "MR", "24872-4", "MR Pelvis and Hip", 1181),
    (HIP, "MR", "30671-2", "MR Pelvis and Hip WO contrast", 1590),
    (KNEE, "MR", "24802-1", "MR Knee", 1134),
    (KNEE, "MR", "30691-0", "MR Knee WO contrast", 1608),
    (KNEE, "MR", "24803-9", "MR Knee WO and W contrast IV", 1135),
    (FOOT_ANKLE, "MR", "24707-2", "MR Foot", 1091),
    (FOOT_ANKLE, "MR", "30681-1", "MR Foot WO contrast", 1598),
    (FOOT_ANKLE, "MR", "30682-9", "MR Foot WO and W contrast IV", 1599),
    (FOOT_ANKLE, "MR", "24538-1", "MR Ankle", 1006),
    (FOOT_ANKLE, "MR", "30680-3", "MR Ankle WO contrast", 1597),
    (FOOT_ANKLE, "MR", "37222-7", "MR Ankle and Foot", 2869),
    (LE_JOINT, "MR", "24687-6", "MR Lower Extremity Joint", 1076),
    (LE_JOINT, "MR", "36497-6", "MR Lower Extremity Joint WO contrast", 2268),
    (BONE_MARROW, "MR", "39141-7", "MR Bone marrow", 3561),
    (BONE_MARROW, "MR", "80512-7", "MR Bone marrow WO contrast", 4507),
    (WHOLE_BODY, "MR", "46358-8", "MR Whole body", 4051),
    (LUMBAR, "CT", "24963-1", "CT Lumbar spine", 1237),
    (LUMBAR, "CT", "30620-9", "CT Lumbar spine WO contrast", 1553),
    (THORACIC, "CT", "24978-9", "CT Thoracic spine", 1250),
    (THORACIC, "CT", "30597-9", "CT Thoracic spine WO contrast", 1533),
    (WHOLE_SPINE, "CT", "28566-8", "CT Spine", 1510),
    (WHOLE_SPINE, "CT", "36530-4", "CT Spine WO contrast", 2301),
    (HIP, "CT", "36014-9", "CT Hip", 1817),
    (HIP, "CT", "36484-4", "CT Hip WO contrast", 2255),
    (KNEE, "CT", "36037-0", "CT Knee", 1836),
    (KNEE, "CT", "36505-6", "CT Knee WO contrast", 2276),
    (FOOT_ANKLE, "CT", "35991-9", "CT Foot", 1802),
    (FOOT_ANKLE, "CT", "36466-1", "CT Foot WO contrast", 2238),
    (LUMBAR, "XR", "24970-6", "XR Lumbar spine AP and Lateral", 1243),
    (LUMBAR, "XR", "36670-8", "XR Lumbar spine 2 Views", 2431),
)
SPINE_REGIONS = (LUMBAR, THORACIC, CERVICAL, WHOLE_SPINE)


def playbook(*, modality: str | None = None, regions: Iterable[str] | None = None) -> tuple[Code, ...]:
    """LOINC playbook rows of codes.md C1, filtered by modality and/or region."""
    wanted = None if regions is None else frozenset(regions)
    return tuple(
        loinc(code, display, f"{XRAY_STUDY} l.{line}; codes.md C1")
        for region, mod, code, display, line in PLAYBOOK
        if (modality is None or mod == modality) and (wanted is None or region in wanted)
    )


SNOMED_MRI = (
    sct(
        "113091000",
        "Magnetic resonance imaging (procedure)",
        f"V-A: {OHDSI} inst/cohorts/255.json l.865; codes.md C2",
    ),
    sct(
        "241645008",
        "Magnetic resonance imaging of spine (procedure)",
        "V-B: Belgian be-vs-diagnostic-imaging-procedure v1.0.0 plus an independent public FHIR value set "
        "(FSH); codes.md C2",
    ),
    *(
        sct(
            code,
            display,
            "V-B: Belgian be-vs-diagnostic-imaging-procedure v1.0.0 only (note B-BE); codes.md C2",
        )
        for code, display in (
            ("41333006", "Magnetic resonance imaging of lumbar spine with contrast (procedure)"),
            ("91333005", "Magnetic resonance imaging of thoracic spine with contrast (procedure)"),
            ("60443006", "Magnetic resonance imaging of cervical spine with contrast (procedure)"),
            ("726546000", "Magnetic resonance imaging of lumbar spine and sacroiliac joint (procedure)"),
            ("241639000", "Magnetic resonance imaging of hip (procedure)"),
            ("241641004", "Magnetic resonance imaging of knee (procedure)"),
            ("113109007", "Magnetic resonance imaging of lower extremity (procedure)"),
        )
    ),
)
CPT_MRI_EVIDENCE = "V-B: several public coding references agree; codes.md E2"
CPT_MRI = (
    cpt("72148", "MRI, spinal canal and contents, lumbar; without contrast material", CPT_MRI_EVIDENCE),
    cpt("72149", "MRI, spinal canal and contents, lumbar; with contrast material", CPT_MRI_EVIDENCE),
    cpt(
        "72158",
        "MRI, spinal canal and contents, lumbar; without then with contrast material",
        CPT_MRI_EVIDENCE,
    ),
)


def _sct_mri(*codes: str) -> tuple[Code, ...]:
    return tuple(c for c in SNOMED_MRI if c.code in codes)


# Every MR study of a region in the VSAC 'XRay Study' expansion, lateralised and arthrogram variants included,
# chosen by the LOINC display (the playbook names the region right after "MR ").
REGION_MR: dict[str, re.Pattern[str]] = {
    LUMBAR: re.compile(r"^MR (Lumbar spine|Spine Lumbar and Sacrum)\b"),
    THORACIC: re.compile(r"^MR Thoracic spine\b"),
    CERVICAL: re.compile(r"^MR Cervical spine\b"),
    WHOLE_SPINE: re.compile(
        r"^MR (Spine(?! Lumbar and Sacrum)|Cervical and thoracic and lumbar spine|Thoracic and lumbar spine)\b"
    ),
    SACROILIAC: re.compile(r"^MR (Sacrum|Sacroiliac)"),
    HIP: re.compile(r"^MR (Hip|Pelvis and Hip)\b"),
    KNEE: re.compile(r"^MR Knee\b"),
    FOOT_ANKLE: re.compile(r"^MR (Foot|Ankle)\b"),
}


def region_mr(*regions: str) -> tuple[Code, ...]:
    """VSAC 'XRay Study' MR rows of these regions (see REGION_MR)."""
    rows: list[Code] = []
    for region in regions:
        rows += vsac("XRay Study", "v2026/diagnostic_study.py", LOINC, only=REGION_MR[region])
    return tuple(rows)


def _region(region: str, title: str, extra: tuple[Code, ...] = ()) -> Spec:
    return Spec(
        f"imaging-region-{region}",
        f"Imaging of {title} (any modality)",
        f"LOINC playbook studies of the {title} (codes.md C1), every MR study of the {title} in the same VSAC "
        "'XRay Study' expansion (lateralised and arthrogram variants included), plus matching SNOMED/CPT MRI "
        "codes (C2, E2); intersect with imaging-mri / imaging-ct for the modality.",
        (*playbook(regions=(region,)), *region_mr(region), *extra),
    )


IMAGING: tuple[Spec, ...] = (
    Spec(
        VS.IMAGING_MRI,
        "MRI study or order",
        "MRI: LOINC playbook MR codes (codes.md C1) and every other 'MR ' study of the same VSAC 'XRay Study' "
        "expansion (any region, lateralised variants included), SNOMED MRI procedures (C2) and CPT MRI codes "
        "(E2). Prefer the LOINC codes in orders.",
        (
            *playbook(modality="MR"),
            *vsac("XRay Study", "v2026/diagnostic_study.py", LOINC),
            *SNOMED_MRI,
            *CPT_MRI,
        ),
    ),
    Spec(
        VS.IMAGING_CT,
        "CT study or order",
        "CT: LOINC playbook CT codes (codes.md C1; also the DECT fallback, no DECT-specific code exists).",
        playbook(modality="CT"),
    ),
    Spec(
        VS.IMAGING_NM_BONE,
        "Nuclear-medicine bone scan",
        "Bone scintigraphy (codes.md C1 'Bone Scan'). Tagged-WBC bone views are in imaging-wbc-scan.",
        (
            loinc("25031-6", "NM Bone Views", f"{BONE_SCAN} l.175; codes.md C1"),
            loinc("39818-0", "NM Whole body Bone Views", f"{BONE_SCAN} l.181; codes.md C1"),
            loinc("39883-4", "NM Bone 3 Phase Views", f"{BONE_SCAN} l.189; codes.md C1"),
        ),
    ),
    Spec(
        VS.IMAGING_WBC_SCAN,
        "Tagged white-cell scan",
        "Labelled-leukocyte bone imaging (codes.md C1; clinical-rules R13).",
        (
            loinc("25032-4", "NM Bone Views W In-111 tagged WBC IV", f"{BONE_SCAN} l.176; codes.md C1"),
            loinc("42700-5", "NM Bone Views W Tc-99m tagged WBC IV", f"{BONE_SCAN} l.197; codes.md C1"),
        ),
    ),
    Spec(
        VS.IMAGING_REGION_SPINE,
        "Imaging of the spine, any level (any modality)",
        "All spine studies (codes.md C1 lumbar, thoracic, cervical and whole spine) plus SNOMED/CPT "
        "spine MRI codes (C2, E2). Sacrum/SI joints are imaging-region-sacroiliac.",
        (
            *playbook(regions=SPINE_REGIONS),
            *region_mr(*SPINE_REGIONS),
            *_sct_mri("241645008", "41333006", "91333005", "60443006", "726546000"),
            *CPT_MRI,
        ),
    ),
    _region(LUMBAR, "lumbar spine", (*_sct_mri("41333006", "726546000"), *CPT_MRI)),
    _region(THORACIC, "thoracic spine", _sct_mri("91333005")),
    _region(CERVICAL, "cervical spine", _sct_mri("60443006")),
    _region(WHOLE_SPINE, "whole spine", _sct_mri("241645008")),
    _region(SACROILIAC, "sacrum and sacroiliac joints", _sct_mri("726546000")),
    _region(HIP, "hip", _sct_mri("241639000")),
    _region(KNEE, "knee", _sct_mri("241641004")),
    _region(FOOT_ANKLE, "foot and ankle"),
    Spec(
        VS.MODALITY_MR,
        "DICOM modality MR",
        "Acquisition modality (codes.md C3).",
        (dcm("MR", "Magnetic Resonance"),),
    ),
    Spec(
        VS.MODALITY_CT,
        "DICOM modality CT",
        "Acquisition modality (codes.md C3).",
        (dcm("CT", "Computed Tomography"),),
    ),
    Spec(
        VS.MODALITY_NM,
        "DICOM modality NM",
        "Acquisition modality (codes.md C3).",
        (dcm("NM", "Nuclear Medicine"),),
    ),
    Spec(
        VS.MODALITY_XR,
        "DICOM modality radiography (DX, CR)",
        "Acquisition modality (codes.md C3).",
        (dcm("DX", "Digital Radiography"), dcm("CR", "Computed Radiography")),
    ),
    Spec(
        VS.MODALITY_PT,
        "DICOM modality PT",
        "Acquisition modality (codes.md C3).",
        (dcm("PT", "Positron emission tomography"),),
    ),
    Spec(
        VS.MODALITY_BMD,
        "DICOM modality BMD",
        "Acquisition modality (codes.md C3).",
        (dcm("BMD", "Bone Mineral Densitometry"),),
    ),
)


# ---------------------------------------------------------------------------------------------------------
# RxNorm ingredients (codes.md D1). Orders usually carry SCD/SBD codes: these match only ingredient codings;
# the features extractor also matches by ingredient name (display) as codes.md §0.3 advises.
# ---------------------------------------------------------------------------------------------------------

CPIC = "V-A: CPIC cpicpgx/cpic-data@459e3ebd src/main/resources/db/migration/"
ODTP_D = f"V-A: {ODTP} inst/cohorts/ODTP_New_users_of_Denosumab_as_first_line_therapy.json"
ODTP_B = f"V-A: {ODTP} inst/cohorts/ODTP_New_users_of_Bisphosphonate_as_first_line_therapy.json"
ODTP_CONTEXT = f"V-A: {ODTP} (ODTP cohort files); codes.md D1 context row"

NAPROXEN = rx("7258", "naproxen", f"{CPIC}V6__nsaid_release.sql l.9; codes.md D1")
DICLOFENAC = rx(
    "3355", "diclofenac", f"{CPIC}V2__initial_data.sql l.60; {OHDSI} inst/cohorts/856.json l.595; codes.md D1"
)
INDOMETHACIN = rx("5781", "indomethacin", f"{CPIC}V6__nsaid_release.sql l.3; codes.md D1")
CELECOXIB = rx(
    "140587", "celecoxib", f"{CPIC}V2__initial_data.sql l.35; also cpicpgx/cpic-schema drug.sql; codes.md D1"
)
IBUPROFEN = rx("5640", "ibuprofen", f"{CPIC}V6__nsaid_release.sql l.2; codes.md D1")
PAMIDRONATE = rx("11473", "pamidronate", f"{ODTP_D} l.336; codes.md D1")
ZOLEDRONIC = rx(
    "77655", "zoledronic acid", f"{ODTP_D} l.370; a second independent ATLAS export agrees; codes.md D1"
)
ALENDRONATE = rx("46041", "alendronate", f"{ODTP_D} l.166; codes.md D1")
IBANDRONATE = rx("115264", "ibandronate", ODTP_CONTEXT)
RISEDRONATE = rx("73056", "risedronate", ODTP_CONTEXT)
TERIPARATIDE = rx("32915", "teriparatide", ODTP_CONTEXT)
ROMOSOZUMAB = rx("2123126", "romosozumab", ODTP_CONTEXT)
DENOSUMAB = rx("993449", "denosumab", f"{ODTP_B} l.441; codes.md D1")
ILOPROST = rx(
    "40138", "iloprost", f"V-A: {OHDSI} inst/cohorts/764.json l.51 (prostacyclin analogues); codes.md D1"
)
DEXAMETHASONE = rx("3264", "dexamethasone", f"V-A: {OHDSI} inst/cohorts/1181.json l.153; codes.md D1")

INDOMETHACIN_PRODUCTS = (
    *vsac("Indomethacin", "v2022/medication.py", RXNORM),
    *vsac(
        "Potentially Harmful Pain Medications for Older Adults",
        "v2026/medication.py",
        RXNORM,
        only=re.compile(r"\bindomethacin\b", re.I),
    ),
)
OPIOID_INGREDIENTS = (
    rx(
        "7804",
        "oxycodone",
        f"V-A: {OHDSI} inst/cohorts/1182.json l.153; {CPIC}V2__initial_data.sql l.153; codes.md D1",
    ),
    rx(
        "7052",
        "morphine",
        f"V-A: {OHDSI} inst/cohorts/1182.json l.221; {CPIC}V2__initial_data.sql l.135; codes.md D1",
    ),
    rx("5489", "hydrocodone", f"V-A: {OHDSI} inst/cohorts/1182.json l.170; codes.md D1"),
    rx(
        "10689",
        "tramadol",
        f"V-A: {OHDSI} inst/cohorts/1182.json l.374; {CPIC}V2__initial_data.sql l.217; codes.md D1",
    ),
)
# Anorectic stimulants in the CDC CNS set; phentermine with topiramate stays (VSAC lists it as a depressant).
STIMULANT = re.compile(
    r"^(?!.*topiramate).*\b(phentermine|phendimetrazine|diethylpropion|benzphetamine|methamphetamine)\b"
)
METHOTREXATE = re.compile(r"\bmethotrexate\b", re.I)

DRUGS: tuple[Spec, ...] = (
    Spec(
        VS.RX_NSAID,
        "NSAIDs (ingredients and products)",
        "NSAID ingredients named in clinical-rules §1.7 (codes.md D1), plus every NSAID-containing clinical "
        "drug in the published sets on hand: VSAC 'Ketorolac Tromethamine', 'Indomethacin', the NSAID rows of "
        "'Potentially Harmful Pain Medications for Older Adults', and opioid combinations with ibuprofen from "
        "the CDC and VSAC opioid sets. Aspirin is left out (antiplatelet use). Other NSAID ingredients "
        "(meloxicam, nabumetone, etodolac, ...) have no verified RxCUI here: see docs/valuesets.md.",
        (
            NAPROXEN,
            DICLOFENAC,
            INDOMETHACIN,
            CELECOXIB,
            IBUPROFEN,
            *INDOMETHACIN_PRODUCTS,
            *vsac("Ketorolac Tromethamine", "v2022/medication.py", RXNORM),
            *vsac("Potentially Harmful Pain Medications for Older Adults", "v2026/medication.py", RXNORM),
            *opioid_products(only=NSAID_NAME),
        ),
    ),
    Spec(
        VS.RX_INDOMETHACIN,
        "Indomethacin",
        "Indomethacin ingredient and products (codes.md D1; safety rule S07).",
        (INDOMETHACIN, *INDOMETHACIN_PRODUCTS),
    ),
    Spec(
        VS.RX_IV_BISPHOSPHONATE,
        "IV bisphosphonates (ingredients)",
        "Pamidronate and zoledronic acid (codes.md D1; safety rule S08).",
        (PAMIDRONATE, ZOLEDRONIC),
    ),
    Spec(VS.RX_ZOLEDRONIC_ACID, "Zoledronic acid", "Zoledronic acid (codes.md D1; S08).", (ZOLEDRONIC,)),
    Spec(VS.RX_PAMIDRONATE, "Pamidronate", "Pamidronate (codes.md D1; S08).", (PAMIDRONATE,)),
    Spec(
        VS.RX_BISPHOSPHONATE,
        "Bisphosphonates, IV and oral (ingredients)",
        "All bisphosphonates with a verified RxCUI (codes.md D1).",
        (PAMIDRONATE, ZOLEDRONIC, ALENDRONATE, IBANDRONATE, RISEDRONATE),
    ),
    Spec(VS.RX_DENOSUMAB, "Denosumab", "Denosumab (codes.md D1; S09-S11).", (DENOSUMAB,)),
    Spec(
        VS.RX_TNFI,
        "TNF-alpha inhibitors (ingredients)",
        "Infliximab, etanercept, adalimumab (codes.md D1; safety rule S13).",
        (
            rx(
                "191831",
                "infliximab",
                f"V-A: {OHDSI} inst/cohorts/1059.json l.69 (TNF inhibitors); codes.md D1",
            ),
            rx("214555", "etanercept", f"V-A: {OHDSI} inst/cohorts/1059.json l.86; codes.md D1"),
            rx("327361", "adalimumab", f"V-A: {OHDSI} inst/cohorts/1059.json l.103; codes.md D1"),
        ),
    ),
    Spec(
        VS.RX_OPIOID,
        "Opioids (ingredients and products)",
        "Every opioid: the codes.md D1 ingredients, every clinical and branded drug of the CDC opioid CDS "
        "value sets (analgesics, extended-release, non-synthetic, synthetic, fentanyl-type, methadone, "
        "oxycodone, buprenorphine; antitussive codeine included: it is an opioid), and VSAC 'Opioids', "
        "'Opioids, All' and 'Schedule II, III and IV Opioid Medications', which add the injectable forms the "
        "CDC ambulatory sets leave out. Product rows match by code; ingredient rows also by name.",
        (*OPIOID_INGREDIENTS, *opioid_products()),
    ),
    Spec(
        VS.RX_OPIOID_PARENTERAL,
        "Parenteral opioids (IV/IM/SC products)",
        "The rx-opioid products whose RxNorm dose form is given by injection: the display ends in "
        "'Injection', 'Injectable Solution/Suspension', 'Auto-Injector', 'Pen Injector', 'Prefilled Syringe' "
        "or 'Cartridge' (RxNorm's injectable cartridges). Implants, transdermal, mucosal and nasal forms are "
        "not included.",
        opioid_products(only=PARENTERAL),
    ),
    Spec(
        VS.RX_BENZODIAZEPINE,
        "Benzodiazepines (products)",
        "Every benzodiazepine clinical drug of the CDC opioid CDS value set benzodiazepine-medications "
        "(safety rule S12: opioid with a benzodiazepine).",
        cdc("benzodiazepine-medications.json"),
    ),
    Spec(
        VS.RX_CNS_DEPRESSANT,
        "CNS depressants (products)",
        "CNS depressants for safety rule S12: VSAC 'Central Nervous System Depressants' (the set clinical-rules "
        "S12 names), the CDC benzodiazepine and barbiturate sets, and CDC cns-depressant-medications without "
        "its anorectic stimulants (phentermine alone, phendimetrazine, diethylpropion, benzphetamine, "
        "methamphetamine), which do not depress the CNS.",
        (
            *vsac("Central Nervous System Depressants", "v2026/medication.py", RXNORM),
            *cdc("benzodiazepine-medications.json"),
            *cdc("barbiturate-medications.json"),
            *cdc("cns-depressant-medications.json", drop=STIMULANT),
        ),
    ),
    Spec(
        VS.RX_CONVENTIONAL_DMARD,
        "Conventional DMARDs (products)",
        "Methotrexate and leflunomide clinical drugs from VSAC 'Chemotherapy for Advanced Cancer' / "
        "'Chemotherapy Agents for Advanced Cancer' (methotrexate rows) and 'Immunosuppressive Drugs for "
        "Urology Care' (leflunomide rows). Sulfasalazine and hydroxychloroquine have no verified code here.",
        (
            *vsac("Chemotherapy Agents for Advanced Cancer", "v2026/medication.py", RXNORM, only=METHOTREXATE),
            *vsac("Chemotherapy for Advanced Cancer", "v2022/medication.py", RXNORM, only=METHOTREXATE),
            *vsac("Immunosuppressive Drugs for Urology Care", "v2026/medication.py", RXNORM),
            *vsac("Immunosuppressive Drugs for Urology Care", "v2022/medication.py", RXNORM),
        ),
    ),
    Spec(
        VS.RX_SYSTEMIC_GLUCOCORTICOID,
        "Systemic glucocorticoids (ingredients)",
        "Dexamethasone, prednisolone, prednisone (codes.md D1). Systemic use depends on the route.",
        (
            DEXAMETHASONE,
            rx("8638", "prednisolone", f"V-A: {OHDSI} inst/cohorts/1181.json l.272; codes.md D1"),
            rx("8640", "prednisone", f"V-A: {OHDSI} inst/cohorts/1181.json l.289; codes.md D1"),
        ),
    ),
    Spec(
        VS.RX_DEXAMETHASONE,
        "Dexamethasone",
        "Dexamethasone (codes.md D1; clinical-rules R10).",
        (DEXAMETHASONE,),
    ),
    Spec(
        VS.RX_ANTICOAGULANT,
        "Anticoagulants (ingredients)",
        "Warfarin, apixaban, rivaroxaban (codes.md D1; safety rule S03). Heparins and other DOACs have no "
        "verified RxCUI in codes.md; the VSAC SCD-level sets (D2) are listed there only by OID and count.",
        (
            rx(
                "11289",
                "warfarin",
                f"V-A: {OHDSI} inst/cohorts/919.json l.278; {CPIC}V2__initial_data.sql l.228; codes.md D1",
            ),
            rx("1364430", "apixaban", f"V-A: {OHDSI} inst/cohorts/919.json l.227; codes.md D1"),
            rx("1114195", "rivaroxaban", f"V-A: {OHDSI} inst/cohorts/919.json l.261; codes.md D1"),
        ),
    ),
    Spec(VS.RX_ILOPROST, "Iloprost", "Iloprost (codes.md D1; clinical-rules R30).", (ILOPROST,)),
    Spec(
        VS.RX_OSTEOPOROSIS_THERAPY,
        "Osteoporosis therapy (ingredients)",
        "Prior osteoporosis therapy (codes.md D1 context row, plus alendronate, zoledronic acid and "
        "denosumab from the same ODTP source).",
        (ALENDRONATE, IBANDRONATE, RISEDRONATE, ZOLEDRONIC, DENOSUMAB, TERIPARATIDE, ROMOSOZUMAB),
    ),
)


# ---------------------------------------------------------------------------------------------------------
# Procedures (codes.md E)
# ---------------------------------------------------------------------------------------------------------

PVA = (
    "V-B: public coding page quoting the CMS LCD 'Percutaneous Vertebral Augmentation' "
    "(radiologybillingcoding.com, "
    "Feb 2017); Noridian billing article R3 lists 22510-22515; codes.md E1"
)

PROCEDURES: tuple[Spec, ...] = (
    Spec(
        VS.PROC_VERTEBRAL_AUGMENTATION,
        "Vertebral augmentation (vertebroplasty, kyphoplasty)",
        "CPT 22510-22515 (codes.md E1; clinical-rules augmentation_done). Historical 22520-22525 and SNOMED "
        "392010000 are UNVERIFIED and left out.",
        (
            cpt(
                "22510",
                "Percutaneous vertebroplasty, 1 vertebral body, incl. imaging guidance; cervicothoracic",
                PVA,
            ),
            cpt(
                "22511",
                "Percutaneous vertebroplasty, 1 vertebral body, incl. imaging guidance; lumbosacral",
                PVA,
            ),
            cpt(
                "22512",
                "Percutaneous vertebroplasty; each additional cervicothoracic or lumbosacral vertebral body "
                "(add-on)",
                PVA,
            ),
            cpt(
                "22513",
                "Percutaneous vertebral augmentation incl. cavity creation using mechanical device "
                "(e.g. kyphoplasty), 1 vertebral body; thoracic",
                PVA,
            ),
            cpt(
                "22514",
                "Percutaneous vertebral augmentation incl. cavity creation using mechanical device "
                "(e.g. kyphoplasty), 1 vertebral body; lumbar",
                PVA,
            ),
            cpt(
                "22515",
                "Percutaneous vertebral augmentation; each additional thoracic or lumbar vertebral body "
                "(add-on)",
                PVA,
            ),
        ),
    ),
    Spec(
        VS.PROC_MRI,
        "MRI procedure (Procedure.code)",
        "CPT MRI codes (codes.md E2) and SNOMED MRI procedures (C2), for Procedure/claims matching; "
        "imaging-mri is the superset with the LOINC playbook codes.",
        (*CPT_MRI, *SNOMED_MRI),
    ),
)

SPECS: tuple[Spec, ...] = (*CONDITIONS, *CONDITIONS_2, *OBSERVATIONS, *IMAGING, *DRUGS, *PROCEDURES)


# ---------------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------------


def _evidence(text: str) -> list[dict[str, str]]:
    return [{"url": EVIDENCE_EXTENSION_URL, "valueString": text}]


def _compose_block(rows: tuple[Code, ...]) -> list[dict[str, object]]:
    # One include/exclude entry per system, in first-seen order; exact rows become concepts, prefix rows
    # become is-a filters (ICD-10-CM).
    blocks: dict[str, dict[str, list[dict[str, object]]]] = {}
    for row in rows:
        block = blocks.setdefault(row.system, {"concept": [], "filter": []})
        if row.prefix:
            block["filter"].append(
                {"extension": _evidence(row.evidence), "property": "concept", "op": "is-a", "value": row.code}
            )
        elif not any(c["code"] == row.code for c in block["concept"]):
            block["concept"].append(
                {"extension": _evidence(row.evidence), "code": row.code, "display": row.display}
            )
    out: list[dict[str, object]] = []
    for system, block in blocks.items():
        entry: dict[str, object] = {"system": system}
        if block["concept"]:
            entry["concept"] = block["concept"]
        if block["filter"]:
            entry["filter"] = block["filter"]
        out.append(entry)
    return out


def _expand(spec: Spec) -> list[dict[str, object]]:
    excluded = {(r.system, icd10.remove_dot(r.code)) for r in spec.exclude if not r.prefix}
    excluded_prefixes = tuple(icd10.remove_dot(r.code) for r in spec.exclude if r.prefix)

    def is_excluded(system: str, code: str) -> bool:
        key = icd10.remove_dot(code) if system == ICD10CM else code
        if (system, key) in excluded:
            return True
        return system == ICD10CM and any(key.startswith(p) for p in excluded_prefixes)

    members: dict[tuple[str, str], dict[str, object]] = {}

    def add(system: str, code: str, display: str, evidence: str, explicit: bool) -> None:
        if is_excluded(system, code):
            return
        key = (system, code)
        entry: dict[str, object] = {
            "extension": _evidence(evidence),
            "system": system,
            "code": code,
            "display": display,
        }
        # An explicitly listed row's evidence beats "descendant of a prefix row"; the position stays.
        if key not in members or explicit:
            members[key] = entry

    for row in spec.include:
        add(row.system, row.code, row.display, row.evidence, not row.prefix)
        if row.prefix:
            # Short on purpose: chapter-wide rows expand to thousands of codes.
            section = row.evidence.split("; ", 1)[1].split(" (", 1)[0]
            for child in icd10.get_descendants(row.code):
                evidence = f"V-A: simple_icd_10_cm 1.5.0 descendant of prefix row {row.code}; {section}"
                add(row.system, child, icd10.get_description(child), evidence, False)
    return list(members.values())


def render(spec: Spec) -> dict[str, object]:
    """The ValueSet resource for one spec."""
    contains = _expand(spec)
    compose: dict[str, object] = {"include": _compose_block(spec.include)}
    if spec.exclude:
        compose["exclude"] = _compose_block(spec.exclude)
    return {
        "resourceType": "ValueSet",
        "id": spec.name,
        "url": f"{VALUESET_URL_BASE}{spec.name}",
        "version": VERSION,
        "name": computable_name(spec.name),
        "title": spec.title,
        # Draft and experimental until a clinician signs off (clinical-rules.md status line).
        "status": "draft",
        "experimental": True,
        "date": DATE,
        "publisher": PUBLISHER,
        "description": spec.description,
        "compose": compose,
        "expansion": {"timestamp": TIMESTAMP, "total": len(contains), "contains": contains},
    }


def dumps(resource: dict[str, object]) -> str:
    """Canonical JSON text for a ValueSet file."""
    return json.dumps(resource, indent=1, ensure_ascii=False) + "\n"


def build() -> dict[str, str]:
    """File name -> JSON text for every spec."""
    names = [s.name for s in SPECS]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SystemExit(f"duplicate value-set names: {dupes}")
    return {f"{spec.name}.json": dumps(render(spec)) for spec in SPECS}


def main() -> None:
    """Write every ValueSet file and remove stale ones this generator used to write."""
    files = build()
    for stale in sorted(OUT_DIR.glob("*.json")):
        if stale.name not in files:
            stale.unlink()
    for name, text in files.items():
        (OUT_DIR / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} value sets to {OUT_DIR}")


if __name__ == "__main__":
    main()
