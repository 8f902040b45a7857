"""The engine and the card content: stages, suppression, deferral, ordering, variants, policy, data shown."""

from __future__ import annotations

from typing import Any

import pytest

from service.core.engine import evaluate
from service.core.findings import Finding
from service.core.vocabulary import BED_REST
from service.core.vocabulary import NSAID
from service.core.vocabulary import OPIOID
from service.knowledge.evidence import NO_DOSE_NOTE
from tests.rules.scenario import EXTENSIVE
from tests.rules.scenario import FOOT
from tests.rules.scenario import KNEE
from tests.rules.scenario import LIMITED
from tests.rules.scenario import VERTEBRA
from tests.rules.scenario import days_ago
from tests.rules.scenario import draft
from tests.rules.scenario import feat
from tests.rules.scenario import knowledge
from tests.rules.scenario import lab
from tests.rules.scenario import no_gates
from tests.rules.scenario import run

V: dict[str, Any] = {"bme_present": True, "bme_sites": VERTEBRA}
VF: dict[str, Any] = {**V, "vertebral_fracture": True}
ROUTINE = {f"R{n}" for n in range(21, 32)}
REFRACTORY: dict[str, Any] = {
    "bme_present": True,
    "bme_sites": KNEE,
    "pain_persistent_days": 120,
    "nsaid_days": 30,
}


@pytest.mark.parametrize(
    "flag",
    [
        {"neuro_deficit": True},
        {"spinal_instability": True},
        {"kyphosis_pct": 30.0},
        {"neuro_progressive": True},
        {"cord_compression_suspected": True},
    ],
    ids=["R06", "R07", "R08", "R09", "R10"],
)
def test_red_flag_suppresses_the_routine_pathway(flag: dict[str, Any]) -> None:
    """A red flag with extensive BME and every pathway trigger gives the red flag and none of R21-R31."""
    facts = {
        **VF,
        "bme_extent": EXTENSIVE,
        "pain_severe": True,
        "pain_persistent_days": 120,
        "nsaid_days": 30,
        "nsaid_response_insufficient": True,
        "fracture_onset_date": days_ago(5),
        **flag,
    }
    found = run(feat(**facts))
    assert found.keys() & {"R06", "R07", "R08", "R09", "R10"}
    assert not found.keys() & ROUTINE
    assert "R21" in run(feat(**{k: v for k, v in facts.items() if k not in flag}))


def test_red_flag_plus_extensive_bme_gives_r06_but_no_r21() -> None:
    """The brief's example: R06 critical, no bisphosphonate pathway card."""
    found = run(feat(**V, bme_extent=EXTENSIVE, neuro_deficit=True))
    assert "R06" in found and "R21" not in found
    assert found["R06"].indicator == "critical"


def test_r10_keeps_its_dexamethasone_without_a_dose() -> None:
    """Cord compression: dexamethasone (RxNorm 3264) stat, no dose, 'the seeds give no dose' note."""
    finding = run(feat(**V, bme_extent=EXTENSIVE, cord_compression_suspected=True))["R10"]
    dexa = finding.suggestions[0]
    assert dexa.code is not None and dexa.code.code == "3264"
    assert dexa.dose_text is None and dexa.note == NO_DOSE_NOTE
    assert dexa.drug_class == "dexamethasone" and dexa.priority == "stat"
    assert any(s.priority == "stat" and s.code is None for s in finding.suggestions)  # spine-surgery referral


def test_myeloma_defers_generic_drug_suggestions() -> None:
    """R11: R22's NSAIDs stay visible but not recommended, with the note 'defer to the myeloma team'."""
    found = run(feat(**V, bme_extent=LIMITED, multiple_myeloma=True))
    assert "R11" in found
    for spec in found["R22"].suggestions:
        assert spec.is_recommended is False and spec.note and "defer to the myeloma team" in spec.note
    assert all(s.is_recommended is not False for s in run(feat(**V, bme_extent=LIMITED))["R22"].suggestions)


def test_order_is_critical_warning_info_then_rule_id() -> None:
    """Deterministic order: indicator, then rule id; one finding per id."""
    findings = evaluate(
        feat(**VF, kyphosis_pct=20.0, malignancy_history=True, bed_rest_ordered=True),
        "patient-view",
        knowledge(),
        gates=no_gates,
    )
    ranks = [({"critical": 0, "warning": 1, "info": 2}[f.indicator], f.rule_id) for f in findings]
    assert ranks == sorted(ranks)
    assert [f.rule_id for f in findings][:3] == ["R08", "R03", "R32"]
    assert len({f.rule_id for f in findings}) == len(findings)


