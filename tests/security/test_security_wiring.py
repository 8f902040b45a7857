"""create_app itself installs the security pieces (the other tests would patch them in if it did not)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import load_settings
from service.errors import ForbiddenError
from service.web.auth import Authenticator
from service.web.auth import TrustedClient
from service.web.auth import fhir_access
from tests.security.support import PUBLIC_BASE


def test_create_app_wires_security(tmp_path: Path, trusted_clients_file: Path) -> None:
    from service.web.app import create_app

    settings = load_settings(environ={}, data_dir=tmp_path, auth="on", trusted_clients=trusted_clients_file,
                             public_base_url=PUBLIC_BASE)
    app = create_app(settings)
    state = app.extensions["bme"]
    try:
        assert app.extensions.get("bme_security") and app.extensions.get("bme_logs")
        assert isinstance(state.authenticator, Authenticator)
        probe = TrustedClient(issuer="probe", jku=(), jwks=None, audience=None, subject=None, tenant=None,
                              fhir_servers=(), profile="generic")
        with pytest.raises(ForbiddenError):
            fhir_access(probe, {"fhirServer": "https://probe.example.org/fhir"}, state.settings.allow_http_fhir_hosts)
    finally:
        state.pool.close()
        state.engine.dispose()
