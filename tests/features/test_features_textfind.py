"""Radiology-text detection: BME with negation per sentence/clause, sites, level, extent, depth, deformity."""

from __future__ import annotations

import pytest

from service.core import textfind as t


def kinds(text: str) -> dict[str, list[object]]:
    out: dict[str, list[object]] = {}
    for f in t.find(text):
        out.setdefault(f.kind, []).append(f.value)
    return out


@pytest.mark.parametrize(
    ("text", "bme"),
    [
        ("Bone marrow edema in the L1 vertebral body.", [True]),
        ("Bone marrow oedema of the femoral head.", [True]),
        ("Marrow edema at L2.", [True]),
        ("BME in the talus.", [True]),
        ("Subchondral bone marrow lesion in the medial femoral condyle.", [True]),
        ("No fracture. Marrow edema at L2.", [True]),
        ("No fracture, but marrow edema at L2.", [True]),
        ("No bone marrow edema.", [False]),
        ("Without marrow oedema.", [False]),
        ("Negative for bone marrow edema.", [False]),
        ("No evidence of acute fracture, dislocation or bone marrow edema.", [False]),
        ("Marrow edema has resolved.", [False]),
        ("Resolved marrow edema at L1.", [False]),
        ("Bone marrow edema is not seen.", [False]),
        ("No significant marrow edema", [False]),
        ("Indication: back pain, evaluate for BME.", []),
        ("Rule out bone marrow edema?", []),
        ("Possible marrow edema at L3.", []),
        ("Marrow edema at L1?", []),
        ("History of bone marrow edema of the hip.", []),
        ("Previous marrow edema at L2 ", []),
        ("History of osteoporosis, compression fracture of L1 with new marrow edema.", [True]),
        ("Known history of falls. Marrow edema at L1.", [True]),
        ("Old compression fracture of T12, marrow edema at L1.", [True]),
        ("Prior fracture at T12 and marrow edema at L1.", [True]),
        ("Previously described bone marrow edema of the talus.", []),
        ("Chronic wedge deformity of T12 without BME. Marrow edema at L1.", [False, True]),
        ("Nothing relevant here.", []),
        ("", []),
    ],
)
def test_bme_polarity(text: str, bme: list[bool]) -> None:
    assert kinds(text).get(t.KIND_BME, []) == bme


@pytest.mark.parametrize(
    ("text", "sites", "level"),
    [
        ("Bone marrow edema in the L1 vertebral body.", [t.SITE_VERTEBRA], ["L1"]),
        ("Marrow edema at T12 and L1.", [t.SITE_VERTEBRA], ["T12, L1"]),
        ("T2 hyperintense marrow edema at L3.", [t.SITE_VERTEBRA], ["L3"]),
        ("STIR hyperintense marrow edema in the lumbar spine.", [t.SITE_VERTEBRA], []),
        ("Bone marrow edema of the femoral head and neck.", [t.SITE_HIP], []),
        ("BME in the left hip.", [t.SITE_HIP], []),
        ("Bone marrow edema of the medial tibial plateau.", [t.SITE_KNEE], []),
        ("Marrow edema in the talus and calcaneus.", [t.SITE_FOOT_ANKLE], []),
        ("BME at both sacroiliac joints.", [t.SITE_SACROILIAC], []),
        ("Bone marrow edema.", [], []),
        # No site in the BME sentence: sites named elsewhere in the same report are used.
        ("MRI of the lumbar spine. Bone marrow edema is present.", [t.SITE_VERTEBRA], []),
    ],
)
def test_sites_and_levels(text: str, sites: list[str], level: list[str]) -> None:
    found = kinds(text)
    assert sorted(set(found.get(t.KIND_SITE, []))) == sorted(sites)  # type: ignore[type-var]
    assert found.get(t.KIND_LEVEL, []) == level


