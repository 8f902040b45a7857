"""Prefetch templates shared by the three BME services (CDS Hooks 2.0 query subset only)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from service.cds.registry import OnUnavailable
from service.cds.registry import PrefetchKey

# LOINC codes the features read (codes.md B): eGFR, creatinine, calcium (total and ionized), albumin,
# 25-OH vitamin D, pain scores, body weight and temperature; plus the project-local codes (codes.md A1)
# for findings no standard code covers. Filtering by code keeps prefetch small and free of unrelated PHI.
OBSERVATION_CODES = ",".join(
    (
        "http://loinc.org|98979-8",
        "http://loinc.org|98980-6",
        "http://loinc.org|62238-1",
        "http://loinc.org|94677-2",
        "http://loinc.org|88293-6",
        "http://loinc.org|88294-4",
        "http://loinc.org|77147-7",
        "http://loinc.org|48642-3",
        "http://loinc.org|48643-1",
        "http://loinc.org|50044-7",
        "http://loinc.org|70969-1",
        "http://loinc.org|50210-4",
        "http://loinc.org|69405-9",
        "http://loinc.org|2160-0",
        "http://loinc.org|14682-9",
        "http://loinc.org|38483-4",
        "http://loinc.org|59826-8",
        "http://loinc.org|77140-2",
        "http://loinc.org|17861-6",
        "http://loinc.org|1994-3",
        "http://loinc.org|1995-0",
        "http://loinc.org|17864-0",
        "http://loinc.org|1751-7",
        "http://loinc.org|14635-7",
        "http://loinc.org|62292-8",
        "http://loinc.org|1989-3",
        "http://loinc.org|72514-3",
        "http://loinc.org|38208-5",
        "http://loinc.org|29463-7",
        "http://loinc.org|8310-5",
        "https://bme-cds.example.org/fhir/CodeSystem/bme-cds|",
    )
)

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
