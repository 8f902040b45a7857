"""Request generators: patient-view requests built from the Synthea records in tests/data/synthea.

Resources are copied from the five Synthea patients, re-identified and re-pointed at one patient, so a
prefetch of any size (10 ... 5,000 resources) has realistic content. A hand-made MRI report with bone marrow
edema is always included so the rules have something to fire on.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SYNTHEA_DIR = REPO / "tests" / "data" / "synthea"
# The patient every generated request is about (osteoporosis, wrist fracture, eGFR, alendronate).
TARGET_PATIENT_FILE = "Twyla_Moen_a3f60302-e902-468f-a683-6373d24fc4fd.json"
SERVICE_ID = "bme-patient-view"
# Fixed clock for the in-process runs; the MRI report is dated a week before it.
BENCH_NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)

# Used when hooks/common.py cannot be imported (the harness still reports what it can).
_FALLBACK_KEY_TYPES: Mapping[str, str] = {
    "conditions": "Condition",
    "observations": "Observation",
    "reports": "DiagnosticReport",
    "medications": "MedicationRequest",
    "imaging": "ImagingStudy",
    "procedures": "Procedure",
    "encounters": "Encounter",
}


def _key_types() -> Mapping[str, str]:
    """Search prefetch key -> the resource type it returns, from the services' own templates."""
    try:
        from hooks.common import PREFETCH
    except Exception:  # a broken hooks module must not stop the harness from reporting
        return _FALLBACK_KEY_TYPES
    return {key: spec.template.partition("?")[0] for key, spec in PREFETCH.items() if "?" in spec.template}


# Prefetch key -> the resource type its search returns ("patient" is a read).
KEY_TYPES: Mapping[str, str] = _key_types()
TYPE_KEYS: Mapping[str, str] = {kind: key for key, kind in KEY_TYPES.items()}
_URN = re.compile(r'"urn:uuid:([0-9a-fA-F-]{36})"')
LOINC = "http://loinc.org"
MR_LUMBAR_SPINE = "24968-0"  # LOINC "MR Lumbar spine" (valuesets/imaging-mri.json)


@dataclass(frozen=True)
class Patient:
    """One Synthea patient: its Patient resource and its other resources by prefetch key."""

    patient: dict[str, Any]
    by_key: Mapping[str, list[dict[str, Any]]]

    @property
    def id(self) -> str:
        """The Patient id."""
        return str(self.patient["id"])

    def count(self) -> int:
        """Resources in the prefetch (Patient included)."""
        return 1 + sum(len(v) for v in self.by_key.values())


def _resolve_urns(bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The bundle's resources with urn:uuid references rewritten to Type/id, as a FHIR server returns them."""
    types = {}
    for entry in bundle["entry"]:
        full_url = str(entry.get("fullUrl", ""))
        if full_url.startswith("urn:uuid:"):
            types[full_url.removeprefix("urn:uuid:")] = entry["resource"]["resourceType"]
    text = json.dumps([e["resource"] for e in bundle["entry"]])
    text = _URN.sub(lambda m: f'"{types.get(m.group(1), "Resource")}/{m.group(1)}"', text)
    resources: list[dict[str, Any]] = json.loads(text)
    return resources


def load_patient(path: Path) -> Patient:
    """A Synthea transaction Bundle as an EHR would prefetch it for that patient (unfiltered searches)."""
    resources = _resolve_urns(json.loads(path.read_text(encoding="utf-8")))
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    by_key: dict[str, list[dict[str, Any]]] = {key: [] for key in KEY_TYPES}
    for resource in resources:
        key = TYPE_KEYS.get(resource["resourceType"])
        if key is not None:
            by_key[key].append(resource)
    return Patient(patient=patient, by_key=by_key)


def synthea_files() -> list[Path]:
    """The Synthea records in tests/data/synthea, in name order."""
    files = sorted(SYNTHEA_DIR.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no Synthea records in {SYNTHEA_DIR}")
    return files


def mri_report(patient_id: str, when: date) -> dict[str, Any]:
    """A hand-made MRI lumbar spine report with extensive vertebral bone marrow edema (rules fire on it)."""
    return {
        "resourceType": "DiagnosticReport",
        "id": "bench-mri-l2-bme",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]}],
        "code": {
            "coding": [{"system": LOINC, "code": MR_LUMBAR_SPINE, "display": "MR Lumbar spine"}],
            "text": "MRI lumbar spine",
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": when.isoformat(),
        "issued": f"{when.isoformat()}T12:00:00Z",
        "conclusion": (
            "MRI lumbar spine: bone marrow edema involving the entire L2 vertebral body, with a mild "
            "compression deformity of L2. No retropulsion. No spinal cord compression."
        ),
    }


def _searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(resources)}
    if resources:
        bundle["entry"] = [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in resources]
    return bundle


