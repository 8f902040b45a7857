"""Issue 12, "safety gates shape the answer": every gate reports, a contraindicated class is offered nowhere, the
pathway summary stops recommending it, stacked NSAID risks escalate on one card, riskier drugs wait as text,
S07 is quiet about the service's own indomethacin, and draft orders are checked only in a BME context."""

from __future__ import annotations

import dataclasses

from service.core.findings import Finding
from service.core.policy import DEFAULT_POLICY
from service.core.policy import policy_from_mapping
from tests.gates.gate_builders import NAPROXEN
from tests.gates.gate_builders import apply_gates
from tests.gates.gate_builders import draft
from tests.gates.gate_builders import drug
from tests.gates.gate_builders import finding
from tests.gates.gate_builders import safe

SIGN = "order-sign"
SELECT = "order-select"
VIEW = "patient-view"


def cards(out: tuple[Finding, ...]) -> dict[str, Finding]:
    """The safety cards by every gate id each carries."""
    return {i: f for f in out if f.rule_id.startswith("S") for i in (f.rule_id, *f.carried_ids)}


def test_pregnancy_is_reported_even_when_an_egfr_is_missing() -> None:
    # Issue 12 finding 1: at 24 weeks the pregnancy reason was hidden behind the missing eGFR.
    out = apply_gates((finding(NAPROXEN),), safe(pregnant=True, gestational_age_weeks=24, egfr=None), VIEW,
                      DEFAULT_POLICY)
    (card,) = out[1:]
    assert card.rule_id == "S05" and set(card.carried_ids) == {"S01"}
    assert card.contraindication and card.indicator == "warning"
    assert card.summary.startswith("Avoid NSAIDs from 20 weeks of pregnancy")
    assert card.suggestions == (), "no creatinine order for a drug that is not offered anyway"
    assert out[0].suggestions == ()


def test_pregnancy_with_a_normal_egfr_still_removes_every_nsaid() -> None:
    indomethacin = drug("indomethacin", "Indomethacin 150 mg/day")
    other = finding(drug("nsaid", "Celecoxib 200-400 mg/day"), rule_id="R14")
    out = apply_gates((finding(NAPROXEN, indomethacin), other), safe(pregnant=True, gestational_age_weeks=24),
                      VIEW, DEFAULT_POLICY)
    assert out[0].suggestions == () and out[1].suggestions == ()
    for gated in out[:2]:
        assert gated.summary.startswith("NSAIDs not advised for this patient (S05: pregnant, 24 weeks")
        assert len(gated.summary) <= 140


def test_a_rules_own_contraindicated_summary_is_used() -> None:
    own = finding(NAPROXEN, contraindicated_summary="First line NSAIDs are not advised here: see the safety card")
    out = apply_gates((own,), safe(egfr=20.0), VIEW, DEFAULT_POLICY)
    assert out[0].summary == "First line NSAIDs are not advised here: see the safety card"


def test_summary_kept_while_another_drug_is_still_offered() -> None:
    pamidronate = drug("pamidronate", "Pamidronate 60 mg IV")
    zoledronic = drug("zoledronic_acid", "Zoledronic acid 5 mg IV")
    out = apply_gates((finding(zoledronic, pamidronate, rule_id="R21"),), safe(egfr=32.0), VIEW, DEFAULT_POLICY)
    assert [s.label for s in out[0].suggestions] == ["Pamidronate 60 mg IV"]
    assert out[0].summary == "Rule R21: consider the options below"
    assert cards(out)["S08"].contraindication


def test_dialysis_makes_nsaids_avoided_and_shows_the_kidney_card() -> None:
    out = apply_gates((finding(NAPROXEN),), safe(dialysis=True), VIEW, DEFAULT_POLICY)
    card = cards(out)["S01"]
    assert card.indicator == "warning" and card.contraindication
    assert any("on dialysis" in n for n in card.notes)
    assert out[0].suggestions == ()
    signed = apply_gates((), safe(dialysis=True, draft_orders=(draft("nsaid"),)), SIGN, DEFAULT_POLICY)
    assert cards(signed)["S01"].indicator == "critical"


def test_dialysis_is_an_s11_concern_for_denosumab() -> None:
    out = apply_gates((), safe(dialysis=True, draft_orders=(draft("denosumab", display="denosumab 60 MG"),)),
                      SELECT, DEFAULT_POLICY)
    card = cards(out)["S11"]
    assert card.rule_id == "S11" and card.indicator == "warning"
    assert any("S11" in n and "on dialysis" in n for n in card.notes)


def test_latent_tb_removes_tnfi_suggestions_and_warns_on_a_draft() -> None:
    tnfi = drug("tnfi", "Adalimumab 40 mg every other week")
    out = apply_gates((finding(tnfi, rule_id="R16"),), safe(latent_tb=True), VIEW, DEFAULT_POLICY)
    assert out[0].suggestions == ()
    assert cards(out)["S13"].contraindication
    d = draft("tnfi", ref="MedicationRequest/ada", display="adalimumab 40 MG")
    for hook in (SELECT, SIGN):
        (card,) = apply_gates((), safe(latent_tb=True, draft_orders=(d,)), hook, DEFAULT_POLICY)
        assert card.rule_id == "S13" and card.indicator == "warning"
        assert "latent TB" in card.summary
        assert [s.delete_reference for s in card.suggestions] == ["MedicationRequest/ada"]


