"""Medication references: read from the FHIR server the Medications that orders name but nobody sent.

Epic's MedicationRequests carry `medicationReference`, not a code. Since February 2024 Epic includes the
Medication in draftOrders (contained or as another entry), which `features` resolves itself; older Epic
versions send only the reference, and the Medication must be read from the request's FhirAccess (its checked
fhirServer and access token). This module finds those references and reads them, concurrently,
through the prefetch FhirPool (the only HTTP client), bounded by its timeout. A Medication that cannot be
read stays unresolved: `features` then reports the drug as unidentified rather than guessing.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
from collections.abc import Mapping
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import wait
from typing import Any
from typing import Final

from service.fhir.access import FhirAccess
from service.fhir.prefetch import FetchUnavailable
from service.fhir.prefetch import FhirPool

log = logging.getLogger(__name__)

MAX_READS: Final = 20  # distinct Medications read per request; a patient's orders name far fewer
_ORDER_TYPES: Final = frozenset({"MedicationRequest", "MedicationStatement", "MedicationAdministration",
                                 "MedicationDispense"})
_FHIR_ID: Final = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # FHIR R4 id: safe to put in a URL path


def missing_medication_ids(drafts: Sequence[Mapping[str, Any]], resources: Sequence[Mapping[str, Any]],
                           fhir_server: str) -> list[str]:
    """Ids of server Medications named by draft orders, or by prefetched orders without a display.

    Contained (`#id`) and `urn:` references are never read; neither are references to another server, so
    the EHR's token only ever goes to the fhirServer it was issued for. Draft orders come first.
    """
    base = fhir_server.rstrip("/")
    known = {str(r.get("id")) for r in (*drafts, *resources)
             if r.get("resourceType") == "Medication" and isinstance(r.get("id"), str)}
    wanted: dict[str, None] = {}
    for is_draft, orders in ((True, drafts), (False, resources)):
        for order in orders:
            if order.get("resourceType") not in _ORDER_TYPES or "medicationCodeableConcept" in order:
                continue
            reference = order.get("medicationReference")
            if not isinstance(reference, dict):
                continue
            # An active order with a display already names its drug; a draft is what the clinician is ordering
            # now, so its code is worth a read.
            if not is_draft and isinstance(reference.get("display"), str) and reference["display"].strip():
                continue
            ident = _server_id(reference.get("reference"), base)
            if ident is not None and ident not in known and _contained(order, ident) is None:
                wanted[ident] = None
    return list(wanted)[:MAX_READS]


def _server_id(reference: Any, base: str) -> str | None:
    """The id of 'Medication/x' or '<fhirServer>/Medication/x'; None for anything else."""
    if not isinstance(reference, str):
        return None
    relative = reference[len(base) + 1:] if reference.startswith(base + "/") else reference
    kind, _, ident = relative.partition("/")
    if kind != "Medication" or not _FHIR_ID.match(ident):
        return None
    return ident


def _contained(order: Mapping[str, Any], ident: str) -> Mapping[str, Any] | None:
    contained = order.get("contained")
    if isinstance(contained, list):
        for item in contained:
            if isinstance(item, dict) and item.get("id") == ident:
                return item
    return None


def read_missing(drafts: Sequence[Mapping[str, Any]], resources: Sequence[Mapping[str, Any]],
                 access: FhirAccess | None, pool: FhirPool | None) -> list[dict[str, Any]]:
    """The Medications read from fhirServer for references nothing in the request resolves (often none).

    Add them to the resources given to `features.extract`, which indexes Medications by id.
    """
    if pool is None or access is None:
        return []
    ids = missing_medication_ids(drafts, resources, access.base_url)
    if not ids:
        return []
    base, token = access.base_url, access.token
    deadline = time.monotonic() + min(pool.timeout, pool.total_timeout)
    jobs: dict[str, Future[Any]] = {
        ident: pool.executor.submit(  # copy_context: the trace context reaches the fetch thread
            contextvars.copy_context().run, pool.get_json, base, f"{base}/Medication/{ident}", token, deadline
        )
        for ident in ids
    }
    done, _ = wait(jobs.values(), timeout=max(0.0, deadline - time.monotonic()) + 0.05)
    found: list[dict[str, Any]] = []
    for ident, future in jobs.items():
        if future not in done:
            future.cancel()
            log.info("medication reference: read timed out; the drug stays unidentified")
            continue
        try:
            value = future.result()
        except FetchUnavailable as exc:
            log.info("medication reference: not read (%s); the drug stays unidentified", exc.reason)
            continue
        if isinstance(value, dict) and value.get("resourceType") == "Medication" and value.get("id") == ident:
            found.append(value)
        else:
            log.info("medication reference: the server answered something other than the Medication")
    return found
