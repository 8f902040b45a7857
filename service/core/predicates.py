"""Named conditions the rule table is written in, each with its plain-English reading.

Unknown is unknown: a condition that needs a fact is false when the fact is unknown (`is_true`, `at_least`),
unless its name says otherwise (`not_documented`, which is true for False and for unknown). Pure module.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from service.core.features import EXTENT_EXTENSIVE
from service.core.features import SITE_FOOT_ANKLE
from service.core.features import SITE_HIP
from service.core.features import SITE_KNEE
from service.core.features import SITE_VERTEBRA
from service.core.rulemodel import Ctx
from service.core.rulemodel import Pred
from service.core.rulemodel import all_of
from service.core.rulemodel import any_of
from service.core.rulemodel import not_
from service.core.vocabulary import BED_REST
from service.core.vocabulary import DEXAMETHASONE
from service.core.vocabulary import INDOMETHACIN
from service.core.vocabulary import NSAID
from service.core.vocabulary import OPIOID
from service.core.vocabulary import SYSTEMIC_GLUCOCORTICOID
from service.core.vocabulary import TNFI

# A seed number, not a policy choice: "baseline bone marrow edema score >2 RAMRIS units" (seed 001).
RAMRIS_PROGRESSION_SCORE = 2.0

# Lab features: staleness (labs.max_age_days) applies to these.
LAB_FEATURES = frozenset({"egfr", "creatinine", "calcium", "calcium_ionized", "albumin", "vitd_25oh"})


def _value(ctx: Ctx, name: str) -> Any:
    return getattr(ctx.features, name).value


def is_true(name: str, describe: str) -> Pred:
    """The fact is positively True (unknown is not true)."""
    # getattr inlined (not _value): leaf tests run ~100 times per request.
    return Pred(name, describe, lambda ctx: getattr(ctx.features, name).value is True, (name,))


def is_false(name: str, describe: str) -> Pred:
    """The fact is positively False (unknown is not false)."""
    return Pred(f"{name}_is_false", describe, lambda ctx: getattr(ctx.features, name).value is False, (name,))


def not_documented(name: str, describe: str) -> Pred:
    """The fact is not positively True: False or unknown."""
    return Pred(f"no_{name}", describe, lambda ctx: getattr(ctx.features, name).value is not True, (name,))


def at_least(name: str, key: str, describe: str) -> Pred:
    """The number is known and at or above the policy threshold."""

    def test(ctx: Ctx) -> bool:
        value = _value(ctx, name)
        return value is not None and float(value) >= ctx.policy.float(key)

    return Pred(f"{name}_at_least_{key}", describe, test, (name,), keys=(key,))


def above(name: str, key: str, describe: str) -> Pred:
    """The number is known and above the policy threshold."""

    def test(ctx: Ctx) -> bool:
        value = _value(ctx, name)
        return value is not None and float(value) > ctx.policy.float(key)

    return Pred(f"{name}_above_{key}", describe, test, (name,), keys=(key,))


def days_since_at_most(name: str, key: str, describe: str) -> Pred:
    """The date is known, not in the future, and at most the policy's number of days ago."""

    def test(ctx: Ctx) -> bool:
        when: date | None = _value(ctx, name)
        return when is not None and 0 <= (ctx.features.today - when).days <= ctx.policy.int(key)

    return Pred(f"{name}_within_{key}", describe, test, (name,), keys=(key,))


def days_since_at_least(name: str, key: str, describe: str) -> Pred:
    """The date is known and at least the policy's number of days ago."""

    def test(ctx: Ctx) -> bool:
        when: date | None = _value(ctx, name)
        return when is not None and (ctx.features.today - when).days >= ctx.policy.int(key)

    return Pred(f"{name}_older_than_{key}", describe, test, (name,), keys=(key,))


def policy_flag(key: str, describe: str) -> Pred:
    """A boolean policy key is on."""
    return Pred(f"policy_{key}", describe, lambda ctx: ctx.policy.flag(key), keys=(key,), static=True)


def policy_flag_off(key: str, describe: str) -> Pred:
    """A boolean policy key is off."""
    return Pred(f"policy_not_{key}", describe, lambda ctx: not ctx.policy.flag(key), keys=(key,),
                static=True)


def has_site(site: str, describe: str) -> Pred:
    """The site is among the documented BME sites."""

    def test(ctx: Ctx) -> bool:
        sites = ctx.features.bme_sites.value
        return sites is not None and site in sites

    return Pred(f"bme_at_{site}", describe, test, ("bme_sites",))


