"""Logs: one JSON access line per request, whitelisted fields, redaction, never a token or patient data."""

from __future__ import annotations

import io
import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask import g
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from service.config import load_settings
from service.web import logs
from service.web.logs import _REDACTIONS
from service.web.logs import redact
from tests.security.support import ISSUER
from tests.security.support import PUBLIC_BASE
from tests.security.support import RecordingServer
from tests.security.support import SigningKey
from tests.security.support import claims
from tests.security.support import sign

PATIENT_ID = "PID-7c1e4b-SECRET"
MRN = "MRN-55512345"
FAMILY = "Quixadora"
OPAQUE_ACCESS_TOKEN = "opaque-at-" + uuid.uuid4().hex
SERVICE = "/cds-services/bme-patient-view"


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


PATIENT = {
    "resourceType": "Patient",
    "id": PATIENT_ID,
    "gender": "female",
    "birthDate": "1951-03-04",
    "name": [{"family": FAMILY, "given": ["Ximena"]}],
    "identifier": [{"system": "urn:oid:1.2.3.4", "value": MRN}],
}
CONDITION = {
    "resourceType": "Condition",
    "id": "c1",
    "subject": {"reference": f"Patient/{PATIENT_ID}"},
    "clinicalStatus": {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
    },
    "code": {"text": f"Bone marrow edema, patient {FAMILY} {MRN}"},
}


@pytest.fixture
def captured(restore_logging: None) -> io.StringIO:
    """Everything the process logs, through the service's own JSON handler, at DEBUG."""
    stream = io.StringIO()
    logs.configure_logging("DEBUG", stream=stream)
    return stream


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_formatter_writes_one_json_object_per_line(captured: io.StringIO) -> None:
    logging.getLogger("bme.test").warning("hello %s", "world", extra={"bme": {"service": "s"}})
    (line,) = _lines(captured)
    assert line["msg"] == "hello world" and line["level"] == "WARNING" and line["logger"] == "bme.test"
    assert line["service"] == "s" and line["ts"].endswith("+00:00")


@pytest.mark.parametrize(
    "secret",
    [
        "Bearer abc.def.ghi",
        "eyJhbGciOiJSUzM4NCJ9.eyJpc3MiOiJodHRwczovL2VociJ9.c2lnbmF0dXJl",
        '{"access_token": "opaque-secret-value"}',
        "refresh_token=opaque-secret-value&x=1",
        "authorization: Basic dXNlcjpwYXNz",
    ],
)
def test_tokens_are_redacted_even_when_a_careless_call_logs_them(captured: io.StringIO, secret: str) -> None:
    logging.getLogger("bme.test").info("oops %s", secret)
    logging.getLogger("bme.test").info("oops " + secret)
    text = captured.getvalue()
    for fragment in ("abc.def.ghi", "c2lnbmF0dXJl", "opaque-secret-value", "dXNlcjpwYXNz"):
        assert fragment not in text
    assert "[redacted" in text


def test_a_worker_writes_lines_from_a_thread_formatted_and_redacted_as_before(captured: io.StringIO) -> None:
    logs.write_in_background()
    logs.write_in_background()  # a second call changes nothing
    root = logging.getLogger()
    try:
        (handler,) = [h for h in root.handlers if h.get_name() == "bme-json"]
        assert threading.active_count() > 1 and "bme-log-writer" in {t.name for t in threading.enumerate()}
        logging.getLogger("bme.test").warning("hello %s", "world", extra={"bme": {"service": "s"}})
        logging.getLogger("bme.test").info("oops Bearer abc.def.ghi")
    finally:
        logs.stop_background_writer()  # writes what is queued, then logs directly again
    first, second = _lines(captured)
    assert first["msg"] == "hello world" and first["service"] == "s" and first["level"] == "WARNING"
    assert second["msg"] == "oops Bearer [redacted]"
    assert "bme-log-writer" not in {t.name for t in threading.enumerate()}
    logging.getLogger("bme.test").warning("after")
    assert _lines(captured)[-1]["msg"] == "after"  # written at once again


class _CountingStream(io.StringIO):
    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_the_writer_thread_writes_lines_in_order_a_batch_per_write(restore_logging: None) -> None:
    stream = _CountingStream()
    logs.configure_logging("DEBUG", stream=stream)
    logs.write_in_background()
    try:
        for i in range(300):
            logging.getLogger("bme.test").info("line %d", i)
    finally:
        logs.stop_background_writer()
    assert [line["msg"] for line in _lines(stream)] == [f"line {i}" for i in range(300)]
    assert stream.writes < 300  # lines queued during a pause went out together


def test_switching_to_and_from_the_writer_thread_writes_each_line_once(restore_logging: None) -> None:
    stream = io.StringIO()
    logs.configure_logging("DEBUG", stream=stream)
    done = threading.Event()
    sent = [0]

    def log_lines() -> None:
        while not done.is_set():
            logging.getLogger("bme.test").info("line %d", sent[0])
            sent[0] += 1

    writer = threading.Thread(target=log_lines)
    writer.start()
    try:
        for _ in range(200):  # a worker switches once after fork and back once at exit; here, many times
            logs.write_in_background()
            logs.stop_background_writer()
    finally:
        done.set()
        writer.join()
    assert [line["msg"] for line in _lines(stream)] == [f"line {i}" for i in range(sent[0])]


