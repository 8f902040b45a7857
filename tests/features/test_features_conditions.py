"""Condition-coded features (clinical-rules §1.1, §1.3-§1.5): value sets, statuses, unknown vs False."""

from __future__ import annotations

from typing import Any

import pytest

from service.core.features import SITE_HIP
from service.core.features import SITE_VERTEBRA
from tests import builders as b
from tests.features.conftest import Run

ICD, SCT = b.ICD10CM, b.SNOMED

# (condition builder kwargs, feature, expected value)
CASES: list[tuple[dict[str, Any], str, object]] = [
    ({"code": "M81.0"}, "osteoporosis", True),
    ({"code": "64859006", "system": SCT}, "osteoporosis", True),
    ({"code": "M8100"}, "osteoporosis", True),  # dot-insensitive
    ({"code": "240159007", "system": SCT}, "transient_bme_syndrome", True),
    ({"code": "M87.051"}, "osteonecrosis", True),
    ({"code": "M06.9"}, "rheumatoid_arthritis", True),
    ({"code": "M45.0"}, "axspa", True),
    ({"code": "L40.50"}, "psoriatic_arthritis", True),
    ({"code": "M86.38"}, "cno_sapho", True),
    ({"code": "C90.00"}, "multiple_myeloma", True),
    ({"code": "C79.51"}, "bone_metastasis", True),
    ({"code": "C79.51"}, "malignancy_active", True),
    ({"code": "C50.911"}, "malignancy_active", True),
    ({"code": "C50.911", "clinical_status": "resolved"}, "malignancy_active", False),
    ({"code": "C50.911", "clinical_status": "resolved"}, "malignancy_history", True),
    ({"code": "Z85.3"}, "malignancy_history", True),
    ({"code": "M14.672"}, "charcot", True),
    ({"code": "E11.9"}, "diabetes", True),
    ({"code": "M86.171"}, "osteomyelitis", True),
    ({"code": "M86.171"}, "active_infection", True),
    ({"code": "L97.509"}, "foot_ulcer_or_cellulitis_or_abscess", True),
    ({"code": "G83.4"}, "neuro_deficit", True),
    ({"code": "G95.20"}, "cord_compression_suspected", True),
    ({"code": "G95.20", "verification": "provisional"}, "cord_compression_suspected", True),  # §1.4
    ({"code": "G95.20", "verification": "differential"}, "cord_compression_suspected", True),
    ({"code": "G83.4", "verification": "provisional"}, "neuro_deficit", None),  # provisional only for cord
    ({"code": "N18.5"}, "ckd_stage_4_5_or_esrd", True),
    ({"code": "K25.4", "clinical_status": "resolved"}, "gi_bleed_or_pud_history", True),
    ({"code": "K25.4", "clinical_status": "resolved"}, "gi_bleed_active", False),
    ({"code": "K92.2"}, "gi_bleed_active", True),
    ({"code": "I50.9"}, "heart_failure", True),
    ({"code": "Z33.1"}, "pregnant", True),
    ({"code": "Z3A.24"}, "gestational_age_weeks", 24),
    ({"code": "Z3A.01"}, "gestational_age_weeks", None),  # "less than 8 weeks": no exact week
    ({"code": "M87.180", "clinical_status": "resolved"}, "onj_history", True),
    ({"code": "M87.180"}, "osteonecrosis", False),  # ONJ is kept out of the osteonecrosis set (codes.md A5)
    ({"code": "K08.9"}, "dental_disease", True),
    ({"code": "E83.51"}, "hypocalcemia", True),
    ({"code": "E83.51"}, "calcium_low", True),
    ({"code": "E55.9"}, "vitamin_d_deficiency", True),
    ({"code": "R63.4"}, "unexplained_weight_loss", True),
    ({"code": "R50.9"}, "fever", True),
    ({"code": "R26.2"}, "impaired_mobility", True),
    ({"code": "Z74.01"}, "bed_rest_ordered", True),
    ({"code": "12584003", "system": SCT}, "bone_pain", True),
    ({"code": "Z79.01"}, "anticoagulant_active", True),
    ({"code": "Z79.02"}, "antiplatelet_active", True),
    ({"code": "Z79.1"}, "nsaid_active", True),
    ({"code": "Z79.52"}, "long_term_glucocorticoid_coded", True),
    ({"code": "Z79.83"}, "bisphosphonate_given", True),
    ({"code": "Z79.891"}, "opioid_active", True),
    ({"code": "Z79.620"}, "dmard_active", True),
    ({"code": "M80.08XA"}, "vertebral_fracture", True),
    ({"code": "M48.56XA"}, "vertebral_fracture", True),
    ({"code": "S32.010A"}, "vertebral_fracture", True),
    ({"code": "S32.002A"}, "spinal_instability", True),
    ({"code": "S32.002A"}, "vertebral_fracture", True),
    ({"code": "S32.010A"}, "spinal_instability", None),
    ({"code": "M84.58XA"}, "pathologic_fracture_neoplastic", True),
    ({"code": "M84.48XA"}, "vertebral_fracture", False),  # "other site" without a spine body site
    ({"code": "M84.48XA", "body_site": "L2 vertebra"}, "vertebral_fracture", True),
    ({"code": "M80.08XA"}, "accumulated_skeletal_damage", True),
    ({"code": "M81.0", "clinical_status": "resolved"}, "osteoporosis", False),
    ({"code": "M81.0", "clinical_status": "inactive"}, "osteoporosis", False),
    ({"code": "M81.0", "verification": "refuted"}, "osteoporosis", False),
    ({"code": "M81.0", "verification": "entered-in-error"}, "osteoporosis", False),
    ({"code": "M81.0", "verification": "provisional"}, "osteoporosis", False),
    ({"code": "M81.0", "clinical_status": None}, "osteoporosis", True),  # status missing: assume active
    ({"code": "M06.9"}, "inflammatory_dx", True),
    ({"code": "M81.0"}, "inflammatory_dx", False),
    ({"code": "M81.0"}, "neuro_deficit", None),  # absence of a code is not a neurological examination
    ({"code": "M81.0"}, "cord_compression_suspected", None),
    ({"code": "M81.0"}, "pregnant", None),
]