def prefetch_of(patient: Patient, extra: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Every prefetch key of hooks/common.py filled from the patient (searchset Bundles) plus extras."""
    by_key = {key: list(values) for key, values in patient.by_key.items()}
    for resource in extra:
        by_key[TYPE_KEYS[resource["resourceType"]]].append(resource)
    prefetch: dict[str, Any] = {"patient": patient.patient}
    for key in KEY_TYPES:
        prefetch[key] = _searchset(by_key[key])
    return prefetch


def request_body(
    prefetch: Mapping[str, Any], patient_id: str, hook_instance: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A CDS Hooks 2.0 patient-view request."""
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": hook_instance or str(uuid.uuid4()),
        "context": {"userId": "Practitioner/bench-practitioner", "patientId": patient_id},
    }
    body.update(extra)
    if prefetch:
        body["prefetch"] = dict(prefetch)
    return body


def _token_match(resource: Mapping[str, Any], element: str, tokens: set[str]) -> bool:
    """FHIR token search on a CodeableConcept or Coding element: system|code, system| or a bare code."""
    value = resource.get(element)
    codings = value.get("coding", [value]) if isinstance(value, dict) else []
    for coding in codings:
        if not isinstance(coding, dict):
            continue
        system, code = str(coding.get("system", "")), str(coding.get("code", ""))
        if f"{system}|{code}" in tokens or f"{system}|" in tokens or code in tokens:
            return True
    return False


# Search parameter of a prefetch template -> the element it tests (token searches only; patient is implied).
_TOKEN_PARAMS = {"code": "code", "class": "class"}


def template_filtered(patient: Patient) -> Patient:
    """The patient's resources narrowed by the prefetch templates (code=, class=), as an EHR sends them."""
    from hooks.common import PREFETCH  # the templates the service declares in discovery

    by_key: dict[str, list[dict[str, Any]]] = {}
    for key, resources in patient.by_key.items():
        query = PREFETCH[key].template.partition("?")[2] if key in PREFETCH else ""
        filters = []
        for param in query.split("&"):
            name, _, value = param.partition("=")
            if name in _TOKEN_PARAMS:
                filters.append((_TOKEN_PARAMS[name], set(value.split(","))))
        by_key[key] = [r for r in resources if all(_token_match(r, element, tokens) for element, tokens in filters)]
    return Patient(patient=patient.patient, by_key=by_key)


def real_patient_request(now: datetime = BENCH_NOW) -> dict[str, Any]:
    """The prefetch the services' templates ask for, for one real Synthea patient, plus the MRI report."""
    patient = template_filtered(load_patient(SYNTHEA_DIR / TARGET_PATIENT_FILE))
    report = mri_report(patient.id, (now - timedelta(days=7)).date())
    return request_body(prefetch_of(patient, [report]), patient.id)


class SizedRequests:
    """Patient-view requests whose prefetch holds exactly N resources, copied from all Synthea patients."""

    def __init__(self) -> None:
        self.target = load_patient(SYNTHEA_DIR / TARGET_PATIENT_FILE)
        # Templates: every prefetchable resource of every patient, serialised once with its patient reference
        # pointing at the target, so a copy is a cheap json.loads with a new id.
        pool: list[tuple[str, str]] = []
        for path in synthea_files():
            other = load_patient(path)
            for key in KEY_TYPES:
                for resource in other.by_key[key]:
                    text = json.dumps(resource).replace(f'"Patient/{other.id}"', f'"Patient/{self.target.id}"')
                    pool.append((str(resource["id"]), text))
        self.pool = pool

    def resources(self, n: int, now: datetime = BENCH_NOW) -> list[dict[str, Any]]:
        """n resources: the Patient, the MRI report and n-2 re-identified Synthea copies."""
        if n < 2:
            raise ValueError("a sized request needs at least the Patient and the MRI report")
        out = [mri_report(self.target.id, (now - timedelta(days=7)).date())]
        for i in range(n - 2):
            original_id, text = self.pool[i % len(self.pool)]
            copy_no = i // len(self.pool)
            resource: dict[str, Any] = json.loads(text)
            if copy_no:
                resource["id"] = f"{original_id}-c{copy_no}"
            out.append(resource)
        return out

    def body(self, n: int, now: datetime = BENCH_NOW) -> dict[str, Any]:
        """The request whose prefetch holds n resources (Patient included)."""
        empty = Patient(patient=self.target.patient, by_key={key: [] for key in KEY_TYPES})
        return request_body(prefetch_of(empty, self.resources(n, now)), self.target.id, hook_instance=f"bench-{n}")


def count_resources(body: Mapping[str, Any]) -> int:
    """Resources in a request's prefetch (Bundles unpacked)."""
    total = 0
    for value in (body.get("prefetch") or {}).values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            total += len(value.get("entry") or ())
        elif isinstance(value, dict):
            total += 1
    return total
