"""How gates act: missing and stale labs, hooks, draft orders, one card per gate, R10 never blocked."""

from __future__ import annotations

import pytest

from service.core.facts import Fact
from service.core.facts import Source
from service.core.findings import SuggestionSpec
from service.core.policy import DEFAULT_POLICY
from service.knowledge import gates as gate_table
from tests.gates.gate_builders import NAPROXEN
from tests.gates.gate_builders import apply_gates
from tests.gates.gate_builders import draft
from tests.gates.gate_builders import drug
from tests.gates.gate_builders import finding
from tests.gates.gate_builders import lab
from tests.gates.gate_builders import safe

SIGN = "order-sign"
SELECT = "order-select"
VIEW = "patient-view"


def lab_codes(suggestions: tuple[SuggestionSpec, ...]) -> list[str]:
    return [s.code.code for s in suggestions if s.code is not None and s.resource_type == "ServiceRequest"]


@pytest.mark.parametrize("hook", [VIEW, SELECT, SIGN])
def test_missing_egfr_withholds_nsaid_and_requests_creatinine(hook: str) -> None:
    out = apply_gates((finding(NAPROXEN),), safe(egfr=None), hook, DEFAULT_POLICY)
    gated, s01 = out[0], {f.rule_id: f for f in out}["S01"]
    assert gated.suggestions == ()
    assert gated.selection_behavior is None
    assert any(n.startswith("Withheld: Naproxen") and "S01" in n for n in gated.notes)
    assert any("No suggestion is left" in n for n in gated.notes)
    assert s01.indicator == "warning"
    assert lab_codes(s01.suggestions) == ["2160-0"]
    assert s01.selection_behavior == "any"
    assert s01.missing == ("eGFR: none on record",)


def test_stale_egfr_counts_as_missing_and_says_dated() -> None:
    out = apply_gates(
        (finding(NAPROXEN),), safe(egfr=lab(72.0, days_old=91, name="egfr")), VIEW, DEFAULT_POLICY
    )
    s01 = {f.rule_id: f for f in out}["S01"]
    assert out[0].suggestions == ()
    assert s01.missing == ("eGFR 72: stale, dated 2026-08-02 (older than 90 days)",)
    assert s01.data_used and s01.data_used[0].reference == "Observation/egfr-1"


def test_egfr_at_the_age_limit_is_current() -> None:
    out = apply_gates(
        (finding(NAPROXEN),), safe(egfr=lab(72.0, days_old=90, name="egfr")), VIEW, DEFAULT_POLICY
    )
    assert out[0].suggestions == (NAPROXEN,)
    assert len(out) == 1


def test_missing_calcium_and_vitamin_d_withhold_bisphosphonate_and_request_labs() -> None:
    out = apply_gates(
        (finding(drug("pamidronate")),),
        safe(calcium=None, albumin=None, vitd_25oh=None),
        VIEW,
        DEFAULT_POLICY,
    )
    s09 = {f.rule_id: f for f in out}["S09"]
    assert out[0].suggestions == ()
    assert lab_codes(s09.suggestions) == ["17861-6", "1751-7", "62292-8"]
    assert s09.indicator == "warning"


def test_missing_egfr_for_zoledronic_and_nsaid_offers_creatinine_once() -> None:
    findings = (finding(NAPROXEN, rule_id="R22"), finding(drug("zoledronic_acid"), rule_id="R21"))
    out = apply_gates(findings, safe(egfr=None), VIEW, DEFAULT_POLICY)
    gates = {f.rule_id: f for f in out[2:]}
    assert set(gates) == {"S01", "S08"}
    assert lab_codes(gates["S01"].suggestions) == ["2160-0"]
    assert gates["S08"].suggestions == ()
    assert any("offered on the S01 card" in n for n in gates["S08"].notes)


def test_absolute_on_patient_view_removes_and_shows_a_leading_card() -> None:
    out = apply_gates((finding(NAPROXEN),), safe(egfr=25.0), VIEW, DEFAULT_POLICY)
    assert len(out) == 2
    assert out[0].suggestions == ()
    assert any(n.startswith("Removed: Naproxen") and "eGFR 25" in n for n in out[0].notes)
    # The pathway card no longer recommends the class; it says why, short.
    assert out[0].summary.startswith("NSAIDs not advised for this patient (S01: eGFR 25")
    assert len(out[0].summary) <= 140
    card = out[1]
    assert (card.rule_id, card.indicator, card.contraindication) == ("S01", "warning", True)


