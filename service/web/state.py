"""AppState: the collaborators create_app builds once and the views use (kept apart so views stay thin)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from service.cds.pipeline import Deps
from service.cds.registry import Registry
from service.config import Settings
from service.fhir.prefetch import FhirPool
from service.store.feedback import CardBuffer
from service.store.health import DbGuard
from service.store.intake import Intake
from service.web.auth import Authenticator
from service.web.auth import TrustedClient
from service.web.auth import check_fhir_server


@dataclass(frozen=True)
class AppState:
    """Built once per process by create_app; stored in app.extensions['bme']."""

    settings: Settings
    registry: Registry
    deps: Deps
    engine: Engine
    pool: FhirPool
    authenticator: Authenticator | None  # None only with BME_AUTH=off
    card_buffer: CardBuffer | None = None  # the issued-card rows waiting to be written
    guard: DbGuard | None = None  # database calls under a deadline; knows whether the database is down
    intake: Intake | None = None  # feedback: all or nothing, spooled while the database is down

    def check_fhir_server(self, client: TrustedClient | None, body: Any) -> None:
        """Refuse a fhirServer this client may not name (the open-proxy guard), before any outbound call."""
        if isinstance(body, dict) and isinstance(body.get("fhirServer"), str):
            check_fhir_server(client, body["fhirServer"], self.settings.allow_http_fhir_hosts)
