"""The SMART launch through the test EHR: PKCE, state, aud, context, client types, actionable errors."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from service.config import ConfigError
from service.config import SmartSettings
from tests import builders as b
from tests.smart.authserver import AuthConfig
from tests.smart.authserver import LaunchContext
from tests.smart.authserver import TestEhr
from tests.smart.authserver import s256
from tests.smart.conftest import LAUNCH
from tests.smart.conftest import PUBLIC_BASE
from tests.smart.conftest import Clock
from tests.smart.patient import PATIENT_ID

HTTP = requests.Session()
HTTP.trust_env = False


def launch(client: FlaskClient, ehr: TestEhr, launch_value: str | None = LAUNCH) -> str:
    """GET /smart/launch (or /smart/standalone); the authorize URL it redirects to."""
    if launch_value is None:
        response = client.get("/smart/standalone")
    else:
        response = client.get("/smart/launch", query_string={"iss": ehr.fhir_base, "launch": launch_value})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def authorize(url: str) -> str:
    """The test EHR's answer to the authorize request: the callback path and query on our app."""
    answer = HTTP.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(f"{PUBLIC_BASE}/smart/callback?")
    return location.removeprefix(PUBLIC_BASE)


def full_launch(client: FlaskClient, ehr: TestEhr, launch_value: str | None = LAUNCH) -> TestResponse:
    """Launch, authorize, callback, page: the page response."""
    callback = client.get(authorize(launch(client, ehr, launch_value)))
    assert callback.status_code == 303, callback.get_data(as_text=True)
    return client.get(callback.headers["Location"])


def text(response: TestResponse) -> str:
    """The page's visible text, tags removed, whitespace folded."""
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html.unescape(body))


def test_ehr_launch_sends_pkce_state_aud_and_launch_and_shows_the_patient(
    smart_client: FlaskClient, ehr: TestEhr
) -> None:
    page = full_launch(smart_client, ehr)
    assert page.status_code == 200
    request = ehr.recorded.authorize[0]
    assert request["aud"] == ehr.fhir_base
    assert request["launch"] == LAUNCH
    assert request["code_challenge_method"] == "S256"
    assert len(request["state"]) >= 43  # secrets.token_urlsafe(32)
    assert request["scope"].split()[0] == "launch"
    assert "patient/Observation.rs" in request["scope"].split()
    token_call = ehr.recorded.token[0]
    assert s256(token_call["code_verifier"]) == request["code_challenge"]
    assert ehr.recorded.authorize_errors == [] and ehr.recorded.token_errors == []
    # Every FHIR read carried the token the EHR issued for this launch.
    token = ehr.recorded.issued_tokens[0]
    assert ehr.recorded.fhir and all(auth == f"Bearer {token}" for _, auth in ehr.recorded.fhir)
    assert f"Patient/{PATIENT_ID}" in [path for path, _ in ehr.recorded.fhir]
    words = text(page)
    assert "Ada Nordmann" in words and "MRN MRN-4711" in words  # need_patient_banner: true
    assert "Bone marrow edema on imaging" in words
    assert "DiagnosticReport/mri-1" in words
    assert re.search(r"seed 00[0-3]_[0-9a-f]{16}\.txt", words)
    assert "<svg" in page.get_data(as_text=True)
    # The token reaches neither the page nor the cookie.
    assert token not in page.get_data(as_text=True)
    assert all(token not in value for value in page.headers.values())


def test_page_shows_a_recommendation_with_rule_evidence_and_checks(
    smart_client: FlaskClient, ehr: TestEhr
) -> None:
    words = text(full_launch(smart_client, ehr))
    assert re.search(r"Recommendations \((?!0\))\d+\)", words), words[:2000]
    assert re.search(r"\b[RS]\d{2}[a-z]? [A-Z]", words)
    assert "The rule in plain words" in words
    assert "Evidence" in words


def test_cookie_is_opaque_http_only_lax_and_scoped(smart_client: FlaskClient, ehr: TestEhr) -> None:
    response = smart_client.get("/smart/launch", query_string={"iss": ehr.fhir_base, "launch": LAUNCH})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/smart/" in cookie
    assert re.match(r"bme_smart=[A-Za-z0-9_-]{43};", cookie)
    assert "Secure" not in cookie  # plain http loopback in the test; https deployments get Secure


