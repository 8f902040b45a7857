"""The Patient: who the patient is (reference, age, sex) and pregnancy, from Patient and Conditions."""

from __future__ import annotations

from datetime import date
from typing import Any

from service.core.facts import Fact
from service.core.facts import Source
from service.core.features.fhirjson import full_date
from service.core.features.fhirjson import parse_date
from service.core.features.fhirjson import ref_of
from service.core.features.fhirjson import string
from service.core.features.state import Extraction


def patient(ex: Extraction, r: dict[str, Any]) -> None:
    """The Patient; one with an id wins over a junk one without."""
    # Prefer a Patient with an id: a junk Patient without one must not shadow the real one.
    current = ex.patient
    if current is None or (not isinstance(current.get("id"), str) and isinstance(r.get("id"), str)):
        ex.patient = r


def demographics(ex: Extraction, patient_id: str | None) -> dict[str, Any]:
    """patient_reference, age_years, sex, pregnancy and gestational age."""
    out: dict[str, Any] = {}
    p = ex.patient
    pid = patient_id or (p.get("id") if p is not None and isinstance(p.get("id"), str) else "")
    out["patient_reference"] = f"Patient/{pid}" if pid else ""
    if p is not None:
        src_ref = ref_of(p)
        birth = string(p.get("birthDate"))
        ages = _age_range(birth, ex.today)
        if ages is not None:
            youngest, oldest = ages
            if youngest == oldest:
                display = f"Born {birth}: {oldest} years"
            else:
                display = f"Born {birth} (partial date): {youngest}-{oldest} years; the older age is used"
            out["age_years"] = Fact(oldest, (Source(src_ref, display),), ex.today)
        gender = string(p.get("gender")).lower()
        if gender in ("male", "female", "other"):
            out["sex"] = Fact(gender, (Source(src_ref, f"Gender: {gender}"),))
    out["pregnant"] = ex.acc.flag("pregnant")
    if ex.gestation is not None:
        weeks, src = ex.gestation
        out["gestational_age_weeks"] = Fact(weeks, (src,), src.date)
    return out


def _age_range(birth: str, today: date) -> tuple[int, int] | None:
    """(youngest, oldest) possible age in whole years at `today`; equal for a full birthDate.

    A partial birthDate ("1942", "1942-05", as Epic and Synthea exports send) leaves a one-year range. Every
    rule that reads the age is a caution at or above an age (S02, S07, R33: age.older_adult_years), so the
    older age is the conservative one: a patient who may be 65 gets the older-adult cautions.
    """
    full = full_date(birth)
    if full is not None:
        age = today.year - full.year - ((today.month, today.day) < (full.month, full.day))
        return age, age
    start = parse_date(birth)
    if start is None:
        return None
    month_given = len(birth.strip()) >= 7
    end = date(start.year, start.month, 28) if month_given else date(start.year, 12, 31)
    youngest = today.year - end.year - ((today.month, today.day) < (end.month, end.day))
    oldest = today.year - start.year - ((today.month, today.day) < (start.month, start.day))
    if oldest < 0:
        return None  # born after today: junk
    return max(youngest, 0), oldest
