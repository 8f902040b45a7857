"""Documents that must fail, each with the exact path-naming message the caller will see."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from schema_edits import drop
from schema_edits import set_path

from service.cds import schemas

Edit = Callable[[Any], Any]

# (case id, fixture, kind, edit, expected message)
REJECTED: list[tuple[str, str, str, Edit, str]] = [
    # --- request ---
    (
        "missing hookInstance",
        "spec-request-patient-view.json",
        schemas.REQUEST,
        lambda d: drop(d, "hookInstance"),
        "hookInstance: is a required property",
    ),
    (
        "empty hookInstance",
        "spec-request-patient-view.json",
        schemas.REQUEST,
        lambda d: set_path(d, "hookInstance", ""),
        "hookInstance: must not be empty",
    ),
    (
        "NUL in hookInstance (stored; PostgreSQL text cannot hold it)",
        "spec-request-patient-view.json",
        schemas.REQUEST,
        lambda d: set_path(d, "hookInstance", "d1577c69\x00"),
        'hookInstance: "d1577c69\\u0000" does not match ^[^\\u0000]*$',
    ),
    (
        "fhirAuthorization without fhirServer",
        "spec-request-patient-view.json",
        schemas.REQUEST,
        lambda d: drop(d, "fhirServer"),
        "fhirServer: is a required property",
    ),
    (
        "fhirServer not a URI",
        "spec-request-patient-view.json",
        schemas.REQUEST,
        lambda d: set_path(d, "fhirServer", "hooks.example.org/fhir"),
        'fhirServer: "hooks.example.org/fhir" is not a valid uri',
    ),
    (
        "token_type not Bearer",
        "spec-request-patient-view.json",
        schemas.REQUEST,
        lambda d: set_path(d, "fhirAuthorization/token_type", "MAC"),
        'fhirAuthorization.token_type: "MAC" does not match ^[Bb][Ee][Aa][Rr][Ee][Rr]$',
    ),
    (
        "expires_in as a string",
        "spec-request-patient-view.json",
        schemas.REQUEST,
        lambda d: set_path(d, "fhirAuthorization/expires_in", "300"),
        "fhirAuthorization.expires_in: expected integer, got string",
    ),
    (
        "fhirAuthorization without subject",
        "spec-request-patient-view.json",
        schemas.REQUEST,
        lambda d: drop(d, "fhirAuthorization/subject"),
        "fhirAuthorization.subject: is a required property",
    ),
    (
        "patient-view without patientId",
        "spec-request-patient-view.json",
        schemas.REQUEST,
        lambda d: drop(d, "context/patientId"),
        "context.patientId: is a required property",
    ),
    (
        "context not an object",
        "spec-request-patient-view.json",
        schemas.REQUEST,
        lambda d: set_path(d, "context", "Patient/1"),
        "context: expected object, got string",
    ),
    (
        "prefetch value a string",
        "spec-request-patient-view.json",
        schemas.REQUEST,
        lambda d: set_path(d, "prefetch/patientToGreet", "Patient/1288992"),
        "prefetch.patientToGreet: expected object or null, got string",
    ),
    (
        "order-select without draftOrders",
        "epic-order-select.json",
        schemas.REQUEST,
        lambda d: drop(d, "context/draftOrders"),
        "context.draftOrders: is a required property",
    ),
    (
        "order-select without selections",
        "epic-order-select.json",
        schemas.REQUEST,
        lambda d: drop(d, "context/selections"),
        "context.selections: is a required property",
    ),
    (
        "selections holding a non-string",
        "epic-order-select.json",
        schemas.REQUEST,
        lambda d: set_path(d, "context/selections/0", {"reference": "MedicationRequest/1"}),
        "context.selections[0]: expected string, got object",
    ),
    (
        "draftOrders not a Bundle",
        "epic-order-select.json",
        schemas.REQUEST,
        lambda d: set_path(d, "context/draftOrders/resourceType", "MedicationRequest"),
        'context.draftOrders.resourceType: "MedicationRequest" is not one of "Bundle"',
    ),
    (
        "order-sign without draftOrders",
        "epic-order-select.json",
        schemas.REQUEST,
        lambda d: drop(set_path(d, "hook", "order-sign"), "context/draftOrders"),
        "context.draftOrders: is a required property",
    ),
    # --- response ---
    (
        "summary of 140 characters",
        "spec-response.json",
        schemas.RESPONSE,
        lambda d: set_path(d, "cards/0/summary", "x" * 140),
        "cards[0].summary: is 140 characters long; at most 139 allowed",
    ),
    (
        "suggestions without selectionBehavior",
        "full-response.json",
        schemas.RESPONSE,
        lambda d: drop(d, "cards/0/selectionBehavior"),
        "cards[0].selectionBehavior: is a required property",
    ),
    (
        "override reason without display",
        "spec-response.json",
        schemas.RESPONSE,
        lambda d: drop(d, "cards/1/overrideReasons/0/display"),
        "cards[1].overrideReasons[0].display: is a required property",
    ),
    (
        "appContext on an absolute link",
        "spec-response.json",
        schemas.RESPONSE,
        lambda d: set_path(d, "cards/0/links/0/appContext", "session=1"),
        "cards[0].links[0].appContext: is not allowed here (appContext is only valid on links of type smart)",
    ),
    (
        "delete without resourceId",
        "full-response.json",
        schemas.RESPONSE,
        lambda d: drop(d, "cards/0/suggestions/1/actions/0/resourceId"),
        "cards[0].suggestions[1].actions[0].resourceId: is a required property",
    ),
    (
        "delete carrying a resource",
        "full-response.json",
        schemas.RESPONSE,
        lambda d: set_path(d, "cards/0/suggestions/1/actions/0/resource", {"resourceType": "ServiceRequest"}),
        "cards[0].suggestions[1].actions[0].resource: is not allowed here"
        " (a delete action carries resourceId, not resource)",
    ),
    (
        "create without resource",
        "full-response.json",
        schemas.RESPONSE,
        lambda d: drop(d, "cards/0/suggestions/0/actions/0/resource"),
        "cards[0].suggestions[0].actions[0].resource: is a required property",
    ),
    (
        "resource without resourceType",
        "full-response.json",
        schemas.RESPONSE,
        lambda d: drop(d, "cards/0/suggestions/0/actions/0/resource/resourceType"),
        "cards[0].suggestions[0].actions[0].resource.resourceType: is a required property",
    ),
    (
        "card action without description",
        "full-response.json",
        schemas.RESPONSE,
        lambda d: drop(d, "cards/0/suggestions/0/actions/0/description"),
        "cards[0].suggestions[0].actions[0].description: is a required property",
    ),
    (
        "bad action type",
        "full-response.json",
        schemas.RESPONSE,
        lambda d: set_path(d, "systemActions/0/type", "replace"),
        'systemActions[0].type: "replace" is not one of "create", "update", "delete"',
    ),
    (
        "empty suggestions array",
        "full-response.json",
        schemas.RESPONSE,
        lambda d: set_path(d, "cards/0/suggestions", []),
        "cards[0].suggestions: must not be empty (omit it instead)",
    ),
    (
        "empty actions array",
        "full-response.json",
        schemas.RESPONSE,
        lambda d: set_path(d, "cards/0/suggestions/0/actions", []),
        "cards[0].suggestions[0].actions: must not be empty (omit it instead)",
    ),
    (
        "empty systemActions array",
        "full-response.json",
        schemas.RESPONSE,
        lambda d: set_path(d, "systemActions", []),
        "systemActions: must not be empty (omit it instead)",
    ),
    (
        "empty extension object",
        "full-response.json",
        schemas.RESPONSE,
        lambda d: set_path(d, "cards/0/extension", {}),
        "cards[0].extension: must not be empty (omit it instead)",
    ),
    (
        "null field",
        "spec-response.json",
        schemas.RESPONSE,
        lambda d: set_path(d, "cards/0/detail", None),
        "cards[0].detail: expected string, got null",
    ),
    (
        "empty string field",
        "spec-response.json",
        schemas.RESPONSE,
        lambda d: set_path(d, "cards/0/detail", ""),
        "cards[0].detail: must not be empty",
    ),
    (
        "bad indicator",
        "spec-response.json",
        schemas.RESPONSE,
        lambda d: set_path(d, "cards/0/indicator", "hard-stop"),
        'cards[0].indicator: "hard-stop" is not one of "info", "warning", "critical"',
    ),
    (
        "misspelt card field",
        "spec-response.json",
        schemas.RESPONSE,
        lambda d: set_path(d, "cards/1/sumary", "typo"),
        "cards[1]: Unevaluated properties are not allowed ('sumary' was unexpected)",
    ),
    (
        "source without label",
        "spec-response.json",
        schemas.RESPONSE,
        lambda d: drop(d, "cards/0/source/label"),
        "cards[0].source.label: is a required property",
    ),
    (
        "topic without system",
        "full-response.json",
        schemas.RESPONSE,
        lambda d: drop(d, "cards/0/source/topic/system"),
        "cards[0].source.topic.system: is a required property",
    ),
    (
        "bad link type",
        "spec-response.json",
        schemas.RESPONSE,
        lambda d: set_path(d, "cards/0/links/2/type", "launch"),
        'cards[0].links[2].type: "launch" is not one of "absolute", "smart"',
    ),
    (
        "link url not a URI",
        "spec-response.json",
        schemas.RESPONSE,
        lambda d: set_path(d, "cards/0/links/0/url", "google dot com"),
        'cards[0].links[0].url: "google dot com" is not a valid uri',
    ),
    (
        "autolaunchable as a string",
        "spec-response.json",
        schemas.RESPONSE,
        lambda d: set_path(d, "cards/0/links/0/autolaunchable", "true"),
        "cards[0].links[0].autolaunchable: expected boolean, got string",
    ),
    (
        "two recommended suggestions with at-most-one",
        "full-response.json",
        schemas.RESPONSE,
        lambda d: set_path(d, "cards/0/suggestions/1/isRecommended", True),
        "cards[0].suggestions: with selectionBehavior at-most-one, at most one suggestion may have"
        " isRecommended true",
    ),
    (
        "bad selectionBehavior",
        "full-response.json",
        schemas.RESPONSE,
        lambda d: set_path(d, "cards/0/selectionBehavior", "all"),
        'cards[0].selectionBehavior: "all" is not one of "at-most-one", "any"',
    ),
    (
        "suggestion without label",
        "full-response.json",
        schemas.RESPONSE,
        lambda d: drop(d, "cards/0/suggestions/0/label"),
        "cards[0].suggestions[0].label: is a required property",
    ),
    (
        "cards missing",
        "spec-response.json",
        schemas.RESPONSE,
        lambda d: drop(d, "cards"),
        "cards: is a required property",
    ),
    # --- discovery ---
    (
        "service id with a space",
        "spec-discovery.json",
        schemas.DISCOVERY,
        lambda d: set_path(d, "services/0/id", "static patient greeter"),
        'services[0].id: "static patient greeter" does not match ^[A-Za-z0-9._~-]+$',
    ),
    (
        "service without description",
        "spec-discovery.json",
        schemas.DISCOVERY,
        lambda d: drop(d, "services/1/description"),
        "services[1].description: is a required property",
    ),
    (
        "empty prefetch",
        "spec-discovery.json",
        schemas.DISCOVERY,
        lambda d: set_path(d, "services/0/prefetch", {}),
        "services[0].prefetch: must not be empty (omit it instead)",
    ),
    (
        "prefetch template not a string",
        "spec-discovery.json",
        schemas.DISCOVERY,
        lambda d: set_path(d, "services/1/prefetch/patient", {"read": "Patient"}),
        "services[1].prefetch.patient: expected string, got object",
    ),
    # --- feedback ---
    (
        "NUL in a stored feedback text",
        "spec-feedback-accepted.json",
        schemas.FEEDBACK,
        lambda d: set_path(d, "feedback/0/card", "card\x00"),
        'feedback[0].card: "card\\u0000" does not match ^[^\\u0000]*$',
    ),
    (
        "accepted feedback without acceptedSuggestions",
        "spec-feedback-accepted.json",
        schemas.FEEDBACK,
        lambda d: drop(d, "feedback/0/acceptedSuggestions"),
        "feedback[0].acceptedSuggestions: is a required property",
    ),
    (
        "accepted suggestion without id",
        "spec-feedback-accepted.json",
        schemas.FEEDBACK,
        lambda d: set_path(d, "feedback/0/acceptedSuggestions/0", {}),
        "feedback[0].acceptedSuggestions[0].id: is a required property",
    ),
    (
        "overridden feedback with empty overrideReason",
        "spec-feedback-overridden.json",
        schemas.FEEDBACK,
        lambda d: set_path(d, "feedback/1/overrideReason", {}),
        "feedback[1].overrideReason: needs at least one of: reason, userComment",
    ),
    (
        "override reason coding without system",
        "spec-feedback-overridden.json",
        schemas.FEEDBACK,
        lambda d: drop(d, "feedback/1/overrideReason/reason/system"),
        "feedback[1].overrideReason.reason.system: is a required property",
    ),
    (
        "Epic overrideReasons empty",
        "epic-feedback-override-reasons.json",
        schemas.FEEDBACK,
        lambda d: set_path(d, "feedback/0/overrideReasons", {}),
        "feedback[0].overrideReasons: needs at least one of: reason, userComment, extension",
    ),
    (
        "bad outcome",
        "spec-feedback-accepted.json",
        schemas.FEEDBACK,
        lambda d: set_path(d, "feedback/0/outcome", "ignored"),
        'feedback[0].outcome: "ignored" is not one of "accepted", "overridden"',
    ),
    (
        "bad outcomeTimestamp",
        "spec-feedback-accepted.json",
        schemas.FEEDBACK,
        lambda d: set_path(d, "feedback/0/outcomeTimestamp", "2021-12-11 10:05"),
        'feedback[0].outcomeTimestamp: "2021-12-11 10:05" is not a valid date-time',
    ),
    (
        "outcomeTimestamp on a day that does not exist",
        "spec-feedback-accepted.json",
        schemas.FEEDBACK,
        lambda d: set_path(d, "feedback/0/outcomeTimestamp", "2021-02-30T10:05:31Z"),
        'feedback[0].outcomeTimestamp: "2021-02-30T10:05:31Z" is not a valid date-time',
    ),
    (
        "outcomeTimestamp without a zone",
        "spec-feedback-accepted.json",
        schemas.FEEDBACK,
        lambda d: set_path(d, "feedback/0/outcomeTimestamp", "2021-12-11T10:05:31"),
        'feedback[0].outcomeTimestamp: "2021-12-11T10:05:31" is not a valid date-time',
    ),
    (
        "empty feedback array",
        "spec-feedback-accepted.json",
        schemas.FEEDBACK,
        lambda d: set_path(d, "feedback", []),
        "feedback: must not be empty (omit it instead)",
    ),
]


@pytest.mark.parametrize(
    ("fixture", "kind", "edit", "expected"),
    [case[1:] for case in REJECTED],
    ids=[case[0] for case in REJECTED],
)
def test_rejected_with_path_message(
    load: Callable[[str], Any], fixture: str, kind: str, edit: Edit, expected: str
) -> None:
    instance = edit(load(fixture))
    with pytest.raises(schemas.SchemaError) as raised:
        schemas.validate(kind, instance)
    assert raised.value.kind == kind
    # Exactly one message: the edit broke one thing, and the report must not bury it in noise.
    assert raised.value.messages == [expected]
