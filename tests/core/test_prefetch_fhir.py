"""Fetch-on-missing-prefetch against a real FHIR search engine (Medplum on Node) on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hooks.patient_view import SERVICE
from service.errors import FhirTimeoutError
from service.errors import InvalidRequestError
from service.errors import PrefetchUnavailableError
from service.fhir.access import from_request
from service.fhir.prefetch import FhirPool
from service.fhir.prefetch import Resolved
from service.fhir.prefetch import flatten
from service.fhir.prefetch import resolve
from tests.fhir_server import FhirTestServer
from tests.fhir_server import fhir_server_required
from tests.fhir_server import node_available

pytestmark = pytest.mark.fhirserver
TOKEN = "test-access-token-3f9a"  # noqa: S105 - a dummy bearer token the server records
CONDITIONS = 12  # more than one page (page size 5), so `next` links must be followed


def _bundle() -> dict[str, Any]:
    patient = "urn:uuid:7d3f0000-0000-4000-8000-000000000001"
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": patient,
            "request": {"method": "POST", "url": "Patient"},
            "resource": {"resourceType": "Patient", "gender": "female", "birthDate": "1950-02-03"},
        }
    ]
    for i in range(CONDITIONS):
        entries.append(
            {
                "fullUrl": f"urn:uuid:7d3f0000-0000-4000-8000-0000000001{i:02d}",
                "request": {"method": "POST", "url": "Condition"},
                "resource": {
                    "resourceType": "Condition",
                    "subject": {"reference": patient},
                    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M81.0"}]},
                },
            }
        )
    entries.append(
        {
            "fullUrl": "urn:uuid:7d3f0000-0000-4000-8000-000000000200",
            "request": {"method": "POST", "url": "Observation"},
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "subject": {"reference": patient},
                "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
                "valueInteger": 8,
                "effectiveDateTime": "2026-11-01",
            },
        }
    )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FhirTestServer, str]]:
    """A paging FHIR server with one patient loaded; yields the server and the patient's id."""
    reason = node_available()
    if reason is not None:
        if fhir_server_required():
            pytest.fail(reason)
        pytest.skip(reason)
    with FhirTestServer(page_size=5) as started:
        refs = started.load(_bundle())
        patient_id = next(ref for ref in refs.values() if ref.startswith("Patient/")).split("/")[1]
        yield started, patient_id


@pytest.fixture
def pool() -> Iterator[FhirPool]:
    """A pool with short timeouts, as the service builds it."""
    fhir_pool = FhirPool(timeout=1.0, total_timeout=1.5, max_pages=10, pool_size=4)
    yield fhir_pool
    fhir_pool.close()


def _request(fhir_server: str, patient_id: str, prefetch: dict[str, Any] | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "fhirServer": fhir_server,
        "fhirAuthorization": {
            "access_token": TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "bme-cds",
        },
        "context": {"userId": "Practitioner/1", "patientId": patient_id},
    }
    if prefetch is not None:
        request["prefetch"] = prefetch
    return request


def _resolve(request: dict[str, Any], pool: FhirPool | None) -> Resolved:
    """resolve() with the request's FhirAccess checked as the edge checks it (no trusted-client limits)."""
    return resolve(SERVICE, request, pool, from_request(request))


def test_missing_keys_are_fetched_with_the_bearer_token(
    server: tuple[FhirTestServer, str], pool: FhirPool
) -> None:
    fhir, patient_id = server
    fhir.reset()
    resolved = _resolve(_request(fhir.base_url, patient_id), pool)
    assert set(resolved.fetched) == set(SERVICE.prefetch)
    resources = flatten(resolved.values)
    assert sum(r["resourceType"] == "Condition" for r in resources) == CONDITIONS  # all pages followed
    assert any(r["resourceType"] == "Observation" and r["valueInteger"] == 8 for r in resources)
    recorded = fhir.requests()
    assert recorded and all(r["authorization"] == f"Bearer {TOKEN}" for r in recorded)
    assert sum(r["path"].startswith("/Condition") for r in recorded) == 3  # 12 conditions, pages of 5


