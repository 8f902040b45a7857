"""Fixtures for the test FHIR server's own tests: one server per module with a small patient loaded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fhir_server import FhirTestServer
from tests.fhirserver_test.support import require_node
from tests.fhirserver_test.support import small_bundle


@pytest.fixture(scope="module")
def server() -> Iterator[FhirTestServer]:
    """A started server, shared by the tests of one module."""
    require_node()
    with FhirTestServer() as started:
        yield started


@pytest.fixture(scope="module")
def loaded(server: FhirTestServer) -> dict[str, str]:
    """The small bundle loaded into the module's server: fullUrl -> 'Type/id'."""
    return server.load(small_bundle())
