"""End to end through create_app: authentication on every call, the open-proxy guard, hardening."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.security.support import PUBLIC_BASE
from tests.security.support import RecordingServer
from tests.security.support import SigningKey
from tests.security.support import claims
from tests.security.support import sign

DISCOVERY = "/cds-services"
SERVICE = "/cds-services/bme-patient-view"
FEEDBACK = "/cds-services/bme-patient-view/feedback"
PATIENT_ID = "pat-sec-1"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def empty_bundle() -> dict[str, Any]:
    """An empty searchset Bundle."""
    return {"resourceType": "Bundle", "type": "searchset", "entry": []}


def patient_view(**overrides: Any) -> dict[str, Any]:
    """A complete patient-view request, no relevant data: answers 200 without FHIR calls."""
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": PATIENT_ID},
        "prefetch": {
            "patient": {
                "resourceType": "Patient",
                "id": PATIENT_ID,
                "gender": "female",
                "birthDate": "1970-01-01",
            },
            "conditions": empty_bundle(),
            "observations": empty_bundle(),
            "reports": empty_bundle(),
            "medications": empty_bundle(),
        },
    }
    body.update(overrides)
    return body


def feedback_body() -> dict[str, Any]:
    """One valid feedback item (an accepted suggestion)."""
    suggestion = {"id": str(uuid.uuid4())}
    item = {
        "card": str(uuid.uuid4()),
        "outcome": "accepted",
        "acceptedSuggestions": [suggestion],
        "outcomeTimestamp": "2026-11-21T05:00:00Z",
    }
    return {"feedback": [item]}


class Caller:
    """Signs a fresh token for each call with aud = public URL of the endpoint."""

    def __init__(self, client: FlaskClient, key: SigningKey, jku: str) -> None:
        self.client, self.key, self.jku = client, key, jku

    def token(self, path: str, **overrides: Any) -> str:
        return sign(self.key, claims(PUBLIC_BASE + path, **overrides), jku=self.jku)

    def get(self, path: str, token: str | None = None) -> TestResponse:
        return self.client.get(path, headers={"Authorization": f"Bearer {token or self.token(path)}"})

    def post(self, path: str, body: Any, token: str | None = None, **kwargs: Any) -> TestResponse:
        headers = {"Authorization": f"Bearer {token or self.token(path)}", **kwargs.pop("headers", {})}
        if isinstance(body, bytes | str):
            kwargs.setdefault("content_type", "application/json")
            return self.client.post(path, data=body, headers=headers, **kwargs)
        return self.client.post(path, json=body, headers=headers, **kwargs)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def caller(app: Flask, es_key: SigningKey, jku: str) -> Caller:
    return Caller(app.test_client(), es_key, jku)


def assert_outcome(response: TestResponse, status: int) -> dict[str, Any]:
    """The response has this status and an OperationOutcome body."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"]
    return body  # type: ignore[no-any-return]


