"""Security test fixtures: keys, a JWKS server, a trusted-clients file, the authenticator, the app."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine

from service.config import load_settings
from service.store.db import make_engine
from service.web.auth import Authenticator
from service.web.auth import TrustedClient
from service.web.auth import load_trusted_clients
from tests.security.support import FHIR_BASE
from tests.security.support import INLINE_ISSUER
from tests.security.support import ISSUER
from tests.security.support import OTHER_ISSUER
from tests.security.support import PUBLIC_BASE
from tests.security.support import RecordingServer
from tests.security.support import SigningKey
from tests.security.support import new_key

INLINE_AUDIENCE = PUBLIC_BASE + "/cds-services"


@pytest.fixture(scope="session")
def es_key() -> SigningKey:
    """The EHR's ES384 key (published in its JWK Set)."""
    return new_key("ES384")


@pytest.fixture(scope="session")
def rs_key() -> SigningKey:
    """The EHR's RS384 key (published in its JWK Set)."""
    return new_key("RS384")


@pytest.fixture(scope="session")
def inline_key() -> SigningKey:
    """The inline-JWKS client's ES256 key (exchanged out of band)."""
    return new_key("ES256")


@pytest.fixture
def jwks_server(es_key: SigningKey, rs_key: SigningKey) -> Iterator[RecordingServer]:
    """The EHR's JWK Set on a loopback HTTP server that counts fetches."""
    server = RecordingServer(documents={"/jwks.json": {"keys": [es_key.public_jwk(), rs_key.public_jwk()]}})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fhir_recorder() -> Iterator[RecordingServer]:
    """A loopback 'FHIR server' that records every connection made to it."""
    server = RecordingServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def jku(jwks_server: RecordingServer) -> str:
    """The allow-listed JWK Set URL."""
    return jwks_server.base + "/jwks.json"


@pytest.fixture
def trusted_clients_doc(jku: str, inline_key: SigningKey, fhir_recorder: RecordingServer) -> dict[str, Any]:
    """Three clients: an Epic-like EHR (jku), another EHR (other jku), one with inline keys and identity."""
    return {
        "clients": [
            {
                "issuer": ISSUER,
                "jku": [jku],
                "fhir_servers": [FHIR_BASE, fhir_recorder.base + "/fhir"],
                "profile": "epic",
            },
            {
                "issuer": OTHER_ISSUER,
                "jku": [jku.replace("/jwks.json", "/other-jwks.json")],
                "fhir_servers": ["https://other-ehr.example.org/fhir"],
            },
            {
                "issuer": INLINE_ISSUER,
                "jwks": {"keys": [inline_key.public_jwk()]},
                "audience": INLINE_AUDIENCE,
                "subject": "client-123",
                "tenant": "tenant-1",
                "fhir_servers": ["https://inline.example.org/fhir"],
                "profile": "generic",
            },
        ]
    }


@pytest.fixture
def trusted_clients_file(tmp_path: Path, trusted_clients_doc: dict[str, Any]) -> Path:
    """The trusted-clients file on disk."""
    path = tmp_path / "trusted-clients.json"
    path.write_text(json.dumps(trusted_clients_doc), encoding="utf-8")
    return path


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite database with the service's tables."""
    db = make_engine(f"sqlite:///{tmp_path / 'auth.sqlite3'}")
    yield db
    db.dispose()


@pytest.fixture
def clients(trusted_clients_file: Path) -> tuple[TrustedClient, ...]:
    """The parsed trusted clients."""
    return load_trusted_clients(trusted_clients_file)


@pytest.fixture
def authenticator(clients: tuple[TrustedClient, ...], engine: Engine) -> Authenticator:
    """The authenticator under test, with the real clock and 5 s leeway."""
    return Authenticator(clients, engine, leeway_seconds=5, http_timeout=2.0)


@pytest.fixture
def make_app(tmp_path: Path, trusted_clients_file: Path) -> Iterator[Callable[..., Flask]]:
    """Build the real app (create_app) with auth on by default."""
    built: list[Flask] = []

    def _make(**overrides: Any) -> Flask:
        from service.web.app import create_app

        values: dict[str, Any] = {
            "data_dir": tmp_path,
            "auth": "on",
            "trusted_clients": trusted_clients_file,
            "public_base_url": PUBLIC_BASE,
            "fhir_timeout_seconds": 2.0,
            "fhir_total_timeout_seconds": 3.0,
        }
        values.update(overrides)
        settings = load_settings(environ={}, **values)
        app = create_app(settings)
        app.config["TESTING"] = True
        built.append(app)
        return app

    yield _make
    for app in built:
        app.extensions["bme"].pool.close()
        app.extensions["bme"].engine.dispose()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger back as it was (configure_logging changes it process-wide)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    urllib3_level = logging.getLogger("urllib3").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("urllib3").setLevel(urllib3_level)
