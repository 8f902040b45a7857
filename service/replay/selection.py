"""Which exported resources a patient-view would have received, and when each became known.

The prefetch templates of the patient-view service (hooks/common.py) are the single statement of what the
service reads; this module applies them to exported resources as the EHR's FHIR server would answer them.
"""

from __future__ import annotations

import array
import bisect
import re
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from hooks.patient_view import SERVICE as PATIENT_VIEW

# Search parameters the templates use besides `patient`, and the element each one searches (a Coding, a
# CodeableConcept or a list of them). A template with any other parameter fails at import, so a new template
# is never applied half-way.
_TOKEN_ELEMENTS: Mapping[str, str] = {"code": "code", "class": "class"}

# The element dating each prefetched type, first present wins: when the datum became known (recorded, issued,
# authored) before when it was true clinically, so "known at that date" is what a clinician could have seen.
DATE_ELEMENTS: Mapping[str, tuple[str, ...]] = {
    "Condition": ("recordedDate", "onsetDateTime", "onsetPeriod.start"),
    "Observation": ("issued", "effectiveDateTime", "effectiveInstant", "effectivePeriod.start"),
    "DiagnosticReport": ("issued", "effectiveDateTime", "effectivePeriod.start"),
    "MedicationRequest": ("authoredOn",),
    "DocumentReference": ("date", "context.period.start"),
    "ImagingStudy": ("started",),
    "Procedure": ("performedDateTime", "performedPeriod.start"),
    "Encounter": ("period.start",),
}


@dataclass(frozen=True)
class KeyQuery:
    """One prefetch key as a filter: the resource type it returns and its token constraints."""

    key: str
    resource_type: str
    tokens: tuple[tuple[str, frozenset[tuple[str | None, str | None]]], ...]  # (element, {(system, code)})

    def matches(self, resource: Mapping[str, Any]) -> bool:
        """Would the FHIR server return this resource, known to be of the key's type, for this key's query?"""
        for element, wanted in self.tokens:  # (a loop, not all() over a generator: once per line of the export)
            if not _token_matches(resource.get(element), wanted):
                return False
        return True


def _token_values(value: str) -> frozenset[tuple[str | None, str | None]]:
    """FHIR token search values (`system|code`, `system|`, `code`) as (system, code) pairs; None matches any."""
    out: set[tuple[str | None, str | None]] = set()
    for item in value.split(","):
        if "|" in item:
            system, code = item.split("|", 1)
            out.add((system or None, code or None))
        else:
            out.add((None, item))
    return frozenset(out)


def _codings(value: Any) -> list[Mapping[str, Any]]:
    """Every Coding in a Coding, a CodeableConcept or a list of either."""
    out: list[Mapping[str, Any]] = []  # (a list, not a generator: twice for each Observation kept)
    for item in value if isinstance(value, list) else (value,):
        if not isinstance(item, dict):
            continue
        codings = item.get("coding")
        if isinstance(codings, list):
            out += [c for c in codings if isinstance(c, dict)]
        elif "code" in item:
            out.append(item)
    return out


def _token_matches(value: Any, wanted: frozenset[tuple[str | None, str | None]]) -> bool:
    for coding in _codings(value):
        system, code = coding.get("system"), coding.get("code")
        # Four set lookups instead of a scan of the (thirty-odd) wanted tokens.
        if (system, code) in wanted or (system, None) in wanted or (None, code) in wanted or (None, None) in wanted:
            return True
    return False


def _key_query(key: str, template: str) -> KeyQuery:
    path, _, query = template.partition("?")
    if not query:  # a read: Patient/{{context.patientId}}
        return KeyQuery(key, path.split("/", 1)[0], ())
    tokens = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "patient":
            continue
        if name not in _TOKEN_ELEMENTS:
            raise ValueError(f"replay cannot apply search parameter {name!r} of prefetch key {key!r}")
        tokens.append((_TOKEN_ELEMENTS[name], _token_values(value)))
    return KeyQuery(key, path, tuple(tokens))


KEY_QUERIES: tuple[KeyQuery, ...] = tuple(
    _key_query(key, spec.template) for key, spec in PATIENT_VIEW.prefetch.items()
)
_BY_TYPE: Mapping[str, tuple[KeyQuery, ...]] = {
    kind: tuple(q for q in KEY_QUERIES if q.resource_type == kind) for kind in {q.resource_type for q in KEY_QUERIES}
}
PATIENT_KEY = next(q.key for q in KEY_QUERIES if q.resource_type == "Patient" and not q.tokens)
# Types the replay keeps from the export: what any key returns, plus the Encounters (visit dates).
KEPT_TYPES: frozenset[str] = frozenset({q.resource_type for q in KEY_QUERIES} | {"Encounter"})
# Every function below taking `visits` answers for one of two reads of the export: with visits (--encounters) every
# Encounter is kept, for its visit day; without (--as-of) only what some key returns, as for every other type.


