"""Property-based fuzzing of every endpoint in service/openapi.json: no 5xx, errors are OperationOutcomes.

Thousands of malformed requests (bodies, content types, headers, nesting, mutated valid requests, forged
tokens) go through the real app in-process. Kept to well under a minute.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from service.config import load_settings
from tests.security.support import ISSUER
from tests.security.support import PUBLIC_BASE
from tests.security.support import RecordingServer
from tests.security.support import claims
from tests.security.support import new_key
from tests.security.support import sign

OPENAPI = json.loads((Path(__file__).resolve().parents[2] / "service" / "openapi.json").read_text("utf-8"))
SERVICE_IDS: list[str] = OPENAPI["paths"]["/cds-services/{service_id}"]["post"]["parameters"][0]["schema"][
    "enum"
]
ENDPOINTS = [(method.upper(), path) for path, item in OPENAPI["paths"].items() for method in item]
FUZZ = settings(
    max_examples=600,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ASCII = st.characters(min_codepoint=32, max_codepoint=126)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)


def concrete_path(path: str, service_id: str) -> str:
    """An OpenAPI path with its {service_id} filled."""
    return path.replace("{service_id}", service_id)


def valid_request(hook: str = "patient-view") -> dict[str, Any]:
    """A complete, valid request the mutations start from."""
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    context: dict[str, Any] = {"userId": "Practitioner/1", "patientId": "p1"}
    if hook != "patient-view":
        context.update(
            draftOrders={
                "resourceType": "Bundle",
                "entry": [
                    {
                        "resource": {
                            "resourceType": "MedicationRequest",
                            "id": "mr1",
                            "status": "draft",
                            "intent": "order",
                            "subject": {"reference": "Patient/p1"},
                            "medicationCodeableConcept": {
                                "coding": [
                                    {
                                        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                        "code": "197361",
                                    }
                                ]
                            },
                        }
                    }
                ],
            }
        )
        if hook == "order-select":
            context["selections"] = ["MedicationRequest/mr1"]
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": context,
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": "p1", "birthDate": "1960-01-01"},
            "conditions": bundle,
            "observations": bundle,
            "reports": bundle,
            "medications": bundle,
        },
    }


def valid_feedback() -> dict[str, Any]:
    """A valid feedback body."""
    return {
        "feedback": [
            {
                "card": str(uuid.uuid4()),
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-21T05:00:00Z",
                "overrideReason": {"userComment": "n/a"},
            }
        ]
    }


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """Replace, delete or add one node somewhere in a valid document."""
    document = json.loads(json.dumps(base))
    node = document
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        children = (
            list(node.items())
            if isinstance(node, dict)
            else list(enumerate(node))
            if isinstance(node, list)
            else []
        )
        containers = [(k, v) for k, v in children if isinstance(v, dict | list) and v]
        if not containers:
            break
        _, node = draw(st.sampled_from(containers))
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if isinstance(node, dict) and node:
        key = draw(st.sampled_from(sorted(node)))
        if action == "replace":
            node[key] = draw(json_values)
        elif action == "delete":
            del node[key]
        else:
            node[draw(st.text(max_size=12))] = draw(json_values)
    elif isinstance(node, list) and node:
        index = draw(st.integers(min_value=0, max_value=len(node) - 1))
        if action == "delete":
            del node[index]
        else:
            node[index] = draw(json_values)
    return document


def nested(depth: int, leaf: Any = 1) -> Any:
    """A value nested `depth` levels deep in alternating lists and objects."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"n": value}
    return value


fhir_server_urls = st.one_of(
    st.sampled_from(
        [
            "http://[::1",
            "https://[::1]:99999/",
            "https://u:p@h/",
            "file:///etc/passwd",
            "http://127.0.0.1:1/",
            "https://h:-1/",
            "http://0x7f000001/",
            "https://h/fhir#frag",
            " https://h/ ",
            "https:",
            "",
        ]
    ),
    st.text(alphabet=st.sampled_from("htps:/[]@:%.-_0123456789abc#?"), max_size=30),
)


def _with_fhir_server(url: str) -> bytes:
    body = valid_request()
    body["fhirServer"] = url
    del body["prefetch"]
    return json.dumps(body).encode()


