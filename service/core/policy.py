"""Policy: every threshold and conflict resolution the rules use, with the catalogue's defaults.

Defaults come from clinical-rules.md §4 (conflicts C1-C11 and the remaining configuration) and §5 (safety
thresholds, NOT IN SEEDS). An institution overrides them with a JSON policy file (`BME_POLICY_FILE`), reviewed by
its clinical governance group. Pure module: no flask, no requests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class Setting:
    """One policy key: its default, what it means and where the default comes from."""

    default: bool | int | float | str
    meaning: str
    basis: str  # "C1", "§4 (assumption)", "§5 S01 (NOT IN SEEDS: KDIGO 2012)" ...


SETTINGS: Mapping[str, Setting] = MappingProxyType(
    {
        # C1: NSAIDs first vs IV bisphosphonate first in extensive vertebral BME.
        "pathway.extensive_bme_bisphosphonate_first": Setting(
            True,
            "Extensive (whole-vertebral-body) BME: IV bisphosphonate first, no NSAID trial (R21)",
            "C1, seed 002",
        ),
        "pathway.extensive_bme_bp_first_requires_inflammatory_dx": Setting(
            False, "Limit R21 to patients with an inflammatory diagnosis (pending clinical review)", "C1"
        ),
        # C2: when to augment.
        "augmentation.consider_after_days": Setting(
            21, "Severe pain this long: consider augmentation (R26b)", "C2, seed 002"
        ),
        "augmentation.offer_after_days": Setting(
            90, "Persistent pain this long: offer augmentation (R26c)", "C2, seeds 000/001"
        ),
        "augmentation.early_if_parenteral_or_admitted": Setting(
            True, "Parenteral opioids or admission for pain: augmentation early (R26a)", "C2, seed 001"
        ),
        "pain.severe_nrs": Setting(7, "Pain NRS at or above this is severe", "C2 (assumption, NOT IN SEEDS)"),
        "pain.persistent_nrs": Setting(
            4, "Pain NRS at or above this counts as persisting", "C2 (assumption, NOT IN SEEDS)"
        ),
        # C3: how long conservative care lasts.
        "nsaid.trial_min_days": Setting(14, "NSAID response is judged from this day (R24)", "C3, seed 002"),
        "nsaid.trial_max_days": Setting(28, "NSAID response is judged up to this day (R24)", "C3, seed 002"),
        "reassess.first_days": Setting(28, "First reassessment after starting (R35)", "C3, seed 002"),
        "conservative.max_days": Setting(
            84, "Conservative window before 'conservative failure' (R26c, R29)", "C3, seed 001"
        ),
        # C4: follow-up imaging.
        "followup.mri_after_days": Setting(90, "Follow-up MRI after this many days (R36)", "C4, seed 000"),
        "followup.routine_mri": Setting(
            False, "Suggest follow-up MRI routinely, also for improving vertebral fractures", "C4"
        ),
        # C5: iloprost.
        "iloprost.enabled": Setting(True, "Offer iloprost (R30)", "C5"),
        "iloprost.scope": Setting("refractory_or_ischemic", "Where iloprost is offered", "C5"),
        # C7: glucocorticoids.
        "glucocorticoid.long_term_days": Setting(
            90, "Systemic glucocorticoid this long is long-term (R34)", "C7 (assumption, NOT IN SEEDS)"
        ),
        # C8: second-line choice.
        "tnfi.require_inflammatory_dx": Setting(
            True, "Offer TNF-alpha inhibitors only with an inflammatory diagnosis", "C8 (gate NOT IN SEEDS)"
        ),
        # C9: which bisphosphonate.
        "bp.default_agent": Setting(
            "pamidronate", "Default IV bisphosphonate (pamidronate | zoledronic_acid)", "C9, seed 002"
        ),
        # C11: deformity thresholds.
        "deformity.kyphosis_pct": Setting(
            15.0, "Kyphosis at or above this % is a red flag (R08)", "C11, seed 002"
        ),
        "deformity.height_loss_pct": Setting(
            20.0, "Vertebral height loss at or above this % is a red flag (R08)", "C11, seed 002"
        ),
        # §4 remaining configuration (all NOT IN SEEDS, assumptions for the governance group to replace).
        "labs.max_age_days": Setting(90, "A lab older than this is stale", "§4 (assumption, NOT IN SEEDS)"),
        "vitd.min_ng_ml": Setting(
            20.0, "25-OH vitamin D below this (ng/mL) is low (R29)", "§4 (assumption, NOT IN SEEDS)"
        ),
        "opioid.max_short_course_days": Setting(
            14, "Opioid longer than this is not a short course (R33)", "§4 (assumption, NOT IN SEEDS)"
        ),
        "refractory.after_days": Setting(
            90,
            "BME or pain persisting this long despite first line is refractory (R29)",
            "§4 (assumption, NOT IN SEEDS)",
        ),
        "nsaid.min_pain_reduction_pct": Setting(
            30.0,
            "NSAID response is insufficient below this pain reduction (R24)",
            "§4 (assumption, NOT IN SEEDS)",
        ),
        # §5 safety thresholds (NOT IN SEEDS; sources cited in clinical-rules.md §5).
        "egfr.nsaid_avoid_below": Setting(
            30.0, "NSAID: eGFR below this -> avoid (S01 critical)", "§5 S01 (KDIGO 2012)"
        ),
        "egfr.nsaid_caution_below": Setting(
            60.0, "NSAID: eGFR below this -> caution (S01 warning)", "§5 S01 (KDIGO 2012)"
        ),
        "egfr.zoledronic_avoid_below": Setting(
            35.0, "Zoledronic acid: eGFR/CrCl below this -> contraindicated (S08)", "§5 S08 (MHRA; FDA label)"
        ),
        "egfr.pamidronate_caution_below": Setting(
            30.0, "Pamidronate: eGFR below this -> avoid unless benefit (S08)", "§5 S08"
        ),
        "egfr.denosumab_caution_below": Setting(
            30.0,
            "Denosumab: eGFR below this -> severe hypocalcaemia risk (S11)",
            "§5 S11 (FDA boxed warning)",
        ),
        "pregnancy.nsaid_avoid_weeks": Setting(
            20, "NSAID from this gestational week -> avoid (S05 warning)", "§5 S05 (FDA DSC 2020)"
        ),
        "pregnancy.nsaid_contraindicated_weeks": Setting(
            30, "NSAID from this gestational week -> critical (S05)", "§5 S05 (FDA DSC 2020)"
        ),
        "age.older_adult_years": Setting(65, "Older adult (S02 risk, S07 indomethacin, R33)", "§5 S02/S07"),
        # A clinical decision, not a published threshold: governance must confirm it (issue 12).
        "nsaid.stacked_risks_avoid": Setting(
            2,
            "NSAID: this many stacked risks (S01-S06 concerns; age at or above age.older_adult_years counts with "
            "another) -> NSAID avoided, not offered, critical on order-sign",
            "Policy default, governance to confirm (§5 S02: age, anticoagulant and glucocorticoid add risk)",
        ),
        "cabg.recent_days": Setting(
            14,
            "NSAID within this many days after CABG is contraindicated (S04)",
            "§5 S04 (FDA NSAID boxed warning)",
        ),
        "calcitonin.max_days": Setting(
            28, "Calcitonin only within this many days of an acute fracture (R23)", "seed 002"
        ),
    }
)


class PolicyError(ValueError):
    """An institution policy file is unreadable or names an unknown key or a wrong type."""


@dataclass(frozen=True)
class Policy:
    """The effective policy: catalogue defaults overlaid with an institution's overrides."""

    values: Mapping[str, Any]
    overridden: frozenset[str] = frozenset()

    def __getitem__(self, key: str) -> Any:
        """The value of one policy key; KeyError names an unknown key."""
        return self.values[key]

    def int(self, key: str) -> int:
        """An integer policy value."""
        return int(self.values[key])

    def float(self, key: str) -> float:
        """A numeric policy value."""
        return float(self.values[key])

    def flag(self, key: str) -> bool:
        """A boolean policy value."""
        return bool(self.values[key])


