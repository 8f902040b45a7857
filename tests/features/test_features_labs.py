"""Labs (clinical-rules §1.8): newest by date, unit normalisation, unknown units, calcium low by lab flag."""

from __future__ import annotations

import pytest

from tests import builders as b
from tests.features.conftest import Run


@pytest.mark.parametrize(
    ("loinc", "value", "unit", "feature", "expected"),
    [
        ("98979-8", 25, "mL/min/{1.73_m2}", "egfr", 25.0),
        ("62238-1", 48, "mL/min/1.73m2", "egfr", 48.0),
        ("62238-1", 48, "mL/min/{1.73_m2}", "egfr", 48.0),
        ("62238-1", 48, "mL/min", "egfr", None),  # not normalised to body surface: not an eGFR value we use
        ("2160-0", 1.2, "mg/dL", "creatinine", 1.2),
        ("14682-9", 88.4, "umol/L", "creatinine", 1.0),
        ("14682-9", 176.8, "µmol/L", "creatinine", 2.0),
        ("17861-6", 9.5, "mg/dL", "calcium", 9.5),
        ("17861-6", 2.5, "mmol/L", "calcium", 10.02),
        ("1994-3", 1.2, "mmol/L", "calcium_ionized", 4.81),
        ("1751-7", 4.0, "g/dL", "albumin", 4.0),
        ("1751-7", 40, "g/L", "albumin", 4.0),
        ("62292-8", 30, "ng/mL", "vitd_25oh", 30.0),
        ("14635-7", 49.92, "nmol/L", "vitd_25oh", 20.0),
        ("62292-8", 30, "ug/L", "vitd_25oh", 30.0),
        ("62292-8", 30, "IU", "vitd_25oh", None),
        ("62292-8", 30, None, "vitd_25oh", None),  # no unit: never a guess
    ],
)
def test_lab_value_and_unit(
    run: Run, loinc: str, value: float, unit: str | None, feature: str, expected: float | None
) -> None:
    obs = b.observation(loinc, value, unit, "2026-11-10")
    fact = getattr(run(obs), feature)
    assert fact.value == expected
    assert fact.as_of is not None and fact.as_of.isoformat() == "2026-11-10"
    assert fact.sources[0].reference == f"Observation/{obs['id']}"
    if expected is None:
        assert "not recognised" in fact.sources[0].display


def test_newest_lab_wins_regardless_of_order(run: Run) -> None:
    old = b.observation("98979-8", 70, "mL/min/{1.73_m2}", "2026-01-01")
    new = b.observation("62238-1", 28, "mL/min/{1.73_m2}", "2026-11-01")
    assert run(new, old).egfr.value == 28.0
    assert run(old, new).egfr.value == 28.0


def test_missing_lab_stays_unknown(run: Run) -> None:
    f = run(b.patient())
    for name in ("egfr", "creatinine", "calcium", "calcium_low", "albumin", "vitd_25oh", "hypocalcemia"):
        assert getattr(f, name).value is None, name


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("final", 25.0),
        ("amended", 25.0),
        ("preliminary", 25.0),
        ("cancelled", None),
        ("entered-in-error", None),
    ],
)
def test_observation_status(run: Run, status: str, expected: float | None) -> None:
    assert run(b.observation("98979-8", 25, "mL/min/{1.73_m2}", status=status)).egfr.value == expected


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"value": 7.9, "interpretation": "L"}, True),
        ({"value": 7.9, "interpretation": "LL"}, True),
        ({"value": 8.1, "ref_low": 8.5}, True),
        ({"value": 9.0, "ref_low": 8.5}, False),
        ({"value": 9.0, "interpretation": "N"}, False),
        ({"value": 7.0}, None),  # no flag and no range: no invented threshold
        (
            {"value": 2.0, "unit": "mmol/L", "ref_low": 8.5, "ref_unit": "mg/dL"},
            None,
        ),  # ranges in another unit
    ],
)
def test_calcium_low(run: Run, kwargs: dict[str, object], expected: bool | None) -> None:
    unit = kwargs.pop("unit", "mg/dL")
    obs = b.observation("17861-6", unit=unit, **kwargs)  # type: ignore[arg-type]
    f = run(obs, b.condition("M81.0"))
    assert f.calcium_low.value is expected
    assert f.hypocalcemia.value is expected


def test_hypocalcemia_condition_makes_calcium_low_even_with_normal_lab(run: Run) -> None:
    f = run(b.observation("17861-6", 9.0, "mg/dL", ref_low=8.5), b.condition("E83.51"))
    assert f.calcium_low.true
    assert f.hypocalcemia.true


def test_fever_from_temperature_flag_not_from_a_threshold(run: Run) -> None:
    assert run(b.observation("8310-5", 38.9, "Cel", interpretation="H")).fever.true
    assert run(b.observation("8310-5", 38.9, "Cel")).fever.value is None


def test_lab_source_display_names_the_lab_and_the_reported_unit(run: Run) -> None:
    assert (
        run(b.observation("98979-8", 25, "mL/min/{1.73_m2}")).egfr.sources[0].display
        == "eGFR 25 mL/min/1.73m2"
    )
    converted = run(b.observation("14635-7", 49.92, "nmol/L")).vitd_25oh.sources[0].display
    assert converted == "25-OH vitamin D 20 ng/mL (reported 49.92 nmol/L)"
