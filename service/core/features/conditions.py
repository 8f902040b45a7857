"""Conditions: problem-list flags by value set, with the statuses that count, and what they imply."""

from __future__ import annotations

from typing import Any

from service.core import textfind
from service.core.facts import Fact
from service.core.facts import Source
from service.core.features.codes import ACTIVE_CLINICAL
from service.core.features.codes import ANY
from service.core.features.codes import CONDITION_FEATURES
from service.core.features.codes import EXCLUDED_VERIFICATION
from service.core.features.codes import FLAGS_BY_SET
from service.core.features.codes import FRACTURE_SETS
from service.core.features.codes import NO_SETS
from service.core.features.codes import TENTATIVE_OK
from service.core.features.codes import TENTATIVE_VERIFICATION
from service.core.features.contract import SITE_VERTEBRA
from service.core.features.fhirjson import all_text
from service.core.features.fhirjson import codings_of
from service.core.features.fhirjson import concept_text
from service.core.features.fhirjson import parse_date
from service.core.features.fhirjson import period_start
from service.core.features.fhirjson import ref_of
from service.core.features.fhirjson import short
from service.core.features.fhirjson import status_code
from service.core.features.fhirjson import string
from service.core.features.state import FALSE
from service.core.features.state import UNKNOWN
from service.core.features.state import Extraction
from service.core.valuesets import VS


def condition(ex: Extraction, r: dict[str, Any]) -> None:
    """A Condition: the flags of every value set its code is in, if its statuses let it count."""
    verification = status_code(r.get("verificationStatus"))
    if verification in EXCLUDED_VERIFICATION:
        return
    tentative = verification in TENTATIVE_VERIFICATION
    clinical = status_code(r.get("clinicalStatus"))
    if not clinical:
        # clinicalStatus is required unless entered-in-error; an abatement says it is over.
        has_abatement = any(k.startswith("abatement") for k in r)
        clinical = "inactive" if has_abatement else "active"
    active = clinical in ACTIVE_CLINICAL
    names = ex.classify(r.get("code"))
    rid = r.get("id")
    if isinstance(rid, str) and rid:
        ex.conditions_by_id[rid] = names
    if not names:
        return
    when = parse_date(r.get("onsetDateTime")) or period_start(r.get("onsetPeriod")) or parse_date(r.get("recordedDate"))
    label = concept_text(r.get("code"))
    status_note = "" if active else f" ({clinical})"
    src = Source(ref_of(r), short(f"Condition: {label}{status_note}"), when)
    body_text = all_text(r.get("bodySite"))
    # A pathological fracture of "other site" (M84.48/58/68) is vertebral only with a spine body site.
    if VS.FRACTURE_NEEDS_SPINE_SITE in names and SITE_VERTEBRA in textfind.sites_in(body_text):
        names = names | {VS.VERTEBRAL_FRACTURE}
    for _set, feature, scope in (row for n in sorted(names) for row in FLAGS_BY_SET.get(n, ())):
        if scope == ANY:
            ok = not tentative
        elif scope == TENTATIVE_OK:
            ok = active
        else:
            ok = active and not tentative
        if not ok:
            continue
        if feature == "bme_present":
            ex.acc.yes(
                feature,
                Source(src.reference, src.display, when, via="proxy code (no BME code exists; codes.md A1)"),
            )
            if when is not None:
                ex.bme_dates.append(when)
            for site in textfind.sites_in(body_text):
                ex.sites.setdefault(site, []).append(src)
            continue
        ex.acc.yes(feature, src)
    if active and not tentative:
        if names & FRACTURE_SETS:
            code = next((c.get("code") for c in codings_of(r.get("code")) if isinstance(c.get("code"), str)), "")
            ex.fracture_keys[(str(code).upper().replace(".", ""), body_text.lower())] = src
            if when is not None:
                ex.fracture_dates.append((when, src))
        if VS.GESTATION_WEEKS in names:
            weeks = _gestation_weeks(r.get("code"))
            if weeks is not None and (ex.gestation is None or weeks > ex.gestation[0]):
                ex.gestation = (weeks, src)


def condition_features(ex: Extraction) -> dict[str, Any]:
    """Flags from Condition codes; False only when Conditions were supplied (see CONDITION_ONLY)."""
    out: dict[str, Any] = {}
    # Only features whose value sets are all loaded can be denied.
    deniable = ex.names.condition_only_loaded if "Condition" in ex.acc.seen_types else NO_SETS
    for feature in CONDITION_FEATURES:
        fact = ex.acc.flag(feature)
        out[feature] = FALSE if not fact.known and feature in deniable else fact
    members = [out.get(f, UNKNOWN) for f in ("rheumatoid_arthritis", "axspa", "cno_sapho", "psoriatic_arthritis")]
    if any(m.true for m in members):
        out["inflammatory_dx"] = Fact(True, tuple(s for m in members if m.true for s in m.sources))
    elif all(m.value is False for m in members):
        out["inflammatory_dx"] = FALSE
    if ex.fracture_keys:
        out["vertebral_fracture_count"] = Fact(len(ex.fracture_keys), tuple(ex.fracture_keys.values()))
    elif out.get("vertebral_fracture", UNKNOWN).value is False:
        out["vertebral_fracture_count"] = Fact(0)
    if ex.fracture_dates:
        when, src = max(ex.fracture_dates, key=lambda x: x[0])
        out["fracture_onset_date"] = Fact(when, (src,), when)
    retro = ex.acc.flag("retropulsion")
    out["retropulsion"] = retro
    unstable = ex.acc.flag("spinal_instability")
    if unstable.true or retro.true:
        out["spinal_instability"] = Fact(True, unstable.sources + (retro.sources if retro.true else ()))
    damage = [s for s in ex.acc.true.get("vertebral_fracture", [])] + ex.acc.true.get("ankylosis", [])
    if damage:
        out["accumulated_skeletal_damage"] = Fact(True, tuple(damage))
    mri = ex.acc.flag("mri_contraindicated")
    # clinical-rules §1.2: "Not reliably derivable. Default false; allow an explicit override."
    out["mri_contraindicated"] = mri if mri.known else FALSE
    return out


def _gestation_weeks(concept: Any) -> int | None:
    """Weeks of gestation from an ICD-10-CM Z3A code (Z3A.08-Z3A.42 are exact weeks; Z3A.49 is >42)."""
    for coding in codings_of(concept):
        code = string(coding.get("code")).upper().replace(".", "")
        if code.startswith("Z3A") and len(code) == 5 and code[3:].isdigit():
            weeks = int(code[3:])
            if 8 <= weeks <= 42:
                return weeks
            if weeks == 49:
                return 42  # "greater than 42 weeks": 42 is a safe lower bound for the >=20/>=30 checks
    return None
