"""Fixtures for the SMART app: the service with the SMART Blueprint, the test EHR, a settable clock."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.config import load_settings
from tests.smart.authserver import AuthConfig
from tests.smart.authserver import LaunchContext
from tests.smart.authserver import TestEhr
from tests.smart.patient import PATIENT_ID
from tests.smart.patient import resources

PUBLIC_BASE = "http://127.0.0.1:8080"
LAUNCH = "launch-abc-123"


def pytest_configure(config: pytest.Config) -> None:
    """Register the browser marker here until setup.cfg lists it."""
    config.addinivalue_line(
        "markers", "browser: drives headless Chromium (Debian chromium + chromium-driver)"
    )


class Clock:
    """A wall clock the test can move forward."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    """The clock the SMART app reads."""
    return Clock()


@pytest.fixture
def auth_config() -> AuthConfig:
    """The test EHR's set-up: a public client, one EHR launch for the BME patient, in-memory FHIR data."""
    return AuthConfig(
        redirect_uri=f"{PUBLIC_BASE}/smart/callback",
        resources=resources(date.today()),
        standalone_patient=PATIENT_ID,
        launches={
            LAUNCH: LaunchContext(
                patient=PATIENT_ID,
                need_patient_banner=True,
                app_context='{"rule":"R21"}',
                fhir_context=[{"reference": "DiagnosticReport/mri-1", "role": "launch"}],
            ),
            "launch-deny": LaunchContext(patient=PATIENT_ID, deny=True),
        },
    )


@pytest.fixture
def ehr(auth_config: AuthConfig) -> Iterator[TestEhr]:
    """The running test EHR (authorization server + FHIR front door)."""
    with TestEhr(auth_config) as server:
        yield server


@pytest.fixture
def smart_env(ehr: TestEhr, auth_config: AuthConfig) -> dict[str, str]:
    """BME_SMART_* variables for the app under test."""
    env = {"BME_SMART_CLIENT_ID": auth_config.client_id, "BME_SMART_ALLOWED_ISS": ehr.fhir_base}
    if auth_config.client_auth == "secret":
        env["BME_SMART_CLIENT_SECRET"] = auth_config.client_secret
    return env


@pytest.fixture
def make_smart_app(tmp_path: Path, clock: Clock) -> Iterator[Callable[[dict[str, str]], Flask]]:
    """Build the real app (create_app sets the SMART app up from the settings), its clock pinned."""
    from service.smart import init_app
    from service.web.app import create_app

    built: list[Flask] = []

    def make(env: dict[str, str], **overrides: Any) -> Flask:
        config = {
            "data_dir": tmp_path / f"app{len(built)}",
            "auth": "off",
            "public_base_url": PUBLIC_BASE,
            "fhir_timeout_seconds": 5.0,
            "fhir_total_timeout_seconds": 10.0,
            **overrides,
        }
        app = create_app(load_settings(environ=env, **config))  # BME_SMART_* read with the other settings
        app.config["TESTING"] = True
        state = app.extensions["bme"]
        init_app(app, state.settings, state.deps, clock=clock)  # again, only to pin the clock
        built.append(app)
        return app

    yield make
    for app in built:
        app.extensions["bme"].pool.close()
        app.extensions["bme"].engine.dispose()


@pytest.fixture
def smart_client(make_smart_app: Callable[[dict[str, str]], Flask], smart_env: dict[str, str]) -> FlaskClient:
    """A test client of the app configured for the test EHR."""
    return make_smart_app(smart_env).test_client()