def _prefilter(kind: str, visits: bool) -> frozenset[tuple[bytes, bytes]] | None:
    """("code" or "system", value) pairs of which a line of this type must hold one for some key to return it.

    None when the type has no such filter (a key without tokens, a token matching any coding, the visits).
    """
    queries = _BY_TYPE.get(kind, ())
    if (visits and kind == "Encounter") or not queries or any(not q.tokens for q in queries):
        return None
    needles: set[tuple[bytes, bytes]] = set()
    for query in queries:
        _, wanted = query.tokens[0]  # every token must match: the first one alone is a necessary condition
        for system, code in wanted:
            if code is not None:
                needles.add((b"code", code.encode("utf-8")))
            elif system is not None:  # system| : any code of that system
                needles.add((b"system", system.encode("utf-8")))
            else:
                return None
    return frozenset(needles)


@dataclass(frozen=True)
class _Prefilter:
    """The needles of one type as one pattern, `"code": "value"` or `"system": "value"` for any of them."""

    text: str  # in the syntax Python's re and RE2 read alike (RE2 reading bytes as Latin-1, as pyarrow runs it)
    line: re.Pattern[bytes]

    @classmethod
    def of(cls, needles: frozenset[tuple[bytes, bytes]]) -> _Prefilter:
        """The pattern of a type's needles."""
        text = "|".join(_needle_pattern(element, {v for e, v in needles if e == element})
                        for element in sorted({e for e, _ in needles}))
        return cls(text, re.compile(text.encode("ascii")))


_WHITE = r"[\t\n\x0b\x0c\r ]*"  # \s of a bytes pattern, spelled out: RE2's \s lacks \x0b


def _literal(value: bytes) -> str:
    """A pattern matching exactly these bytes: letters and digits as they are, every other byte as \\xHH."""
    return "".join(chr(b) if chr(b).isascii() and chr(b).isalnum() else f"\\x{b:02x}" for b in value)


def _needle_pattern(element: bytes, values: set[bytes]) -> str:
    """A pattern finding `"element": "value"` for any of the values."""
    alternatives = "|".join(_literal(v) for v in sorted(values))
    return f'"{_literal(element)}"{_WHITE}:{_WHITE}"(?:{alternatives})"'


# Without a backslash in the line no string is escaped, so a coding a key asks for shows in the bytes as written
# here, and neither "code" nor "system" can be hidden inside another string.
_PREFILTERS: Mapping[tuple[str, bool], _Prefilter] = {
    (kind, visits): _Prefilter.of(needles)
    for kind in KEPT_TYPES
    for visits in (False, True)
    if (needles := _prefilter(kind, visits)) is not None
}


def filtered(kind: str, visits: bool) -> bool:
    """Does `may_keep` filter lines of this type (else it keeps them all)?"""
    return (kind, visits) in _PREFILTERS


def may_keep(kind: str, raw: bytes, visits: bool) -> bool:
    """False when no key could return this line of type `kind`, read from its bytes without parsing it.

    Most of an export's Observations carry none of the codes the template asks for: this passes them over
    without parsing (a line with an escape is always parsed).
    """
    prefilter = _PREFILTERS.get((kind, visits))
    if prefilter is None or b"\\" in raw:
        return True
    return prefilter.line.search(raw) is not None


def lines_maybe_kept(kind: str, block: bytes, ends: Sequence[int], visits: bool) -> list[int]:
    """Which lines of a block `may_keep` keeps, by index, for a type it filters; line i ends at ends[i].

    The block is whole lines from its start, each ending with a newline. Its lines are searched at once, as one
    pyarrow array over the block's bytes (not copied), with RE2: 0.9 ns a byte against Python's re's 1.3 (hits
    included), on the type that holds most of an export's bytes. (A line's newline is searched with it: no needle
    can end there.) Backslashes are found by a byte search, faster than by either.
    """
    import pyarrow as pa  # the replay extra (the output writers need it too); imported on the first filtered block
    import pyarrow.compute as pc

    offsets = array.array("q", [0])
    offsets.extend(end + 1 for end in ends)
    lines = pa.Array.from_buffers(pa.large_binary(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(block)])
    found = pc.match_substring_regex(lines, pattern=_PREFILTERS[(kind, visits)].text)
    kept: list[int] = pc.indices_nonzero(found).to_pylist()
    at = block.find(b"\\", 0, ends[-1] if ends else 0)
    if at < 0:
        return kept
    escaped = set(kept)  # a line with an escape (a backslash): may_keep keeps it
    while at >= 0:
        line = bisect.bisect_left(ends, at)
        escaped.add(line)
        at = block.find(b"\\", ends[line] + 1, ends[-1])
    return sorted(escaped)


