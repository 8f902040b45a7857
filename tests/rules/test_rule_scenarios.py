"""Every rule R01-R37: one scenario where it fires and one close scenario where it must stay quiet."""

from __future__ import annotations

from typing import Any

import pytest

from service.core.vocabulary import BED_REST
from service.core.vocabulary import NSAID
from service.core.vocabulary import OPIOID
from service.core.vocabulary import SYSTEMIC_GLUCOCORTICOID
from service.core.vocabulary import TNFI
from tests.rules.scenario import EXTENSIVE
from tests.rules.scenario import FOOT
from tests.rules.scenario import HIP
from tests.rules.scenario import KNEE
from tests.rules.scenario import LIMITED
from tests.rules.scenario import SEEDS_DIR
from tests.rules.scenario import VERTEBRA
from tests.rules.scenario import days_ago
from tests.rules.scenario import draft
from tests.rules.scenario import feat
from tests.rules.scenario import lab
from tests.rules.scenario import run
from tests.rules.scenario import seed_text

PV, SELECT, SIGN = "patient-view", "order-select", "order-sign"
V: dict[str, Any] = {"bme_present": True, "bme_sites": VERTEBRA}
VF: dict[str, Any] = {**V, "vertebral_fracture": True}
REFRACTORY: dict[str, Any] = {
    "bme_present": True,
    "bme_sites": KNEE,
    "pain_persistent_days": 90,
    "nsaid_days": 28,
}
GOOD_LABS: dict[str, Any] = {
    "calcium": lab(9.4),
    "calcium_low": False,
    "vitd_25oh": lab(32.0),
    "albumin": lab(4.0),
}