def test_tampered_state_is_refused_and_no_token_is_requested(smart_client: FlaskClient, ehr: TestEhr) -> None:
    callback = authorize(launch(smart_client, ehr))
    query = parse_qs(urlsplit(callback).query)
    forged = urlencode({"code": query["code"][0], "state": query["state"][0][:-2] + "xy"})
    refused = smart_client.get(f"/smart/callback?{forged}")
    assert refused.status_code == 400
    assert "does not belong to a launch from this browser" in text(refused)
    assert "Traceback" not in refused.get_data(as_text=True)
    assert ehr.recorded.token == []
    # The genuine redirect still completes: a forged one does not burn the launch.
    assert smart_client.get(callback).status_code == 303


def test_state_is_single_use(smart_client: FlaskClient, ehr: TestEhr) -> None:
    callback = authorize(launch(smart_client, ehr))
    assert smart_client.get(callback).status_code == 303
    replay = smart_client.get(callback)
    assert replay.status_code == 400
    assert len(ehr.recorded.token) == 1


def test_state_from_another_browser_is_refused(
    smart_client: FlaskClient, ehr: TestEhr, make_smart_app: Callable[..., Flask], smart_env: dict[str, str]
) -> None:
    callback = authorize(launch(smart_client, ehr))
    other_browser = smart_client.application.test_client()
    refused = other_browser.get(callback)
    assert refused.status_code == 400
    assert ehr.recorded.token == []


def test_denied_consent_is_a_friendly_403(smart_client: FlaskClient, ehr: TestEhr) -> None:
    denied = smart_client.get(authorize(launch(smart_client, ehr, "launch-deny")))
    assert denied.status_code == 403
    words = text(denied)
    assert "Access to the patient's record was not granted" in words
    assert "open the app again and approve access" in words
    assert ehr.recorded.token == []


def test_wrong_aud_is_refused_by_the_authorization_server(smart_client: FlaskClient, ehr: TestEhr) -> None:
    url = launch(smart_client, ehr)
    parts = urlsplit(url)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    params["aud"] = "https://attacker.example/fhir"
    answer = HTTP.get(f"{ehr.base_url}/authorize?{urlencode(params)}", allow_redirects=False, timeout=10)
    location = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert location["error"] == ["invalid_request"]
    assert ehr.recorded.authorize_errors == ["aud is not this server's FHIR base"]
    # Our app shows the person what happened, with a next step, and asks for no token.
    shown = smart_client.get(answer.headers["Location"].removeprefix(PUBLIC_BASE))
    assert shown.status_code == 502
    assert "What you can do" in text(shown)
    assert ehr.recorded.token == []


def test_wrong_code_verifier_is_refused_by_the_authorization_server(
    smart_client: FlaskClient, ehr: TestEhr
) -> None:
    code = parse_qs(urlsplit(authorize(launch(smart_client, ehr))).query)["code"][0]
    answer = HTTP.post(
        f"{ehr.base_url}/token",
        timeout=10,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": f"{PUBLIC_BASE}/smart/callback",
            "code_verifier": "x" * 64,
            "client_id": "bme-smart-test",
        },
    )
    assert answer.status_code == 400
    assert ehr.recorded.token_errors == ["code_verifier does not match the challenge"]


def test_discovery_falls_back_to_the_capability_statement(
    auth_config: AuthConfig, make_smart_app: Callable[..., Flask]
) -> None:
    auth_config.well_known = False
    with TestEhr(auth_config) as ehr:
        client = make_smart_app(
            {"BME_SMART_CLIENT_ID": auth_config.client_id, "BME_SMART_ALLOWED_ISS": ehr.fhir_base}
        ).test_client()
        page = full_launch(client, ehr)
        assert page.status_code == 200
        assert ehr.recorded.authorize[0]["aud"] == ehr.fhir_base


def test_standalone_launch_asks_for_launch_patient(
    auth_config: AuthConfig, make_smart_app: Callable[..., Flask]
) -> None:
    with TestEhr(auth_config) as ehr:
        client = make_smart_app(
            {
                "BME_SMART_CLIENT_ID": auth_config.client_id,
                "BME_SMART_ALLOWED_ISS": ehr.fhir_base,
                "BME_SMART_V1_SCOPES": "true",
            }
        ).test_client()
        page = full_launch(client, ehr, None)
        assert page.status_code == 200
        scopes = ehr.recorded.authorize[0]["scope"].split()
        assert "launch" not in ehr.recorded.authorize[0] and scopes[0] == "launch/patient"
        assert "patient/Condition.read" in scopes  # v1 scopes by configuration