def test_benzodiazepine_with_an_opioid_is_an_s12_warning() -> None:
    d = draft("opioid", ref="MedicationRequest/oxy", display="oxycodone 5 MG")
    (card,) = apply_gates((), safe(benzodiazepine_active=True, cns_depressant_active=True, draft_orders=(d,)),
                          SELECT, DEFAULT_POLICY)
    assert card.rule_id == "S12" and card.indicator == "warning"
    assert any("benzodiazepine active" in n for n in card.notes)


def test_stacked_nsaid_risks_are_one_card_that_escalates() -> None:
    features = safe(age_years=82, egfr=48.0, gi_bleed_or_pud_history=True, anticoagulant_active=True,
                    heart_failure=True)
    out = apply_gates((finding(NAPROXEN),), features, VIEW, DEFAULT_POLICY)
    (card,) = out[1:]
    assert {card.rule_id, *card.carried_ids} == {"S01", "S02", "S03", "S04"}
    assert card.title == "NSAID safety" and card.contraindication
    assert card.summary.startswith("Avoid NSAIDs: 5 risks together (kidney, GI bleed/ulcer history")
    assert len(card.summary) <= 140
    assert any("nsaid.stacked_risks_avoid = 2" in n and "governance" in n for n in card.notes)
    assert out[0].suggestions == ()
    signed = apply_gates((), dataclasses.replace(features, draft_orders=(draft("nsaid"),)), SIGN, DEFAULT_POLICY)
    (signed_card,) = signed
    assert signed_card.indicator == "critical"


def test_one_relative_risk_does_not_escalate_and_age_alone_is_no_concern() -> None:
    out = apply_gates((finding(NAPROXEN),), safe(age_years=50, anticoagulant_active=True), VIEW, DEFAULT_POLICY)
    (card,) = out[1:]
    assert not card.contraindication and out[0].suggestions[0].is_recommended is False
    quiet = apply_gates((finding(NAPROXEN),), safe(age_years=80), VIEW, DEFAULT_POLICY)
    assert len(quiet) == 1 and quiet[0].suggestions == (NAPROXEN,)


def test_the_stacking_count_is_policy() -> None:
    policy = policy_from_mapping({"nsaid.stacked_risks_avoid": 3})
    features = safe(age_years=70, heart_failure=True)
    out = apply_gates((finding(NAPROXEN),), features, VIEW, policy)
    assert len(out[0].suggestions) == 1, "two risks stay a warning when the policy asks for three"
    out = apply_gates((finding(NAPROXEN),), features, VIEW, DEFAULT_POLICY)
    assert out[0].suggestions == ()


def test_riskier_drugs_are_text_only_while_the_preferred_one_waits_for_labs() -> None:
    pamidronate = drug("pamidronate", "Pamidronate 60 mg IV")
    tnfi = drug("tnfi", "Infliximab 3-5 mg/kg IV")
    out = apply_gates((finding(pamidronate, tnfi, rule_id="R24"),), safe(egfr=None), VIEW, DEFAULT_POLICY)
    gated = out[0]
    assert not any(s.resource_type == "MedicationRequest" for s in gated.suggestions)
    assert any(n.startswith("Also an option, shown as text only") and "Infliximab" in n for n in gated.notes)
    assert [s.code.code for s in cards(out)["S08"].suggestions if s.code] == ["2160-0"]


def test_order_hooks_are_quiet_without_bme_or_vertebral_fracture() -> None:
    features = safe(bme_present=False, vertebral_fracture=False, egfr=45.0, anticoagulant_active=True,
                    draft_orders=(draft("nsaid"),))
    assert apply_gates((), features, SIGN, DEFAULT_POLICY) == ()
    fracture = safe(bme_present=None, vertebral_fracture=True, egfr=45.0, draft_orders=(draft("nsaid"),))
    assert "S01" in cards(apply_gates((), fracture, SIGN, DEFAULT_POLICY))


def test_a_contraindication_card_leads_its_indicator() -> None:
    from service.core.cards import render

    out = apply_gates((finding(NAPROXEN), finding(drug("pamidronate", "Pamidronate 60 mg IV"), rule_id="R21")),
                      safe(egfr=None, pregnant=True, gestational_age_weeks=24), VIEW, DEFAULT_POLICY)
    rendered = render(out, uuid_factory=lambda: "u", source_label="BME CDS", topic_system="urn:t",
                      patient_id="p1")
    warnings = [c for c in rendered if c["indicator"] == "warning"]
    assert warnings[0]["source"]["topic"]["code"] == "S05"  # before the S08 missing-lab card
    assert warnings[0]["extension"] == {"bme-cds-rules": ["S05", "S01"]}