def drafting(kinds: frozenset[str], describe: str) -> Pred:
    """A draft order of one of these kinds is in the hook's context."""

    def test(ctx: Ctx) -> bool:
        return any(order.kinds & kinds for order in ctx.drafts())

    return Pred("drafting_" + "_".join(sorted(kinds)), describe, test, (), kinds)


def ctx_pred(name: str, describe: str, test: Callable[[Ctx], bool], uses: tuple[str, ...] = ()) -> Pred:
    """A condition on the evaluation context itself (earlier stages, hook)."""
    return Pred(name, describe, test, uses)


def _non_vertebral_sites_only(ctx: Ctx) -> bool:
    sites = ctx.features.bme_sites.value
    return sites is not None and bool(sites) and SITE_VERTEBRA not in sites


def _extent_is(extent: str) -> Callable[[Ctx], bool]:
    return lambda ctx: ctx.features.bme_extent.value == extent


# --- Bone marrow edema and its sites ---------------------------------------------------------------------
has_bme = is_true("bme_present", "bone marrow edema is documented")
has_vertebral_bme = has_site(SITE_VERTEBRA, "vertebra is among the BME sites")
has_hip_bme = has_site(SITE_HIP, "the hip / femoral head is among the BME sites")
has_foot_ankle_bme = has_site(SITE_FOOT_ANKLE, "the foot / ankle is among the BME sites")
has_non_vertebral_bme_only = Pred("bme_at_non_vertebral_sites_only",
                                  "BME sites are documented and none is a "
                                  "vertebra", _non_vertebral_sites_only,
                                  ("bme_sites",))
has_extensive_vertebral_bme = Pred("bme_extent_extensive",
                                   "BME extent is documented as the whole vertebral body",
                                   _extent_is(EXTENT_EXTENSIVE), ("bme_extent",))
has_vertebral_fracture = is_true("vertebral_fracture", "a vertebral fracture is documented")
has_vertebral_bme_or_fracture = any_of(has_vertebral_bme, has_vertebral_fracture)
has_bme_or_vertebral_fracture = any_of(has_bme, has_vertebral_fracture)
has_bone_pain = is_true("bone_pain", "bone pain is documented")
bme_suspected = any_of(has_bme, has_bone_pain, has_vertebral_fracture,
                       describe="a BME site is suspected (BME, bone pain or a vertebral fracture is "
                                "documented)")


def _mri_missing_or_older_than_episode(ctx: Ctx) -> bool:
    last = ctx.features.last_mri_date.value
    if last is None:
        # No MRI found: the card asks for one (a suggestion, never a treatment decision).
        return True
    starts = [d for d in (ctx.features.bme_first_seen_date.value, ctx.features.fracture_onset_date.value)
              if d is not None]
    return bool(starts) and last < min(starts)


no_mri_for_this_episode = Pred("no_mri_for_this_episode",
                               "no MRI is on record, or the last MRI predates this episode",
                               _mri_missing_or_older_than_episode,
                               ("last_mri_date", "bme_first_seen_date", "fracture_onset_date"))
mri_contraindicated = is_true("mri_contraindicated", "MRI is documented as contraindicated")
last_mri_older_than_followup = days_since_at_least(
    "last_mri_date", "followup.mri_after_days", "the last MRI is at least {followup.mri_after_days} days old")

# --- Red flags --------------------------------------------------------------------------------------------
has_neuro_deficit = is_true("neuro_deficit", "a neurological deficit is documented")
has_spinal_instability = any_of(
    is_true("spinal_instability", "spinal instability is documented"),
    is_true("retropulsion", "retropulsion of a fragment is documented"))
has_significant_deformity = any_of(
    at_least("kyphosis_pct", "deformity.kyphosis_pct",
             "kyphosis is measured at >= {deformity.kyphosis_pct}%"),
    at_least("height_loss_pct", "deformity.height_loss_pct",
             "vertebral height loss is measured at >= {deformity.height_loss_pct}%"))
has_progressive_neuro_deterioration = is_true("neuro_progressive",
                                              "progressive neurological deterioration is documented")
cord_compression_suspected = is_true("cord_compression_suspected",
                                     "spinal cord compression is suspected (a provisional diagnosis counts)")
red_flag_fired = ctx_pred("red_flag_fired", "a red flag (R06-R10) fired", lambda ctx: ctx.red_flag)
no_red_flag = ctx_pred("no_red_flag", "no red flag (R06-R10) fired", lambda ctx: not ctx.red_flag)

