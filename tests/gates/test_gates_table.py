"""Each gate S01-S14 fires in its scenario and stays quiet in the close scenario next to it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from service.core.features import Features
from service.core.findings import Finding
from service.core.findings import SuggestionSpec
from service.core.gates import gate_texts
from service.core.policy import DEFAULT_POLICY
from service.core.policy import policy_from_mapping
from service.knowledge.gates import GATES
from service.knowledge.gates import words
from tests.gates.gate_builders import TODAY
from tests.gates.gate_builders import apply_gates
from tests.gates.gate_builders import draft
from tests.gates.gate_builders import drug
from tests.gates.gate_builders import finding
from tests.gates.gate_builders import lab
from tests.gates.gate_builders import safe

NAPROXEN_SPEC = drug("nsaid", "Naproxen 375-1100 mg/day")
SIGN = "order-sign"
VIEW = "patient-view"


def run(
    features: Features,
    *suggestions: SuggestionSpec,
    hook: str = SIGN,
    rule_id: str = "R22",
    policy: Any = DEFAULT_POLICY,
) -> tuple[Finding, dict[str, Finding]]:
    """Gate one finding; return it (gated) and the safety cards by every gate id each carries."""
    out = apply_gates((finding(*suggestions, rule_id=rule_id),), features, hook, policy)
    assert out[0].rule_id == rule_id
    gates = {i: f for f in out[1:] for i in (f.rule_id, *f.carried_ids)}
    assert len(gates) == sum(1 + len(f.carried_ids) for f in out[1:]), "each gate on one card"
    return out[0], gates


# (id, drug class, features overrides, expected indicator of the gate card or None, expected effect)
# effect: "removed" (suggestion gone), "kept" (unchanged), "not-recommended" (kept, isRecommended false)
CASES: list[tuple[str, str, dict[str, Any], str | None, str]] = [
    # S01: eGFR 29 critical, 45 warning, 60 nothing; coded CKD 4-5 critical whatever the eGFR
    ("S01-egfr-29", "nsaid", {"egfr": 29.0}, "critical", "removed"),
    ("S01-egfr-30", "nsaid", {"egfr": 30.0}, "warning", "not-recommended"),
    ("S01-egfr-45", "nsaid", {"egfr": 45.0}, "warning", "not-recommended"),
    ("S01-egfr-59", "nsaid", {"egfr": 59.0}, "warning", "not-recommended"),
    ("S01-egfr-60", "nsaid", {"egfr": 60.0}, None, "kept"),
    ("S01-ckd-coded", "nsaid", {"ckd_stage_4_5_or_esrd": True}, "critical", "removed"),
    # S02
    ("S02-active-bleed", "nsaid", {"gi_bleed_active": True}, "critical", "removed"),
    ("S02-history", "nsaid", {"gi_bleed_or_pud_history": True}, "warning", "not-recommended"),
    ("S02-none", "nsaid", {"gi_bleed_or_pud_history": False}, None, "kept"),
    # S03
    ("S03-anticoagulant", "nsaid", {"anticoagulant_active": True}, "warning", "not-recommended"),
    ("S03-antiplatelet", "nsaid", {"antiplatelet_active": True}, "warning", "not-recommended"),
    ("S03-none", "nsaid", {}, None, "kept"),
    # S04: CABG within 14 days critical (day 14 included), day 15 nothing; heart failure warning
    ("S04-cabg-10d", "nsaid", {"recent_cabg_date": TODAY - timedelta(days=10)}, "critical", "removed"),
    ("S04-cabg-14d", "nsaid", {"recent_cabg_date": TODAY - timedelta(days=14)}, "critical", "removed"),
    ("S04-cabg-15d", "nsaid", {"recent_cabg_date": TODAY - timedelta(days=15)}, None, "kept"),
    ("S04-heart-failure", "nsaid", {"heart_failure": True}, "warning", "not-recommended"),
    # S05: 19 nothing, 20 warning, 29 warning, 30 critical, unknown weeks warning
    ("S05-19w", "nsaid", {"pregnant": True, "gestational_age_weeks": 19}, None, "kept"),
    # from 20 weeks the FDA says avoid: not offered, a warning (not critical) on order-sign
    ("S05-20w", "nsaid", {"pregnant": True, "gestational_age_weeks": 20}, "warning", "removed"),
    ("S05-29w", "nsaid", {"pregnant": True, "gestational_age_weeks": 29}, "warning", "removed"),
    ("S05-30w", "nsaid", {"pregnant": True, "gestational_age_weeks": 30}, "critical", "removed"),
    ("S05-weeks-unknown", "nsaid", {"pregnant": True}, "warning", "not-recommended"),
    ("S05-not-pregnant", "nsaid", {"pregnant": False}, None, "kept"),
    # S06
    (
        "S06-nsaid-active",
        "nsaid",
        {"nsaid_active": True, "nsaid_active_ingredients": frozenset({"ibuprofen"})},
        "warning",
        "not-recommended",
    ),
    ("S06-no-nsaid", "nsaid", {"nsaid_active": False}, None, "kept"),
    # S07: indomethacin at 64 nothing (at 65 the suggestion is dropped without a card: see below)
    ("S07-indomethacin-64", "indomethacin", {"age_years": 64}, None, "kept"),
    # S08: zoledronic acid 34 critical / 35 nothing; pamidronate 29 warning / 30 nothing
    ("S08-zoledronic-34", "zoledronic_acid", {"egfr": 34.0}, "critical", "removed"),
    ("S08-zoledronic-35", "zoledronic_acid", {"egfr": 35.0}, None, "kept"),
    ("S08-pamidronate-29", "pamidronate", {"egfr": 29.0}, "warning", "not-recommended"),
    ("S08-pamidronate-30", "pamidronate", {"egfr": 30.0}, None, "kept"),
    ("S08-default-agent-29", "iv_bisphosphonate", {"egfr": 29.0}, "warning", "not-recommended"),
    ("S08-zoledronic-ckd", "zoledronic_acid", {"ckd_stage_4_5_or_esrd": True}, "critical", "removed"),
    # S09
    ("S09-hypocalcaemia", "denosumab", {"hypocalcemia": True}, "critical", "removed"),
    ("S09-calcium-low-lab", "pamidronate", {"calcium_low": True, "calcium": 7.9}, "critical", "removed"),
    ("S09-vitd-15", "pamidronate", {"vitd_25oh": 15.0}, "warning", "not-recommended"),
    ("S09-vitd-20", "pamidronate", {"vitd_25oh": 20.0}, None, "kept"),
    # S10
    ("S10-onj", "zoledronic_acid", {"onj_history": True}, "warning", "not-recommended"),
    ("S10-dental", "denosumab", {"dental_disease": True}, "warning", "not-recommended"),
    ("S10-none", "denosumab", {}, None, "kept"),
    # S11: denosumab eGFR 29 warning, 30 nothing, 29 with low calcium critical
    ("S11-egfr-29", "denosumab", {"egfr": 29.0}, "warning", "not-recommended"),
    ("S11-egfr-30", "denosumab", {"egfr": 30.0}, None, "kept"),
    ("S11-dialysis", "denosumab", {"ckd_stage_4_5_or_esrd": True}, "warning", "not-recommended"),
    # S12
    ("S12-cns-depressant", "opioid", {"cns_depressant_active": True}, "warning", "not-recommended"),
    ("S12-none", "opioid", {}, None, "kept"),
    # S13
    ("S13-infection", "tnfi", {"active_infection": True}, "warning", "removed"),
    ("S13-latent-tb", "tnfi", {"latent_tb": True}, "warning", "removed"),
    ("S13-screening-concern", "tnfi", {"tnfi_screening_concern": True}, "warning", "not-recommended"),
    ("S13-none", "tnfi", {}, None, "kept"),
    # S14 (R10's dexamethasone is tested separately: info only, never blocked)
    ("S14-diabetes", "systemic_glucocorticoid", {"diabetes": True}, "warning", "not-recommended"),
    ("S14-infection", "systemic_glucocorticoid", {"active_infection": True}, "warning", "not-recommended"),
    (
        "S14-bleed-with-nsaid",
        "systemic_glucocorticoid",
        {"gi_bleed_or_pud_history": True, "nsaid_active": True},
        "warning",
        "not-recommended",
    ),
    ("S14-bleed-without-nsaid", "systemic_glucocorticoid", {"gi_bleed_or_pud_history": True}, None, "kept"),
    ("S14-none", "systemic_glucocorticoid", {}, None, "kept"),
]


@pytest.mark.parametrize(
    ("case", "drug_class", "overrides", "indicator", "effect"), CASES, ids=[c[0] for c in CASES]
)
def test_gate_scenario(
    case: str, drug_class: str, overrides: dict[str, Any], indicator: str | None, effect: str
) -> None:
    gate_id = case[:3]
    spec = drug(drug_class, is_recommended=True)
    gated, gates = run(safe(**overrides), spec)
    if indicator is None:
        assert gate_id not in gates
        assert any(n.startswith(f"{gate_id} passed") for n in gated.notes), gated.notes
    else:
        assert gate_id in gates, gates.keys()
        card = gates[gate_id]
        assert card.indicator == indicator
        assert all(not e.in_seeds for e in card.evidence if e.source.startswith("http")) and card.evidence
        assert any("not from the seed documents" in n for n in card.notes)
        assert any(spec.label in n for n in card.notes), "the card names the affected suggestion"
    if effect == "removed":
        assert gated.suggestions == ()
        assert any(n.startswith("Removed: ") and gate_id in n for n in gated.notes), gated.notes
    elif effect == "kept":
        assert gated.suggestions == (spec,)
    else:
        assert len(gated.suggestions) == 1
        assert gated.suggestions[0].is_recommended is False
        assert any(n.startswith(f"{gate_id} caution") for n in gated.notes)


def test_every_gate_has_a_firing_and_a_quiet_case() -> None:
    fired = {c[0][:3] for c in CASES if c[3] is not None} | {"S07"}  # S07: test_s07_* below
    quiet = {c[0][:3] for c in CASES if c[3] is None}
    assert fired == quiet == {g.id for g in GATES}


def test_gate_table_is_complete_and_cites_non_seed_sources() -> None:
    assert [g.id for g in GATES] == [f"S{n:02d}" for n in range(1, 15)]
    for gate in GATES:
        assert gate.title and gate.when and gate.then and gate.relative and gate.drug_classes
        assert any(not e.in_seeds for e in gate.evidence), gate.id


def test_s05_and_s01_urls_are_the_ones_named_in_the_catalogue() -> None:
    by_id = {g.id: g for g in GATES}
    assert (
        by_id["S05"].evidence[0].source.startswith("https://www.fda.gov/drugs/drug-safety-and-availability/")
    )
    assert by_id["S08"].evidence[0].source == (
        "https://www.gov.uk/drug-safety-update/intravenous-zoledronic-acid-adverse-effects-on-renal-function"
    )
    assert "KDIGO 2012" in by_id["S01"].evidence[0].source


def test_s11_critical_when_calcium_already_low() -> None:
    _, gates = run(safe(egfr=29.0, calcium_low=True, calcium=7.8), drug("denosumab"))
    assert gates["S11"].indicator == "critical"
    assert gates["S09"].indicator == "critical"


def test_s03_critical_with_active_bleed() -> None:
    _, gates = run(safe(anticoagulant_active=True, gi_bleed_active=True), drug("nsaid"))
    assert gates["S03"].indicator == "critical"


def test_s07_does_not_apply_to_other_nsaids() -> None:
    _, gates = run(safe(age_years=80), drug("nsaid"))
    assert "S07" not in gates


def test_policy_thresholds_are_used() -> None:
    policy = policy_from_mapping({"egfr.nsaid_avoid_below": 45, "bp.default_agent": "zoledronic_acid"})
    gated, gates = run(safe(egfr=40.0), drug("nsaid"), policy=policy)
    assert gates["S01"].indicator == "critical" and gated.suggestions == ()
    assert "below 45" in gates["S01"].summary
    _, gates = run(safe(egfr=34.0), drug("iv_bisphosphonate"), policy=policy)
    assert gates["S08"].indicator == "critical"


def test_s13_unknown_screening_is_a_reminder_line_not_a_card() -> None:
    gated, gates = run(safe(tnfi_screening_concern=None, latent_tb=None), drug("tnfi"))
    assert "S13" not in gates
    assert any("screen before starting" in n for n in gated.notes)
    assert gated.suggestions[0].is_recommended is None


def test_unknown_comorbidity_is_noted_not_passed() -> None:
    gated, gates = run(safe(gi_bleed_or_pud_history=None), drug("nsaid"))
    assert "S02" not in gates
    assert "S02 not checked: GI bleed and ulcer history unknown" in gated.notes
    assert not any(n.startswith("S02 passed") for n in gated.notes)


def test_pass_line_names_value_and_date() -> None:
    gated, _ = run(safe(egfr=lab(72.0, days_old=31, name="egfr")), drug("nsaid"))
    assert "S01 passed: eGFR 72 on 2026-10-01" in gated.notes


@pytest.mark.parametrize(
    "policy",
    [DEFAULT_POLICY, policy_from_mapping({"egfr.nsaid_avoid_below": 32.5, "egfr.nsaid_caution_below": 62.5})],
)
def test_every_gate_summary_fits_a_card(policy: Any) -> None:
    for gate in GATES:
        texts = gate_texts(gate, words(policy))
        for level, summary in texts.summaries.items():
            assert 0 < len(summary) < 140, (gate.id, level, summary)
        assert "{" not in texts.when + texts.then, gate.id


def test_vitamin_d_concern_names_value_date_and_unit() -> None:
    gated, gates = run(safe(vitd_25oh=15.0), drug("denosumab"))
    assert "25-OH vitamin D 15 on 2026-10-02 is below 20 ng/mL" in "\n".join(gates["S09"].notes)


def test_s07_drops_the_services_own_indomethacin_without_a_card() -> None:
    indomethacin = drug("indomethacin", "Indomethacin 150 mg/day")
    gated, gates = run(safe(age_years=65), NAPROXEN_SPEC, indomethacin, hook=VIEW)
    assert gates == {}, "no card warns about a drug the service itself would suggest"
    assert gated.suggestions == (NAPROXEN_SPEC,)
    assert any(n.startswith("Not suggested: Indomethacin") and "S07" in n for n in gated.notes)


def test_s07_warns_on_an_indomethacin_draft() -> None:
    d = draft("nsaid", "indomethacin", display="indomethacin 25 MG")
    out = apply_gates((), safe(age_years=70, draft_orders=(d,)), "order-select", DEFAULT_POLICY)
    (card,) = out
    assert card.rule_id == "S07" and card.indicator == "warning"
