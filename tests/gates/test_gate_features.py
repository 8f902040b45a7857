"""The four features the issue-12 gates read, extracted from FHIR by the committed value sets: latent_tb (S13),
dialysis from conditions and procedures (S01, S08, S11), benzodiazepine_active and cns_depressant_active (S12)."""

from __future__ import annotations

from tests import builders as b
from tests.features.conftest import Run

SCT = b.SNOMED


def test_z22_7_is_latent_tb_and_a15_is_an_active_infection(run: Run) -> None:
    f = run(b.condition(code="Z22.7"))
    assert f.latent_tb.true and f.latent_tb.sources
    assert f.active_infection.value is not True
    f = run(b.condition(code="A15.0"))
    assert f.active_infection.true
    assert f.latent_tb.value is False, "conditions were supplied and none is latent TB"


def test_latent_tb_is_unknown_without_conditions(run: Run) -> None:
    assert run(b.patient()).latent_tb.value is None


def test_dialysis_from_a_condition_and_from_a_procedure(run: Run) -> None:
    assert run(b.condition(code="Z99.2")).dialysis.true
    assert run(b.condition(code="236435004", system=SCT)).dialysis.true
    assert run(b.procedure("90935", performed="2026-10-30")).dialysis.true
    assert run(b.condition(code="I50.9")).dialysis.value is False
    assert run(b.procedure("90935", status="not-done")).dialysis.value is not True


def test_benzodiazepine_is_also_a_cns_depressant(run: Run) -> None:
    f = run(b.medication_request("197901", display="lorazepam 1 MG Oral Tablet"))
    assert f.benzodiazepine_active.true and f.cns_depressant_active.true


def test_zolpidem_is_a_cns_depressant_not_a_benzodiazepine(run: Run) -> None:
    f = run(b.medication_request("836641", display="zolpidem tartrate 10 MG Sublingual Tablet"))
    assert f.cns_depressant_active.true
    assert f.benzodiazepine_active.value is False


def test_a_stopped_benzodiazepine_does_not_count(run: Run) -> None:
    f = run(b.medication_request("197901", status="stopped"))
    assert f.benzodiazepine_active.value is False and f.cns_depressant_active.value is False