# --- Etiology ---------------------------------------------------------------------------------------------
has_myeloma = is_true("multiple_myeloma", "multiple myeloma is documented")
has_cancer_history = any_of(
    is_true("malignancy_active", "active malignancy"), is_true("malignancy_history", "history of malignancy"))
has_malignancy_warning_sign = any_of(
    has_cancer_history,
    is_true("unexplained_weight_loss", "unexplained weight loss"),
    is_true("fever", "fever"),
    is_true("atypical_pain", "atypical pain (clinician input)"),
    is_true("marrow_replacement", "imaging reports marrow replacement"),
    Pred("multiple_vertebral_fractures", "two or more vertebral fractures",
         lambda ctx: (ctx.features.vertebral_fracture_count.value or 0) >= 2, ("vertebral_fracture_count",)),
    describe="a malignancy warning sign is documented (history of cancer or active cancer, unexplained "
             "weight loss, fever, atypical pain, marrow replacement on imaging, or two or more vertebral "
             "fractures)")
has_cancer_related_fracture_basis = any_of(
    is_true("bone_metastasis", "bone metastasis"),
    is_true("pathologic_fracture_neoplastic", "a neoplastic pathological fracture"),
    is_true("malignancy_active", "active malignancy"),
    describe="bone metastasis, a neoplastic pathological fracture or an active malignancy is documented")
has_diabetes_or_charcot = any_of(is_true("diabetes", "diabetes"),
                                 is_true("charcot", "Charcot neuroarthropathy"),
                                 describe="diabetes or Charcot neuroarthropathy is documented")
foot_infection_suspected = any_of(
    is_true("foot_ulcer_or_cellulitis_or_abscess", "a foot ulcer, cellulitis or abscess"),
    is_true("osteomyelitis", "osteomyelitis"),
    describe="a foot ulcer, cellulitis, abscess or osteomyelitis is documented")
has_osteonecrosis = is_true("osteonecrosis", "osteonecrosis is documented")
has_tbmes = is_true("transient_bme_syndrome", "transient BME syndrome / transient osteoporosis is documented")
has_ischemic_bme = any_of(
    has_osteonecrosis,
    is_true("ischemic_bme", "the report describes ischaemic BME"),
    is_true("on_features", "the report describes osteonecrosis features (rim, double line, crescent)"),
    describe="osteonecrosis or ischaemic BME is documented (diagnosis, or rim/double-line/crescent features)")
no_rim_sign = is_false("on_features", "the report positively states no rim / osteonecrosis features")
has_ra = is_true("rheumatoid_arthritis", "rheumatoid arthritis is documented")
has_axspa = is_true("axspa", "axial spondyloarthritis / ankylosing spondylitis is documented")
has_cno = is_true("cno_sapho", "chronic non-bacterial osteitis (CNO/SAPHO) is documented")
has_inflammatory_dx = is_true("inflammatory_dx",
                              "an inflammatory diagnosis is documented (RA, axSpA, psoriatic arthritis or "
                              "CNO)")
has_bone_loss = any_of(is_true("osteoporosis", "osteoporosis"),
                       is_true("vitamin_d_deficiency", "vitamin D deficiency"),
                       describe="osteoporosis or vitamin D deficiency is documented")
has_treatment_cause = any_of(
    is_true("systemic_glucocorticoid_active", "an active systemic glucocorticoid"),
    is_true("long_term_glucocorticoid_coded", "long-term systemic steroid use is coded (Z79.52)"),
    is_true("treatment_induced_cause",
            "cyclosporin, cytostatics, or recent radiotherapy or surgery at the site"),
    describe="a possible causative therapy is documented (systemic glucocorticoid, cyclosporin, cytostatics, "
             "recent radiotherapy or surgery)")
ramris_above_2 = Pred("ramris_bme_score_above_2", "the RAMRIS BME score is above 2",
                      lambda ctx: (ctx.features.ramris_bme_score.value or 0.0) > RAMRIS_PROGRESSION_SCORE,
                      ("ramris_bme_score",))
no_active_dmard = is_false("dmard_active", "no active DMARD is on record (medications were available)")