class TestAuthenticationOnEveryCall:
    @pytest.mark.parametrize(("method", "path"), [("GET", DISCOVERY), ("POST", SERVICE), ("POST", FEEDBACK)])
    def test_no_token_is_401_with_outcome_and_challenge(self, caller: Caller, method: str, path: str) -> None:
        response = caller.client.open(path, method=method, json=patient_view() if method == "POST" else None)
        assert_outcome(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")

    def test_valid_tokens_are_served(self, caller: Caller) -> None:
        assert caller.get(DISCOVERY).status_code == 200
        response = caller.post(SERVICE, patient_view())
        assert response.status_code == 200, response.get_data(as_text=True)
        assert "cards" in response.get_json()
        assert caller.post(FEEDBACK, feedback_body()).status_code == 200

    def test_rs384_token_is_served(self, caller: Caller, rs_key: SigningKey, jku: str) -> None:
        token = sign(rs_key, claims(PUBLIC_BASE + DISCOVERY), jku=jku)
        assert caller.get(DISCOVERY, token=token).status_code == 200

    def test_token_for_one_endpoint_is_refused_at_another(self, caller: Caller) -> None:
        assert_outcome(caller.post(FEEDBACK, feedback_body(), token=caller.token(SERVICE)), 401)

    def test_replay_through_http_is_refused(self, caller: Caller) -> None:
        token = caller.token(DISCOVERY)
        assert caller.get(DISCOVERY, token=token).status_code == 200
        assert_outcome(caller.get(DISCOVERY, token=token), 401)

    def test_health_probes_need_no_token(self, caller: Caller) -> None:
        assert caller.client.get("/healthz").status_code == 200
        assert caller.client.get("/readyz").status_code == 200

    def test_cors_preflight_needs_no_token(self, caller: Caller) -> None:
        response = caller.client.options(
            SERVICE,
            headers={
                "Origin": "https://sandbox.cds-hooks.org",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert response.status_code < 300

    def test_unknown_service_is_not_revealed_before_authentication(self, caller: Caller) -> None:
        assert_outcome(caller.client.post("/cds-services/nope", json=patient_view()), 401)


class TestOpenProxyGuard:
    """A fhirServer the client may not name is refused before any outbound connection."""

    def test_forbidden_fhir_server_is_never_contacted(self, caller: Caller) -> None:
        stranger = RecordingServer().start()
        try:
            body = patient_view(
                fhirServer=stranger.base + "/fhir",
                fhirAuthorization={
                    "access_token": "secret-token",
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "scope": "patient/*.read",
                    "subject": "client",
                },
            )
            del body["prefetch"]
            assert_outcome(caller.post(SERVICE, body), 403)
            assert stranger.connections == 0
        finally:
            stranger.stop()

    def test_the_clients_own_server_is_contacted(
        self, caller: Caller, fhir_recorder: RecordingServer
    ) -> None:
        """Positive control: the same request naming an allowed server does reach it."""
        body = patient_view(fhirServer=fhir_recorder.base + "/fhir")
        del body["prefetch"]
        response = caller.post(SERVICE, body)
        assert response.status_code in (200, 412)
        assert fhir_recorder.connections > 0

    def test_http_to_a_remote_host_is_refused_with_auth_off(self, make_app: Callable[..., Flask]) -> None:
        client = make_app(auth="off", public_base_url="http://127.0.0.1:8080").test_client()
        body = patient_view(fhirServer="http://fhir.example.org/r4")
        del body["prefetch"]
        assert_outcome(client.post(SERVICE, json=body), 400)

    @pytest.mark.parametrize(
        "url",
        [
            "http://[::1",
            "https://x.example:99999/fhir",
            "https://u:p@x.example/fhir",
            "file:///etc/passwd",
            "gopher://127.0.0.1:25/",
            "//x.example/fhir",
        ],
    )
    def test_malformed_fhir_server_is_400_with_auth_off(
        self, make_app: Callable[..., Flask], url: str
    ) -> None:
        client = make_app(auth="off", public_base_url="http://127.0.0.1:8080").test_client()
        body = patient_view(fhirServer=url)
        del body["prefetch"]
        assert_outcome(client.post(SERVICE, json=body), 400)

    @pytest.mark.parametrize("allow_http", [True, False])
    def test_plain_http_is_served_only_for_a_client_allowed_it(
        self,
        make_app: Callable[..., Flask],
        trusted_clients_doc: dict[str, Any],
        tmp_path: Path,
        es_key: SigningKey,
        jku: str,
        allow_http: bool,
    ) -> None:
        """The documented `allow_http` works end to end: the edge and the prefetch apply one rule."""
        lan = "http://fhir.lan.example/r4"  # not loopback, not in BME_ALLOW_HTTP_FHIR_HOSTS
        trusted_clients_doc["clients"][0].update(fhir_servers=[lan], allow_http=allow_http)
        clients_file = tmp_path / "clients-allow-http.json"
        clients_file.write_text(json.dumps(trusted_clients_doc), encoding="utf-8")
        caller = Caller(make_app(trusted_clients=clients_file).test_client(), es_key, jku)
        response = caller.post(SERVICE, patient_view(fhirServer=lan))  # all prefetch sent: nothing is fetched
        if allow_http:
            assert response.status_code == 200, response.get_data(as_text=True)[:500]
            assert "cards" in response.get_json()
        else:
            assert "https" in assert_outcome(response, 400)["issue"][0]["diagnostics"]


class TestHardening:
    def test_declared_oversized_body_is_413_before_authentication(
        self, make_app: Callable[..., Flask]
    ) -> None:
        client = make_app(max_body_bytes=4096).test_client()
        response = client.post(SERVICE, data=b"{" + b" " * 5000 + b"}", content_type="application/json")
        assert_outcome(response, 413)

    def test_undeclared_oversized_body_is_413(
        self, make_app: Callable[..., Flask], es_key: SigningKey, jku: str
    ) -> None:
        caller = Caller(make_app(max_body_bytes=4096).test_client(), es_key, jku)
        stream = io.BytesIO(json.dumps(patient_view(pad="x" * 8000)).encode())
        response = caller.client.post(
            SERVICE,
            input_stream=stream,
            content_type="application/json",
            headers={"Authorization": f"Bearer {caller.token(SERVICE)}"},
            environ_overrides={"wsgi.input_terminated": True},
        )
        assert_outcome(response, 413)

    @pytest.mark.parametrize(
        "content_type",
        [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/xml",
            None,
        ],
    )
    def test_wrong_content_type_is_415(self, caller: Caller, content_type: str | None) -> None:
        headers = {"Authorization": f"Bearer {caller.token(SERVICE)}"}
        if content_type:
            headers["Content-Type"] = content_type
        assert_outcome(caller.client.post(SERVICE, data=json.dumps(patient_view()), headers=headers), 415)

    def test_json_with_charset_is_accepted(self, caller: Caller) -> None:
        response = caller.post(
            SERVICE, json.dumps(patient_view()), content_type="application/json; charset=utf-8"
        )
        assert response.status_code == 200

    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"   ",
            b"{",
            b'{"hook": }',
            b"\xff\xfe\x00{",
            b"[1, 2,]",
            b'{"a": NaN}',
            b'{"a": Infinity}',
            b'{"a": "\\ud800"}',
            b"nul",
        ],
    )
    def test_malformed_json_is_400(self, caller: Caller, raw: bytes) -> None:
        assert_outcome(caller.post(SERVICE, raw), 400)

    def test_nesting_of_64_levels_passes_the_parser_and_65_is_refused(self, caller: Caller) -> None:
        def nested(levels: int) -> dict[str, Any]:
            value: Any = "x"
            for _ in range(levels - 2):  # the request object and the extension object are two levels
                value = [value]
            return patient_view(extension={"deep": value})

        refused = assert_outcome(caller.post(SERVICE, nested(65)), 400)
        assert "64" in json.dumps(refused)
        response = caller.post(SERVICE, nested(64))
        assert "deeper than 64" not in response.get_data(as_text=True)

    def test_very_deep_nesting_is_400_not_500(self, caller: Caller) -> None:
        raw = b"[" * 100_000 + b"]" * 100_000
        assert_outcome(caller.post(SERVICE, raw), 400)

    def test_huge_string_is_400(self, caller: Caller) -> None:
        assert_outcome(caller.post(SERVICE, patient_view(hookInstance="x" * (1024 * 1024 + 1))), 400)

    def test_huge_key_is_400(self, caller: Caller) -> None:
        assert_outcome(caller.post(SERVICE, patient_view(extension={"k" * (1024 * 1024 + 1): 1})), 400)

    def test_paired_surrogates_are_fine(self, caller: Caller) -> None:
        body = json.dumps(patient_view(extension={"note": "\U0001f600"}), ensure_ascii=True)
        assert "\\ud83d" in body
        assert caller.post(SERVICE, body).status_code == 200

    @pytest.mark.parametrize("path", ["/cds-services/nope", "/cds-services/nope/feedback"])
    def test_unknown_service_is_404_before_its_body_is_read(self, caller: Caller, path: str) -> None:
        """An authenticated call to an unknown service gets 404 whatever its body (the body is not parsed)."""
        assert_outcome(caller.post(path, b"{"), 404)
        assert_outcome(caller.post(path, b"[" * 100 + b"]" * 100), 404)

    def test_errors_and_cards_are_written_by_one_json_writer(self, make_app: Callable[..., Flask]) -> None:
        """UTF-8 as is, compact: an OperationOutcome is written exactly like a card response."""
        client = make_app(auth="off", public_base_url="http://127.0.0.1:8080").test_client()
        missing = client.post("/cds-services/caf%C3%A9", json=patient_view())
        assert_outcome(missing, 404)
        assert missing.data == orjson.dumps(missing.get_json())  # not json.dumps' \u00e9 and ", " spacing
        served = client.post(SERVICE, json=patient_view())
        assert served.status_code == 200 and served.data == orjson.dumps(served.get_json())

    def test_unauthenticated_body_is_not_parsed(self, caller: Caller) -> None:
        """Malformed JSON without a token gets 401, not 400: the body is not read before authentication."""
        response = caller.client.post(SERVICE, data=b"{", content_type="application/json")
        assert_outcome(response, 401)


class TestSecurityHeaders:
    def _check(self, response: TestResponse, *, https: bool = True) -> None:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, name
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert ("Strict-Transport-Security" in response.headers) is https

    def test_on_success_and_on_every_kind_of_error(self, caller: Caller) -> None:
        self._check(caller.get(DISCOVERY))
        self._check(caller.post(SERVICE, patient_view()))
        self._check(caller.client.get(DISCOVERY))  # 401
        self._check(caller.post(SERVICE, b"{"))  # 400
        self._check(caller.client.get("/no-such-path"))  # 404
        self._check(caller.client.delete(DISCOVERY))  # 405
        self._check(caller.client.post(SERVICE, data="x", content_type="text/plain"))  # 415
        self._check(caller.client.get("/healthz"))

    def test_no_hsts_over_http(self, make_app: Callable[..., Flask]) -> None:
        client = make_app(auth="off", public_base_url="http://127.0.0.1:8080").test_client()
        self._check(client.get(DISCOVERY), https=False)