def test_first_variant_wins_one_finding_per_id() -> None:
    """R26 early (parenteral opioid) and offer (90 days) both apply: one R26, the early wording."""
    found = run(feat(**VF, parenteral_opioid=True, pain_persistent_days=120))
    assert "parenteral opioids" in found["R26"].summary


def test_r21_patient_view_card() -> None:
    """Pamidronate 30 mg x3 days recommended first, alternative regimen second, pathway link on."""
    finding = run(feat(**V, bme_extent=EXTENSIVE, bme_vertebral_level="L1"))["R21"]
    first, second = finding.suggestions[:2]
    assert first.is_recommended is True and first.drug_class == "pamidronate"
    assert first.dose_text == "30 mg intravenously on 3 consecutive days, repeated every 3 months"
    assert second.dose_text == "45-90 mg (or 1 mg/kg) intravenously every month or every 3 months"
    assert finding.selection_behavior == "at-most-one" and finding.smart_link
    assert all(s.drug_class != "tnfi" for s in finding.suggestions)


def test_r21_order_select_warning_on_nsaid_draft() -> None:
    """NSAID draft with extensive vertebral BME: the source-guidance warning, citing the draft."""
    order = draft(NSAID, "MedicationRequest/nsaid-1")
    finding = run(feat(**V, bme_extent=EXTENSIVE, draft_orders=(order,)), "order-select")["R21"]
    assert finding.indicator == "warning"
    assert finding.summary == (
        "Source guidance advises IV bisphosphonate instead of an NSAID trial in extensive vertebral BME"
    )
    assert any(s.reference == "MedicationRequest/nsaid-1" for s in finding.data_used)


def test_order_select_reads_selected_drafts_only_when_a_selection_is_marked() -> None:
    """order-select acts on the selected draft; an unselected NSAID draft beside a selected one is ignored."""
    selected_opioid = draft(OPIOID, "MedicationRequest/o", selected=True)
    other_nsaid = draft(NSAID, "MedicationRequest/n", selected=False)
    facts = {**V, "bme_extent": EXTENSIVE, "draft_orders": (selected_opioid, other_nsaid)}
    assert "R21" not in run(feat(**facts), "order-select")
    assert "R21" in run(feat(**facts), "order-sign")


def test_r21_adds_tnfi_only_with_damage_and_inflammatory_dx() -> None:
    """Accumulated skeletal damage adds TNF-alpha inhibitors only with a documented inflammatory diagnosis."""
    base = {**V, "bme_extent": EXTENSIVE, "accumulated_skeletal_damage": True}
    with_dx = run(feat(**base, inflammatory_dx=True))["R21"]
    assert {s.text for s in with_dx.suggestions if s.drug_class == "tnfi"} == {
        "infliximab",
        "etanercept",
        "adalimumab",
    }
    assert with_dx.selection_behavior == "at-most-one"
    without = run(feat(**base, inflammatory_dx=False))["R21"]
    assert not [s for s in without.suggestions if s.drug_class == "tnfi"]


def test_r22_nsaids_with_seed_doses_and_missing_extent() -> None:
    """R22 lists the four seed NSAIDs; an unknown extent is reported as missing."""
    finding = run(feat(**V))["R22"]
    assert [s.text for s in finding.suggestions] == ["naproxen", "diclofenac", "indomethacin", "celecoxib"]
    assert finding.suggestions[0].dose_text == "375-1100 mg/day in two doses"
    assert any("BME extent" in m for m in finding.missing)
    assert not any("BME extent" in m for m in run(feat(**V, bme_extent=LIMITED))["R22"].missing)


def test_r08_threshold_follows_policy() -> None:
    """deformity.kyphosis_pct=10: fires at 12%, and the card says 10%."""
    facts = feat(**VF, kyphosis_pct=12.0)
    assert "R08" not in run(facts)
    found = run(facts, overrides={"deformity.kyphosis_pct": 10})
    assert "R08" in found and ">=10%" in found["R08"].summary
    assert ">=15%" in run(feat(**VF, kyphosis_pct=15.0))["R08"].summary
    assert any(s.reference == "Observation/kyphosis_pct" for s in found["R08"].data_used)


def test_policy_can_switch_r21_off_and_nsaids_come_first() -> None:
    """pathway.extensive_bme_bisphosphonate_first=false: extensive BME gets R22, not R21."""
    found = run(
        feat(**V, bme_extent=EXTENSIVE), overrides={"pathway.extensive_bme_bisphosphonate_first": False}
    )
    assert "R21" not in found and "R22" in found