def test_confidential_client_with_secret_basic(
    auth_config: AuthConfig, make_smart_app: Callable[..., Flask]
) -> None:
    auth_config.client_auth = "secret"
    auth_config.client_secret = "s3cret:with/odd chars"
    with TestEhr(auth_config) as ehr:
        client = make_smart_app(
            {
                "BME_SMART_CLIENT_ID": auth_config.client_id,
                "BME_SMART_CLIENT_SECRET": auth_config.client_secret,
                "BME_SMART_ALLOWED_ISS": ehr.fhir_base,
            }
        ).test_client()
        assert full_launch(client, ehr).status_code == 200
        assert "client_id" not in ehr.recorded.token[0]


def test_confidential_client_with_private_key_jwt(
    auth_config: AuthConfig, tmp_path: Path, make_smart_app: Callable[..., Flask]
) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    key_file = tmp_path / "smart-key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    auth_config.client_auth = "jwt"
    auth_config.public_key_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with TestEhr(auth_config) as ehr:
        client = make_smart_app(
            {
                "BME_SMART_CLIENT_ID": auth_config.client_id,
                "BME_SMART_PRIVATE_KEY_FILE": str(key_file),
                "BME_SMART_JWT_ALGORITHM": "ES384",
                "BME_SMART_KEY_ID": "k1",
                "BME_SMART_ALLOWED_ISS": ehr.fhir_base,
            }
        ).test_client()
        assert full_launch(client, ehr).status_code == 200
        assert ehr.recorded.token_errors == []
        assert ehr.recorded.token[0]["client_assertion_type"].endswith("jwt-bearer")


def test_jwks_publishes_the_public_key_of_the_private_key_jwt_client(
    tmp_path: Path, make_smart_app: Callable[..., Flask]
) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    key_file = tmp_path / "smart-key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    env = {
        "BME_SMART_CLIENT_ID": "c",
        "BME_SMART_PRIVATE_KEY_FILE": str(key_file),
        "BME_SMART_KEY_ID": "k1",
        "BME_SMART_JWT_ALGORITHM": "ES384",
    }
    published = make_smart_app(env).test_client().get("/smart/.well-known/jwks.json")
    assert published.status_code == 200
    (jwk,) = published.get_json()["keys"]
    assert (jwk["kid"], jwk["alg"], jwk["kty"], jwk["crv"]) == ("k1", "ES384", "EC", "P-384")
    assert "d" not in jwk  # never the private part
    signed = jwt.encode({"sub": "c"}, key, algorithm="ES384")
    assert jwt.decode(signed, jwt.PyJWK(jwk).key, algorithms=["ES384"])["sub"] == "c"


def test_a_key_that_does_not_fit_the_algorithm_stops_the_start(
    tmp_path: Path, make_smart_app: Callable[..., Flask]
) -> None:
    key_file = tmp_path / "smart-key.pem"
    key_file.write_bytes(
        ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ConfigError):
        make_smart_app({"BME_SMART_CLIENT_ID": "c", "BME_SMART_PRIVATE_KEY_FILE": str(key_file)})  # RS384
    key_file.write_text("not a key")
    with pytest.raises(ConfigError):
        make_smart_app(
            {
                "BME_SMART_CLIENT_ID": "c",
                "BME_SMART_PRIVATE_KEY_FILE": str(key_file),
                "BME_SMART_JWT_ALGORITHM": "ES384",
            }
        )


def test_public_client_has_no_jwks(smart_client: FlaskClient) -> None:
    assert smart_client.get("/smart/.well-known/jwks.json").status_code == 404


def test_expired_launch_asks_to_relaunch(smart_client: FlaskClient, ehr: TestEhr, clock: Clock) -> None:
    callback = smart_client.get(authorize(launch(smart_client, ehr)))
    clock.advance(3601)
    expired = smart_client.get(callback.headers["Location"])
    assert expired.status_code == 401
    assert "This launch has expired" in text(expired)
    assert "WWW-Authenticate" in expired.headers


