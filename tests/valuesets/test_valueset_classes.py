"""Whole classes taken from published value sets (issue 12): how each class was cut, checked on the files."""

from __future__ import annotations

import re

import pytest

from service.core.valuesets import VS
from service.core.valuesets import ValueSetIndex
from service.core.vocabulary import CPT
from service.core.vocabulary import ICD10CM
from service.core.vocabulary import LOINC
from service.core.vocabulary import RXNORM
from service.core.vocabulary import SNOMED
from tests.valuesets.icd10 import icd10

INJECTED = re.compile(r"Inject|Prefilled Syringe|\bCartridge\b")


def _codes(index: ValueSetIndex, name: str, system: str) -> dict[str, str]:
    return {c.code: c.display or "" for c in index.concepts(name) if c.system == system}


def test_parenteral_opioids_are_exactly_the_injected_opioid_products(index: ValueSetIndex) -> None:
    opioids = _codes(index, VS.RX_OPIOID, RXNORM)
    parenteral = _codes(index, VS.RX_OPIOID_PARENTERAL, RXNORM)
    assert parenteral.keys() <= opioids.keys()
    assert {c for c, d in opioids.items() if INJECTED.search(d)} == parenteral.keys()
    assert len(parenteral) > 100


def test_pregnancy_and_puerperium_share_no_icd10cm_code(index: ValueSetIndex) -> None:
    pregnancy = _codes(index, VS.PREGNANCY, ICD10CM)
    puerperium = _codes(index, VS.PUERPERIUM, ICD10CM)
    assert puerperium and not pregnancy.keys() & puerperium.keys()


def test_every_chapter_15_code_is_pregnancy_or_puerperium(index: ValueSetIndex) -> None:
    for code in icd10.get_descendants("15"):
        if icd10.is_block(code):
            continue
        where = {VS.PREGNANCY, VS.PUERPERIUM} & index.names_for(ICD10CM, code)
        assert len(where) == 1, f"{code} is in {sorted(where)}"


def test_no_puerperium_title_names_pregnancy(index: ValueSetIndex) -> None:
    for code, display in _codes(index, VS.PUERPERIUM, ICD10CM).items():
        assert not re.search(r"pregnan|trimester|antepartum", display, re.I), f"{code} {display}"


def test_nsaid_rows_name_an_nsaid_and_never_aspirin(index: ValueSetIndex) -> None:
    nsaid = re.compile(r"\b(naproxen|diclofenac|indomethacin|celecoxib|ibuprofen|ketorolac)\b", re.I)
    for code, display in _codes(index, VS.RX_NSAID, RXNORM).items():
        assert nsaid.search(display) and "aspirin" not in display.lower(), f"{code} {display}"


@pytest.mark.parametrize(
    ("name", "system", "code", "why"),
    [
        (VS.PREGNANCY, ICD10CM, "O85", "puerperal sepsis is after birth"),
        (VS.PREGNANCY, ICD10CM, "O99.03", "anaemia complicating the puerperium"),
        (VS.PREGNANCY, ICD10CM, "O80", "encounter for delivery"),
        (VS.PREGNANCY, ICD10CM, "O86.0", "under O86 'Other puerperal infections'"),
        (VS.RX_OPIOID_PARENTERAL, RXNORM, "897696", "oral hydromorphone tablet"),
        (VS.RX_OPIOID_PARENTERAL, RXNORM, "1797650", "a buprenorphine implant is not an injection"),
        (VS.RX_CNS_DEPRESSANT, RXNORM, "803348", "phentermine alone is a stimulant"),
        (VS.DIALYSIS, SNOMED, "10848006", "catheter removal does not show dialysis goes on"),
        (VS.DIALYSIS, CPT, "90997", "hemoperfusion is not renal dialysis"),
        (VS.LATENT_TUBERCULOSIS, ICD10CM, "A15.0", "tuberculosis of lung is disease, not latent infection"),
        (VS.IMAGING_REGION_WHOLE_SPINE, LOINC, "91715-3", "lumbar spine and sacrum is not the whole spine"),
        (VS.IMAGING_REGION_HIP, LOINC, "24587-8", "MR Brain is not a hip study"),
    ],
)
def test_class_boundaries(index: ValueSetIndex, name: str, system: str, code: str, why: str) -> None:
    assert not index.contains(name, system, code), why