# (rule id, hook, facts where it fires, close facts where it must not fire)
CASES: list[Any] = [
    pytest.param("R01", PV, {**V}, {**V, "mri_contraindicated": True}, id="R01-mri-contraindicated"),
    pytest.param(
        "R01",
        PV,
        {**V, "bme_first_seen_date": days_ago(30), "last_mri_date": days_ago(60)},
        {**V, "bme_first_seen_date": days_ago(30), "last_mri_date": days_ago(30)},
        id="R01-mri-this-episode",
    ),
    pytest.param(
        "R02", PV, {**V, "mri_contraindicated": True}, {**V, "mri_contraindicated": False}, id="R02"
    ),
    pytest.param(
        "R03", PV, {**VF, "malignancy_history": True}, {**VF, "malignancy_history": False}, id="R03-history"
    ),
    pytest.param(
        "R03",
        PV,
        {**VF, "vertebral_fracture_count": 2},
        {**VF, "vertebral_fracture_count": 1},
        id="R03-multiple-fractures",
    ),
    pytest.param(
        "R04",
        PV,
        {"bme_present": True, "bme_sites": HIP},
        {"bme_present": True, "bme_sites": HIP, "osteonecrosis": True},
        id="R04",
    ),
    pytest.param(
        "R05",
        PV,
        {"bme_present": True, "bme_sites": KNEE},
        {"bme_present": True, "bme_sites": KNEE, "osteoporosis": True},
        id="R05",
    ),
    pytest.param("R06", PV, {**V, "neuro_deficit": True}, {**V, "neuro_deficit": False}, id="R06-false"),
    pytest.param("R06", SIGN, {**VF, "neuro_deficit": True}, {**VF}, id="R06-unknown"),
    pytest.param(
        "R07", PV, {**VF, "spinal_instability": True}, {**VF, "spinal_instability": False}, id="R07"
    ),
    pytest.param("R07", PV, {**VF, "retropulsion": True}, {**V, "retropulsion": True}, id="R07-retropulsion"),
    pytest.param(
        "R08", PV, {**VF, "kyphosis_pct": 15.0}, {**VF, "kyphosis_pct": 14.0}, id="R08-kyphosis-15-vs-14"
    ),
    pytest.param("R08", PV, {**VF, "kyphosis_pct": 15.0}, {**VF}, id="R08-kyphosis-unknown"),
    pytest.param(
        "R08", PV, {**VF, "height_loss_pct": 20.0}, {**VF, "height_loss_pct": 19.9}, id="R08-height-loss"
    ),
    pytest.param("R09", PV, {**V, "neuro_progressive": True}, {**V, "neuro_progressive": False}, id="R09"),
    pytest.param(
        "R10",
        PV,
        {**V, "cord_compression_suspected": True},
        {"bme_present": False, "cord_compression_suspected": True},
        id="R10",
    ),
    pytest.param(
        "R11", PV, {**V, "multiple_myeloma": True}, {"bme_present": False, "multiple_myeloma": True}, id="R11"
    ),
    pytest.param("R12", PV, {**VF, "bone_metastasis": True}, {**V, "bone_metastasis": True}, id="R12"),
    pytest.param(
        "R13",
        PV,
        {"bme_present": True, "bme_sites": FOOT, "diabetes": True},
        {"bme_present": True, "bme_sites": FOOT, "diabetes": False},
        id="R13",
    ),
    pytest.param(
        "R14",
        PV,
        {"bme_present": True, "bme_sites": HIP, "transient_bme_syndrome": True},
        {"bme_present": True, "bme_sites": HIP},
        id="R14-tbmes",
    ),
    pytest.param(
        "R14",
        PV,
        {"bme_present": True, "bme_sites": HIP, "on_features": False},
        {"bme_present": True, "bme_sites": HIP, "on_features": True},
        id="R14-no-rim-sign",
    ),
    pytest.param(
        "R15",
        PV,
        {"bme_present": True, "rheumatoid_arthritis": True},
        {"bme_present": False, "rheumatoid_arthritis": True},
        id="R15",
    ),
    pytest.param(
        "R16", PV, {"bme_present": True, "axspa": True}, {"bme_present": True, "axspa": False}, id="R16"
    ),
    pytest.param(
        "R17",
        PV,
        {"bme_present": True, "osteonecrosis": True},
        {"bme_present": True, "osteonecrosis": False},
        id="R17",
    ),
    pytest.param(
        "R18",
        PV,
        {"bme_present": True, "cno_sapho": True},
        {"bme_present": False, "cno_sapho": True},
        id="R18",
    ),
    pytest.param("R19", PV, {"bme_present": True, "osteoporosis": True}, {"bme_present": True}, id="R19"),
    pytest.param(
        "R20",
        PV,
        {"bme_present": True, "systemic_glucocorticoid_active": True},
        {"bme_present": True, "systemic_glucocorticoid_active": False},
        id="R20",
    ),
    pytest.param("R21", PV, {**V, "bme_extent": EXTENSIVE}, {**V}, id="R21-extent-unknown"),
    pytest.param("R21", PV, {**V, "bme_extent": EXTENSIVE}, {**V, "bme_extent": LIMITED}, id="R21-limited"),
    pytest.param(
        "R21",
        PV,
        {**V, "bme_extent": EXTENSIVE},
        {**V, "bme_extent": EXTENSIVE, "neuro_deficit": True},
        id="R21-neuro-deficit",
    ),
    pytest.param(
        "R21",
        PV,
        {**V, "bme_extent": EXTENSIVE},
        {**V, "bme_extent": EXTENSIVE, "iv_bisphosphonate_active": True},
        id="R21-on-bisphosphonate",
    ),
    pytest.param(
        "R21",
        SELECT,
        {**V, "bme_extent": EXTENSIVE, "draft_orders": (draft(NSAID),)},
        {**V, "bme_extent": EXTENSIVE, "draft_orders": (draft(OPIOID),)},
        id="R21-order-select",
    ),
    pytest.param(
        "R22",
        PV,
        {**V, "bme_extent": LIMITED},
        {**V, "bme_extent": LIMITED, "nsaid_active": True},
        id="R22-limited",
    ),
    pytest.param("R22", PV, {**V}, {**V, "bme_extent": EXTENSIVE}, id="R22-unknown-extent"),
    pytest.param(
        "R22",
        PV,
        {"bme_present": True, "bme_sites": KNEE},
        {"bme_present": True, "bme_sites": KNEE, "tnfi_active": True},
        id="R22-generic-knee",
    ),
    pytest.param(
        "R23",
        PV,
        {**VF, "fracture_onset_date": days_ago(10)},
        {**VF, "fracture_onset_date": days_ago(40)},
        id="R23-old-fracture",
    ),
    pytest.param("R23", PV, {**VF, "fracture_onset_date": days_ago(28)}, {**VF}, id="R23-onset-unknown"),
    pytest.param(
        "R24",
        PV,
        {**V, "nsaid_days": 21, "nsaid_response_insufficient": True},
        {**V, "nsaid_days": 10, "nsaid_response_insufficient": True},
        id="R24-too-early",
    ),
    pytest.param(
        "R24",
        PV,
        {**V, "nsaid_days": 14, "nsaid_response_insufficient": True},
        {**V, "nsaid_days": 21},
        id="R24-response-unknown",
    ),
    pytest.param(
        "R24",
        SELECT,
        {**V, "inflammatory_dx": False, "draft_orders": (draft(TNFI),)},
        {**V, "inflammatory_dx": True, "draft_orders": (draft(TNFI),)},
        id="R24-tnfi-draft",
    ),
    pytest.param(
        "R25", PV, {**V, "pain_severe": True}, {**V, "pain_severe": True, "opioid_active": True}, id="R25-pv"
    ),
    pytest.param(
        "R25",
        SELECT,
        {**V, "draft_orders": (draft(OPIOID),)},
        {**V, "draft_orders": (draft(NSAID),)},
        id="R25-opioid-draft",
    ),
    pytest.param(
        "R26", PV, {**VF, "parenteral_opioid": True}, {**VF, "parenteral_opioid": False}, id="R26a-early"
    ),
    pytest.param(
        "R26", PV, {**VF, "pain_persistent_days": 90}, {**VF, "pain_persistent_days": 89}, id="R26c-offer"
    ),
    pytest.param(
        "R26",
        PV,
        {**VF, "pain_severe": True, "pain_persistent_days": 21, "nsaid_active": True},
        {**VF, "pain_severe": True, "pain_persistent_days": 20, "nsaid_active": True},
        id="R26b-consider",
    ),
    pytest.param(
        "R26",
        PV,
        {**VF, "pain_persistent_days": 120},
        {**VF, "pain_persistent_days": 120, "augmentation_done": True},
        id="R26-already-done",
    ),
    pytest.param(
        "R27",
        SELECT,
        {**V, "draft_orders": (draft(SYSTEMIC_GLUCOCORTICOID),)},
        {**V, "draft_orders": (draft(OPIOID),)},
        id="R27",
    ),
    pytest.param("R28", PV, {**V}, {"bme_present": True, "bme_sites": KNEE}, id="R28"),
    pytest.param(
        "R29",
        PV,
        {**REFRACTORY, **GOOD_LABS},
        {**REFRACTORY, **GOOD_LABS, "denosumab_given": True},
        id="R29-denosumab-given",
    ),
    pytest.param(
        "R29", PV, {**REFRACTORY}, {**REFRACTORY, "pain_persistent_days": 89}, id="R29-not-refractory"
    ),
    pytest.param(
        "R29", PV, {**REFRACTORY}, {**REFRACTORY, "nsaid_days": None}, id="R29-no-first-line-course"
    ),
    pytest.param("R30", PV, {**REFRACTORY}, {**REFRACTORY, "iloprost_given": True}, id="R30-refractory"),
    pytest.param(
        "R30", PV, {"bme_present": True, "osteonecrosis": True}, {"bme_present": True}, id="R30-ischaemic"
    ),
    pytest.param("R31", PV, {**REFRACTORY}, {**REFRACTORY, "pain_persistent_days": 30}, id="R31"),
    pytest.param(
        "R32",
        SELECT,
        {**V, "draft_orders": (draft(BED_REST),)},
        {**V, "spinal_instability": True, "draft_orders": (draft(BED_REST),)},
        id="R32-draft",
    ),
    pytest.param("R32", PV, {**V, "bed_rest_ordered": True}, {**V, "bed_rest_ordered": False}, id="R32-pv"),
    pytest.param(
        "R33",
        PV,
        {**V, "opioid_active": True, "opioid_days": 15},
        {**V, "opioid_active": True, "opioid_days": 14},
        id="R33-15-vs-14-days",
    ),
    pytest.param(
        "R33",
        SIGN,
        {**V, "age_years": 70, "draft_orders": (draft(OPIOID),)},
        {**V, "age_years": 40, "draft_orders": (draft(OPIOID),)},
        id="R33-older-adult-draft",
    ),
    pytest.param(
        "R34",
        PV,
        {**V, "systemic_glucocorticoid_active": True, "glucocorticoid_days": 90},
        {**V, "systemic_glucocorticoid_active": True, "glucocorticoid_days": 89},
        id="R34-days",
    ),
    pytest.param(
        "R34",
        PV,
        {**V, "long_term_glucocorticoid_coded": True},
        {**V, "long_term_glucocorticoid_coded": False},
        id="R34-z79-52",
    ),
    pytest.param(
        "R34",
        SIGN,
        {
            **V,
            "long_term_glucocorticoid_coded": True,
            "draft_orders": (draft(SYSTEMIC_GLUCOCORTICOID),),
        },
        {**V, "draft_orders": (draft(SYSTEMIC_GLUCOCORTICOID),)},
        id="R34-draft",
    ),
    pytest.param(
        "R35",
        PV,
        {**V, "nsaid_active": True, "nsaid_start_date": days_ago(3)},
        {**V, "nsaid_active": True},
        id="R35-nsaid",
    ),
    pytest.param(
        "R35",
        PV,
        {**V, "iv_bisphosphonate_active": True},
        {**V, "iv_bisphosphonate_active": False},
        id="R35-second-line",
    ),
    pytest.param(
        "R36",
        PV,
        {"bme_present": True, "bme_sites": KNEE, "last_mri_date": days_ago(100)},
        {"bme_present": True, "bme_sites": KNEE, "last_mri_date": days_ago(30)},
        id="R36-followup",
    ),
    pytest.param(
        "R36",
        PV,
        {**V, "last_mri_date": days_ago(100), "pain_nrs_latest": 5},
        {**V, "last_mri_date": days_ago(100), "pain_nrs_latest": 2},
        id="R36-improving-vertebral",
    ),
    pytest.param("R36", PV, {**V, "new_symptoms_or_complication": True}, {**V}, id="R36-new-symptoms"),
    pytest.param("R37", PV, {**V}, {**V, "neuro_deficit": True}, id="R37-red-flag"),
]


@pytest.mark.parametrize(("rule_id", "hook", "fires", "quiet"), CASES)
def test_rule_fires_and_close_case_stays_quiet(
    rule_id: str, hook: str, fires: dict[str, Any], quiet: dict[str, Any]
) -> None:
    """The rule fires in its scenario and not in the close one."""
    found = run(feat(**fires), hook)
    assert rule_id in found
    assert rule_id not in run(feat(**quiet), hook)
    finding = found[rule_id]
    assert len(finding.summary) < 140 and finding.recommendation and finding.rule_text
    for ev in finding.evidence:
        assert (SEEDS_DIR / ev.source).is_file()
        assert " ".join(ev.statement.split()) in seed_text(ev.source)
    for spec in finding.suggestions:
        if spec.dose_text is not None:
            assert f"{spec.text.capitalize()} {spec.dose_text}" in seed_text("002_a2231a674c43bc45.txt")


def test_every_rule_has_a_scenario() -> None:
    """R01-R37 are all covered by the table above."""
    covered = {case.values[0] for case in CASES}
    assert covered == {f"R{n:02d}" for n in range(1, 38)}
