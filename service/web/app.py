"""The Flask application factory: read config once, build every collaborator once, register the API."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask import Response
from flask_cors import CORS
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import InternalServerError

from service.compose import build_deps
from service.config import ConfigError
from service.config import Settings
from service.config import load_settings
from service.errors import CdsError
from service.errors import operation_outcome
from service.fhir.prefetch import FhirPool
from service.fhir.urls import is_loopback_host
from service.smart import init_app as init_smart
from service.store.db import make_engine
from service.store.health import DbGuard
from service.store.records import build_records
from service.web import logs
from service.web import metrics as observability
from service.web import security
from service.web.api import bp
from service.web.api import ops
from service.web.auth import Authenticator
from service.web.auth import load_trusted_clients
from service.web.responses import error_response
from service.web.responses import json_response
from service.web.rulepages import bp as rules_bp
from service.web.state import AppState

log = logging.getLogger(__name__)

# HTTP status -> OperationOutcome issue code, for errors Werkzeug raises itself (routing, methods).
_HTTP_ISSUE = {
    400: "invalid",
    404: "not-found",
    405: "not-supported",
    413: "too-costly",
    415: "not-supported",
}


def create_app(settings: Settings | None = None, *, test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create the app; `test_config` overrides Settings fields (tests, the CLI)."""
    if settings is None:
        settings = load_settings(**dict(test_config or {}))
    app = Flask("service")  # the package root: templates/ and static/ live in service/

    engine = make_engine(settings.effective_database_url, timeout=settings.db_timeout_seconds)
    obs = observability.build(settings)  # metrics (BME_METRICS_TOKEN) and tracing (OTEL_*), or a no-op
    pool = FhirPool.from_settings(settings, observer=obs.observer)
    guard, intake, card_buffer = build_records(settings, engine)
    deps = build_deps(settings, pool=pool, recorder=card_buffer, observer=obs.observer)
    app.extensions["bme"] = AppState(
        settings=settings,
        deps=deps,
        engine=engine,
        pool=pool,
        authenticator=_authenticator(settings, engine, guard),
        card_buffer=card_buffer,
        guard=guard,
        intake=intake,
    )
    # The sandbox and browser-based clients send a preflight with Authorization (cds-hooks/docs#1).
    CORS(
        app,
        origins=list(settings.cors_origins),
        allow_headers=["Authorization", "Content-Type"],
        methods=["GET", "POST", "OPTIONS"],
        max_age=86400,
    )
    app.register_blueprint(bp)
    app.register_blueprint(ops)
    app.register_blueprint(rules_bp)  # public rule pages, the cards' source.url
    _register_error_handlers(app)
    # Flask runs the app's before_request hooks in this order, then the Blueprint's (web/api.py): the access-log
    # timer first, then the cheap size and content-type checks, then authentication, service and body.
    logs.init_app(app, settings)
    observability.init_app(app, settings, obs, deps.registry)
    security.init_app(app, settings)
    init_smart(app, settings, deps)
    return app


def _authenticator(settings: Settings, engine: Any, guard: DbGuard | None = None) -> Authenticator | None:
    """Authentication is on by default; with no trusted clients listed yet, every call is refused (401)."""
    if settings.auth == "off":
        # Also guards gunicorn started by hand on create_app: without client JWTs we serve loopback only.
        if not is_loopback_host(urlsplit(settings.public_base_url).hostname or ""):
            raise ConfigError("BME_AUTH=off is only allowed for a loopback BME_PUBLIC_BASE_URL (development)")
        log.warning("authentication is OFF (BME_AUTH=off): development only, on a loopback address")
        return None
    clients = load_trusted_clients(settings.trusted_clients) if settings.trusted_clients else ()
    if not clients:
        log.warning(
            "no trusted CDS clients configured (BME_TRUSTED_CLIENTS): every call will be refused with 401"
        )
    return Authenticator(
        clients,
        engine,
        leeway_seconds=settings.jwt_leeway_seconds,
        http_timeout=settings.fhir_timeout_seconds,
        guard=guard,
    )


def _register_error_handlers(app: Flask) -> None:
    """Every error becomes a JSON OperationOutcome: never HTML, never a stack trace."""

    @app.errorhandler(CdsError)
    def cds_error(error: CdsError) -> Response:
        log.info("request refused: %s %s", error.status, error.message)
        return error_response(error)

    @app.errorhandler(InternalServerError)
    def internal_error(error: InternalServerError) -> Response:
        original = getattr(error, "original_exception", None)
        log.error("unhandled error: %s", type(original or error).__name__, exc_info=original)
        return json_response(
            operation_outcome("exception", "BME-0500: internal error; it has been logged"), 500
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = _HTTP_ISSUE.get(status, "processing")
        response = json_response(operation_outcome(code, f"BME-0{status}: {error.name}"), status)
        if status == 405 and error.get_response().headers.get("Allow"):
            response.headers["Allow"] = error.get_response().headers["Allow"]
        return response
