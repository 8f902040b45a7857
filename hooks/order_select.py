"""bme-order-select: checks the orders a clinician selects against the BME pathway and the safety gates."""

from __future__ import annotations

from hooks.common import PREFETCH
from hooks.common import USAGE
from service.cds.registry import ServiceDefinition
from service.core.vocabulary import HOOK_ORDER_SELECT

SERVICE = ServiceDefinition(
    id="bme-order-select",
    hook=HOOK_ORDER_SELECT,
    title="Bone marrow edema: order check while selecting",
    description=(
        "Checks selected draft orders for a patient with bone marrow edema: an NSAID where extensive vertebral "
        "edema calls for an IV bisphosphonate; NSAID, bisphosphonate and denosumab safety gates (renal function, "
        "GI bleeding, anticoagulants, heart failure, pregnancy, calcium and vitamin D, jaw osteonecrosis); "
        "opioids, glucocorticoids, bed rest and TNF-alpha inhibitors."
    ),
    prefetch=PREFETCH,
    usage_requirements=USAGE,
)