def test_only_the_blocked_option_is_removed() -> None:
    celecoxib = drug("nsaid", "Celecoxib 200-400 mg/day")
    iloprost = drug("iloprost", "Iloprost infusion")
    out = apply_gates(
        (finding(NAPROXEN, celecoxib, iloprost),), safe(gi_bleed_active=True), SIGN, DEFAULT_POLICY
    )
    assert out[0].suggestions == (iloprost,)
    assert out[0].selection_behavior == "at-most-one"
    s02 = {f.rule_id: f for f in out}["S02"]
    (line,) = [n for n in s02.notes if n.startswith("Suggestion removed")]
    assert "naproxen" in line and "Celecoxib" in line
    assert any("No safety check in the catalogue" in n and "iloprost" in n for n in out[0].notes)


def test_one_card_per_gate_lists_every_affected_order() -> None:
    findings = (finding(NAPROXEN, rule_id="R22"), finding(drug("nsaid", "Ibuprofen"), rule_id="R24"))
    drafts = (
        draft("nsaid", ref="MedicationRequest/d1"),
        draft("nsaid", ref="MedicationRequest/d2", display="diclofenac 75 MG"),
    )
    out = apply_gates(findings, safe(egfr=45.0, draft_orders=drafts), SIGN, DEFAULT_POLICY)
    s01 = [f for f in out if f.rule_id == "S01"]
    assert len(s01) == 1
    text = "\n".join(s01[0].notes)
    for name in ("naproxen (R22)", "Ibuprofen (R24)", "MedicationRequest/d1", "MedicationRequest/d2"):
        assert name in text


@pytest.mark.parametrize(("hook", "indicator"), [(SIGN, "critical"), (SELECT, "warning")])
def test_contraindicated_draft_is_critical_on_sign_and_offers_deletion(hook: str, indicator: str) -> None:
    out = apply_gates((), safe(egfr=25.0, draft_orders=(draft("nsaid"),)), hook, DEFAULT_POLICY)
    (s01,) = out
    assert s01.rule_id == "S01" and s01.indicator == indicator
    (delete,) = s01.suggestions
    assert delete.action == "delete" and delete.delete_reference == "MedicationRequest/d1"
    assert s01.data_used[-1].reference == "MedicationRequest/d1"


def test_drafts_are_not_checked_on_patient_view() -> None:
    assert apply_gates((), safe(egfr=25.0, draft_orders=(draft("nsaid"),)), VIEW, DEFAULT_POLICY) == ()


def test_safe_draft_produces_no_card() -> None:
    assert apply_gates((), safe(draft_orders=(draft("nsaid"),)), SIGN, DEFAULT_POLICY) == ()


def test_draft_with_missing_egfr_gets_lab_request_not_deletion() -> None:
    (s08,) = apply_gates(
        (),
        safe(
            egfr=None,
            draft_orders=(draft("iv_bisphosphonate", "zoledronic_acid", display="zoledronic acid 5 MG"),),
        ),
        SIGN,
        DEFAULT_POLICY,
    )
    assert s08.rule_id == "S08" and s08.indicator == "warning"
    assert lab_codes(s08.suggestions) == ["2160-0"]
    assert not any(s.action == "delete" for s in s08.suggestions)


def test_two_nsaid_drafts_are_duplicates_but_one_is_not() -> None:
    two = (
        draft("nsaid", ref="MedicationRequest/d1"),
        draft("nsaid", ref="MedicationRequest/d2", display="ibuprofen 400 MG"),
    )
    out = apply_gates((), safe(draft_orders=two), SIGN, DEFAULT_POLICY)
    assert [f.rule_id for f in out] == ["S06"]
    assert apply_gates((), safe(draft_orders=two[:1]), SIGN, DEFAULT_POLICY) == ()


def test_draft_counted_as_active_by_features_is_not_its_own_duplicate() -> None:
    d1 = draft("nsaid")
    own = Fact(True, (Source("MedicationRequest/d1", "Draft order: naproxen"),))
    assert apply_gates((), safe(nsaid_active=own, draft_orders=(d1,)), SIGN, DEFAULT_POLICY) == ()


def test_indomethacin_draft_gets_nsaid_and_older_adult_gates() -> None:
    d = draft("nsaid", "indomethacin", display="indomethacin 25 MG")
    out = apply_gates((), safe(age_years=70, egfr=50.0, draft_orders=(d,)), SELECT, DEFAULT_POLICY)
    (card,) = out  # one NSAID safety card
    assert {card.rule_id, *card.carried_ids} == {"S01", "S07", "S02"}  # S02: age counts with eGFR 50
    assert card.indicator == "warning"  # two risks escalate: absolute, but order-select is never critical
    assert any("2 risks together (kidney, age 70)" in n for n in card.notes)