@pytest.mark.parametrize(
    ("name", "system", "code"),
    [
        (VS.RX_OPIOID, RXNORM, "897696"),  # hydromorphone 2 MG oral tablet (CDC)
        (VS.RX_OPIOID, RXNORM, "1724276"),  # hydromorphone 2 MG/ML injection (VSAC 'Opioids, All')
        (VS.RX_OPIOID_PARENTERAL, RXNORM, "1724276"),
        (VS.RX_OPIOID_PARENTERAL, RXNORM, "892473"),  # morphine injection [Duramorph]
        (VS.RX_OPIOID, RXNORM, "7804"),  # oxycodone ingredient (codes.md D1)
        (VS.RX_BENZODIAZEPINE, RXNORM, "197901"),  # lorazepam 1 MG oral tablet
        (VS.RX_CNS_DEPRESSANT, RXNORM, "197901"),
        (VS.RX_CNS_DEPRESSANT, RXNORM, "2637353"),  # zolpidem
        (VS.RX_CNS_DEPRESSANT, RXNORM, "313761"),  # zaleplon 10 MG (CDC cns-depressant-medications)
        (VS.RX_CONVENTIONAL_DMARD, RXNORM, "105585"),  # methotrexate 2.5 MG oral tablet
        (VS.RX_CONVENTIONAL_DMARD, RXNORM, "205285"),  # leflunomide 20 MG oral tablet
        (VS.RX_NSAID, RXNORM, "834022"),  # ketorolac 10 MG oral tablet
        (VS.RX_NSAID, RXNORM, "1049589"),  # ibuprofen / oxycodone tablet
        (VS.RX_INDOMETHACIN, RXNORM, "197818"),  # indomethacin 50 MG oral capsule
        (VS.LATENT_TUBERCULOSIS, ICD10CM, "Z22.7"),
        (VS.LATENT_TUBERCULOSIS, ICD10CM, "R76.11"),
        (VS.ACTIVE_TUBERCULOSIS, ICD10CM, "A15.0"),
        (VS.ACTIVE_TUBERCULOSIS, SNOMED, "56717001"),
        (VS.DIALYSIS, ICD10CM, "Z99.2"),
        (VS.DIALYSIS, ICD10CM, "Z49.31"),
        (VS.DIALYSIS, CPT, "90935"),
        (VS.DIALYSIS, SNOMED, "236435004"),
        (VS.PUERPERIUM, ICD10CM, "O85"),
        (VS.PUERPERIUM, ICD10CM, "O99.03"),
        (VS.PUERPERIUM, ICD10CM, "Z39.2"),
        (VS.PREGNANCY, ICD10CM, "O99.011"),  # anaemia complicating pregnancy, first trimester
        (VS.PREGNANCY, ICD10CM, "O99.89"),  # names pregnancy, childbirth and the puerperium: stays
        (VS.LAB_EGFR, LOINC, "33914-3"),
        (VS.LAB_CALCIUM, LOINC, "2000-8"),
        (VS.LAB_CALCIUM_IONIZED, LOINC, "13959-2"),
        (VS.IMAGING_MRI, LOINC, "24587-8"),  # MR Brain WO and W contrast IV: any MR study
        (VS.IMAGING_REGION_HIP, LOINC, "36020-6"),  # MR Hip - left
        (VS.IMAGING_REGION_LUMBAR_SPINE, LOINC, "91715-3"),  # MR Spine Lumbar and Sacrum W contrast IV
        (VS.IMAGING_REGION_SPINE, LOINC, "91715-3"),
    ],
)
def test_class_members(index: ValueSetIndex, name: str, system: str, code: str) -> None:
    assert index.contains(name, system, code)