def test_present_keys_null_included_are_not_fetched(
    server: tuple[FhirTestServer, str], pool: FhirPool
) -> None:
    fhir, patient_id = server
    fhir.reset()
    sent = {"patient": {"resourceType": "Patient", "id": patient_id}, "conditions": None, "reports": None}
    resolved = _resolve(_request(fhir.base_url, patient_id, sent), pool)
    paths = [r["path"] for r in fhir.requests()]
    assert not any(p.startswith(("/Patient", "/Condition", "/DiagnosticReport")) for p in paths)
    assert any(p.startswith("/Observation") for p in paths)
    assert resolved.values["conditions"] is None


def test_unreachable_server_gives_412(pool: FhirPool) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(PrefetchUnavailableError):
        _resolve(_request(f"http://127.0.0.1:{port}", "p1"), pool)


def test_slow_server_gives_412_within_the_budget(server: tuple[FhirTestServer, str], pool: FhirPool) -> None:
    fhir, patient_id = server
    fhir.set_delay(3000)
    try:
        started = time.monotonic()
        with pytest.raises(FhirTimeoutError):
            _resolve(_request(fhir.base_url, patient_id), pool)
        # Not a performance assertion: the call must not wait for the 3 s server instead of its own deadline.
        assert time.monotonic() - started < 3.0
    finally:
        fhir.set_delay(0)


def test_optional_key_failing_is_omitted_not_fatal(
    server: tuple[FhirTestServer, str], pool: FhirPool
) -> None:
    fhir, patient_id = server
    oo = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "forbidden"}]}
    sent = {key: None for key in SERVICE.prefetch}
    sent["imaging"] = oo  # an OperationOutcome in place of an optional key: omitted
    resolved = _resolve(_request(fhir.base_url, patient_id, sent), pool)
    assert "imaging" in resolved.omitted and "imaging" not in resolved.values
    sent["conditions"] = oo  # ... and in place of a required key: 412
    with pytest.raises(PrefetchUnavailableError):
        _resolve(_request(fhir.base_url, patient_id, sent), pool)


def test_no_fhir_server_and_missing_required_key_gives_412() -> None:
    request = {
        "hook": "patient-view",
        "hookInstance": "x",
        "context": {"userId": "Practitioner/1", "patientId": "p1"},
        "prefetch": {"patient": {"resourceType": "Patient", "id": "p1"}},
    }
    with pytest.raises(PrefetchUnavailableError, match="conditions"):
        _resolve(request, None)


def test_plain_http_remote_server_is_refused_before_any_call(pool: FhirPool) -> None:
    with pytest.raises(InvalidRequestError):
        _resolve(_request("http://ehr.example.org/fhir", "p1"), pool)


def test_next_link_to_another_host_is_not_followed(
    server: tuple[FhirTestServer, str], pool: FhirPool
) -> None:
    fhir, patient_id = server
    fhir.reset()
    sent: dict[str, Any] = {key: None for key in SERVICE.prefetch}
    sent["conditions"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": "Condition", "id": "c1"}}],
        "link": [{"relation": "next", "url": "https://attacker.example.org/steal?page=2"}],
    }
    resolved = _resolve(_request(fhir.base_url, patient_id, sent), pool)
    assert [r["id"] for r in flatten({"c": resolved.values["conditions"]})] == ["c1"]
    assert fhir.requests() == []


def test_sent_bundle_with_next_link_is_completed(server: tuple[FhirTestServer, str], pool: FhirPool) -> None:
    fhir, patient_id = server
    first_page = fhir.get(f"Condition?patient={patient_id}")
    assert any(link["relation"] == "next" for link in first_page["link"])
    sent: dict[str, Any] = {key: None for key in SERVICE.prefetch}
    sent["conditions"] = first_page
    resolved = _resolve(_request(fhir.base_url, patient_id, sent), pool)
    assert len(flatten({"c": resolved.values["conditions"]})) == CONDITIONS
