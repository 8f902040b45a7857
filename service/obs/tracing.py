"""OpenTelemetry tracing, opt-in through the standard OTEL_* variables (off unless an exporter is named).

On when OTEL_TRACES_EXPORTER names an exporter (otlp, console) or an OTLP endpoint is set, and OTEL_SDK_DISABLED is
not true. The SDK itself reads the rest (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER,
OTEL_EXPORTER_OTLP_*). Without OTEL_TRACES_SAMPLER one trace in a hundred is recorded (parent-based, so an EHR's sampled
traceparent is always followed): recording every request costs about a fifth of a worker's CPU
(docs/monitoring.md), beyond issue 16's 5% budget. Spans carry route templates, service and rule ids, statuses and
outcomes only: never a patient id, a URL with its query, a header or a token.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace import Tracer

from service.config import SERVICE_NAME

log = logging.getLogger(__name__)
TRACER_NAME = "bme-cds"
_OTLP_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
DEFAULT_SAMPLE_RATIO = 0.01  # when OTEL_TRACES_SAMPLER is unset: 1 in 10 measured +8% CPU, over the 5% budget


def exporter_name(environ: Mapping[str, str]) -> str | None:
    """The span exporter the environment asks for, or None when tracing stays off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    named = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if named:
        return None if named == "none" else named.split(",")[0].strip()
    return "otlp" if any(environ.get(name) for name in _OTLP_ENDPOINTS) else None


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    if name == "otlp":
        protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"))
        if protocol != "http/protobuf":
            raise ValueError(f"OTLP protocol {protocol!r} is not installed; use http/protobuf")
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    raise ValueError(f"OTEL_TRACES_EXPORTER={name!r} is not supported; use otlp, console or none")


def tracer_from_env(environ: Mapping[str, str] | None = None, exporter: SpanExporter | None = None) -> Tracer | None:
    """A tracer exporting in the background, or None when tracing is off (`exporter` replaces the named one)."""
    env = os.environ if environ is None else environ
    name = exporter_name(env)
    if name is None and exporter is None:
        return None
    # The SDK fills service.name from OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES when they are set.
    resource = Resource.create({} if env.get("OTEL_SERVICE_NAME") else {"service.name": "bme-cds"})
    # An explicit OTEL_TRACES_SAMPLER (e.g. parentbased_always_on) is read by the SDK when sampler is None.
    sampler = None if env.get("OTEL_TRACES_SAMPLER") else ParentBased(TraceIdRatioBased(DEFAULT_SAMPLE_RATIO))
    provider = TracerProvider(resource=resource, sampler=sampler)
    provider.add_span_processor(BatchSpanProcessor(exporter or _exporter(name or "otlp")))
    log.info("tracing on: %s spans exported (%s)", SERVICE_NAME, name or type(exporter).__name__)
    return provider.get_tracer(TRACER_NAME)