def test_pending_launch_expires(smart_client: FlaskClient, ehr: TestEhr, clock: Clock) -> None:
    callback = authorize(launch(smart_client, ehr))
    clock.advance(601)
    assert smart_client.get(callback).status_code == 401
    assert ehr.recorded.token == []


def test_fhir_server_down_is_a_friendly_502(
    smart_client: FlaskClient, ehr: TestEhr, auth_config: AuthConfig
) -> None:
    auth_config.fhir_down = True
    page = full_launch(smart_client, ehr)
    assert page.status_code == 502
    words = text(page)
    assert "The patient's record could not be read from the EHR" in words
    assert "Reload this page in a minute" in words


def test_iss_not_on_the_allow_list_is_refused(smart_client: FlaskClient) -> None:
    refused = smart_client.get(
        "/smart/launch", query_string={"iss": "https://other.example/fhir", "launch": "x"}
    )
    assert refused.status_code == 403
    assert "not registered with the decision support app" in text(refused)


def test_launch_without_iss_is_a_400(smart_client: FlaskClient) -> None:
    assert smart_client.get("/smart/launch").status_code == 400


def test_unconfigured_app_says_so(make_smart_app: Callable[..., Flask]) -> None:
    client = make_smart_app({}).test_client()
    refused = client.get("/smart/launch", query_string={"iss": "https://ehr.example/fhir", "launch": "x"})
    assert refused.status_code == 503
    assert "not set up on this server" in text(refused)


def test_unknown_launch_page_is_a_404(smart_client: FlaskClient) -> None:
    assert smart_client.get("/smart/app/nonexistent").status_code == 404


def test_app_context_names_the_card(smart_client: FlaskClient, ehr: TestEhr) -> None:
    words = text(full_launch(smart_client, ehr))
    assert "Opened from the card for rule R21" in words
    assert "launched the app in the context of DiagnosticReport/mri-1" in words


