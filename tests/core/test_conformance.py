"""CDS Hooks 2.0 service checklist (https://cds-hooks.hl7.org/2.0/): discovery, calls, errors, invariants."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import pytest
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from hooks import SERVICES
from service.cds import schemas

PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1950-02-03"}
EMPTY = {"resourceType": "Bundle", "type": "searchset", "total": 0}
MRI_REPORT = {
    "resourceType": "DiagnosticReport",
    "id": "mri-1",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "24968-0"}], "text": "MR Lumbar spine"},
    "subject": {"reference": "Patient/p1"},
    "effectiveDateTime": "2026-11-01",
    "conclusion": "Extensive bone marrow edema of the entire L1 vertebral body. No retropulsion.",
}


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r} for r in resources],
    }


def request(
    hook: str = "patient-view", *, reports: tuple[dict[str, Any], ...] = (MRI_REPORT,), **context: Any
) -> dict[str, Any]:
    """A complete request with every prefetch key filled."""
    prefetch: dict[str, Any] = {key: EMPTY for key in SERVICES[0].prefetch}
    prefetch["patient"] = PATIENT
    prefetch["reports"] = _bundle(*reports) if reports else EMPTY
    ctx: dict[str, Any] = {"userId": "Practitioner/u1", "patientId": "p1", **context}
    if hook != "patient-view":
        ctx.setdefault("draftOrders", {"resourceType": "Bundle", "type": "collection", "entry": []})
    if hook == "order-select":
        ctx.setdefault("selections", [])
    return {
        "hook": hook,
        "hookInstance": "6f1c3a2e-8d4b-4e0a-9b1f-2c7d5e8a9b10",
        "context": ctx,
        "prefetch": prefetch,
    }


def assert_no_empty_optional_fields(value: Any, path: str = "$") -> None:
    """CDS Hooks 2.0: JSON elements SHALL NOT be null or empty (only `cards` may be an empty array)."""
    if isinstance(value, dict):
        assert value, f"{path} is an empty object"
        for key, item in value.items():
            assert item is not None, f"{path}.{key} is null"
            if key != "cards":
                assert item != [] and item != "", f"{path}.{key} is empty"
            assert_no_empty_optional_fields(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            assert_no_empty_optional_fields(item, f"{path}[{i}]")


# --- discovery --------------------------------------------------------------------------------------------


def test_discovery_lists_the_registry(client: FlaskClient) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200 and response.mimetype == "application/json"
    schemas.validate("discovery", response.json)
    assert response.json == {"services": [s.discovery_entry() for s in SERVICES]}
    assert [s["id"] for s in response.json["services"]] == [
        "bme-patient-view",
        "bme-order-select",
        "bme-order-sign",
    ]
    assert [s["hook"] for s in response.json["services"]] == ["patient-view", "order-select", "order-sign"]


_TOKEN_VALUE = re.compile(r"^(\{\{context\.[A-Za-z]+\}\}|[^{}]+)$")


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.id)
def test_prefetch_templates_use_only_the_2_0_query_subset(service: Any) -> None:
    for key, spec in service.prefetch.items():
        path, _, query = spec.template.partition("?")
        assert re.fullmatch(r"[A-Z][A-Za-z]+(/\{\{context\.patientId\}\})?", path), key
        for name, value in parse_qsl(query, keep_blank_values=True):
            # no _include/_revinclude, no chaining, no modifiers except :in; only _count and _sort as results
            assert "." not in name and (":" not in name or name.endswith(":in")), (key, name)
            assert not name.startswith("_") or name in ("_count", "_sort"), (key, name)
            assert _TOKEN_VALUE.match(value), (key, value)


# --- service calls -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hook, service_id",
    (
        ("patient-view", "bme-patient-view"),
        ("order-select", "bme-order-select"),
        ("order-sign", "bme-order-sign"),
    ),
)
def test_each_service_answers_with_a_valid_response(client: FlaskClient, hook: str, service_id: str) -> None:
    response = client.post(f"/cds-services/{service_id}", json=request(hook))
    assert response.status_code == 200, response.json
    schemas.validate("response", response.json)
    assert_no_empty_optional_fields(response.json)
    for card in response.json["cards"]:
        assert len(card["summary"]) < 140
        assert card["source"]["topic"]["code"]
        if "suggestions" in card:
            assert card["selectionBehavior"] in ("at-most-one", "any")
            assert all(s.get("uuid") for s in card["suggestions"])


def test_patient_with_nothing_relevant_gets_no_cards(client: FlaskClient) -> None:
    response = client.post("/cds-services/bme-patient-view", json=request(reports=()))
    assert response.status_code == 200 and response.json == {"cards": []}


def test_repeated_identical_calls_give_identical_responses(client: FlaskClient) -> None:
    body = request()
    first = client.post("/cds-services/bme-patient-view", json=body)
    second = client.post("/cds-services/bme-patient-view", json=body)
    assert first.json["cards"], "the MRI report should produce cards"
    assert first.get_data() == second.get_data()


def _outcome(response: Any, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.json
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["diagnostics"].startswith(code)
    assert "Traceback" not in response.get_data(as_text=True)


def test_unknown_service_is_404(client: FlaskClient) -> None:
    _outcome(client.post("/cds-services/bme-nope", json=request()), 404, "BME-0404")


@pytest.mark.parametrize(
    "mutate, detail",
    (
        (lambda r: r.pop("hookInstance"), "hookInstance"),
        (lambda r: r.pop("context"), "context"),
        (lambda r: r["context"].pop("patientId"), "patientId"),
        (lambda r: r.update(hook="order-sign"), "draftOrders"),
        (
            lambda r: r.update(
                fhirAuthorization={
                    "access_token": "t",
                    "token_type": "Bearer",
                    "expires_in": 1,
                    "scope": "s",
                    "subject": "c",
                }
            ),
            "fhirServer",
        ),
        (lambda r: r.update(prefetch=[]), "prefetch"),
    ),
)
def test_invalid_requests_are_400_with_the_reason(client: FlaskClient, mutate: Any, detail: str) -> None:
    body = request()
    mutate(body)
    response = client.post("/cds-services/bme-patient-view", json=body)
    _outcome(response, 400, "BME-0400")
    assert any(detail in issue["diagnostics"] for issue in response.json["issue"])


def test_hook_of_another_service_is_400(client: FlaskClient) -> None:
    _outcome(client.post("/cds-services/bme-order-sign", json=request("order-select")), 400, "BME-0400")


def test_malformed_json_is_400_and_wrong_content_type_415(client: FlaskClient) -> None:
    _outcome(
        client.post("/cds-services/bme-patient-view", data="{nope", content_type="application/json"),
        400,
        "BME-0400",
    )
    _outcome(
        client.post(
            "/cds-services/bme-patient-view", data="hook=x", content_type="application/x-www-form-urlencoded"
        ),
        415,
        "BME-0415",
    )


def test_missing_required_prefetch_without_fhir_server_is_412(client: FlaskClient) -> None:
    body = request()
    del body["prefetch"]["conditions"]
    response = client.post("/cds-services/bme-patient-view", json=body)
    _outcome(response, 412, "BME-0412")
    assert "conditions" in response.json["issue"][0]["diagnostics"]


def test_null_prefetch_key_is_final_not_missing(client: FlaskClient) -> None:
    body = request()
    body["prefetch"]["conditions"] = None
    assert client.post("/cds-services/bme-patient-view", json=body).status_code == 200


def test_get_on_a_service_is_405_json(client: FlaskClient) -> None:
    _outcome(client.get("/cds-services/bme-patient-view"), 405, "BME-0405")


def test_unknown_path_is_404_json(client: FlaskClient) -> None:
    _outcome(client.get("/nothing-here"), 404, "BME-0404")


# --- CORS and health ------------------------------------------------------------------------------------------


def test_cors_preflight_allows_authorization(client: FlaskClient) -> None:
    response = client.options(
        "/cds-services/bme-patient-view",
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code in (200, 204)
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://sandbox.cds-hooks.org")


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready"}


def test_readiness_fails_when_the_database_is_gone(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_engine: Any, _worker: str) -> None:
        raise OperationalError("INSERT", {}, Exception("database down"))

    monkeypatch.setattr("service.store.health.write_probe", broken)
    response = client.get("/readyz")
    _outcome(response, 503, "BME-0503")
    assert response.headers["Retry-After"] == "5"


def test_discovery_path_is_not_under_well_known(client: FlaskClient) -> None:
    assert client.get("/.well-known/cds-services").status_code == 404  # pre-1.0 location, not served


def test_discovery_can_announce_the_spec_version(app_config: dict[str, Any]) -> None:
    from service.web.app import create_app

    app = create_app(test_config={**app_config, "emit_spec_version": True})
    body = app.test_client().get("/cds-services").json
    schemas.validate("discovery", body)
    assert {s["version"] for s in body["services"]} == {"2.0"}