def test_r10_dexamethasone_is_never_blocked_and_s14_is_info() -> None:
    dexa = drug("dexamethasone", "Dexamethasone (high dose; the seeds give no dose)", is_recommended=True)
    features = safe(diabetes=True, active_infection=True, egfr=None)
    out = apply_gates((finding(dexa, rule_id="R10", indicator="critical"),), features, SIGN, DEFAULT_POLICY)
    assert out[0].suggestions == (dexa,)
    s14 = {f.rule_id: f for f in out}["S14"]
    assert s14.indicator == "info"
    assert "do not delay" in s14.summary


def test_other_glucocorticoid_with_diabetes_is_a_warning() -> None:
    out = apply_gates(
        (finding(drug("dexamethasone"), rule_id="R27"),), safe(diabetes=True), SIGN, DEFAULT_POLICY
    )
    assert {f.rule_id: f for f in out}["S14"].indicator == "warning"


@pytest.mark.parametrize("drug_class", [None, "aspirin-typo"])
def test_unclassified_drug_suggestion_is_withheld(drug_class: str | None) -> None:
    spec = SuggestionSpec(label="Some drug", resource_type="MedicationRequest", drug_class=drug_class)
    out = apply_gates((finding(spec),), safe(), VIEW, DEFAULT_POLICY)
    assert out[0].suggestions == ()
    assert any("could not run" in n for n in out[0].notes)


def test_findings_without_drugs_are_untouched() -> None:
    mri = SuggestionSpec(label="MRI", resource_type="ServiceRequest", text="MRI spine")
    plain = finding(mri, rule_id="R01")
    assert apply_gates((plain,), safe(egfr=None), SIGN, DEFAULT_POLICY) == (plain,)


def test_pass_notes_are_not_repeated_for_each_option() -> None:
    out = apply_gates((finding(NAPROXEN, drug("nsaid", "Celecoxib")),), safe(), VIEW, DEFAULT_POLICY)
    assert len(out[0].notes) == len(set(out[0].notes))
    assert "S01 passed: eGFR 72 on 2026-10-02" in out[0].notes


def test_lab_orders_use_codes_md_loinc() -> None:
    assert {k: getattr(gate_table, k).code.code for k in ("CREATININE", "CALCIUM", "ALBUMIN", "VITAMIN_D")} == {
        "CREATININE": "2160-0",
        "CALCIUM": "17861-6",
        "ALBUMIN": "1751-7",
        "VITAMIN_D": "62292-8",
    }


def test_gate_card_shows_only_the_data_behind_the_concern() -> None:
    out = apply_gates((finding(NAPROXEN),), safe(gi_bleed_or_pud_history=True), SIGN, DEFAULT_POLICY)
    s02 = {f.rule_id: f for f in out}["S02"]
    assert [s.reference for s in s02.data_used] == ["Condition/gi_bleed_or_pud_history"]


def test_withheld_line_names_the_decider_and_the_card_keeps_the_lesser_concerns() -> None:
    out = apply_gates((finding(NAPROXEN),), safe(egfr=None, heart_failure=True), VIEW, DEFAULT_POLICY)
    (line,) = [n for n in out[0].notes if n.startswith("Withheld: ")]
    assert "S01: no current eGFR" in line and "S04" not in line
    (card,) = out[1:]  # every gate that applies reports, on one NSAID card
    assert {card.rule_id, *card.carried_ids} == {"S01", "S04"}


def test_dexamethasone_draft_with_r10_is_info_only() -> None:
    dexa = drug("dexamethasone", "Dexamethasone, high dose")
    d = draft(
        "dexamethasone", "systemic_glucocorticoid", ref="MedicationRequest/dx", display="dexamethasone 4 MG"
    )
    features = safe(diabetes=True, draft_orders=(d,))
    out = apply_gates((finding(dexa, rule_id="R10", indicator="critical"),), features, SIGN, DEFAULT_POLICY)
    s14 = {f.rule_id: f for f in out}["S14"]
    assert s14.indicator == "info"
    assert any("MedicationRequest/dx" in n and "do not delay" in n for n in s14.notes)
    assert s14.suggestions == ()


def test_dexamethasone_draft_without_r10_is_a_warning() -> None:
    d = draft(
        "dexamethasone", "systemic_glucocorticoid", ref="MedicationRequest/dx", display="dexamethasone 4 MG"
    )
    (s14,) = apply_gates((), safe(diabetes=True, draft_orders=(d,)), SIGN, DEFAULT_POLICY)
    assert s14.rule_id == "S14" and s14.indicator == "warning"
