"""AppState: the collaborators create_app builds once and the views use (kept apart so views stay thin)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from service.cds.pipeline import Deps
from service.config import Settings
from service.fhir.prefetch import FhirPool
from service.store.feedback import CardBuffer
from service.store.health import DbGuard
from service.store.intake import Intake
from service.web.auth import Authenticator


@dataclass(frozen=True)
class AppState:
    """Built once per process by create_app; stored in app.extensions['bme']."""

    settings: Settings
    deps: Deps
    engine: Engine
    pool: FhirPool
    authenticator: Authenticator | None  # None only with BME_AUTH=off
    card_buffer: CardBuffer | None = None  # the issued-card rows waiting to be written
    guard: DbGuard | None = None  # database calls under a deadline; knows whether the database is down
    intake: Intake | None = None  # feedback: all or nothing, spooled while the database is down
