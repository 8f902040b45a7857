"""Shared fixtures: the app built by create_app on a temporary SQLite file, its client, and the test FHIR server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.fhir_server import FhirTestServer
from tests.fhir_server import fhir_server_required
from tests.fhir_server import node_available


@pytest.fixture
def app_config(tmp_path: Path) -> dict[str, Any]:
    """Settings overrides for a test app: its own database, authentication off (tests of auth turn it on)."""
    return {
        "data_dir": tmp_path,
        "auth": "off",
        "public_base_url": "http://127.0.0.1:8080",
        "fhir_timeout_seconds": 2.0,
        "fhir_total_timeout_seconds": 3.0,
    }


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    """The real application, as create_app builds it."""
    from service.web.app import create_app

    application = create_app(test_config=app_config)
    application.config["TESTING"] = True
    yield application
    application.extensions["bme"].pool.close()
    application.extensions["bme"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client for the app."""
    return app.test_client()


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[FhirTestServer]:
    """The real FHIR search engine (Medplum on Node) on a loopback port, for the whole session."""
    reason = node_available()
    if reason is not None:
        if fhir_server_required():
            pytest.fail(reason)
        pytest.skip(reason)
    with FhirTestServer() as server:
        yield server
