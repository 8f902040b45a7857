"""API: the CDS Hooks 2.0 endpoints. Views are thin: parse, call the pipeline or the store, answer JSON."""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC
from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import g
from flask import request

from service import profiles
from service.cds import pipeline
from service.cds import schemas
from service.errors import AuthenticationError
from service.errors import ForbiddenError
from service.errors import InvalidRequestError
from service.errors import ServiceUnavailableError
from service.store import intake
from service.store.health import DatabaseDown
from service.web import security
from service.web.auth import fhir_access
from service.web.responses import json_response
from service.web.state import AppState

bp = Blueprint("cds", __name__)
ops = Blueprint("ops", __name__)  # health probes: no client JWT, for load balancers and orchestrators
log = logging.getLogger(__name__)


def state() -> AppState:
    """The collaborators built once by create_app."""
    return current_app.extensions["bme"]  # type: ignore[no-any-return]


# A CDS Hooks call's checks, in the order Flask runs a Blueprint's before_request functions (the order they are
# registered below), after the app's cheap size and content-type checks (security.init_app):
# who is calling (401), which service (404), then the body (413, 400). Each refuses before the next costs time.


@bp.before_request
def authenticate() -> None:
    """Every CDS Hooks call carries the CDS client's JWT (CDS Hooks 2.0, Trusting CDS Clients)."""
    if request.method == "OPTIONS":
        return  # CORS preflight carries no credentials by design
    app_state = state()
    g.bme_client = None
    if app_state.authenticator is None:
        return
    audience = app_state.settings.public_base_url + request.path
    try:
        g.bme_client = app_state.authenticator.authenticate(request.headers.get("Authorization"), audience)
    except AuthenticationError as exc:
        app_state.deps.observer.auth_refused(exc.message)  # bme_cds_auth_refusals_total
        raise


@bp.before_request
def find_service() -> None:
    """404 for an unknown service id, before its body is read."""
    service_id = (request.view_args or {}).get("service_id")
    if service_id is not None and request.method != "OPTIONS":  # a CORS preflight is answered as before
        state().deps.registry.get(service_id)


@bp.before_request
def read_body() -> None:
    """Read and check the JSON body once the caller is trusted and the service exists."""
    if request.method in security.BODY_METHODS:
        security.read_json()


@bp.get("/cds-services")
def discovery() -> Response:
    """GET {base}/cds-services: the services, generated from the registry."""
    app_state = state()
    return json_response(
        app_state.deps.registry.discovery("2.0" if app_state.settings.emit_spec_version else None)
    )


@bp.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    """POST {base}/cds-services/{id}: run the hook and answer with cards."""
    app_state = state()
    body = security.read_json()
    log_fields: dict[str, Any] = getattr(g, "bme_log", {})
    log_fields.update(service=service_id)
    if isinstance(body, dict) and isinstance(body.get("hookInstance"), str):
        log_fields["hookInstance"] = body["hookInstance"][:128]
    epic = profiles.epic_request_extensions(body)
    if epic:
        log_fields["epic"] = [f"{key}={value}" for key, value in sorted(epic.items())]  # scalars only
    g.bme_log = log_fields
    client = getattr(g, "bme_client", None)
    # The open-proxy guard, before any outbound call; a body that is no object is refused by the pipeline.
    allow_http_hosts = app_state.settings.allow_http_fhir_hosts
    try:
        access = fhir_access(client, body, allow_http_hosts) if isinstance(body, dict) else None
    except ForbiddenError as exc:
        app_state.deps.observer.auth_refused(exc.message)  # a client naming a fhirServer it may not
        raise
    outcome = pipeline.evaluate(
        service_id,
        body,
        app_state.deps,
        datetime.now(UTC),
        profile=client.profile if client is not None else "generic",
        access=access,
    )
    log_fields["rules"] = list(outcome.rule_ids)
    if outcome.fetched:
        log_fields["fetched"] = list(outcome.fetched)
    if outcome.omitted:
        log_fields["omitted"] = sorted(outcome.omitted)
    return json_response(outcome.body)


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    """POST {base}/cds-services/{id}/feedback: store each item once."""
    app_state = state()
    body = security.read_json()
    if app_state.intake is not None:
        intake.check_size(body, app_state.intake.max_items)  # 413 before validating item by item
    problems = schemas.errors("feedback", body)
    if problems:
        raise InvalidRequestError("the feedback does not follow CDS Hooks 2.0", details=tuple(problems))
    assert app_state.intake is not None  # create_app always builds it
    status, answer, stored = intake.accept(app_state.intake, service_id, body["feedback"], datetime.now(UTC))
    for item in stored:  # bme_cds_feedback_total and bme_cds_override_reasons_total
        app_state.deps.observer.feedback(item.rule_id, item.outcome, item.override_code)
    g.bme_log = {**getattr(g, "bme_log", {}), "service": service_id, "feedback": answer["stored"]}
    return json_response(answer, status)


@ops.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers."""
    return json_response({"status": "ok"})


@ops.get("/readyz")
def readyz() -> Response:
    """Readiness: the database takes a write within its deadline (a read-only or full disk is not ready)."""
    guard = state().guard
    if guard is None:
        return json_response({"status": "ready"})
    try:
        guard.probe(f"{socket.gethostname()[:40]}:{os.getpid()}")  # a real write, under the database deadline
    except DatabaseDown as down:  # the guard logs the reason (rate-limited); the caller sees only "not ready"
        raise ServiceUnavailableError("the database does not take writes", retry_after=guard.retry_after) from down
    return json_response({"status": "ready"})