ETIOLOGY_FLAGS: tuple[str, ...] = (
    "malignancy_active", "malignancy_history", "bone_metastasis", "multiple_myeloma", "osteoporosis",
    "vitamin_d_deficiency", "transient_bme_syndrome", "osteonecrosis", "rheumatoid_arthritis", "axspa",
    "psoriatic_arthritis", "cno_sapho", "charcot", "osteomyelitis", "vertebral_fracture",
    "pathologic_fracture_neoplastic", "systemic_glucocorticoid_active", "treatment_induced_cause",
    "ischemic_bme", "long_term_glucocorticoid_coded", "on_features", "marrow_replacement", "osteoarthritis",
    "crps", "cause_in_report",
)


def _no_etiology_flag(ctx: Ctx) -> bool:
    features = ctx.features
    for name in ETIOLOGY_FLAGS:  # a loop, not any() over a generator: this runs on most requests
        if getattr(features, name).value is True:
            return False
    return True


no_known_cause = Pred("no_known_cause",
                      "no cause of BME is documented (no vertebral or pathological fracture, osteoarthritis, CRPS, "
                      "transient BME syndrome, osteonecrosis or ischaemic BME, malignancy, myeloma or bone "
                      "metastasis, marrow replacement, inflammatory arthritis or CNO, Charcot or osteomyelitis, "
                      "osteoporosis or vitamin D deficiency, glucocorticoid or other causative treatment, and no "
                      "cause named in the imaging report)",
                      _no_etiology_flag, ETIOLOGY_FLAGS)

# --- Treatment state --------------------------------------------------------------------------------------
on_nsaid = is_true("nsaid_active", "an NSAID is active")
not_on_nsaid = not_documented("nsaid_active", "no active NSAID is on record")
on_second_line = any_of(is_true("iv_bisphosphonate_active", "an IV bisphosphonate is active"),
                        is_true("tnfi_active", "a TNF-alpha inhibitor is active"),
                        describe="a second-line agent (IV bisphosphonate or TNF-alpha inhibitor) is active")
on_iv_bisphosphonate = is_true("iv_bisphosphonate_active", "an IV bisphosphonate is active")
nsaid_course_completed = at_least("nsaid_course_days", "nsaid.trial_min_days",
                                  "a finished NSAID course (completed, or stopped after use) lasted >= "
                                  "{nsaid.trial_min_days} days")
nsaid_trial_long_enough = any_of(
    at_least("nsaid_days", "nsaid.trial_min_days", "the NSAID has run for >= {nsaid.trial_min_days} days"),
    nsaid_course_completed,
    describe="an NSAID trial of >= {nsaid.trial_min_days} days is documented (running, or a finished course)")
first_line_nsaid_not_tried = all_of(
    not_on_nsaid,
    not_(nsaid_course_completed, "no finished NSAID course of >= {nsaid.trial_min_days} days is on record"),
    describe="no NSAID is active and no finished NSAID course of >= {nsaid.trial_min_days} days is on record "
             "(the first-line trial has not been tried)")
nsaid_response_insufficient = is_true("nsaid_response_insufficient",
                                      "the NSAID response is documented as insufficient")
first_line_course_documented = any_of(
    nsaid_trial_long_enough, nsaid_response_insufficient,
    is_true("iv_bisphosphonate_given", "an IV bisphosphonate was given"),
    describe="a first-line course is documented (an NSAID running or finished after >= {nsaid.trial_min_days} "
             "days, an insufficient NSAID response, or an IV bisphosphonate given)")
pain_persisting_refractory = at_least("pain_persistent_days", "refractory.after_days",
                                      "pain has persisted >= {refractory.after_days} days")
is_refractory = all_of(
    has_bme, pain_persisting_refractory, first_line_course_documented,
    describe="BME is refractory (BME documented, pain persisting >= {refractory.after_days} days despite a "
             "documented first-line course)")
denosumab_not_given = not_documented("denosumab_given", "no denosumab on record")
iloprost_not_given = not_documented("iloprost_given", "no iloprost on record")
calcitonin_not_active = not_documented("calcitonin_active", "no active calcitonin")
augmentation_not_done = not_documented("augmentation_done", "no vertebral augmentation on record")
recent_vertebral_fracture = days_since_at_most("fracture_onset_date", "calcitonin.max_days",
                                               "the vertebral fracture began <= {calcitonin.max_days} days "
                                               "ago")
pain_severe = is_true("pain_severe", "pain is severe (latest NRS >= {pain.severe_nrs})")
not_on_opioid = not_documented("opioid_active", "no active opioid is on record")
on_analgesic = any_of(on_nsaid, is_true("opioid_active", "an opioid is active"),
                      Pred("nsaid_days_known", "an NSAID course is on record",
                           lambda ctx: (ctx.features.nsaid_days.value or 0) > 0, ("nsaid_days",)),
                      describe="an analgesic is or was on record (NSAID or opioid)")
