"""Encounters: admissions and ED visits for pain, and when the episode of conservative care began."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.core import textfind
from service.core.facts import Fact
from service.core.facts import Source
from service.core.features.codes import INPATIENT_CLASSES
from service.core.features.codes import PAIN_REASON
from service.core.features.codes import PAIN_REASON_SETS
from service.core.features.fhirjson import all_text
from service.core.features.fhirjson import dicts
from service.core.features.fhirjson import period_start
from service.core.features.fhirjson import ref_id
from service.core.features.fhirjson import ref_of
from service.core.features.fhirjson import short
from service.core.features.fhirjson import string
from service.core.features.state import FALSE
from service.core.features.state import Extraction
from service.core.features.state import min_date


def encounter(ex: Extraction, r: dict[str, Any]) -> None:
    """An Encounter: inpatient and ED visits, with whether pain was their reason."""
    status = string(r.get("status")).lower()
    if status in ("cancelled", "entered-in-error", "planned"):
        return
    classes = {string(c.get("code")).upper() for c in dicts(r.get("class"))}
    if not classes & INPATIENT_CLASSES:
        ex.encounters.append((r, False, ()))
        return
    names: set[str] = set()
    for reason in dicts(r.get("reasonCode")):
        names |= ex.classify(reason)
    by_reason = bool(names & PAIN_REASON_SETS) or bool(PAIN_REASON.search(textfind.fold(all_text(r.get("reasonCode")))))
    refs = tuple(ref_id(string(x.get("reference"))) for x in dicts(r.get("reasonReference")))
    ex.encounters.append((r, by_reason, refs))


# -- medications (after the pass, so a Medication later in the list still resolves) --


def episode_features(ex: Extraction, so_far: Mapping[str, Any]) -> dict[str, Any]:
    """Hospitalisation for pain and the start of conservative care."""
    out: dict[str, Any] = {}
    episode = min_date(so_far.get("bme_first_seen_date"), so_far.get("fracture_onset_date"))
    hospital: list[Source] = []
    for r, by_reason, refs in ex.encounters:
        qualifies = by_reason or any(ex.conditions_by_id.get(x, frozenset()) & PAIN_REASON_SETS for x in refs)
        if not qualifies:
            continue
        start = period_start(r.get("period"))
        ongoing = string(r.get("status")).lower() in ("in-progress", "arrived", "triaged", "onleave")
        if ongoing or episode is None or start is None or start >= episode:
            hospital.append(Source(ref_of(r), short(f"Admission/ED visit: {all_text(r.get('reasonCode'))}"), start))
    if hospital:
        out["hospitalized_for_pain"] = Fact(True, tuple(hospital))
    elif ex.encounters:
        out["hospitalized_for_pain"] = FALSE
    if episode is not None:
        basis = [
            f
            for f in (so_far.get("bme_first_seen_date"), so_far.get("fracture_onset_date"))
            if isinstance(f, Fact) and f.value == episode
        ]
        out["conservative_start_date"] = Fact(episode, tuple(s for f in basis for s in f.sources), episode)
    elif any(isinstance(f, Fact) and f.true for f in (so_far.get("bme_present"), so_far.get("vertebral_fracture"))):
        # An undated episode: the first analgesic order is the best start we have (§1.7).
        starts = [f.value for f in (so_far.get("nsaid_start_date"),) if isinstance(f, Fact) and f.value]
        if starts:
            out["conservative_start_date"] = Fact(min(starts), (), min(starts))
    return out