bodies = st.one_of(
    fhir_server_urls.map(_with_fhir_server),
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(["patient-view", "order-select", "order-sign"])
    .flatmap(lambda hook: mutated(valid_request(hook)))
    .map(lambda v: json.dumps(v).encode()),
    mutated(valid_feedback()).map(lambda v: json.dumps(v).encode()),
    st.integers(min_value=60, max_value=70).map(lambda d: json.dumps(nested(d)).encode()),
    st.integers(min_value=500, max_value=5000).map(lambda n: b"[" * n + b"]" * n),
    json_values.map(lambda v: json.dumps(v).encode()[:-1]),  # truncated
    st.sampled_from(
        [
            b"",
            b"null",
            b"{}",
            b"[]",
            b'"x"',
            b'{"a": NaN}',
            b"\xef\xbb\xbf{}",
            b'{"a":"\\udc00"}',
            b"\x00",
            json.dumps({"hookInstance": "x" * (1024 * 1024 + 10)}).encode(),
        ]
    ),
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/fhir+json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=b",
            "application/xml",
            "",
            "application/json; charset=latin-1",
            "APPLICATION/JSON",
        ]
    ),
    st.text(alphabet=ASCII, max_size=40),
)
paths = st.one_of(
    st.tuples(st.sampled_from([p for _, p in ENDPOINTS]), st.sampled_from(SERVICE_IDS)).map(
        lambda t: concrete_path(*t)
    ),
    st.tuples(
        st.sampled_from([p for _, p in ENDPOINTS]),
        st.text(alphabet=st.sampled_from("abc-_.%~/0123456789"), min_size=1, max_size=20),
    ).map(lambda t: concrete_path(*t)),
)
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])


def assert_well_behaved(response: Any, method: str) -> None:
    """No 5xx; every error body (where a body is allowed) is an OperationOutcome; every answer is JSON."""
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    if method in ("HEAD", "OPTIONS"):
        return
    body = json.loads(response.get_data())
    if response.status_code >= 400:
        assert body["resourceType"] == "OperationOutcome" and body["issue"], body


@pytest.fixture(scope="module")
def open_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    """The real app with authentication off, so the fuzzed bodies reach the parser and the pipeline."""
    from service.web.app import create_app

    config = load_settings(
        environ={},
        data_dir=tmp_path_factory.mktemp("fuzz-open"),
        auth="off",
        public_base_url="http://127.0.0.1:8080",
        max_body_bytes=2 * 1024 * 1024,
        fhir_timeout_seconds=0.5,
        fhir_total_timeout_seconds=1.0,
    )
    app = create_app(config)
    yield app.test_client()
    app.extensions["bme"].pool.close()
    app.extensions["bme"].engine.dispose()


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, Any, str]]:
    """The real app with authentication on, a trusted EHR key and its JWKS server."""
    from service.web.app import create_app

    key = new_key("ES384")
    server = RecordingServer(documents={"/jwks.json": {"keys": [key.public_jwk()]}}).start()
    folder = tmp_path_factory.mktemp("fuzz-auth")
    clients = folder / "clients.json"
    clients.write_text(json.dumps({"clients": [{"issuer": ISSUER, "jku": [server.base + "/jwks.json"]}]}))
    config = load_settings(
        environ={}, data_dir=folder, auth="on", trusted_clients=clients, public_base_url=PUBLIC_BASE
    )
    app = create_app(config)
    yield app, key, server.base + "/jwks.json"
    server.stop()
    app.extensions["bme"].pool.close()
    app.extensions["bme"].engine.dispose()


extra_headers = st.dictionaries(
    st.sampled_from(
        [
            "Host",
            "X-Forwarded-For",
            "X-Forwarded-Proto",
            "X-Forwarded-Host",
            "Accept",
            "Origin",
            "Accept-Encoding",
            "Content-Encoding",
            "Cookie",
            "Referer",
            "User-Agent",
            "X-Request-Id",
        ]
    ),
    st.text(alphabet=ASCII, max_size=60),
    max_size=4,
)


