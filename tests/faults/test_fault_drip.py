"""A FHIR server that drips its answer spends only its own request's budget: no starved pool, no late 412s."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from hooks.patient_view import SERVICE
from service.errors import FhirTimeoutError
from service.fhir.access import FhirAccess
from service.fhir.prefetch import FhirPool
from service.fhir.prefetch import resolve
from tests.faults.fhirstub import FhirStub

BUDGET = 2.0


@pytest.fixture
def stub() -> Iterator[FhirStub]:
    """A fresh loopback FHIR server per test (the drip count must start at zero)."""
    with FhirStub() as server:
        yield server


@pytest.fixture
def pool() -> Iterator[FhirPool]:
    """The fetch pool as the service builds it, with a short budget and a small connection pool."""
    fetch_pool = FhirPool(timeout=BUDGET, total_timeout=BUDGET, max_pages=5, pool_size=2)
    yield fetch_pool
    fetch_pool.close()


def _request(server: str) -> dict[str, Any]:
    return {"hook": "patient-view", "hookInstance": "h", "fhirServer": server,
            "context": {"patientId": "p1", "userId": "Practitioner/1"}, "prefetch": {}}


def test_a_dripping_server_is_cut_off_at_its_deadline_and_healthy_calls_go_on(stub: FhirStub, pool: FhirPool) -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as callers:
        drips = [callers.submit(resolve, SERVICE, _request(stub.url("drip")), pool, FhirAccess(stub.url("drip")))
                 for _ in range(3)]
        time.sleep(0.5)  # the dripping fetches now hold their connections and fetch threads
        healthy_started = time.monotonic()
        for _ in range(10):
            resolved = resolve(SERVICE, _request(stub.url("ok")), pool, FhirAccess(stub.url("ok")))
            assert resolved.values["patient"]["id"] == "p1"
        healthy_took = time.monotonic() - healthy_started
        for drip in drips:
            with pytest.raises(FhirTimeoutError):
                drip.result()
    answered_by = time.monotonic() - started
    assert healthy_took < BUDGET, "a healthy server's calls must not queue behind the dripping one"
    assert answered_by < BUDGET + 1.0
    # Every dripping connection is dropped within a drip interval after the deadline: no thread keeps reading.
    deadline = time.monotonic() + 3.0
    while stub.open_drips and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stub.open_drips == 0