needs_parenteral_opioid_or_admission = all_of(
    policy_flag("augmentation.early_if_parenteral_or_admitted",
                "policy augmentation.early_if_parenteral_or_admitted is on"),
    any_of(is_true("parenteral_opioid", "a parenteral opioid is on record"),
           is_true("hospitalized_for_pain", "an admission or emergency visit for the pain is on record")),
    describe="severe pain needs parenteral opioids or admission (policy augmentation.early_if_parenteral_or_"
             "admitted is on)")
severe_pain_past_consider_window = all_of(
    pain_severe,
    at_least("pain_persistent_days", "augmentation.consider_after_days",
             "pain has persisted >= {augmentation.consider_after_days} days"),
    on_analgesic)
pain_past_offer_window = at_least("pain_persistent_days", "augmentation.offer_after_days",
                                  "pain has persisted >= {augmentation.offer_after_days} days")
opioid_past_short_course = above("opioid_days", "opioid.max_short_course_days",
                                 "an opioid has run > {opioid.max_short_course_days} days")
on_opioid_past_short_course = all_of(is_true("opioid_active", "an opioid is active"),
                                     opioid_past_short_course)
older_adult = at_least("age_years", "age.older_adult_years",
                       "the patient is >= {age.older_adult_years} years old")
long_term_glucocorticoid = any_of(
    all_of(is_true("systemic_glucocorticoid_active", "a systemic glucocorticoid is active"),
           at_least("glucocorticoid_days", "glucocorticoid.long_term_days",
                    "it has run >= {glucocorticoid.long_term_days} days")),
    is_true("long_term_glucocorticoid_coded", "long-term glucocorticoid use is coded (Z79.52)"),
    describe="long-term systemic glucocorticoid use is documented (active >= {glucocorticoid.long_term_days} "
             "days, or coded Z79.52)")
bed_rest_on_record = is_true("bed_rest_ordered", "a bed-rest order is on record")
spinal_instability_documented = has_spinal_instability
pain_still_present = at_least("pain_nrs_latest", "pain.persistent_nrs",
                              "the latest pain NRS is >= {pain.persistent_nrs}")
new_symptoms_or_complication = is_true("new_symptoms_or_complication",
                                       "new symptoms or a suspected complication are documented")
nsaid_started = Pred("nsaid_start_known", "an active NSAID with a known start date",
                     lambda ctx: ctx.features.nsaid_active.value is True
                     and ctx.features.nsaid_start_date.value is not None,
                     ("nsaid_active", "nsaid_start_date"))

# --- Draft orders (order-select / order-sign) -------------------------------------------------------------
drafting_nsaid = drafting(frozenset({NSAID, INDOMETHACIN}), "an NSAID is being ordered")
drafting_opioid = drafting(frozenset({OPIOID}), "an opioid is being ordered")
drafting_glucocorticoid = drafting(frozenset({SYSTEMIC_GLUCOCORTICOID, DEXAMETHASONE}),
                                   "a systemic glucocorticoid is being ordered")
drafting_tnfi = drafting(frozenset({TNFI}), "a TNF-alpha inhibitor is being ordered")
drafting_bed_rest = drafting(frozenset({BED_REST}), "a bed-rest / strict immobilisation order is being "
                                                          "placed")

# --- Policy switches --------------------------------------------------------------------------------------
bp_first_policy_on = policy_flag("pathway.extensive_bme_bisphosphonate_first",
                                 "policy pathway.extensive_bme_bisphosphonate_first is on")
bp_first_inflammatory_ok = any_of(
    policy_flag_off("pathway.extensive_bme_bp_first_requires_inflammatory_dx",
                    "policy pathway.extensive_bme_bp_first_requires_inflammatory_dx is off"),
    has_inflammatory_dx,
    describe="an inflammatory diagnosis is documented, or policy pathway.extensive_bme_bp_first_requires_"
             "inflammatory_dx is off")
extensive_bme_bp_first = all_of(
    has_vertebral_bme, has_extensive_vertebral_bme, bp_first_policy_on, bp_first_inflammatory_ok,
    describe="the whole-vertebral-body pathway applies (vertebral BME documented as the whole vertebral "
             "body, policy pathway.extensive_bme_bisphosphonate_first on, and the inflammatory-diagnosis "
             "condition met)")
