"""Prefetch helpers: template tokens, fhirServer acceptance, OperationOutcome detection, flattening, refusals."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from hooks.patient_view import SERVICE
from service.cds.registry import OnUnavailable
from service.errors import FhirTokenRefusedError
from service.errors import ForbiddenError
from service.errors import InvalidRequestError
from service.errors import PrefetchUnavailableError
from service.fhir.access import FhirAccess
from service.fhir.access import check_server_url
from service.fhir.access import from_request
from service.fhir.prefetch import FhirPool
from service.fhir.prefetch import fill_template
from service.fhir.prefetch import flatten
from service.fhir.prefetch import outcome_problem
from service.fhir.prefetch import resolve

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
    assert check_server_url(url + "/") == url


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
        check_server_url(url)


def test_http_allowed_for_configured_host_or_a_client_allowed_plain_http() -> None:
    check_server_url("http://fhir.internal:8080/r4", allow_http_hosts=("fhir.internal",))
    check_server_url("http://fhir.internal:8080/r4", allow_http=True)
    with pytest.raises(InvalidRequestError):
        check_server_url("ftp://fhir.internal/r4", allow_http=True)  # allow_http relaxes the scheme rule only


def test_the_request_value_carries_the_checked_server_and_token() -> None:
    request = {"fhirServer": "https://ehr.example/fhir/", "fhirAuthorization": {"access_token": "t0k"}}
    access = from_request(request)
    assert access == FhirAccess("https://ehr.example/fhir", "t0k")
    assert "t0k" not in repr(access)  # a log line of the value never shows the token
    assert from_request({"fhirServer": "https://ehr.example/fhir", "fhirAuthorization": {}}) == FhirAccess(
        "https://ehr.example/fhir", None
    )
    assert from_request({"context": {}}) is None
    with pytest.raises(ForbiddenError):
        from_request(request, allowed_servers=("https://other.example/fhir",))
    assert from_request(request, allowed_servers=("https://ehr.example/fhir",)) == access


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


class _Refusing(BaseHTTPRequestHandler):
    """A FHIR server that refuses every token."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        return


@pytest.fixture
def refusing_server() -> Iterator[str]:
    """The base URL of a loopback server answering 401."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/fhir"
    httpd.shutdown()
    httpd.server_close()


def test_a_refused_token_is_its_own_error_and_an_optional_key_is_just_omitted(refusing_server: str) -> None:
    pool = FhirPool(timeout=2.0, total_timeout=3.0, max_pages=1, pool_size=2)
    request: dict[str, Any] = {"context": {"patientId": "p1", "userId": "Practitioner/1"}}
    access = FhirAccess(refusing_server, "expired")
    optional = [key for key, spec in SERVICE.prefetch.items() if spec.on_unavailable is OnUnavailable.OMIT]
    try:
        with pytest.raises(FhirTokenRefusedError) as refused:
            resolve(SERVICE, request, pool, access)
        assert refused.value.status == 412  # the CDS client sees the same 412 as for any missing data
        request["prefetch"] = {key: None for key in SERVICE.prefetch if key not in optional}
        resolved = resolve(SERVICE, request, pool, access)
        assert set(resolved.omitted) == set(optional) and optional
        assert all("HTTP 401" in why for why in resolved.omitted.values())
    finally:
        pool.close()


def test_without_access_nothing_is_fetched() -> None:
    pool = FhirPool(timeout=2.0, total_timeout=3.0, max_pages=1, pool_size=2)
    try:
        with pytest.raises(PrefetchUnavailableError, match="names no fhirServer"):
            resolve(SERVICE, {"context": {"patientId": "p1"}}, pool, None)
    finally:
        pool.close()