@FUZZ
@given(method=methods, path=paths, body=bodies, content_type=content_types, headers=extra_headers)
def test_fuzzed_requests_without_auth(
    open_client: FlaskClient, method: str, path: str, body: bytes, content_type: str, headers: dict[str, str]
) -> None:
    if content_type:
        headers = {**headers, "Content-Type": content_type}
    response = open_client.open(
        path, method=method, data=body if method not in ("GET", "HEAD") else None, headers=headers
    )
    assert_well_behaved(response, method)


@FUZZ
@given(service_id=st.sampled_from(SERVICE_IDS), body=bodies)
def test_fuzzed_service_calls_with_json_content_type(
    open_client: FlaskClient, service_id: str, body: bytes
) -> None:
    for path in (f"/cds-services/{service_id}", f"/cds-services/{service_id}/feedback"):
        response = open_client.post(path, data=body, content_type="application/json")
        assert_well_behaved(response, "POST")


def _b64(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


forged_headers = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(
            ["none", "None", "HS256", "HS384", "ES384", "RS384", "ES256", "PS256", "EdDSA", ""]
        ),
        "typ": st.sampled_from(["JWT", "jwt", "at+jwt", ""]) | json_scalars,
        "kid": st.text(max_size=20) | json_scalars,
        "jku": st.sampled_from(["http://127.0.0.1:1/jwks.json", "https://evil.example/jwks"]) | json_scalars,
        "crit": json_values,
    },
)
forged_payloads = st.fixed_dictionaries(
    {},
    optional={
        "iss": st.sampled_from([ISSUER, "https://evil.example"]) | json_scalars,
        "aud": st.sampled_from([PUBLIC_BASE + "/cds-services"]) | json_values,
        "exp": json_scalars,
        "iat": json_scalars,
        "nbf": json_scalars,
        "jti": json_scalars,
        "sub": json_scalars,
        "tenant": json_scalars,
    },
)
authorizations = st.one_of(
    st.text(alphabet=ASCII, max_size=60),
    st.text(alphabet=ASCII, max_size=60).map(lambda t: "Bearer " + t),
    st.tuples(forged_headers, forged_payloads, st.binary(max_size=80)).map(
        lambda t: f"Bearer {_b64(t[0])}.{_b64(t[1])}.{_b64(t[2])}"
    ),
    st.tuples(st.text(alphabet=ASCII, max_size=30), json_values, st.binary(max_size=10)).map(
        lambda t: f"Bearer {_b64(t[0].encode())}.{_b64(t[1])}.{_b64(t[2])}"
    ),
)


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST"]),
    endpoint=st.sampled_from(ENDPOINTS),
    service_id=st.sampled_from(SERVICE_IDS),
    authorization=authorizations,
)
def test_forged_tokens_are_all_401(
    secured: tuple[Flask, Any, str],
    method: str,
    endpoint: tuple[str, str],
    service_id: str,
    authorization: str,
) -> None:
    app, _, _ = secured
    path = concrete_path(endpoint[1], service_id)
    response = app.test_client().open(
        path,
        method=method,
        json=valid_request() if method == "POST" else None,
        headers={"Authorization": authorization},
    )
    assert_well_behaved(response, method)
    if path.startswith("/cds-services"):
        assert response.status_code in (401, 405, 413, 415)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(service_id=st.sampled_from(SERVICE_IDS), body=bodies, feedback=st.booleans())
def test_fuzzed_bodies_behind_a_valid_token(
    secured: tuple[Flask, Any, str], service_id: str, body: bytes, feedback: bool
) -> None:
    app, key, jku = secured
    path = f"/cds-services/{service_id}" + ("/feedback" if feedback else "")
    token = sign(key, claims(PUBLIC_BASE + path), jku=jku)
    response = app.test_client().post(
        path, data=body, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )
    assert_well_behaved(response, "POST")
    assert response.status_code != 401


def test_openapi_documents_every_api_route(open_client: FlaskClient) -> None:
    """The CDS Hooks API and the health probes (the SMART app's pages are not part of the API)."""
    app = open_client.application
    routes = {
        (rule.rule.replace("<service_id>", "{service_id}"), method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/cds-services") or rule.rule in ("/healthz", "/readyz")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method.upper()) for path, item in OPENAPI["paths"].items() for method in item}
    assert documented == routes
