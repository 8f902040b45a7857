"""The committed value-set files: valid FHIR, only codes.md V-A/V-B codes, each with its evidence."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.valueset import ValueSet

from service.core.valuesets import EVIDENCE_EXTENSION_URL
from service.core.valuesets import VALUESET_URL_BASE
from service.core.valuesets import VS
from service.core.valuesets import ValueSetIndex
from service.core.valuesets import computable_name
from service.core.valuesets import normalise_icd10cm
from service.core.vocabulary import ICD10CM
from service.core.vocabulary import LOINC
from service.core.vocabulary import SNOMED
from tests.valuesets.icd10 import icd10
from tests.valuesets.published_sources import ICD10CM_ADDITIONS
from tests.valuesets.published_sources import PUBLISHED
from tests.valuesets.verified_codes import ICD10CM_PREFIX_ROWS
from tests.valuesets.verified_codes import UNVERIFIED
from tests.valuesets.verified_codes import VERIFIED
from valuesets import DIRECTORY

FILES = sorted(DIRECTORY.glob("*.json"))
IDS = [p.stem for p in FILES]
LEVEL = re.compile(r"^V-[AB]: ")
# FHIR vsd-0: ValueSet.name should be usable as an identifier.
COMPUTABLE_NAME = re.compile(r"^[A-Z]([A-Za-z0-9_]){1,254}$")


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _evidence(entry: dict[str, Any]) -> str:
    texts = [e["valueString"] for e in entry.get("extension", []) if e.get("url") == EVIDENCE_EXTENSION_URL]
    assert len(texts) == 1, f"expected one evidence extension on {entry}"
    return str(texts[0])


def _members(resource: dict[str, Any]) -> Iterator[tuple[str, str, str, str | None]]:
    """(where, system, code, display) for every expansion entry and compose concept."""
    for entry in resource["expansion"]["contains"]:
        yield "expansion", entry["system"], entry["code"], entry.get("display")
    for part in ("include", "exclude"):
        for block in resource["compose"].get(part, []):
            for concept in block.get("concept", []):
                yield f"compose.{part}", block["system"], concept["code"], concept.get("display")


def _ancestors_or_self(code: str) -> set[str]:
    return {code, *icd10.get_ancestors(code)}


def test_there_are_value_sets() -> None:
    assert len(FILES) >= 90


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_validates_as_fhir_r4b_valueset(path: Path) -> None:
    resource = _load(path)
    model = ValueSet.model_validate(resource)
    assert model.name == computable_name(path.stem)
    assert model.id == path.stem
    assert model.url == f"{VALUESET_URL_BASE}{path.stem}"
    assert model.expansion is not None and model.expansion.total == len(resource["expansion"]["contains"])


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_name_is_computable(path: Path) -> None:
    name = _load(path)["name"]
    assert COMPUTABLE_NAME.match(name), f"{path.name}: name {name!r} is not a computable identifier"


def test_computable_names_are_distinct() -> None:
    names = [_load(p)["name"] for p in FILES]
    assert len(set(names)) == len(names)


def _cites_a_published_source(system: str, code: str, evidence: str) -> bool:
    return any(label in evidence for label in PUBLISHED.get((system, code), ()))


def test_file_names_are_exactly_the_named_constants(index: ValueSetIndex) -> None:
    assert set(IDS) == VS.all()
    assert index.names() == VS.all()


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_every_icd10cm_code_exists_with_its_official_display(path: Path) -> None:
    resource = _load(path)
    for where, system, code, display in _members(resource):
        if system != ICD10CM:
            continue
        assert icd10.is_valid_item(code), f"{path.name} {where}: {code} is not an ICD-10-CM code"
        # The library accepts both forms; the files use the dotted FHIR form.
        assert icd10.add_dot(icd10.remove_dot(code)) == code, f"{path.name}: {code} not in dotted form"
        assert display == icd10.get_description(code), f"{path.name}: display of {code}"


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_non_icd_codes_are_verified_in_codes_md_or_a_published_source(path: Path) -> None:
    resource = _load(path)
    for where, system, code, _display in _members(resource):
        if system == ICD10CM:
            continue
        assert code in VERIFIED.get(system, {}) or (system, code) in PUBLISHED, (
            f"{path.name} {where}: {system}|{code} is neither V-A/V-B in codes.md nor in a published extract"
        )


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_every_member_carries_evidence_at_its_codes_md_level(path: Path) -> None:
    resource = _load(path)
    entries = list(resource["expansion"]["contains"])
    for block in resource["compose"]["include"]:
        entries += [{**c, "system": block["system"]} for c in block.get("concept", [])]
    for entry in entries:
        text = _evidence(entry)
        assert LEVEL.match(text), f"{path.name}: evidence of {entry['code']} lacks a level: {text}"
        expected = VERIFIED.get(entry["system"], {}).get(entry["code"])
        if entry["system"] == ICD10CM:
            continue
        if expected is None or "codes.md" not in text:
            # Not (or not only) from codes.md: the evidence must cite the published extract holding the code.
            assert _cites_a_published_source(entry["system"], entry["code"], text), (
                f"{path.name}: {entry['code']} evidence cites no published source that lists it: {text}"
            )
        else:
            # A V-B code must never be presented as V-A (and vice versa).
            assert text.startswith(f"{expected}:"), f"{path.name}: {entry['code']} is {expected} in codes.md"


def _is_an_addition(code: str) -> bool:
    # Issue 12 additions: the named codes, and the chapter-15 puerperium rows split off from pregnancy.
    return code in ICD10CM_ADDITIONS or (code.startswith("O") and "15" in icd10.get_ancestors(code))


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_icd10cm_compose_rows_come_from_codes_md(path: Path) -> None:
    resource = _load(path)
    verified = VERIFIED[ICD10CM]
    # Includes only: an exclusion (M06.4, M87.180) removes codes, so it needs existence, not verification.
    for block in resource["compose"]["include"]:
        if block["system"] != ICD10CM:
            continue
        for concept in block.get("concept", []):
            code = concept["code"]
            assert code in verified or _is_an_addition(code), f"{path.name}: {code} not in codes.md"
        for flt in block.get("filter", []):
            assert (flt["property"], flt["op"]) == ("concept", "is-a")
            assert LEVEL.match(_evidence(flt)), f"{path.name}: is-a {flt['value']} evidence lacks a level"
            value = flt["value"]
            if value in verified or _is_an_addition(value):
                continue
            # Derived rows: subcategories of a prefix row (S22.0x2), or categories of the block C00-C96 /
            # chapter 15 that codes.md names as a whole.
            ancestors = _ancestors_or_self(value)
            in_block = value.startswith("C") and "2" in ancestors and "C00-C96" in ICD10CM_PREFIX_ROWS
            assert ancestors & ICD10CM_PREFIX_ROWS or in_block, f"{path.name}: is-a {value} not from codes.md"


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_is_a_equals_prefix_for_every_icd10cm_filter(path: Path) -> None:
    # The loader answers is-a by string prefix; that is only sound if every descendant shares the prefix.
    resource = _load(path)
    for block in resource["compose"]["include"] + resource["compose"].get("exclude", []):
        for flt in block.get("filter", []):
            prefix = normalise_icd10cm(flt["value"])
            for child in icd10.get_descendants(flt["value"]):
                assert normalise_icd10cm(child).startswith(prefix), f"{path.name}: {child} under {prefix}"


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_prefix_rows_are_fully_expanded(path: Path) -> None:
    resource = _load(path)
    listed = {e["code"] for e in resource["expansion"]["contains"] if e["system"] == ICD10CM}
    excluded = {c["code"] for b in resource["compose"].get("exclude", []) for c in b.get("concept", [])}
    for b in resource["compose"].get("exclude", []):
        for flt in b.get("filter", []):
            excluded |= {flt["value"], *icd10.get_descendants(flt["value"])}
    for block in resource["compose"]["include"]:
        for flt in block.get("filter", []):
            expected = {flt["value"], *icd10.get_descendants(flt["value"])} - excluded
            assert expected <= listed, f"{path.name}: missing {sorted(expected - listed)[:5]}"


def test_unverified_codes_are_in_no_value_set(index: ValueSetIndex) -> None:
    for system, code in UNVERIFIED:
        assert index.names_for(system, code) == frozenset(), f"{system}|{code} is UNVERIFIED in codes.md"


@pytest.mark.parametrize(
    ("name", "system", "code", "why"),
    [
        (
            VS.OSTEONECROSIS,
            ICD10CM,
            "M87.180",
            "ONJ stays out of the osteonecrosis trigger set (codes.md A5)",
        ),
        (VS.RHEUMATOID_ARTHRITIS, ICD10CM, "M06.4", "inflammatory polyarthropathy is not RA (codes.md A6)"),
        (VS.BME_PROXY, ICD10CM, "M25.551", "hip pain is a symptom only (codes.md A1)"),
        (VS.VERTEBRAL_FRACTURE, ICD10CM, "M84.48XA", "other-site pathological fracture needs bodySite"),
        (VS.VERTEBRAL_FRACTURE_UNSTABLE, ICD10CM, "S22.080A", "wedge compression is not unstable burst"),
        (VS.GI_BLEED_ACTIVE, ICD10CM, "K25.9", "ulcer without hemorrhage is history, not active bleeding"),
        (VS.NEURO_DEFICIT, ICD10CM, "R29.818", "nonspecific sign kept apart (codes.md A14)"),
        (VS.CKD_4_5, SNOMED, "709044004", "CKD without a stage never implies stage 4-5"),
    ],
)
def test_deliberate_omissions(index: ValueSetIndex, name: str, system: str, code: str, why: str) -> None:
    assert not index.contains(name, system, code), why


@pytest.mark.parametrize(
    ("name", "system", "code"),
    [
        (VS.ONJ, ICD10CM, "M87.180"),
        (VS.OSTEONECROSIS, ICD10CM, "M87.188"),
        (VS.RHEUMATOID_ARTHRITIS, ICD10CM, "M06.9"),
        (VS.VERTEBRAL_FRACTURE, ICD10CM, "M48.56XA"),
        (VS.VERTEBRAL_FRACTURE, ICD10CM, "S22.080A"),
        (VS.VERTEBRAL_FRACTURE_UNSTABLE, ICD10CM, "S22.002A"),
        (VS.VERTEBRAL_FRACTURE_UNSTABLE, ICD10CM, "S32.012A"),
        (VS.FRACTURE_NEEDS_SPINE_SITE, ICD10CM, "M84.48XA"),
        (VS.GI_BLEED_ACTIVE, ICD10CM, "K25.0"),
        (VS.GI_BLEED_ULCER, ICD10CM, "K25.9"),
        (VS.MALIGNANCY, ICD10CM, "C7A.00"),
        (VS.MALIGNANCY, ICD10CM, "C50.911"),
        (VS.PREGNANCY, ICD10CM, "O09.90"),
        (VS.GESTATION_WEEKS, ICD10CM, "Z3A.20"),
        (VS.IMAGING_MRI, LOINC, "24968-0"),
    ],
)
def test_expected_members(index: ValueSetIndex, name: str, system: str, code: str) -> None:
    assert index.contains(name, system, code)
