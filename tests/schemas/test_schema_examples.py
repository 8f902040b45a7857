"""Documents that must validate: the spec's own examples, real-client shapes, and tolerated variations."""

from __future__ import annotations

import copy
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError
from schema_edits import drop
from schema_edits import set_path

from service.cds import schemas

Loader = Callable[[str], Any]

EXAMPLES = [
    ("spec-request-patient-view.json", schemas.REQUEST),
    ("epic-order-select.json", schemas.REQUEST),
    ("sandbox-order-select.json", schemas.REQUEST),
    ("spec-response.json", schemas.RESPONSE),
    ("full-response.json", schemas.RESPONSE),
    ("spec-discovery.json", schemas.DISCOVERY),
    ("spec-feedback-accepted.json", schemas.FEEDBACK),
    ("spec-feedback-overridden.json", schemas.FEEDBACK),
    ("epic-feedback-override-reasons.json", schemas.FEEDBACK),
]
# Deliberately not valid R4: the sandbox sends MedicationRequest.category as an object, not a list.
NOT_R4 = {("sandbox-order-select.json", "MedicationRequest")}


@pytest.mark.parametrize(("name", "kind"), EXAMPLES)
def test_example_validates(load: Loader, name: str, kind: str) -> None:
    instance = load(name)
    assert schemas.errors(kind, instance) == []
    schemas.validate(kind, instance)


def _embedded_resources(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """FHIR resources carried in a request (draftOrders, prefetch) or a response (actions)."""
    for entry in document.get("context", {}).get("draftOrders", {}).get("entry", []):
        yield entry["resource"]
    for value in document.get("prefetch", {}).values():
        if value is not None:
            yield value
    for card in document.get("cards", []):
        for suggestion in card.get("suggestions", []):
            for action in suggestion.get("actions", []):
                if "resource" in action:
                    yield action["resource"]
    for action in document.get("systemActions", []):
        yield action["resource"]


@pytest.mark.parametrize(("name", "kind"), [case for case in EXAMPLES if case[1] != schemas.FEEDBACK])
def test_embedded_fhir_resources_are_r4b_except_the_sandbox_quirk(load: Loader, name: str, kind: str) -> None:
    for resource in _embedded_resources(load(name)):
        model = get_fhir_model_class(resource["resourceType"])
        if (name, resource["resourceType"]) in NOT_R4:
            with pytest.raises(ValidationError):
                model.model_validate(resource)
        else:
            model.model_validate(resource)


def test_request_schema_does_not_descend_into_prefetch(load: Loader) -> None:
    # Validation must stay cheap for thousands of resources, so their content is never checked here.
    request = load("spec-request-patient-view.json")
    broken = {"resourceType": "Observation", "status": None, "code": {"coding": [None, 7]}}
    request["prefetch"]["labs"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": copy.deepcopy(broken)} for _ in range(5000)],
    }
    assert schemas.errors(schemas.REQUEST, request) == []


TOLERATED: list[tuple[str, str, str, Callable[[dict[str, Any]], dict[str, Any]]]] = [
    (
        "token_type in lower case",
        "spec-request-patient-view.json",
        schemas.REQUEST,
        lambda d: set_path(d, "fhirAuthorization/token_type", "bearer"),
    ),
    (
        "fhirAuthorization with patient",
        "spec-request-patient-view.json",
        schemas.REQUEST,
        lambda d: set_path(d, "fhirAuthorization/patient", "1288992"),
    ),
    (
        "no fhirAuthorization and no fhirServer",
        "spec-request-patient-view.json",
        schemas.REQUEST,
        lambda d: drop(d, "fhirAuthorization", "fhirServer"),
    ),
    ("no prefetch", "spec-request-patient-view.json", schemas.REQUEST, lambda d: drop(d, "prefetch")),
    (
        "prefetch key with null (no data)",
        "spec-request-patient-view.json",
        schemas.REQUEST,
        lambda d: set_path(d, "prefetch/conditions", None),
    ),
    (
        "unknown top-level field",
        "spec-request-patient-view.json",
        schemas.REQUEST,
        lambda d: set_path(d, "com.example.newField", {"a": 1}),
    ),
    (
        "extra context key",
        "spec-request-patient-view.json",
        schemas.REQUEST,
        lambda d: set_path(d, "context/com.example.tab", "summary"),
    ),
    (
        "unknown hook with its own context",
        "spec-request-patient-view.json",
        schemas.REQUEST,
        lambda d: set_path(set_path(d, "hook", "encounter-start"), "context", {"encounterId": "1"}),
    ),
    (
        "order-sign without selections",
        "epic-order-select.json",
        schemas.REQUEST,
        lambda d: set_path(d, "hook", "order-sign"),
    ),
    (
        # Spec-wise an empty array is not allowed, but rejecting a live order-select for it helps nobody:
        # the hook handler simply finds no newly selected order.
        "order-select with empty selections",
        "epic-order-select.json",
        schemas.REQUEST,
        lambda d: set_path(d, "context/selections", []),
    ),
    (
        "draftOrders Bundle without type (hook library v1.0.1 examples)",
        "epic-order-select.json",
        schemas.REQUEST,
        lambda d: drop(d, "context/draftOrders/type"),
    ),
    ("no guidance", "spec-response.json", schemas.RESPONSE, lambda d: {"cards": []}),
    (
        "systemAction without description",
        "full-response.json",
        schemas.RESPONSE,
        lambda d: set_path(d, "systemActions/0", {"type": "delete", "resourceId": "ServiceRequest/draft-1"}),
    ),
    (
        "several recommended suggestions with selectionBehavior any",
        "full-response.json",
        schemas.RESPONSE,
        lambda d: set_path(
            set_path(d, "cards/0/selectionBehavior", "any"), "cards/0/suggestions/1/isRecommended", True
        ),
    ),
    (
        "topic without display",
        "full-response.json",
        schemas.RESPONSE,
        lambda d: set_path(d, "cards/0/source/topic", {"system": "https://example.org/topics", "code": "x1"}),
    ),
    ("no services", "spec-discovery.json", schemas.DISCOVERY, lambda d: {"services": []}),
    (
        "override reason with comment only",
        "spec-feedback-overridden.json",
        schemas.FEEDBACK,
        lambda d: set_path(d, "feedback/1/overrideReason", {"userComment": "Not relevant today."}),
    ),
    (
        "timestamp with offset and fraction",
        "spec-feedback-accepted.json",
        schemas.FEEDBACK,
        lambda d: set_path(d, "feedback/0/outcomeTimestamp", "1985-04-12T23:20:50.52+02:00"),
    ),
]


@pytest.mark.parametrize(
    ("fixture", "kind", "change"), [case[1:] for case in TOLERATED], ids=[case[0] for case in TOLERATED]
)
def test_tolerated_variation_validates(
    load: Loader, fixture: str, kind: str, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    assert schemas.errors(kind, change(load(fixture))) == []