@pytest.mark.parametrize(
    ("text", "extent"),
    [
        ("Bone marrow edema involving the entire L1 vertebral body.", [t.EXTENT_EXTENSIVE]),
        ("Marrow edema throughout the whole vertebral body of T11.", [t.EXTENT_EXTENSIVE]),
        ("Full vertebral body bone marrow edema at L2.", [t.EXTENT_EXTENSIVE]),
        ("Diffuse marrow edema at L3.", [t.EXTENT_EXTENSIVE]),
        ("Focal bone marrow edema at L1.", [t.EXTENT_LIMITED]),
        ("Marrow edema limited to the superior endplate of L1.", [t.EXTENT_LIMITED]),
        ("Partial marrow edema of the T8 vertebral body.", [t.EXTENT_LIMITED]),
        ("Bone marrow edema at L1.", []),  # unknown stays unknown
        (
            "Diffuse marrow edema of the talus.",
            [],
        ),  # "diffuse" is the whole vertebral body only at a vertebra
    ],
)
def test_extent(text: str, extent: list[str]) -> None:
    assert kinds(text).get(t.KIND_EXTENT, []) == extent


@pytest.mark.parametrize(
    ("text", "kind", "values"),
    [
        ("Bone marrow edema at L1 with 25% height loss.", t.KIND_HEIGHT_LOSS, [25.0]),
        ("Compression fracture with height loss of 25%.", t.KIND_HEIGHT_LOSS, [25.0]),
        ("Loss of 30% of vertebral body height at L1.", t.KIND_HEIGHT_LOSS, [30.0]),
        ("Kyphosis of 18% at the fracture level.", t.KIND_KYPHOSIS, [18.0]),
        ("There is 12.5% kyphosis.", t.KIND_KYPHOSIS, [12.5]),
        ("No height loss.", t.KIND_HEIGHT_LOSS, []),
        ("Retropulsed fragment narrows the canal.", t.KIND_RETROPULSION, [True]),
        ("Retropulsion of the posterior wall.", t.KIND_RETROPULSION, [True]),
        ("No retropulsion.", t.KIND_RETROPULSION, [False]),
        ("Severe cord compression at T10.", t.KIND_CORD, [True]),
        ("Possible cord compression at T10.", t.KIND_CORD, [True]),  # suspicion is enough (§1.4)
        ("No spinal cord compression.", t.KIND_CORD, [False]),
        ("Crescent sign in the femoral head with marrow edema.", t.KIND_ON, [True]),
        ("Double-line sign.", t.KIND_ON, [True]),
        ("Serpiginous low signal line in the femoral head.", t.KIND_ON, [True]),
        ("No rim sign.", t.KIND_ON, [False]),  # a negated rim sign is recorded: it points away from osteonecrosis
        ("Bone marrow lesion 1.5 cm from the articular surface.", t.KIND_DEEP, [True]),
        ("Bone marrow edema 5 mm beneath the articular surface.", t.KIND_DEEP, [False]),
        ("BME deep >1 cm in the iliac bone.", t.KIND_DEEP, [True]),
        ("Ischemic marrow edema of the femoral head.", t.KIND_ISCHEMIC, [True]),
        ("Ankylosis of the SI joints.", t.KIND_ANKYLOSIS, [True]),
    ],
)
def test_other_findings(text: str, kind: str, values: list[object]) -> None:
    assert kinds(text).get(kind, []) == values


def test_quote_is_the_matched_sentence_trimmed() -> None:
    text = "Findings: normal alignment. Marrow edema at L2 " + "with more words " * 20 + ". End."
    bme = [f for f in t.find(text) if f.kind == t.KIND_BME]
    assert bme[0].quote.startswith("Marrow edema at L2")
    assert len(bme[0].quote) <= t.QUOTE_CHARS


def test_decimal_points_do_not_split_sentences() -> None:
    assert t.sentences("Edema 1.5 cm deep. Next") == ["Edema 1.5 cm deep", "Next"]


def test_huge_text_is_capped() -> None:
    text = "x " * t.MAX_TEXT_CHARS + "Marrow edema at L1."
    assert kinds(text).get(t.KIND_BME, []) == []


@pytest.mark.parametrize(
    "text, levels",
    (
        ("MRI lumbar spine, STIR and T1: acute L1 compression fracture with marrow edema.", ["L1"]),
        ("Sagittal T1 and STIR images show marrow edema at L1.", ["L1"]),
        ("Axial T2, marrow edema at T11.", ["T11"]),
        ("Marrow edema in the T1 vertebral body.", ["T1"]),
        ("Fractures of T12 and L1 with marrow edema.", ["T12", "L1"]),
    ),
)
def test_mri_sequence_names_are_not_vertebral_levels(text: str, levels: list[str]) -> None:
    assert t.levels_in(text) == levels