def test_policy_can_require_inflammatory_dx_for_r21() -> None:
    """pathway.extensive_bme_bp_first_requires_inflammatory_dx=true limits R21 to inflammatory diagnoses."""
    overrides = {"pathway.extensive_bme_bp_first_requires_inflammatory_dx": True}
    assert "R21" not in run(feat(**V, bme_extent=EXTENSIVE), overrides=overrides)
    assert "R21" in run(feat(**V, bme_extent=EXTENSIVE, inflammatory_dx=True), overrides=overrides)


def test_zoledronic_default_agent_has_no_dose() -> None:
    """bp.default_agent=zoledronic_acid: zoledronic acid first, recommended, no dose (the seeds give none)."""
    finding = run(feat(**V, bme_extent=EXTENSIVE), overrides={"bp.default_agent": "zoledronic_acid"})["R21"]
    first = finding.suggestions[0]
    assert first.code is not None and first.code.code == "77655"
    assert first.dose_text is None and first.is_recommended is True


def test_r24_offers_tnfi_only_with_inflammatory_dx() -> None:
    """Second line: bisphosphonate always; TNF-alpha inhibitors only with an inflammatory diagnosis."""
    base = {**V, "nsaid_days": 21, "nsaid_response_insufficient": True}
    plain = run(feat(**base, inflammatory_dx=False))["R24"]
    assert {s.drug_class for s in plain.suggestions} == {"pamidronate"}
    with_dx = run(feat(**base, inflammatory_dx=True))["R24"]
    assert [s.dose_text for s in with_dx.suggestions if s.drug_class == "tnfi"] == [
        "3-5 mg/kg IV at 0,2,6 weeks then every 6-8 weeks",
        "50 mg/week subcutaneously",
        "40 mg every 2 weeks subcutaneously",
    ]
    assert "R24" not in run(feat(**base), overrides={"nsaid.trial_min_days": 28})


def test_r29_withholds_denosumab_until_labs_are_current() -> None:
    """Labs missing or stale: lab requests, no denosumab; low: a warning; current and normal: denosumab."""
    missing = run(feat(**REFRACTORY))["R29"]
    assert {s.code.code for s in missing.suggestions if s.code} == {"17861-6", "1751-7", "62292-8"}
    assert not [s for s in missing.suggestions if s.drug_class]
    assert any("calcium" in m for m in missing.missing) and any("vitamin D" in m for m in missing.missing)

    stale = run(feat(**REFRACTORY, calcium=lab(9.5, 200), vitd_25oh=lab(30.0), albumin=lab(4.0)))["R29"]
    assert [s.code.code for s in stale.suggestions if s.code] == ["17861-6"]
    assert any("stale" in m for m in stale.missing)

    low = run(feat(**REFRACTORY, calcium=lab(9.5), calcium_low=False, vitd_25oh=lab(15.0)))["R29"]
    assert low.indicator == "warning" and not low.suggestions

    ok = run(feat(**REFRACTORY, calcium=lab(9.5), calcium_low=False, vitd_25oh=lab(30.0)))["R29"]
    (denosumab,) = ok.suggestions
    assert denosumab.drug_class == "denosumab" and denosumab.dose_text is None
    assert ok.smart_link


def test_r13_infection_wording_and_wbc_scan() -> None:
    """Foot BME, diabetes and an ulcer: 'infection suspected' and a labelled-WBC scan."""
    found = run(
        feat(
            bme_present=True,
            bme_sites=FOOT,
            diabetes=True,
            foot_ulcer_or_cellulitis_or_abscess=True,
            offloading_in_place=True,
        )
    )["R13"]
    assert "infection suspected" in found.summary
    assert [s.code.code for s in found.suggestions if s.code] == ["25032-4", "42700-5"]
    plain = run(feat(bme_present=True, bme_sites=FOOT, charcot=True))["R13"]
    assert "infection suspected" not in plain.summary and [s.text for s in plain.suggestions] == [
        "Offloading device (e.g. total contact cast)"
    ]


def test_r15_warning_variant() -> None:
    """RAMRIS above 2 makes R15 a warning; a score of 2 with a DMARD is info."""
    assert (
        run(feat(bme_present=True, rheumatoid_arthritis=True, ramris_bme_score=3.0))["R15"].indicator
        == "warning"
    )
    info = run(feat(bme_present=True, rheumatoid_arthritis=True, ramris_bme_score=2.0, dmard_active=True))[
        "R15"
    ]
    assert info.indicator == "info"


