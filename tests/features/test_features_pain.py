"""Pain (clinical-rules §1.6), NSAID response (§1.7), demographics (§1.1) and care setting."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from service.core.policy import policy_from_mapping
from tests import builders as b
from tests.features.conftest import Run


def test_series_is_sorted_and_latest_is_newest(run: Run) -> None:
    f = run(b.pain(8, "2026-11-10"), b.pain(5, "2026-10-01"), b.pain(6, "2026-10-20"))
    assert f.pain_nrs_series == ((date(2026, 10, 1), 5), (date(2026, 10, 20), 6), (date(2026, 11, 10), 8))
    assert f.pain_nrs_latest.value == 8
    assert f.pain_nrs_latest.as_of == date(2026, 11, 10)


@pytest.mark.parametrize(("score", "severe"), [(6, False), (7, True), (10, True), (0, False)])
def test_pain_severe_uses_policy_default(run: Run, score: int, severe: bool) -> None:
    assert run(b.pain(score, "2026-11-01")).pain_severe.value is severe


def test_pain_severe_threshold_comes_from_policy(run: Run) -> None:
    policy = policy_from_mapping({"pain.severe_nrs": 5})
    assert run(b.pain(6, "2026-11-01"), policy=policy).pain_severe.value is True


def test_no_pain_score_is_unknown(run: Run) -> None:
    f = run(b.patient())
    assert f.pain_nrs_latest.value is None
    assert f.pain_severe.value is None
    assert f.pain_persistent_days.value is None
    assert f.pain_nrs_series == ()


@pytest.mark.parametrize(
    "obs",
    [
        b.observation("72514-3", 11, "{score}"),  # out of range
        b.observation("72514-3", -1, "{score}"),
        b.observation("72514-3", value_string="severe"),
        b.observation("72514-3", 5, "{score}", None),  # undated: cannot join a series
        b.observation("72514-3", 5, "{score}", status="entered-in-error"),
    ],
)
def test_bad_pain_scores_are_skipped(run: Run, obs: dict[str, Any]) -> None:
    assert run(obs).pain_nrs_latest.value is None


def test_value_integer_score(run: Run) -> None:
    assert run(b.observation("72514-3", value_integer=4)).pain_nrs_latest.value == 4


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        # episode (BME first seen) 2026-09-01; every score since then >= 4: persisting since the episode start
        (
            [("2026-09-05", 8), ("2026-10-01", 7), ("2026-11-01", 6)],
            (date(2026, 11, 1) - date(2026, 9, 1)).days,
        ),
        # a dip below 4 resets the run to the first score after it
        ([("2026-09-05", 8), ("2026-10-01", 2), ("2026-10-15", 6), ("2026-11-01", 6)], 17),
        # latest below the persistence threshold: not persisting
        ([("2026-09-05", 8), ("2026-11-01", 3)], 0),
        # scores before the episode are ignored
        (
            [("2026-05-01", 1), ("2026-09-10", 5), ("2026-11-01", 5)],
            (date(2026, 11, 1) - date(2026, 9, 1)).days,
        ),
    ],
)
def test_pain_persistent_days(run: Run, scores: list[tuple[str, int]], expected: int) -> None:
    resources = [b.report("Marrow edema at L1.", effective="2026-09-01")] + [b.pain(v, d) for d, v in scores]
    assert run(*resources).pain_persistent_days.value == expected


def nsaid(authored: str = "2026-10-01") -> dict[str, Any]:
    return b.medication_request(text="Naproxen 500 MG Oral Tablet", authored=authored)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([("2026-09-30", 8), ("2026-10-20", 7)], True),  # 12.5% reduction < 30%
        ([("2026-09-30", 8), ("2026-10-20", 4)], False),  # 50% reduction
        ([("2026-09-30", 9), ("2026-10-20", 7)], True),  # 22% and still severe
        ([("2026-09-30", 10), ("2026-10-20", 7)], True),  # 30% but still severe (>= 7)
        ([("2026-09-30", 8), ("2026-10-10", 3)], None),  # day 9: before the trial window
        ([("2026-09-30", 8), ("2026-11-10", 8)], None),  # day 40: after the trial window
        ([("2026-10-05", 8), ("2026-10-20", 8)], None),  # no baseline before the start
        ([], None),
    ],
)
def test_nsaid_response_insufficient(run: Run, scores: list[tuple[str, int]], expected: bool | None) -> None:
    f = run(nsaid(), *[b.pain(v, d) for d, v in scores])
    assert f.nsaid_response_insufficient.value is expected
    if expected is not None:
        assert f.pain_nrs_baseline.value == scores[0][1]


def test_nsaid_response_unknown_without_an_nsaid(run: Run) -> None:
    f = run(b.pain(8, "2026-09-30"), b.pain(8, "2026-10-20"))
    assert f.nsaid_response_insufficient.value is None


@pytest.mark.parametrize(
    ("birth", "expected"),
    [("1950-11-21", 76), ("1950-11-22", 75), ("1950-06", 76), ("1950", 76), ("1951", 75), ("junk", None), (None, None)],
)
def test_age(run: Run, birth: str | None, expected: int | None) -> None:
    assert run(b.patient(birth)).age_years.value == expected


@pytest.mark.parametrize(("gender", "expected"), [("female", "female"), ("male", "male"), ("unknown", None)])
def test_sex(run: Run, gender: str, expected: str | None) -> None:
    assert run(b.patient(gender=gender)).sex.value == expected


def test_patient_reference(run: Run) -> None:
    assert run(b.patient(id="abc")).patient_reference == "Patient/abc"
    assert run(b.patient(id="abc"), patient_id="xyz").patient_reference == "Patient/xyz"


@pytest.mark.parametrize(
    ("enc", "expected"),
    [
        (b.encounter("IMP", [(b.ICD10CM, "S32.010A")], "2026-10-05"), True),
        (b.encounter("EMER", reason_text="Acute back pain", period_start="2026-10-05"), True),
        (b.encounter("AMB", [(b.ICD10CM, "S32.010A")], "2026-10-05"), False),
        (b.encounter("IMP", [(b.ICD10CM, "S32.010A")], "2020-01-05"), False),  # before this episode
        (b.encounter("IMP", [(b.ICD10CM, "S32.010A")], "2026-10-05", status="cancelled"), None),
        (b.encounter("IMP", reason_text="Pneumonia", period_start="2026-10-05"), False),
    ],
)
def test_hospitalized_for_pain(run: Run, enc: dict[str, Any], expected: bool | None) -> None:
    f = run(enc, b.condition("S32.010A", onset="2026-10-01"))
    assert f.hospitalized_for_pain.value is expected


def test_hospitalized_via_reason_reference(run: Run) -> None:
    cond = b.condition("S32.010A", onset="2026-10-01", id="frac1")
    enc = b.encounter("IMP", period_start="2026-10-02")
    enc["reasonReference"] = [{"reference": "Condition/frac1"}]
    assert run(enc, cond).hospitalized_for_pain.true


def test_conservative_start_is_the_episode_start(run: Run) -> None:
    f = run(
        b.condition("S32.010A", onset="2026-10-01"),
        b.report("Marrow edema at L1.", effective="2026-10-03"),
        nsaid("2026-10-04"),
    )
    assert f.conservative_start_date.value == date(2026, 10, 1)
    assert run(nsaid("2026-10-04")).conservative_start_date.value is None  # no episode: no start


def test_bed_rest_order_and_care_plan(run: Run) -> None:
    assert run(b.service_request(None, text="Strict bed rest for 2 weeks")).bed_rest_ordered.true
    assert run(b.service_request(None, text="Bed rest", status="completed")).bed_rest_ordered.value is None
    plan = {
        "resourceType": "CarePlan",
        "id": "cp1",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/p1"},
        "activity": [{"detail": {"status": "in-progress", "description": "Total contact cast, left foot"}}],
    }
    assert run(plan).offloading_in_place.true


@pytest.mark.parametrize(("status", "expected"), [("active", True), ("completed", True), ("revoked", None)])
def test_offloading_device_request(run: Run, status: str, expected: bool | None) -> None:
    device = {
        "resourceType": "DeviceRequest",
        "id": "dr1",
        "status": status,
        "intent": "order",
        "codeCodeableConcept": {"text": "Offloading boot, right foot"},
        "subject": {"reference": "Patient/p1"},
    }
    assert run(device).offloading_in_place.value is expected


def test_conservative_start_cites_the_episode_source(run: Run) -> None:
    cond = b.condition("S32.010A", onset="2026-10-01")
    f = run(cond)
    assert [s.reference for s in f.conservative_start_date.sources] == [f"Condition/{cond['id']}"]
