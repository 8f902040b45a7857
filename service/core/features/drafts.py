"""The hook's draft orders (context.draftOrders), classified into the order kinds the checks look for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.core import textfind
from service.core.facts import Source
from service.core.features.codes import AUGMENTATION
from service.core.features.codes import BED_REST_WORDS
from service.core.features.codes import GC_SETS
from service.core.features.codes import MRI_TEXT
from service.core.features.codes import NON_SYSTEMIC
from service.core.features.codes import ORDER_KINDS
from service.core.features.contract import DraftOrder
from service.core.features.fhirjson import all_text
from service.core.features.fhirjson import codings_of
from service.core.features.fhirjson import concept_text
from service.core.features.fhirjson import dicts
from service.core.features.fhirjson import parse_date
from service.core.features.fhirjson import ref_of
from service.core.features.fhirjson import short
from service.core.features.fhirjson import string
from service.core.features.medications import classify_medication
from service.core.features.medications import resolve_medication
from service.core.features.state import Extraction
from service.core.valuesets import VS
from service.core.vocabulary import BED_REST
from service.core.vocabulary import MRI
from service.core.vocabulary import VERTEBRAL_AUGMENTATION


def draft_order(
    ex: Extraction, r: Mapping[str, Any], draft_meds: dict[str, dict[str, Any]], selections: frozenset[str]
) -> DraftOrder:
    """One context.draftOrders entry, classified into ORDER_* kinds."""
    res = dict(r)
    kind = string(res.get("resourceType"))
    reference = ref_of(res)
    kinds: set[str] = set()
    route: str | None = None
    if kind.startswith("Medication"):
        concept = resolve_medication(ex, res, draft_meds)
        classes, _, display, _ = classify_medication(ex, concept)
        codes = tuple((string(c.get("system")), string(c.get("code"))) for c in codings_of(concept) if c.get("code"))
        route_text = " ".join(all_text(d.get("route")) for d in dicts(res.get("dosageInstruction")))
        route = route_text.strip() or None
        systemic = not (NON_SYSTEMIC.search(textfind.fold(route_text)) or NON_SYSTEMIC.search(textfind.fold(display)))
        for name in classes:
            if name in GC_SETS and not systemic:
                continue
            kinds.update(ORDER_KINDS.get(name, ()))
        when = parse_date(res.get("authoredOn"))
    else:
        code = res.get("code") if kind != "DeviceRequest" else res.get("codeCodeableConcept")
        names = ex.classify(code)
        text = textfind.fold(all_text(code))
        display = concept_text(code)
        codes = tuple((string(c.get("system")), string(c.get("code"))) for c in codings_of(code) if c.get("code"))
        if kind == "ServiceRequest":
            if names & {VS.IMAGING_MRI, VS.PROC_MRI} or MRI_TEXT.search(text):
                kinds.add(MRI)
            if VS.PROC_VERTEBRAL_AUGMENTATION in names or AUGMENTATION.search(text):
                kinds.add(VERTEBRAL_AUGMENTATION)
            if VS.BED_CONFINEMENT in names or BED_REST_WORDS.search(text):
                kinds.add(BED_REST)
        when = parse_date(res.get("authoredOn"))
    label = display or f"{kind or 'order'} without a named item"
    return DraftOrder(
        reference=reference,
        resource_type=kind,
        kinds=frozenset(kinds),
        display=short(label),
        codes=codes,
        route=route,
        selected=bool(reference) and reference in selections,
        source=Source(reference, short(f"Draft order: {label}"), when),
    )
