"""Features are assembled without the frozen __init__: the result must be the object __init__ would build."""

from __future__ import annotations

import dataclasses

import pytest

from service.core.facts import Fact
from service.core.facts import Source
from service.core.features import Features
from service.core.features import _freeze
from tests import builders as b
from tests.builders import TODAY
from tests.features.conftest import Run


def test_freeze_equals_init_for_a_real_extraction(run: Run) -> None:
    features = run(
        b.condition("M81.0", onset="2026-01-02"),
        b.pain(8, "2026-02-01"),
        b.report("Focal marrow edema at L1. No retropulsion.", effective="2026-02-03"),
        b.medication_request("198014", "Naproxen 500 MG Oral Tablet", authored="2026-01-20"),
    )
    values = {f.name: getattr(features, f.name) for f in dataclasses.fields(Features) if f.name != "today"}
    rebuilt = Features(today=features.today, **values)
    assert features == rebuilt
    assert list(vars(features)) == list(vars(rebuilt))  # same fields, in field order
    assert features.osteoporosis.true and features.bme_present.true


def test_freeze_fills_defaults_and_keeps_the_object_frozen() -> None:
    fact = Fact(True, (Source("Condition/c1", "Condition: Osteoporosis"),))
    frozen = _freeze(TODAY, {"osteoporosis": fact, "patient_reference": "Patient/p1"})
    assert frozen == Features(today=TODAY, osteoporosis=fact, patient_reference="Patient/p1")
    assert list(vars(frozen)) == [f.name for f in dataclasses.fields(Features)]
    with pytest.raises(dataclasses.FrozenInstanceError):
        frozen.osteoporosis = Fact(False)  # type: ignore[misc]


def test_freeze_rejects_an_unknown_field_as_init_does() -> None:
    with pytest.raises(TypeError):
        Features(today=TODAY, ankylosis=Fact(True))  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="ankylosis"):
        _freeze(TODAY, {"ankylosis": Fact(True)})