def test_r32_deletes_the_bed_rest_draft_and_suggests_physiotherapy() -> None:
    """Bed-rest draft: a delete action naming the draft, and a physiotherapy create."""
    order = draft(BED_REST, "ServiceRequest/bed-rest-1")
    finding = run(feat(**VF, draft_orders=(order,)), "order-sign")["R32"]
    delete, physio = finding.suggestions
    assert delete.action == "delete" and delete.delete_reference == "ServiceRequest/bed-rest-1"
    assert physio.action == "create" and physio.text == "Referral to physiotherapy"
    assert finding.indicator == "warning"


def test_r35_note_gives_the_reassessment_date() -> None:
    """NSAID started 2026-11-01: reassessment due 28 days later, or as the policy says."""
    facts = feat(**V, nsaid_active=True, nsaid_start_date=days_ago(20))
    assert "reassessment due 2026-11-29" in " ".join(run(facts)["R35"].notes)
    assert "reassessment due 2026-11-15" in " ".join(
        run(facts, overrides={"reassess.first_days": 14})["R35"].notes
    )


def test_r26_consider_needs_analgesics_on_record() -> None:
    """'Despite appropriate analgesics': severe pain for 21 days without an analgesic does not fire."""
    assert "R26" not in run(feat(**VF, pain_severe=True, pain_persistent_days=21))
    assert "R26" in run(feat(**VF, pain_severe=True, pain_persistent_days=21, opioid_active=True))


def test_r12_holds_the_augmentation_referral_while_a_red_flag_fires() -> None:
    """Cancer fracture with a neurological deficit: R12 shows without an augmentation referral."""
    assert (
        run(feat(**VF, bone_metastasis=True, bme_vertebral_level="T8"))["R12"].suggestions[0].code.code
        == "22513"
    )
    assert run(feat(**VF, bone_metastasis=True, neuro_deficit=True))["R12"].suggestions == ()


def test_no_findings_without_data() -> None:
    """No data, no cards: unknown is never treated as a trigger."""
    assert run(feat()) == {}
    assert run(feat(), "order-sign") == {}


def test_gates_run_last() -> None:
    """evaluate passes its findings to the gates and returns what they return; real gates add S-cards."""
    seen: list[tuple[Finding, ...]] = []

    def spy(findings: tuple[Finding, ...], features: Any, hook: str, gates: Any) -> tuple[Finding, ...]:
        seen.append(findings)
        return findings[:1]

    out = evaluate(feat(**V, bme_extent=EXTENSIVE), "patient-view", knowledge(), gates=spy)
    assert len(seen) == 1 and "R21" in {f.rule_id for f in seen[0]} and out == seen[0][:1]
    real = {f.rule_id for f in evaluate(feat(**V, bme_extent=EXTENSIVE), "patient-view", knowledge())}
    assert "R21" in real and any(r.startswith("S") for r in real)


def test_imaging_orders_follow_the_region_and_fall_back_to_text() -> None:
    """MRI by vertebral level (LOINC playbook); a region without a verified code is a text order saying so."""
    thoracic = run(feat(bme_present=True, bme_sites=VERTEBRA, bme_vertebral_level="T11"))["R01"]
    assert [s.code.code for s in thoracic.suggestions if s.code] == ["24980-5"]
    sites = frozenset({"sacroiliac", "other"})
    ct = run(feat(bme_present=True, bme_sites=sites, mri_contraindicated=True))["R02"]
    assert [s.text for s in ct.suggestions] == ["CT of the affected area", "CT of the sacroiliac joints"]
    assert all(s.code is None and s.note and "No verified code" in s.note for s in ct.suggestions)
    contrast = run(feat(bme_present=True, bme_sites=VERTEBRA, bme_vertebral_level="L3", fever=True))["R03"]
    assert [s.code.code for s in contrast.suggestions if s.code] == ["24967-2"]


def test_the_pathway_summary_names_the_vertebral_level_and_other_cards_do_not() -> None:
    """'L1: ...' on the pathway card (the patient's level); informational and knee cards keep the table text."""
    at_l1 = run(feat(**V, bme_extent=EXTENSIVE, bme_vertebral_level="L1"))
    assert at_l1["R21"].summary.startswith("L1: ") and len(at_l1["R21"].summary) < 140
    assert not at_l1["R28"].summary.startswith("L1")
    unknown = run(feat(**V, bme_extent=EXTENSIVE))
    assert unknown["R21"].summary == at_l1["R21"].summary.removeprefix("L1: ")
    knee = run(feat(bme_present=True, bme_sites=KNEE, bme_vertebral_level="L1"))
    assert not knee["R22"].summary.startswith("L1")
