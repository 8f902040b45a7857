"""OpenTelemetry: opt-in by OTEL_*, one span per request with child spans per stage and per FHIR fetch, no PHI."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from service.obs import tracing
from service.web.app import create_app

SCENARIO = Path(__file__).parents[1] / "scenarios" / "R05" / "fires-knee-bme-no-cause"
FHIR = "http://127.0.0.1:9/fhir"
ACCESS_TOKEN = "ehr-access-token-do-not-trace"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """Spans of apps created in this test land here (as OTEL_TRACES_EXPORTER would send them out)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(tracing, "tracer_from_env", lambda *a, **k: provider.get_tracer("test"))
    return memory


@pytest.fixture
def traced_client(exporter: InMemorySpanExporter, app_config: dict[str, Any]) -> Iterator[Any]:
    """A client of an app with tracing on and metrics off."""
    application = create_app(test_config=app_config)
    yield application.test_client()
    application.extensions["bme"].pool.close()
    application.extensions["bme"].engine.dispose()


def _attribute_values(span: ReadableSpan) -> list[str]:
    values: list[str] = []
    for value in (span.attributes or {}).values():
        values.extend(str(v) for v in (value if isinstance(value, tuple | list) else [value]))
    return values


@responses.activate
def test_a_call_is_one_span_with_stage_and_fetch_children_and_no_patient_data(
    traced_client: Any, exporter: InMemorySpanExporter
) -> None:
    body = json.loads((SCENARIO / "request.json").read_text(encoding="utf-8"))
    del body["prefetch"]["medications"], body["prefetch"]["procedures"]  # two keys fetched from the FHIR server
    body.update(fhirServer=FHIR, fhirAuthorization={"access_token": ACCESS_TOKEN, "token_type": "Bearer",
                                                     "expires_in": 300, "scope": "patient/*.read",
                                                     "subject": "bme-cds"})
    responses.add(responses.GET, re.compile(re.escape(FHIR) + r"/MedicationRequest.*"),
                  json={"resourceType": "Bundle", "type": "searchset"})
    responses.add(responses.GET, re.compile(re.escape(FHIR) + r"/Procedure.*"), status=503)
    answer = traced_client.post("/cds-services/bme-patient-view", json=body, headers={"traceparent": TRACEPARENT})
    assert answer.status_code == 200, answer.json
    spans = {span.name: span for span in exporter.get_finished_spans() if not span.name.startswith("bme.fhir")}
    fetches = [span for span in exporter.get_finished_spans() if span.name == "bme.fhir.fetch"]
    root = spans["POST /cds-services/<service_id>"]
    assert format(root.context.trace_id, "032x") == TRACEPARENT.split("-")[1]  # the EHR's trace continues
    assert root.attributes is not None
    assert root.attributes["http.response.status_code"] == 200 and root.attributes["bme.service"] == "bme-patient-view"
    assert root.attributes["bme.cards"] == len(answer.json["cards"])
    for stage in ("prefetch", "features", "rules", "cards"):
        child = spans[f"bme.stage.{stage}"]
        assert child.parent is not None and child.parent.span_id == root.context.span_id
    assert sorted(span.attributes["bme.fhir.outcome"] for span in fetches if span.attributes) == ["ok", "server_error"]
    for fetch in fetches:  # run on the pool's threads, still children of the prefetch stage
        assert fetch.parent is not None and fetch.parent.span_id == spans["bme.stage.prefetch"].context.span_id
    patient_id = body["context"]["patientId"]
    for span in exporter.get_finished_spans():
        for text in _attribute_values(span):
            assert text != patient_id and ACCESS_TOKEN not in text and "http" not in text and "Patient/" not in text


def test_a_refused_request_is_spanned_with_its_status(
    exporter: InMemorySpanExporter, app_config: dict[str, Any]
) -> None:
    application = create_app(test_config={**app_config, "auth": "on"})
    try:
        assert application.test_client().post("/cds-services/bme-patient-view", json={}).status_code == 401
    finally:
        application.extensions["bme"].engine.dispose()
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None and span.attributes["http.response.status_code"] == 401


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, "otlp"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, None),
    ],
)
def test_tracing_is_opt_in_through_the_standard_variables(environ: dict[str, str], expected: str | None) -> None:
    assert tracing.exporter_name(environ) == expected
    assert (tracing.tracer_from_env(environ) is None) == (expected is None)


def test_an_unsupported_exporter_stops_start_up() -> None:
    with pytest.raises(ValueError, match="not supported"):
        tracing.tracer_from_env({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_without_a_sampler_one_trace_in_a_hundred_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    tracer: Any = tracing.tracer_from_env({"OTEL_TRACES_EXPORTER": "console"})
    description = tracer.sampler.get_description()
    assert description.startswith("ParentBased{root:TraceIdRatioBased{0.01}")
    assert "remoteParentSampled:AlwaysOnSampler" in description  # an EHR's sampled trace is always followed
