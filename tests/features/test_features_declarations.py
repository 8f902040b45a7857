"""Each feature is declared once (label, unit, group), and a lab is stored in the unit its declaration names."""

from __future__ import annotations

from dataclasses import fields

import pytest

from service.core.facts import Fact
from service.core.features import SPECS
from service.core.features import Features
from service.core.features.codes import LAB_SETS
from service.core.features.codes import UNITS
from service.core.features.fhirjson import unit_key
from tests import builders as b
from tests.features.conftest import Run


def test_every_fact_field_is_declared_in_field_order() -> None:
    facts = [f.name for f in fields(Features) if isinstance(f.default, Fact)]
    assert list(SPECS) == facts
    assert all(spec.label and spec.group for spec in SPECS.values())
    assert SPECS["calcium_ionized"].type == "Fact[float]" and SPECS["bme_sites"].type == "Fact[frozenset[str]]"


def test_each_group_is_one_run_of_fields() -> None:
    groups = [spec.group for spec in SPECS.values()]
    runs = [g for i, g in enumerate(groups) if i == 0 or groups[i - 1] != g]
    assert len(runs) == len(set(runs))


@pytest.mark.parametrize("feature", sorted(LAB_SETS.values()))
def test_a_lab_value_is_converted_to_its_declared_unit(feature: str) -> None:
    unit = SPECS[feature].unit
    assert unit
    assert UNITS[feature][unit_key(unit)] == 1.0


@pytest.mark.parametrize(
    ("loinc", "value", "unit", "feature", "stored", "display"),
    [
        ("1994-3", 1.2, "mmol/L", "calcium_ionized", 4.81, "Ionized calcium 4.81 mg/dL (reported 1.2 mmol/L)"),
        ("17861-6", 2.5, "mmol/L", "calcium", 10.02, "Calcium 10.02 mg/dL (reported 2.5 mmol/L)"),
    ],
)
def test_the_source_names_the_declared_unit(
    run: Run, loinc: str, value: float, unit: str, feature: str, stored: float, display: str
) -> None:
    fact = getattr(run(b.observation(loinc, value, unit, "2026-11-10")), feature)
    assert fact.value == stored
    assert fact.sources[0].display == display
    assert SPECS[feature].unit == "mg/dL"
