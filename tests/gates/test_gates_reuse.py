"""What the gates work out once is reused only where it cannot differ: per drug class in a call, per policy."""

from __future__ import annotations

import pytest

from service.core.features import Features
from service.core.policy import DEFAULT_POLICY
from service.core.policy import policy_from_mapping
from tests.gates.gate_builders import NAPROXEN
from tests.gates.gate_builders import apply_gates
from tests.gates.gate_builders import drug
from tests.gates.gate_builders import finding
from tests.gates.gate_builders import lab
from tests.gates.gate_builders import safe

PAMIDRONATE_60 = drug("pamidronate", "Pamidronate 60 mg IV", dose_text="60 mg")
PAMIDRONATE_90 = drug("pamidronate", "Pamidronate 90 mg IV", dose_text="90 mg")


@pytest.mark.parametrize(
    "patient",
    [
        safe(),
        safe(egfr=None),
        safe(egfr=25.0, calcium=None),
        safe(egfr=lab(72.0, days_old=120, name="egfr"), vitd_25oh=12.0),
    ],
    ids=["safe", "no-egfr", "low-egfr-no-calcium", "stale-egfr-low-vitd"],
)
def test_one_class_twice_is_gated_as_each_alone(patient: Features) -> None:
    both = apply_gates(
        (finding(PAMIDRONATE_60, PAMIDRONATE_90, NAPROXEN, rule_id="R21", selection_behavior="any"),
         finding(PAMIDRONATE_90, rule_id="R29")),
        patient,
        "patient-view",
        DEFAULT_POLICY,
    )
    alone_60 = apply_gates((finding(PAMIDRONATE_60, rule_id="R21", selection_behavior="any"),), patient,
                           "patient-view", DEFAULT_POLICY)[0]
    alone_90 = apply_gates((finding(PAMIDRONATE_90, rule_id="R29"),), patient, "patient-view",
                           DEFAULT_POLICY)[0]
    alone_nsaid = apply_gates((finding(NAPROXEN),), patient, "patient-view", DEFAULT_POLICY)[0]
    r21, r29 = both[0], both[1]
    # The NSAID beside them is gated as an NSAID, not with the bisphosphonate's verdicts.
    assert [s for s in r21.suggestions if s.drug_class == "nsaid"] == list(alone_nsaid.suggestions)
    assert set(alone_nsaid.notes) - {"No suggestion is left on this card: see the lines above for why."} <= set(
        r21.notes)
    # Each pamidronate suggestion on R21 gets the same outcome as when it is the only one.
    kept_60 = [s for s in r21.suggestions if s.label == PAMIDRONATE_60.label]
    kept_90 = [s for s in r21.suggestions if s.label == PAMIDRONATE_90.label]
    assert kept_60 == list(alone_60.suggestions)
    assert [s.is_recommended for s in kept_90] == [s.is_recommended for s in alone_90.suggestions]
    assert set(alone_60.notes) <= set(r21.notes)
    assert r29 == alone_90


def test_gate_card_numbers_follow_each_policy_in_turn() -> None:
    strict = policy_from_mapping({"egfr.nsaid_avoid_below": 45.0, "egfr.nsaid_caution_below": 80.0})
    patient = safe(egfr=None)
    for _ in range(2):  # alternating: each policy's compiled texts show only under that policy
        default_s01 = {f.rule_id: f for f in apply_gates((finding(NAPROXEN),), patient, "patient-view",
                                                           DEFAULT_POLICY)}["S01"]
        strict_s01 = {f.rule_id: f for f in apply_gates((finding(NAPROXEN),), patient, "patient-view",
                                                          strict)}["S01"]
        assert "30" in default_s01.rule_text and "45" not in default_s01.rule_text
        assert "45" in strict_s01.rule_text and "30" not in strict_s01.rule_text
        assert "45" in strict_s01.recommendation and "45" not in default_s01.recommendation
