"""bme-order-sign: the last safety check on the orders about to be signed."""

from __future__ import annotations

from hooks.common import PREFETCH
from hooks.common import USAGE
from service.cds.registry import ServiceDefinition
from service.core.vocabulary import HOOK_ORDER_SIGN

SERVICE = ServiceDefinition(
    id="bme-order-sign",
    hook=HOOK_ORDER_SIGN,
    title="Bone marrow edema: order check before signing",
    description=(
        "Before orders are signed for a patient with bone marrow edema, flags absolute contraindications "
        "(critical) and relative concerns (warning) in NSAID, bisphosphonate, denosumab, opioid, glucocorticoid, "
        "bed-rest and TNF-alpha inhibitor orders, and drafts that the source guidance advises against."
    ),
    prefetch=PREFETCH,
    usage_requirements=USAGE,
)