DEFAULT_POLICY = Policy(MappingProxyType({k: s.default for k, s in SETTINGS.items()}))


def policy_from_mapping(overrides: Mapping[str, Any]) -> Policy:
    """Overlay overrides on the defaults; unknown keys and wrong types raise PolicyError."""
    values = dict(DEFAULT_POLICY.values)
    for key, value in overrides.items():
        if key not in SETTINGS:
            raise PolicyError(f"unknown policy key {key!r}; known keys: {', '.join(sorted(SETTINGS))}")
        default = SETTINGS[key].default
        # bool is a subclass of int: compare exact types, but let an int stand for a float threshold.
        ok = type(value) is type(default) or (type(default) is float and type(value) is int)
        if not ok:
            raise PolicyError(f"policy key {key!r} must be {type(default).__name__}, got {value!r}")
        values[key] = float(value) if type(default) is float else value
    if values["bp.default_agent"] not in ("pamidronate", "zoledronic_acid"):
        raise PolicyError("policy key 'bp.default_agent' must be 'pamidronate' or 'zoledronic_acid'")
    return Policy(MappingProxyType(values), frozenset(overrides))


def load_policy(path: Path | None) -> Policy:
    """Read an institution policy file (JSON object of key -> value); None gives the defaults."""
    if path is None:
        return DEFAULT_POLICY
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise PolicyError(f"policy file {path} must hold a JSON object")
    return policy_from_mapping(data)
