"""Prefetch templates shared by the three BME services (CDS Hooks 2.0 query subset only)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from service.cds.registry import OnUnavailable
from service.cds.registry import PrefetchKey
from service.core.features.codes import LOCAL_SYSTEM
from service.core.features.codes import OBSERVATION_SETS
from service.core.valuesets import ValueSetIndex
from valuesets import DIRECTORY


def observation_codes(directory: Path = DIRECTORY) -> str:
    """The Observation code list of the prefetch query: every code of the value sets the features read.

    `OBSERVATION_SETS` (features/codes.py) says which value sets an Observation is read by; their members, in
    file order, become `system|code` tokens (CDS Hooks 2.0 prefetch: a FHIR token list), plus the project-local
    system (codes.md A1) for findings no standard code covers. Filtering by code keeps prefetch small and
    free of unrelated PHI, and an eGFR or calcium variant added to a value set is asked for without a second
    list to keep in step.
    """
    resources = {
        name: json.loads((directory / f"{name}.json").read_text(encoding="utf-8")) for name in OBSERVATION_SETS
    }
    index = ValueSetIndex.from_resources(resources)
    tokens = dict.fromkeys(f"{c.system}|{c.code}" for name in OBSERVATION_SETS for c in index.concepts(name))
    return ",".join([*tokens, f"{LOCAL_SYSTEM}|"])


OBSERVATION_CODES = observation_codes()

PATIENT = "{{context.patientId}}"

PREFETCH: Mapping[str, PrefetchKey] = MappingProxyType(
    {
        "patient": PrefetchKey(f"Patient/{PATIENT}", OnUnavailable.FAIL, ("patient/Patient.read",)),
        "conditions": PrefetchKey(
            f"Condition?patient={PATIENT}", OnUnavailable.FAIL, ("patient/Condition.read",)
        ),
        "observations": PrefetchKey(
            f"Observation?patient={PATIENT}&code={OBSERVATION_CODES}",
            OnUnavailable.FAIL,
            ("patient/Observation.read",),
        ),
        "reports": PrefetchKey(
            f"DiagnosticReport?patient={PATIENT}", OnUnavailable.FAIL, ("patient/DiagnosticReport.read",)
        ),
        "medications": PrefetchKey(
            f"MedicationRequest?patient={PATIENT}",
            OnUnavailable.FAIL,
            ("patient/MedicationRequest.read", "patient/Medication.read"),
        ),
        # Imaging reports as documents (Oracle Health has no ImagingStudy); optional: without it, unknown stays unknown.
        "documents": PrefetchKey(
            f"DocumentReference?patient={PATIENT}", OnUnavailable.OMIT, ("patient/DocumentReference.read",)
        ),
        "imaging": PrefetchKey(
            f"ImagingStudy?patient={PATIENT}", OnUnavailable.OMIT, ("patient/ImagingStudy.read",)
        ),
        "procedures": PrefetchKey(
            f"Procedure?patient={PATIENT}", OnUnavailable.OMIT, ("patient/Procedure.read",)
        ),
        "encounters": PrefetchKey(
            f"Encounter?patient={PATIENT}&class=IMP,EMER", OnUnavailable.OMIT, ("patient/Encounter.read",)
        ),
    }
)

USAGE = (
    "Send the prefetch keys patient, conditions, observations, reports and medications, or a fhirServer with "
    "fhirAuthorization granting read access to them; without either the service answers 412. documents, "
    "imaging, procedures and encounters are optional: without them the features they feed are reported as "
    "unknown. Calls must carry a JWT signed by a trusted CDS client (CDS Hooks 2.0, Trusting CDS Clients). "
    "Decision support only."
)
