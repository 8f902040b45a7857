"""Defaults and shortcuts on the request path: the shared unknown Fact, and reports that carry nothing."""

from __future__ import annotations

import dataclasses

from service.core.facts import Fact
from service.core.features import Features
from tests import builders as b
from tests.builders import TODAY
from tests.features.conftest import Run

IMAGING_DONE = ("dect_or_ct_done", "spect_ct_done", "bone_scan_done", "wbc_scan_done")


def known_facts(features: Features) -> dict[str, object]:
    """Every Fact field with a known value."""
    out: dict[str, object] = {}
    for field in dataclasses.fields(Features):
        value = getattr(features, field.name)
        if isinstance(value, Fact) and value.known:
            out[field.name] = value.value
    return out


def test_a_bare_features_is_unknown_in_every_fact() -> None:
    features = Features(today=TODAY)
    facts = [getattr(features, f.name) for f in dataclasses.fields(Features)]
    assert len([x for x in facts if isinstance(x, Fact)]) > 100
    for fact in facts:
        if isinstance(fact, Fact):
            assert fact == Fact() and fact.sources == () and fact.as_of is None


def test_no_resources_know_only_the_documented_default(run: Run) -> None:
    # clinical-rules §1.2: mri_contraindicated defaults to False; everything else stays unknown.
    assert known_facts(run()) == {"mri_contraindicated": False}


def test_a_lab_panel_report_only_says_imaging_was_supplied(run: Run) -> None:
    panel = b.report(None, code="51990-0", code_display="Basic Metabolic Panel")
    f = run(panel)
    assert known_facts(f) == {"mri_contraindicated": False} | {name: False for name in IMAGING_DONE}
    assert all(getattr(f, name).sources == () for name in IMAGING_DONE)


def test_an_uncoded_report_with_only_a_conclusion_code_still_counts(run: Run) -> None:
    f = run(b.report(None, code=None, conclusion_codes=[(b.ICD10CM, "R93.7")]))
    assert f.bme_present.true
    assert f.bme_present.sources[0].via == "report conclusion code"


def test_an_uncoded_report_with_only_text_still_counts(run: Run) -> None:
    f = run(b.report("Marrow edema at L1.", code=None))
    assert f.bme_present.true and f.bme_from_report_text.true
    assert f.bme_vertebral_level.value == "L1"
