"""Prefetch helpers: template tokens, fhirServer acceptance, OperationOutcome detection, flattening."""

from __future__ import annotations

from typing import Any

import pytest

from service.errors import InvalidRequestError
from service.fhir.prefetch import check_fhir_server_url
from service.fhir.prefetch import fill_template
from service.fhir.prefetch import flatten
from service.fhir.prefetch import outcome_problem

CONTEXT = {"patientId": "p1", "userId": "PractitionerRole/77", "encounterId": "e9", "draftOrders": {"x": 1}}


@pytest.mark.parametrize(
    "template, expected",
    (
        ("Patient/{{context.patientId}}", "Patient/p1"),
        (
            "Condition?patient={{ context.patientId }}&encounter={{context.encounterId}}",
            "Condition?patient=p1&encounter=e9",
        ),
        ("PractitionerRole/{{userPractitionerRoleId}}", "PractitionerRole/77"),
        ("Practitioner/{{userPractitionerId}}", None),  # the user is a PractitionerRole, not a Practitioner
        ("Observation?patient={{context.missing}}", None),
        ("Bundle?x={{context.draftOrders}}", None),  # only primitive root-level context fields are tokens
        ("Observation?code=http://loinc.org|72514-3", "Observation?code=http://loinc.org|72514-3"),
    ),
)
def test_fill_template(template: str, expected: str | None) -> None:
    assert fill_template(template, CONTEXT) == expected


@pytest.mark.parametrize(
    "url",
    (
        "https://ehr.example.org/fhir",
        "http://127.0.0.1:8080/fhir",
        "http://localhost/fhir",
        "http://[::1]:9/r4",
    ),
)
def test_fhir_server_accepted(url: str) -> None:
    check_fhir_server_url(url)


@pytest.mark.parametrize(
    "url",
    (
        "http://ehr.example.org/fhir",
        "ftp://127.0.0.1/fhir",
        "https://user:pw@ehr.example.org/fhir",
        "fhir",
        "",
    ),
)
def test_fhir_server_refused(url: str) -> None:
    with pytest.raises(InvalidRequestError):
        check_fhir_server_url(url)


def test_http_allowed_for_configured_host() -> None:
    check_fhir_server_url("http://fhir.internal:8080/r4", allow_http_hosts=("fhir.internal",))


OO_ERROR = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "forbidden"}]}
OO_INFO = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "information", "code": "informational"}],
}


@pytest.mark.parametrize(
    "value, is_problem",
    (
        (OO_ERROR, True),
        (OO_INFO, False),
        ({"resourceType": "OperationOutcome"}, True),  # no issues: nothing says it is fine
        (
            {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": OO_INFO}]},
            False,
        ),  # Epic no-results
        ({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": OO_ERROR}]}, True),
        ({"resourceType": "Bundle", "type": "searchset", "total": 0}, False),
        ({"resourceType": "Patient", "id": "p1"}, False),
        (None, False),
    ),
)
def test_outcome_problem(value: Any, is_problem: bool) -> None:
    assert (outcome_problem(value) is not None) is is_problem


def test_flatten_unpacks_bundles_and_drops_duplicates_and_outcomes() -> None:
    condition = {"resourceType": "Condition", "id": "c1"}
    values = {
        "patient": {"resourceType": "Patient", "id": "p1"},
        "conditions": {
            "resourceType": "Bundle",
            "entry": [{"resource": condition}, {"resource": OO_INFO}, {}, "junk", {"resource": condition}],
        },
        "again": {"resourceType": "Bundle", "entry": [{"resource": condition}]},
        "nothing": None,
    }
    assert flatten(values) == [{"resourceType": "Patient", "id": "p1"}, condition]