def test_token_is_never_logged(
    smart_client: FlaskClient, ehr: TestEhr, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    full_launch(smart_client, ehr)
    token = ehr.recorded.issued_tokens[0]
    assert caplog.records
    assert all(token not in record.getMessage() for record in caplog.records)


def test_slow_fhir_server_is_a_friendly_504(
    auth_config: AuthConfig, make_smart_app: Callable[..., Flask]
) -> None:
    auth_config.fhir_delay_seconds = 1.0
    with TestEhr(auth_config) as ehr:
        env = {"BME_SMART_CLIENT_ID": auth_config.client_id, "BME_SMART_ALLOWED_ISS": ehr.fhir_base}
        client = make_smart_app(env, fhir_timeout_seconds=0.2, fhir_total_timeout_seconds=0.4).test_client()
        page = full_launch(client, ehr)
        assert page.status_code == 504
        assert "The patient's record could not be read from the EHR" in text(page)


def test_token_no_longer_accepted_by_the_fhir_server_asks_to_relaunch(
    smart_client: FlaskClient, ehr: TestEhr, auth_config: AuthConfig
) -> None:
    callback = smart_client.get(authorize(launch(smart_client, ehr)))
    assert smart_client.get(callback.headers["Location"]).status_code == 200
    auth_config.tokens_revoked = True
    page = smart_client.get(callback.headers["Location"])
    assert page.status_code == 401
    assert "This launch has expired" in text(page)
    # The launch is forgotten: reloading does not call the FHIR server again.
    calls = len(ehr.recorded.fhir)
    assert smart_client.get(callback.headers["Location"]).status_code == 404
    assert len(ehr.recorded.fhir) == calls


def test_broken_token_endpoint_is_a_friendly_502(
    smart_client: FlaskClient, ehr: TestEhr, auth_config: AuthConfig
) -> None:
    auth_config.token_endpoint_broken = True
    page = smart_client.get(authorize(launch(smart_client, ehr)))
    assert page.status_code == 502
    assert "sign-in service did not let the app in" in text(page)
    assert "<html>Internal error</html>" not in page.get_data(as_text=True)


def test_fhir_server_without_smart_endpoints_is_a_friendly_502(
    smart_client: FlaskClient, ehr: TestEhr, auth_config: AuthConfig
) -> None:
    auth_config.advertise_endpoints = False
    page = smart_client.get("/smart/launch", query_string={"iss": ehr.fhir_base, "launch": LAUNCH})
    assert page.status_code == 502
    words = text(page)
    assert "does not offer SMART sign-in" in words and "busy" not in words  # a set-up problem, not a busy EHR
    assert "BME-S5023" in words
    assert ehr.recorded.authorize == []


def test_a_sick_discovery_endpoint_says_try_again(
    smart_client: FlaskClient, ehr: TestEhr, auth_config: AuthConfig
) -> None:
    auth_config.discovery_broken = True
    page = smart_client.get("/smart/launch", query_string={"iss": ehr.fhir_base, "launch": LAUNCH})
    assert page.status_code == 502
    assert "sign-in details could not be read" in text(page) and "busy" in text(page)


def test_reloading_an_expired_launch_keeps_saying_expired(
    smart_client: FlaskClient, ehr: TestEhr, clock: Clock
) -> None:
    callback = smart_client.get(authorize(launch(smart_client, ehr)))
    clock.advance(3601)
    for _ in range(2):
        again = smart_client.get(callback.headers["Location"])
        assert again.status_code == 401 and "This launch has expired" in text(again)
    clock.advance(24 * 3600 + 1)
    launch(smart_client, ehr)  # a new launch purges rows expired for more than a day
    forgotten = smart_client.get(callback.headers["Location"])
    assert forgotten.status_code == 404 and "old launch" in text(forgotten)


def test_a_forged_state_page_names_a_400_code(smart_client: FlaskClient, ehr: TestEhr) -> None:
    launch(smart_client, ehr)
    page = smart_client.get("/smart/callback", query_string={"code": "x", "state": "forged-" + "x" * 40})
    assert page.status_code == 400 and "BME-S4002" in text(page)


def test_standalone_without_a_configured_server_says_so(make_smart_app: Callable[..., Flask]) -> None:
    env = {
        "BME_SMART_CLIENT_ID": "c",
        "BME_SMART_ALLOWED_ISS": "https://a.example/fhir,https://b.example/fhir",
    }
    client = make_smart_app(env).test_client()
    assert client.get("/smart/standalone").status_code == 503
    assert "Sign in and choose a patient" not in text(client.get("/smart/"))


def test_index_offers_standalone_launch_when_configured(smart_client: FlaskClient) -> None:
    index = smart_client.get("/smart/")
    assert index.status_code == 200
    assert "Sign in and choose a patient" in text(index)


def test_aud_is_the_iss_exactly_as_sent_and_no_banner_when_not_needed(
    auth_config: AuthConfig, make_smart_app: Callable[..., Flask]
) -> None:
    auth_config.launches["no-banner"] = LaunchContext(patient=PATIENT_ID, need_patient_banner="false")
    with TestEhr(auth_config) as ehr:
        env = {"BME_SMART_CLIENT_ID": auth_config.client_id, "BME_SMART_ALLOWED_ISS": ehr.fhir_base}
        client = make_smart_app(env).test_client()
        sent = client.get("/smart/launch", query_string={"iss": ehr.fhir_base + "/", "launch": "no-banner"})
        assert parse_qs(urlsplit(sent.headers["Location"]).query)["aud"] == [ehr.fhir_base + "/"]
        callback = client.get(authorize(sent.headers["Location"]))
        page = client.get(callback.headers["Location"])
        assert page.status_code == 200
        assert "Ada Nordmann" not in text(page)  # the EHR shows its own banner
        assert "Bone marrow edema on imaging" in text(page)


def test_init_app_again_replaces_the_set_up(make_smart_app: Callable[..., Flask], clock: Clock) -> None:
    from service.smart import init_app

    app = make_smart_app({})  # as create_app will do it, from an environment without BME_SMART_*
    query = {"iss": "https://ehr.example/fhir", "launch": "x"}
    assert app.test_client().get("/smart/launch", query_string=query).status_code == 503
    state = app.extensions["bme"]
    smart = SmartSettings(client_id="c", allowed_iss=("https://other.example/fhir",))
    init_app(app, replace(state.settings, smart=smart), state.deps, clock=clock)
    assert app.test_client().get("/smart/launch", query_string=query).status_code == 403


def test_app_pages_may_be_framed_by_the_launching_ehr_only(smart_client: FlaskClient, ehr: TestEhr) -> None:
    page = full_launch(smart_client, ehr)
    csp = page.headers["Content-Security-Policy"]
    origin = ehr.fhir_base.split("/", 3)
    assert f"frame-ancestors 'self' {origin[0]}//{origin[2]}" in csp
    assert "X-Frame-Options" not in page.headers


def test_create_app_takes_the_smart_settings_from_its_settings(tmp_path: Path) -> None:
    """The SMART app is configured by the Settings create_app gets, like every other part (env not needed)."""
    from service.web.app import create_app

    smart = SmartSettings(client_id="c", allowed_iss=("https://other.example/fhir",))
    app = create_app(test_config={"data_dir": tmp_path, "auth": "off", "smart": smart})
    try:
        query = {"iss": "https://ehr.example/fhir", "launch": "x"}
        assert app.test_client().get("/smart/launch", query_string=query).status_code == 403  # set up: not 503
    finally:
        app.extensions["bme"].pool.close()
        app.extensions["bme"].engine.dispose()


def test_page_shows_the_vitamin_d_result_beside_the_diagnosis_without_a_counted_no(
    smart_client: FlaskClient, ehr: TestEhr, auth_config: AuthConfig
) -> None:
    """18 ng/mL next to "vitamin D deficiency: nothing on record (counted as no)" read as a contradiction."""
    auth_config.resources.append(
        b.observation("1989-3", 18, "ng/mL", date.today().isoformat(), id="vitd-1", patient_id=PATIENT_ID)
    )
    words = text(full_launch(smart_client, ehr))
    assert re.search(
        r"Vitamin D deficiency diagnosis none on record The rules read the coded diagnosis, not this 25-OH "
        r"vitamin D result\. 25-OH vitamin D 18 ng/mL",
        words,
    ), words
    counted = re.findall(r"Nothing on record for \(counted as no\): ([^.]*)\.", words)
    assert counted and not any("Vitamin D" in line for line in counted)


def _calcium(when: date, id: str = "ca-synthea") -> dict[str, Any]:
    """Synthea's calcium: LOINC 49765-1, outside our value sets (docs/valuesets.md), so the rules never read it."""
    lab = b.observation("49765-1", 9.4, "mg/dL", when.isoformat(), id=id, patient_id=PATIENT_ID)
    lab["code"]["coding"][0]["display"] = "Calcium [Mass/volume] in Blood"
    lab["category"] = [
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
    ]
    return lab


def test_page_lists_a_lab_the_rules_do_not_read_in_a_folded_section(
    smart_client: FlaskClient, ehr: TestEhr, auth_config: AuthConfig
) -> None:
    """Issue 14: a calcium coded 49765-1 never reached the page, as the prefetch searches by our codes only."""
    three_years_ago = date.today() - timedelta(days=3 * 365 + 1)
    auth_config.resources.append(_calcium(three_years_ago))
    page = full_launch(smart_client, ehr)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    folded = re.search(r'<details class="other-labs" id="other-labs">(.*?)</details>', body, re.S)
    assert folded, body
    words = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", folded.group(1))))
    assert "Other lab results on record (not read by the rules) (1)" in words
    assert f"Calcium [Mass/volume] in Blood 9.4 mg/dL {three_years_ago.isoformat()} 3 years old" in words
    assert "http://loinc.org 49765-1" in words
    assert "eGFR" not in words  # read by the rules: listed with the features, not here
    searches = [query for query, _ in ehr.recorded.fhir if "category=" in query]
    assert searches == [
        f"Observation?patient={PATIENT_ID}&category=http%3A%2F%2Fterminology.hl7.org%2FCodeSystem%2F"
        "observation-category%7Claboratory&_sort=-date&_count=50"
    ]
    assert "returned an error for other lab results" not in text(page)


def test_a_failed_search_for_other_labs_is_said_and_the_page_still_renders(
    smart_client: FlaskClient, ehr: TestEhr, auth_config: AuthConfig
) -> None:
    auth_config.resources.append(_calcium(date.today()))
    auth_config.failing_queries.append("category=")
    page = full_launch(smart_client, ehr)
    assert page.status_code == 200
    words = text(page)
    assert "Other lab results: the FHIR server returned an error for other lab results." in words
    assert "Bone marrow edema on imaging" in words  # the rest of the page is there
    assert "other-labs" not in page.get_data(as_text=True)