def test_lines_are_not_lost_when_the_writer_thread_is_gone_or_logging_shuts_down(restore_logging: None) -> None:
    stream = io.StringIO()
    logs.configure_logging("DEBUG", stream=stream)
    (handler,) = [h for h in logging.getLogger().handlers if isinstance(h, logs.JsonLinesHandler)]
    handler.write_in_background()
    logging.getLogger("bme.test").info("queued")
    handler.close()  # as logging.shutdown does at exit: the queued line goes out first
    assert [line["msg"] for line in _lines(stream)] == ["queued"]
    handler.write_in_background()
    writer = handler._writer
    assert writer is not None
    writer.stop()  # the thread ends (as if it had died): lines are written directly, not queued for nobody
    logging.getLogger("bme.test").info("after")
    assert [line["msg"] for line in _lines(stream)] == ["queued", "after"]
    handler.write_directly()


def test_exceptions_are_logged_by_type_and_frames_not_message(captured: io.StringIO) -> None:
    try:
        {}[f"Patient/{PATIENT_ID}"]
    except KeyError:
        logging.getLogger("bme.test").exception("lookup failed")
    (line,) = _lines(captured)
    assert line["exc_type"] == "KeyError" and "test_security_logs.py" in line["exc_frames"]
    assert PATIENT_ID not in captured.getvalue()


def test_access_line_keeps_only_whitelisted_fields(captured: io.StringIO) -> None:
    app = Flask(__name__)
    logs.init_app(app, load_settings(environ={}))

    @app.post("/cds-services/<service_id>")
    def view(service_id: str) -> dict[str, Any]:
        g.bme_log = {
            "service": service_id,
            "hookInstance": "h-1",
            "rules": ["R01", "R07"],
            "client": ISSUER,
            "patientId": PATIENT_ID,
            "prefetch": {"patient": PATIENT},
        }
        return {"cards": []}

    app.test_client().post(f"/cds-services/bme-patient-view?patient={PATIENT_ID}", json={})
    (line,) = [entry for entry in _lines(captured) if entry.get("event") == "access"]
    assert (
        line["route"] == "/cds-services/<service_id>" and line["status"] == 200 and line["method"] == "POST"
    )
    assert line["service"] == "bme-patient-view" and line["hookInstance"] == "h-1"
    assert line["rules"] == ["R01", "R07"] and line["client"] == ISSUER
    assert isinstance(line["latency_ms"], float)
    assert PATIENT_ID not in captured.getvalue() and FAMILY not in captured.getvalue()


def test_urllib3_debug_lines_are_kept_out(captured: io.StringIO) -> None:
    logging.getLogger("urllib3.connectionpool").debug(
        '"GET /fhir/Condition?patient=%s HTTP/1.1" 200', PATIENT_ID
    )
    assert PATIENT_ID not in captured.getvalue()