# Per type, the keys returning every resource of it, and the keys filtering it by tokens.
_UNFILTERED_KEYS: Mapping[str, tuple[str, ...]] = {
    kind: tuple(q.key for q in queries if not q.tokens) for kind, queries in _BY_TYPE.items()
}
_FILTERING: Mapping[str, tuple[KeyQuery, ...]] = {
    kind: filtering for kind, queries in _BY_TYPE.items() if (filtering := tuple(q for q in queries if q.tokens))
}


def prefetch_keys(resource: Mapping[str, Any]) -> tuple[str, ...]:
    """The prefetch keys whose search returns the resource, in template order; () when none does.

    Matched once per resource, where the replay decides to keep it (`kept`): the prefetch reuses the answer.
    """
    kind = str(resource.get("resourceType"))
    if kind not in _FILTERING:  # most types: no key filters them (a constant, no matching)
        return _UNFILTERED_KEYS.get(kind, ())
    return tuple(q.key for q in _BY_TYPE[kind] if not q.tokens or q.matches(resource))


def kept(kind: str, keys: tuple[str, ...], visits: bool) -> bool:
    """Keep a resource of this type that these prefetch keys return: some key does, or it is an Encounter read for
    its visit day."""
    return bool(keys) or (visits and kind == "Encounter")


_DATE_PATHS: Mapping[str, tuple[tuple[str, ...], ...]] = {
    kind: tuple(tuple(dotted.split(".")) for dotted in elements) for kind, elements in DATE_ELEMENTS.items()
}


def known_date(resource: Mapping[str, Any]) -> str | None:
    """The date (YYYY-MM-DD, as written) the resource became known; None when undated (then always known)."""
    for path in _DATE_PATHS.get(str(resource.get("resourceType")), ()):
        value: Any = resource
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and len(value) >= 4:
            return value[:10]
    return None


# A kept resource with what the replay reads of it once, not at every evaluation: its prefetch keys and known date.
Selected = tuple[Mapping[str, Any], tuple[str, ...], str | None]


def select(resources: Iterable[Mapping[str, Any]]) -> list[Selected]:
    """Kept resources as `prefetch` reads them (the benchmark's floor builds its requests so)."""
    return [(r, prefetch_keys(r), known_date(r)) for r in resources]


def prefetch(selected: Iterable[Selected], day: str) -> dict[str, Any]:
    """The patient-view prefetch on `day` (YYYY-MM-DD): each resource known by then under each of its keys.

    Known by `day`: undated, or dated on or before it; a partial date (YYYY, YYYY-MM) counts from its start. The
    Patient is under its key, every other key a searchset Bundle (maybe empty).
    """
    bundles: dict[str, list[Mapping[str, Any]]] = {q.key: [] for q in KEY_QUERIES if q.key != PATIENT_KEY}
    out: dict[str, Any] = {}
    for resource, keys, dated in selected:
        if dated is not None and dated > day:
            continue
        for key in keys:
            if key == PATIENT_KEY:
                out[PATIENT_KEY] = resource
            else:
                bundles[key].append(resource)
    for key, items in bundles.items():
        out[key] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(items),
            "entry": [{"resource": r} for r in items],
        }
    return out


def patient_reference(resource: Mapping[str, Any]) -> str | None:
    """The id of the Patient the resource is about (subject or patient reference), None when it names none."""
    for element in ("subject", "patient"):
        ref = resource.get(element)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            return reference_patient(ref["reference"])
    return None


def reference_patient(reference: str) -> str | None:
    """The Patient id a reference names (`Patient/x`, `https://.../Patient/x/_history/2`), None for any other."""
    if reference.startswith("Patient/") and len(reference) > 8 and reference.find("/", 8) < 0:
        return reference[8:]  # the common form, without splitting (once per kept line in each pass)
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
        return parts[-1]
    return None
