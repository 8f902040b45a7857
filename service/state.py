"""AppState: the collaborators create_app builds once and the views use (kept apart so views stay thin)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from service.config import Settings
from service.pipeline import Deps
from service.prefetch import FhirPool
from service.registry import Registry


@dataclass(frozen=True)
class AppState:
    """Built once per process by create_app; stored in app.extensions['bme']."""

    settings: Settings
    registry: Registry
    deps: Deps
    engine: Engine
    pool: FhirPool
    authenticator: Any | None  # service.auth.Authenticator when authentication is on
    fhir_server_check: Callable[[Any, str], None]

    def check_fhir_server(self, client: Any, body: Any) -> None:
        """Refuse a fhirServer this client may not name, before any outbound call."""
        if isinstance(body, dict) and isinstance(body.get("fhirServer"), str):
            self.fhir_server_check(client, body["fhirServer"])