def test_a_full_run_logs_no_token_and_no_patient_identifier(
    captured: io.StringIO,
    make_app: Callable[..., Flask],
    es_key: SigningKey,
    jku: str,
    fhir_recorder: RecordingServer,
) -> None:
    fhir_recorder.documents.update(
        {
            f"/fhir/Patient/{PATIENT_ID}": PATIENT,
            "/fhir/Condition": _bundle(CONDITION),
            "/fhir/Observation": _bundle(),
            "/fhir/DiagnosticReport": _bundle(),
            "/fhir/MedicationRequest": _bundle(),
            "/fhir/ImagingStudy": _bundle(),
            "/fhir/Procedure": _bundle(),
            # No /fhir/Encounter: that optional key fails (404) and is omitted, with its reason logged.
        }
    )
    # The access token the EHR hands us for its FHIR server: one opaque, one JWT-shaped.
    jwt_access_token = sign(es_key, claims("https://ehr.example.org/fhir", sub=PATIENT_ID))
    client = make_app().test_client()
    logs.configure_logging("DEBUG", stream=captured)  # again, in case create_app configured logging itself
    cds_tokens: list[str] = []

    def call(
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        raw: bytes | None = None,
        aud_path: str | None = None,
    ) -> int:
        token = token or sign(es_key, claims(PUBLIC_BASE + (aud_path or path)), jku=jku)
        cds_tokens.append(token)
        headers = {"Authorization": f"Bearer {token}"}
        if raw is not None:
            response = client.open(
                path, method=method, data=raw, content_type="application/json", headers=headers
            )
        else:
            response = client.open(path, method=method, json=body, headers=headers)
        return response.status_code

    def request(access_token: str, prefetch: dict[str, Any] | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "hook": "patient-view",
            "hookInstance": str(uuid.uuid4()),
            "fhirServer": fhir_recorder.base + "/fhir",
            "fhirAuthorization": {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/*.read",
                "subject": "bme-cds",
            },
            "context": {"userId": "Practitioner/1", "patientId": PATIENT_ID},
        }
        if prefetch is not None:
            body["prefetch"] = prefetch
        return body

    full_prefetch = {
        "patient": PATIENT,
        "conditions": _bundle(CONDITION),
        "observations": _bundle(),
        "reports": _bundle(),
        "medications": _bundle(),
    }
    statuses = [
        call("GET", "/cds-services"),
        call("POST", SERVICE, request(OPAQUE_ACCESS_TOKEN, full_prefetch)),
        call("POST", SERVICE, request(OPAQUE_ACCESS_TOKEN, None)),  # everything fetched with the token
        call("POST", SERVICE, request(jwt_access_token, {"patient": PATIENT})),
        call(
            "POST", SERVICE, request(OPAQUE_ACCESS_TOKEN, {"patient": PATIENT, "conditions": "not a bundle"})
        ),
        call("POST", SERVICE, raw=json.dumps(request(OPAQUE_ACCESS_TOKEN, full_prefetch)).encode()[:-5]),
        call(
            "POST", SERVICE, {**request(OPAQUE_ACCESS_TOKEN, None), "fhirServer": "https://evil.example/fhir"}
        ),
        call("POST", SERVICE, request(OPAQUE_ACCESS_TOKEN, full_prefetch), aud_path="/cds-services"),  # 401
        call(
            "POST",
            SERVICE + "/feedback",
            {
                "feedback": [
                    {
                        "card": str(uuid.uuid4()),
                        "outcome": "overridden",
                        "outcomeTimestamp": "2026-11-21T05:00:00Z",
                        "overrideReason": {"userComment": f"{FAMILY} {MRN}"},
                    }
                ]
            },
        ),
    ]
    assert statuses[:3] == [200, 200, 200], statuses
    assert 400 in statuses and 401 in statuses and 403 in statuses
    # The run really used the access tokens against the FHIR server, so they passed through the service.
    assert f"Bearer {OPAQUE_ACCESS_TOKEN}" in fhir_recorder.authorizations
    assert f"Bearer {jwt_access_token}" in fhir_recorder.authorizations

    text = captured.getvalue()
    access = [line for line in _lines(captured) if line.get("event") == "access"]
    assert [line["status"] for line in access] == statuses
    assert access[1]["client"] == ISSUER and access[1]["service"] == "bme-patient-view"
    assert "hookInstance" in access[1] and isinstance(access[1]["rules"], list)
    assert "encounters" in access[2].get("omitted", [])
    forbidden = [OPAQUE_ACCESS_TOKEN, jwt_access_token, *cds_tokens, PATIENT_ID, MRN, FAMILY, "Ximena"]
    forbidden += [t.split(".")[2] for t in (jwt_access_token, *cds_tokens)]  # signatures alone
    leaked = [secret[:24] for secret in forbidden if secret in text]
    assert not leaked, f"leaked into the logs: {leaked}"


_PIECES = st.sampled_from([
    "Bearer", "bEaReR", "BEARER", "access_token", "ACCESS_TOKEN", "refresh_to\u212aen", "id_token", "authorization",
    "AUTHORİZATİON", "authorızation", "eyJhbGciOiJFUzM4NCJ9", "eyJ", ".", ":", "=", '"', "'", "\\", " ", "\n",
    ",", "}", "abc123", "x-_~+/", "==", "\u017f", "token",
])


@settings(max_examples=1500, deadline=None, derandomize=True, database=None)
@given(parts=st.lists(_PIECES, max_size=12))
def test_the_quick_no_match_check_never_skips_a_redaction(parts: list[str]) -> None:
    """redact() skips its patterns only for lines none of them could match (the oracle runs them all)."""
    text = "".join(parts)
    expected = text
    for pattern, replacement in _REDACTIONS:
        expected = pattern.sub(replacement, expected)
    assert redact(text) == expected


def test_requests_refused_by_the_hardening_checks_are_timed_and_coded(
    captured: io.StringIO, make_app: Callable[..., Flask]
) -> None:
    client = make_app().test_client()
    logs.configure_logging("INFO", stream=captured)
    assert client.post(SERVICE, data=b"x", content_type="text/plain").status_code == 415  # before authentication
    (line,) = [entry for entry in _lines(captured) if entry.get("event") == "access"]
    assert line["status"] == 415 and line["error"] == "BME-0415"
    assert isinstance(line["latency_ms"], float)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("authentication refused: a bearer token is required", "authentication refused: a bearer token is required"),
        ("Bearer Token required", "Bearer Token required"),
        ("Authorization header is not a bearer token", "Authorization header is not a bearer token"),
        ("sent bearer 0123456789abcdef", "sent bearer [redacted]"),
        ("sent bearer mF_9.B5f-4.1JqM", "sent bearer [redacted]"),
        ("sent Bearer SLAV32hkKG now", "sent Bearer [redacted] now"),
    ],
)
def test_redaction_removes_secrets_not_words(line: str, expected: str) -> None:
    assert redact(line) == expected
