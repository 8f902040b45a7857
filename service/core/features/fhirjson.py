"""Small, junk-tolerant accessors for FHIR R4 JSON: a wrong shape gives an empty value, never an error."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

DISPLAY_CHARS = 80  # Source.display length cap
DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def as_list(value: Any) -> list[Any]:
    """A FHIR repeating element as a list: tolerates a single object where an array belongs, and None."""
    if isinstance(value, list):
        return value
    if value is None:
        return []
    return [value]


def dicts(value: Any) -> list[dict[str, Any]]:
    """The dict items of a repeating element; strings and other junk are dropped."""
    return [v for v in as_list(value) if isinstance(v, dict)]


def string(value: Any) -> str:
    """A string value, or '' for anything else."""
    return value if isinstance(value, str) else ""


def codings_of(concept: Any) -> list[dict[str, Any]]:
    """The codings of a CodeableConcept (or of a bare Coding / list of Codings)."""
    if isinstance(concept, dict):  # fast path: a well-formed CodeableConcept
        coding = concept.get("coding")
        if isinstance(coding, list):
            return [c for c in coding if isinstance(c, dict)]
    out: list[dict[str, Any]] = []
    for c in dicts(concept):
        if "coding" in c:
            out.extend(dicts(c.get("coding")))
        elif "code" in c or "system" in c:
            out.append(c)
    return out


def concept_text(concept: Any) -> str:
    """CodeableConcept.text, else the first coding display, else the first code ('' if none)."""
    for c in dicts(concept):
        text = string(c.get("text")).strip()
        if text:
            return text
    for coding in codings_of(concept):
        for key in ("display", "code"):
            text = string(coding.get(key)).strip()
            if text:
                return text
    return ""


def all_text(concept: Any) -> str:
    """Every text and display in a CodeableConcept, joined; for name and keyword matching."""
    if concept is None:
        return ""  # fast path: an absent element (most bodySites and dosage routes)
    if isinstance(concept, dict) and isinstance(concept.get("coding"), list):
        # Fast path: a well-formed CodeableConcept; the same parts, in the same order, as below.
        text = concept.get("text")
        parts = [text] if isinstance(text, str) and text else []
        for coding in concept["coding"]:
            if isinstance(coding, dict):
                display = coding.get("display")
                if isinstance(display, str) and display:
                    parts.append(display)
        return " | ".join(parts)
    parts = []
    for c in dicts(concept):
        parts.append(string(c.get("text")))
    for coding in codings_of(concept):
        parts.append(string(coding.get("display")))
    return " | ".join(p for p in parts if p)


def status_code(concept: Any) -> str:
    """The first code of a status CodeableConcept (clinicalStatus, verificationStatus), lower-cased."""
    if isinstance(concept, str):
        return concept.strip().lower()
    if isinstance(concept, dict):  # fast path: a well-formed status whose first coding has the code
        coding = concept.get("coding")
        if isinstance(coding, list) and coding and isinstance(coding[0], dict):
            code = coding[0].get("code")
            if isinstance(code, str) and code.strip():
                return code.strip().lower()
    for coding in codings_of(concept):
        code = string(coding.get("code")).strip().lower()
        if code:
            return code
    return ""


def parse_date(value: Any) -> date | None:
    """The date part of a FHIR date/dateTime/instant ('2024', '2024-03-05T10:00:00Z'); None if junk."""
    if not isinstance(value, str):
        return None
    if len(value) >= 10 and value[4] == "-" and value[7] == "-":
        try:  # fast path: a full date or dateTime
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    m = DATE.match(value.strip())
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1))
    except ValueError:
        return None


def full_date(value: Any) -> date | None:
    """A complete YYYY-MM-DD date, or None (partial dates are too coarse for an age)."""
    if isinstance(value, str) and len(value.strip()) >= 10:
        return parse_date(value)
    return None


def period_start(value: Any) -> date | None:
    """Period.start (else Period.end) of a dict, or None."""
    if isinstance(value, dict):
        return parse_date(value.get("start")) or parse_date(value.get("end"))
    return None


def period_end(value: Any) -> date | None:
    """Period.end of a dict, or None (an open period has not ended)."""
    if isinstance(value, dict):
        return parse_date(value.get("end"))
    return None


def effective_date(resource: dict[str, Any]) -> date | None:
    """Clinically relevant date of an Observation/DiagnosticReport: effective[x], else issued."""
    return (
        parse_date(resource.get("effectiveDateTime"))
        or period_start(resource.get("effectivePeriod"))
        or parse_date(resource.get("effectiveInstant"))
        or parse_date(resource.get("issued"))
    )


def as_number(value: Any) -> float | None:
    """A JSON number as float; bools, strings and NaN are not numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if f == f else None


def short(text: str) -> str:
    """Text trimmed to DISPLAY_CHARS for a Source.display."""
    text = " ".join(text.split())
    return text if len(text) <= DISPLAY_CHARS else text[: DISPLAY_CHARS - 3].rstrip() + "..."


def ref_of(resource: dict[str, Any]) -> str:
    """'Type/id' for a resource, '' when it has no id."""
    rid = resource.get("id")
    kind = string(resource.get("resourceType"))
    return f"{kind}/{rid}" if isinstance(rid, str) and rid and kind else ""


def ref_id(reference: str) -> str:
    """The id part of a reference: 'Medication/abc', 'urn:uuid:abc', 'http://x/Medication/abc/_history/2'."""
    ref = reference.strip()
    if ref.startswith("urn:uuid:") or ref.startswith("urn:oid:"):
        return ref.rsplit(":", 1)[-1]
    parts = [p for p in ref.split("/") if p]
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return parts[-1] if parts else ""


def unit_key(unit: str) -> str:
    """A unit string in comparison form: lower-case, no spaces, braces, underscores."""
    return unit.lower().replace(" ", "").replace("{", "").replace("}", "").replace("_", "")


# -- the accumulator --


def as_dict(value: Any) -> dict[str, Any]:
    """The value if it is a dict, else an empty dict."""
    return value if isinstance(value, dict) else {}
