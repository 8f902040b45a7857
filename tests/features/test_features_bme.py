"""Bone marrow edema and imaging features (clinical-rules §1.2-§1.4) from reports, local codes and studies."""

from __future__ import annotations

from datetime import date

import pytest

from service.core.features import EXTENT_EXTENSIVE
from service.core.features import EXTENT_LIMITED
from service.core.features import SITE_FOOT_ANKLE
from service.core.features import SITE_HIP
from service.core.features import SITE_KNEE
from service.core.features import SITE_VERTEBRA
from tests import builders as b
from tests.features.conftest import Run


@pytest.mark.parametrize(
    ("text", "present", "sites", "level", "extent"),
    [
        (
            "Acute compression fracture of L1 with bone marrow edema involving the entire vertebral body.",
            True,
            {SITE_VERTEBRA},
            "L1",
            EXTENT_EXTENSIVE,
        ),
        ("Focal marrow edema at the superior endplate of T12.", True, {SITE_VERTEBRA}, "T12", EXTENT_LIMITED),
        ("No fracture. Marrow edema at L2.", True, {SITE_VERTEBRA}, "L2", None),
        ("Bone marrow edema of the femoral head without a rim.", True, {SITE_HIP}, None, None),
        ("Bone marrow lesion in the lateral femoral condyle.", True, {SITE_KNEE}, None, None),
        ("Marrow oedema of the calcaneus.", True, {SITE_FOOT_ANKLE}, None, None),
        ("No bone marrow edema.", False, None, None, None),
        ("Normal study.", None, None, None, None),
    ],
)
def test_report_conclusion(
    run: Run, text: str, present: bool | None, sites: set[str] | None, level: str | None, extent: str | None
) -> None:
    rep = b.report(text, code=None, effective="2026-10-30")
    f = run(rep)
    assert f.bme_present.value is present
    assert f.bme_sites.value == (frozenset(sites) if sites else None)
    assert f.bme_vertebral_level.value == level
    assert f.bme_extent.value == extent
    if present:
        src = f.bme_present.sources[0]
        assert src.reference == f"DiagnosticReport/{rep['id']}"
        assert src.via.startswith("report text: '")
        assert src.date == date(2026, 10, 30)
        assert f.bme_from_report_text.true
        assert f.bme_first_seen_date.value == date(2026, 10, 30)


def test_unknown_extent_stays_unknown(run: Run) -> None:
    f = run(b.report("Bone marrow edema at L1."))
    assert f.bme_present.true
    assert f.bme_extent.value is None
    assert f.bme_extent.known is False


def test_presented_form_is_decoded(run: Run) -> None:
    f = run(
        b.report(
            None, presented_text="FINDINGS: Marrow edema in the T11 vertebral body. IMPRESSION: see above."
        )
    )
    assert f.bme_present.true
    assert f.bme_vertebral_level.value == "T11"


def test_presented_form_of_other_content_type_or_bad_base64_is_ignored(run: Run) -> None:
    rep = b.report(None)
    rep["presentedForm"] = [
        {"contentType": "application/pdf", "data": "TWFycm93IGVkZW1hIGF0IEwxLg=="},
        {"contentType": "text/plain", "data": "!!!not base64!!!"},
        "junk",
    ]
    assert run(rep).bme_present.value is None


def test_site_from_report_code_when_text_names_none(run: Run) -> None:
    f = run(b.report("Bone marrow edema is present.", code=b.MR_LUMBAR_SPINE))
    assert f.bme_sites.value == frozenset({SITE_VERTEBRA})
    assert f.bme_sites.sources[0].via == "report code (imaged region)"


def test_newer_report_saying_resolved_wins(run: Run) -> None:
    f = run(
        b.report("Marrow edema at L1.", effective="2026-06-01"),
        b.report("Marrow edema at L1 has resolved.", effective="2026-10-01"),
    )
    assert f.bme_present.value is False
    f = run(
        b.report("No marrow edema.", effective="2026-06-01"),
        b.report("Marrow edema at L1.", effective="2026-10-01"),
    )
    assert f.bme_present.true
    assert f.bme_first_seen_date.value == date(2026, 10, 1)


def test_conclusion_code_counts(run: Run) -> None:
    f = run(b.report(None, conclusion_codes=[(b.ICD10CM, "R93.7"), (b.ICD10CM, "M80.08XA")]))
    assert f.bme_present.true
    assert f.bme_present.sources[0].via == "report conclusion code"
    assert f.vertebral_fracture.true


def test_observation_text_and_note(run: Run) -> None:
    assert run(b.observation(None, value_string="Marrow edema at L3.")).bme_present.true
    assert run(
        b.observation(None, value_string="x", note="Bone marrow edema in the talus.")
    ).bme_sites.value == frozenset({SITE_FOOT_ANKLE})


