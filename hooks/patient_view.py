"""bme-patient-view: the BME pathway, red-flag and work-up cards when a chart is opened."""

from __future__ import annotations

from hooks.common import PREFETCH
from hooks.common import USAGE
from service.cds.registry import ServiceDefinition
from service.core.vocabulary import HOOK_PATIENT_VIEW

SERVICE = ServiceDefinition(
    id="bme-patient-view",
    hook=HOOK_PATIENT_VIEW,
    title="Bone marrow edema: pathway and red flags",
    description=(
        "Reads the patient's conditions, imaging reports, labs, pain scores and medications and offers the bone "
        "marrow edema (BME) pathway: red flags that need urgent surgical review, work-up (MRI, malignancy "
        "exclusion), first-line NSAID trial, IV bisphosphonate for extensive vertebral BME, vertebral augmentation "
        "and refractory options, each with its basis and safety checks."
    ),
    prefetch=PREFETCH,
    usage_requirements=USAGE,
)
