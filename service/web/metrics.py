"""Metrics and tracing for the Flask app: build the observer, serve /metrics, count and span each request.

/metrics exists only when BME_METRICS_TOKEN is set (404 otherwise) and answers only a caller presenting
`Authorization: Bearer <that token>` (401 with an OperationOutcome otherwise). Tracing follows OTEL_*.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask import Response
from flask import g
from flask import request
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.trace import Status
from opentelemetry.trace import StatusCode
from opentelemetry.trace import Tracer
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest

from service.cds.registry import Registry
from service.config import ConfigError
from service.config import Settings
from service.errors import AuthenticationError
from service.obs import tracing
from service.obs.live import LiveObserver
from service.obs.metrics import Metrics
from service.obs.metrics import build_metrics
from service.obs.metrics import exposition_registry
from service.obs.metrics import multiprocess_dir
from service.obs.observer import NULL_OBSERVER
from service.obs.observer import Observer

SERVICE_ROUTE = "/cds-services/<service_id>"
MIN_TOKEN_CHARS = 16  # the token guards operational data: a short one could be guessed
UNKNOWN_SERVICE = "(unknown)"


@dataclass(frozen=True)
class Observability:
    """What create_app wires in: the observer for the pipeline, plus what /metrics and the hooks need."""

    observer: Observer
    metrics: Metrics | None = None
    registry: CollectorRegistry | None = None  # None in multiprocess mode (values live in files)
    tracer: Tracer | None = None


def build(settings: Settings) -> Observability:
    """Metrics when BME_METRICS_TOKEN is set, tracing when OTEL_* ask for it, else the null observer."""
    if settings.metrics_token and len(settings.metrics_token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"BME_METRICS_TOKEN must be at least {MIN_TOKEN_CHARS} characters (a random secret)")
    tracer = tracing.tracer_from_env()
    metrics = registry = None
    if settings.metrics_token:
        registry = None if multiprocess_dir() else CollectorRegistry(auto_describe=True)
        metrics = build_metrics(registry, settings)
    if metrics is None and tracer is None:
        return Observability(NULL_OBSERVER)
    return Observability(LiveObserver(metrics, tracer), metrics, registry, tracer)


def init_app(app: Flask, settings: Settings, obs: Observability, registry: Registry) -> None:
    """Register /metrics (when on) and the per-request counting and spans."""
    if obs.metrics is not None:
        _register_endpoint(app, settings.metrics_token, obs.registry)
    if obs.metrics is None and obs.tracer is None:
        return
    metrics, tracer = obs.metrics, obs.tracer
    known = frozenset(service.id for service in registry)
    children: dict[tuple[str, str], tuple[Any, Any]] = {}  # (service, status) -> bound counter and histogram

    def _begin() -> None:
        g.bme_obs_t0 = time.perf_counter()
        if tracer is not None:
            # The EHR's W3C traceparent, when it sends one, becomes our parent; nothing else is read.
            traceparent = request.headers.get("traceparent")
            parent = propagate.extract({"traceparent": traceparent}) if traceparent else None
            span = tracer.start_span(f"{request.method} request", context=parent, kind=SpanKind.SERVER,
                                     record_exception=False, set_status_on_exception=False)
            span.set_attribute("http.request.method", request.method)
            g.bme_obs_span = span
            g.bme_obs_token = otel_context.attach(trace.set_span_in_context(span))

    app.before_request_funcs.setdefault(None, []).insert(0, _begin)  # first, so refusals are timed too

    @app.after_request
    def _count(response: Response) -> Response:
        rule = request.url_rule.rule if request.url_rule is not None else "(unmatched)"
        span = getattr(g, "bme_obs_span", None)
        if span is not None:
            span.update_name(f"{request.method} {rule}")
            span.set_attribute("http.route", rule)
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR))
        if rule != SERVICE_ROUTE or request.method != "POST":
            return response
        service_id = (request.view_args or {}).get("service_id")
        label = service_id if isinstance(service_id, str) and service_id in known else UNKNOWN_SERVICE
        if span is not None:
            span.set_attribute("bme.service", label)
        if metrics is not None:
            key = (label, str(response.status_code))
            bound = children.get(key)
            if bound is None:  # labels() costs a lock and a look-up: bind each pair once
                bound = children[key] = (metrics.requests.labels(*key), metrics.request_duration.labels(label))
            bound[0].inc()
            started = getattr(g, "bme_obs_t0", None)
            if isinstance(started, float):
                bound[1].observe(time.perf_counter() - started)
        return response

    @app.teardown_request
    def _end(_error: BaseException | None) -> None:
        span = g.pop("bme_obs_span", None)
        token = g.pop("bme_obs_token", None)
        if span is not None:
            span.end()
        if token is not None:
            otel_context.detach(token)


def _register_endpoint(app: Flask, token: str, own: CollectorRegistry | None) -> None:
    expected = f"Bearer {token}".encode()

    def metrics_view() -> Response:
        """GET /metrics: the Prometheus exposition, for the holder of BME_METRICS_TOKEN only."""
        presented = request.headers.get("Authorization", "").strip().encode()
        if not hmac.compare_digest(presented, expected):
            raise AuthenticationError("the metrics endpoint needs its bearer token")
        return Response(generate_latest(exposition_registry(own)), content_type=CONTENT_TYPE_LATEST)

    app.add_url_rule("/metrics", "bme_metrics", metrics_view, methods=["GET"])