@pytest.mark.parametrize(
    ("text", "feature", "expected"),
    [
        ("L1 fracture with bone marrow edema and 25% height loss.", "height_loss_pct", 25.0),
        ("L1 fracture with bone marrow edema; kyphosis of 18%.", "kyphosis_pct", 18.0),
        ("Retropulsed fragment at L1 with marrow edema.", "retropulsion", True),
        ("Retropulsed fragment at L1 with marrow edema.", "spinal_instability", True),
        ("No retropulsion. Marrow edema at L1.", "retropulsion", False),
        ("No retropulsion. Marrow edema at L1.", "spinal_instability", None),
        ("Pathologic fracture of T10 with possible cord compression.", "cord_compression_suspected", True),
        ("No cord compression.", "cord_compression_suspected", False),
        ("Marrow edema of the femoral head with a double-line sign.", "on_features", True),
        ("Marrow edema of the femoral head.", "on_features", None),
        ("Ischemic bone marrow edema of the femoral head.", "ischemic_bme", True),
        (
            "Subchondral bone marrow edema 2 cm from the articular surface of the iliac bone.",
            "bme_deep_gt_1cm",
            True,
        ),
        ("Ankylosis of the thoracic spine with marrow edema at T8.", "accumulated_skeletal_damage", True),
        ("SPECT/CT shows uptake at L2.", "spect_ct_done", True),
    ],
)
def test_text_features(run: Run, text: str, feature: str, expected: object) -> None:
    rep = b.report(text)
    fact = getattr(run(rep), feature)
    assert fact.value == expected
    if expected not in (None, False):
        assert fact.sources[0].via.startswith("report text: '")


@pytest.mark.parametrize(
    ("code", "kwargs", "feature", "expected"),
    [
        ("bme", {"value_boolean": True, "body_site": "L2 vertebra"}, "bme_present", True),
        ("bme", {"value_code": "present"}, "bme_present", True),
        ("bme", {"value_boolean": False}, "bme_present", False),
        ("bme-extent", {"value_code": "extensive_full_vertebral_body"}, "bme_extent", EXTENT_EXTENSIVE),
        ("bme-extent", {"value_code": "limited"}, "bme_extent", EXTENT_LIMITED),
        ("bme-extent", {"value_code": "whatever"}, "bme_extent", None),
        ("bme-deep-gt-1cm", {"value_boolean": True}, "bme_deep_gt_1cm", True),
        ("kyphosis-pct", {"value": 16, "unit": "%"}, "kyphosis_pct", 16.0),
        ("height-loss-pct", {"value": 22, "unit": "%"}, "height_loss_pct", 22.0),
        ("ramris-bme", {"value": 3}, "ramris_bme_score", 3.0),
        ("mri-contraindicated", {"value_boolean": True}, "mri_contraindicated", True),
        ("neuro-progressive", {"value_boolean": True}, "neuro_progressive", True),
        ("neuro-deficit", {"value_boolean": False}, "neuro_deficit", False),
        ("cord-compression-suspected", {"value_boolean": True}, "cord_compression_suspected", True),
        ("retropulsion", {"value_boolean": True}, "retropulsion", True),
        ("atypical-pain", {"value_boolean": True}, "atypical_pain", True),
    ],
)
def test_local_codes(run: Run, code: str, kwargs: dict[str, object], feature: str, expected: object) -> None:
    # A BME observation alongside, so BME-dependent features (extent) are reported.
    bme = b.local_observation("bme", value_boolean=True, body_site="L1") if code != "bme" else None
    obs = b.local_observation(code, **kwargs)  # type: ignore[arg-type]
    f = run(*(r for r in (obs, bme) if r is not None))
    assert getattr(f, feature).value == expected


def test_mri_contraindicated_defaults_false(run: Run) -> None:
    assert run(b.patient()).mri_contraindicated.value is False  # clinical-rules §1.2: default false


@pytest.mark.parametrize(
    ("resource", "feature", "expected"),
    [
        (b.imaging_study("MR", "2026-09-01"), "last_mri_date", date(2026, 9, 1)),
        (b.imaging_study("CT", "2026-09-01"), "dect_or_ct_done", True),
        (b.imaging_study("CT", "2026-09-01"), "last_mri_date", None),
        (b.imaging_study("NM", procedure_code="39818-0"), "bone_scan_done", True),
        (b.imaging_study("NM", procedure_code="25032-4"), "wbc_scan_done", True),
        (b.imaging_study("NM"), "bone_scan_done", False),  # NM alone is not a bone scan
        (b.imaging_study("MR", status="entered-in-error"), "last_mri_date", None),
        (b.report("Normal.", code="24968-0", effective="2026-08-08"), "last_mri_date", date(2026, 8, 8)),
        (b.report("Normal.", code="24963-1"), "dect_or_ct_done", True),
        (b.procedure("72148", performed="2026-07-07"), "last_mri_date", date(2026, 7, 7)),
        (b.procedure("22514"), "augmentation_done", True),
        (b.procedure(None, text="Balloon kyphoplasty L1"), "augmentation_done", True),
        (b.procedure("22514", status="not-done"), "augmentation_done", False),
        (b.procedure(None, text="Core decompression of left femoral head"), "core_decompression_done", True),
        (
            b.procedure(None, text="Coronary artery bypass graft", performed="2026-11-15"),
            "recent_cabg_date",
            date(2026, 11, 15),
        ),
    ],
)
def test_imaging_and_procedures(
    run: Run, resource: dict[str, object], feature: str, expected: object
) -> None:
    assert getattr(run(resource), feature).value == expected


def test_newest_mri_wins(run: Run) -> None:
    f = run(
        b.imaging_study("MR", "2026-01-01"),
        b.imaging_study("MR", "2026-10-01"),
        b.imaging_study("MR", "2025-01-01"),
    )
    assert f.last_mri_date.value == date(2026, 10, 1)