@pytest.mark.parametrize(
    ("kwargs", "feature", "expected"), CASES, ids=[f"{c[0]['code']}-{c[1]}-{c[2]}" for c in CASES]
)
def test_condition_feature(run: Run, kwargs: dict[str, Any], feature: str, expected: object) -> None:
    cond = b.condition(**kwargs)
    fact = getattr(run(b.patient(), cond), feature)
    assert fact.value == expected
    if expected is True:
        assert fact.sources[0].reference == f"Condition/{cond['id']}"


def test_condition_flags_unknown_without_any_condition(run: Run) -> None:
    f = run(b.patient())
    assert f.osteoporosis.value is None
    assert f.vertebral_fracture.value is None
    assert f.inflammatory_dx.value is None


def test_condition_source_carries_onset_and_display(run: Run) -> None:
    cond = b.condition("M81.0", onset="2025-03-04", display="Age-related osteoporosis")
    src = run(cond).osteoporosis.sources[0]
    assert src.date is not None and src.date.isoformat() == "2025-03-04"
    assert "Age-related osteoporosis" in src.display


def test_fracture_count_and_latest_onset(run: Run) -> None:
    f = run(
        b.condition("S32.010A", onset="2026-09-01"),
        b.condition("S22.080A", onset="2026-10-20"),
        b.condition("S32.010A", onset="2026-09-01", clinical_status="resolved"),
    )
    assert f.vertebral_fracture_count.value == 2
    assert f.fracture_onset_date.value is not None and f.fracture_onset_date.value.isoformat() == "2026-10-20"


def test_bme_proxy_condition_marks_bme_with_site_from_body_site(run: Run) -> None:
    f = run(b.condition("240159007", SCT, body_site="Left hip", onset="2026-08-01"))
    assert f.bme_present.true
    assert "proxy" in f.bme_present.sources[0].via
    assert f.bme_sites.value == frozenset({SITE_HIP})
    assert f.bme_from_report_text.value is False
    assert f.bme_first_seen_date.value is not None and f.bme_first_seen_date.value.isoformat() == "2026-08-01"


def test_r93_7_proxy_with_spine_site(run: Run) -> None:
    f = run(b.condition("R93.7", body_site="L1 vertebral body"))
    assert f.bme_present.true
    assert f.bme_sites.value == frozenset({SITE_VERTEBRA})