vertebral_nsaid_first = all_of(
    has_vertebral_bme,
    not_(extensive_bme_bp_first, "the whole-vertebral-body pathway (R21) does not apply (extent limited or "
                                 "undocumented, or R21 switched off by policy)"),
    describe="vertebral BME where the whole-vertebral-body pathway (R21) does not apply")
tnfi_allowed = any_of(
    policy_flag_off("tnfi.require_inflammatory_dx", "policy tnfi.require_inflammatory_dx is off"),
    has_inflammatory_dx,
    describe="an inflammatory diagnosis is documented, or policy tnfi.require_inflammatory_dx is off")
tnfi_without_inflammatory_dx = all_of(
    policy_flag("tnfi.require_inflammatory_dx", "policy tnfi.require_inflammatory_dx is on"),
    not_documented("inflammatory_dx", "no inflammatory diagnosis is documented"),
    describe="policy tnfi.require_inflammatory_dx is on and no inflammatory diagnosis (RA, axSpA, PsA, CNO) "
             "is documented")
iloprost_in_scope = all_of(
    policy_flag("iloprost.enabled", "policy iloprost.enabled is on"),
    any_of(is_refractory,
           all_of(Pred("iloprost_scope_includes_ischemic", "policy iloprost.scope includes ischaemic BME",
                       lambda ctx: "ischemic" in str(ctx.policy["iloprost.scope"]), keys=("iloprost.scope",),
                       static=True),
                  has_ischemic_bme)),
    describe="policy iloprost.enabled is on, and BME is refractory or (policy iloprost.scope includes "
             "ischaemic BME and ischaemic BME / osteonecrosis is documented)")


def lab_is_current(ctx: Ctx, name: str) -> bool:
    """The lab value is known and dated within labs.max_age_days; an undated value is not current."""
    fact = getattr(ctx.features, name)
    if fact.value is None:
        return False
    dates = [s.date for s in fact.sources if s.date is not None]
    when = fact.as_of or (max(dates) if dates else None)
    return when is not None and (ctx.features.today - when).days <= ctx.policy.int("labs.max_age_days")


denosumab_labs_not_current = Pred(
    "denosumab_labs_not_current",
    "calcium or 25-OH vitamin D is missing or older than {labs.max_age_days} days",
    lambda ctx: not (lab_is_current(ctx, "calcium") and lab_is_current(ctx, "vitd_25oh")),
    ("calcium", "vitd_25oh"))


def _calcium_or_vitd_low(ctx: Ctx) -> bool:
    f = ctx.features
    vitd = f.vitd_25oh.value
    return (f.calcium_low.value is True or f.hypocalcemia.value is True
            or (vitd is not None and float(vitd) < ctx.policy.float("vitd.min_ng_ml")))


calcium_or_vitd_low = Pred(
    "calcium_or_vitd_low", "calcium is low (lab flag or hypocalcaemia diagnosis) or 25-OH vitamin D is below "
    "{vitd.min_ng_ml} ng/mL", _calcium_or_vitd_low, ("calcium", "calcium_low", "hypocalcemia", "vitd_25oh"))


def calcium_flag_note(ctx: Ctx) -> tuple[str, ...]:
    """A note when a calcium value carries no low flag or reference range to judge it by."""
    if ctx.features.calcium.value is not None and ctx.features.calcium_low.value is None:
        return ("The calcium result carries no low flag or reference range: judge it against your "
                "laboratory's range before denosumab.",)
    return ()


followup_mri_indicated = any_of(
    pain_still_present,
    has_hip_bme, has_site(SITE_KNEE, "the knee is among the BME sites"), has_foot_ankle_bme,
    has_tbmes, has_osteonecrosis, is_refractory,
    policy_flag("followup.routine_mri", "policy followup.routine_mri is on"),
    describe="pain persists (latest NRS >= {pain.persistent_nrs}), or BME is at the hip, knee or foot, or "
             "transient BME syndrome, osteonecrosis or refractory BME is documented, or policy "
             "followup.routine_mri is on")


def pathway_open(ctx: Ctx) -> bool:
    """Stage C gate: no red flag and no documented neurological deficit."""
    return not ctx.red_flag and ctx.features.neuro_deficit.value is not True


STAGE_C_GATE = Pred("pathway_open", "no red flag (R06-R10) fired and no neurological deficit is documented",
                    pathway_open, ("neuro_deficit",))
STAGE_D_GATE = no_red_flag
