"""Valid JSON of the wrong shape, from the client or from a FHIR server, is a 400/412 naming the path: never a 500."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests import builders
from tests.faults.fhirstub import FhirStub

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stub() -> Iterator[FhirStub]:
    """The loopback FHIR server with its fault modes."""
    with FhirStub() as server:
        yield server


def _request(**prefetch_overrides: Any) -> dict[str, Any]:
    body = builders.request("patient-view", [builders.patient(id="p1")], patient_id="p1")
    body["prefetch"].update(prefetch_overrides)
    return body


def _diagnostics(response: Any) -> str:
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    return " ".join(issue["diagnostics"] for issue in body["issue"])


@pytest.mark.parametrize(
    ("bundle", "path"),
    [
        ({"resourceType": "Bundle", "type": "searchset", "entry": 5}, "prefetch.conditions.entry must be an array"),
        ({"resourceType": "Bundle", "type": "searchset", "link": 5}, "prefetch.conditions.link must be an array"),
        ({"resourceType": "Bundle", "entry": [5]}, "prefetch.conditions.entry[0] must be an object"),
        ({"resourceType": "Bundle", "entry": [{"resource": "x"}]}, "prefetch.conditions.entry[0].resource"),
        ({"resourceType": "Bundle", "link": [{"relation": "next", "url": 5}]}, "prefetch.conditions.link[0].url"),
    ],
)
def test_a_wrongly_shaped_prefetch_bundle_is_a_400_naming_the_path(
    client: FlaskClient, bundle: dict[str, Any], path: str
) -> None:
    response = client.post("/cds-services/bme-patient-view", json=_request(conditions=bundle))
    assert response.status_code == 400
    assert path in _diagnostics(response)


@pytest.mark.parametrize("mode", ["entry5", "link5"])
def test_a_wrongly_shaped_fetched_bundle_is_a_412_naming_the_path(
    client: FlaskClient, stub: FhirStub, mode: str
) -> None:
    body = _request()
    del body["prefetch"]["conditions"]
    body["fhirServer"] = stub.url(mode)
    response = client.post("/cds-services/bme-patient-view", json=body)
    assert response.status_code == 412
    text = _diagnostics(response)
    assert "'conditions'" in text and f"Bundle.{mode[:-1]} must be an array" in text


def test_an_optional_key_with_a_wrongly_shaped_fetched_bundle_is_omitted(client: FlaskClient, stub: FhirStub) -> None:
    body = _request()
    del body["prefetch"]["imaging"]  # OnUnavailable.OMIT
    body["fhirServer"] = stub.url("entry5")
    response = client.post("/cds-services/bme-patient-view", json=body)
    assert response.status_code == 200
    assert "cards" in response.get_json()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"hook": "patient-view", "x": 1e400}', "number is out of range"),
        (b'{"hook": "patient-view", "x": NaN}', "NaN is not a JSON number"),
        (b'{"hook": "patient-view", "x": ' + b"7" * 5000 + b"}", "integer has more than"),
    ],
)
def test_numbers_out_of_range_are_a_400_with_the_reason(client: FlaskClient, raw: bytes, reason: str) -> None:
    response = client.post("/cds-services/bme-patient-view", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert reason in _diagnostics(response)


def test_evaluate_prints_the_path_and_no_traceback(tmp_path: Path) -> None:
    body = _request(conditions={"resourceType": "Bundle", "entry": 5})
    path = tmp_path / "request.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "evaluate", str(path), "--now", "2026-11-21T09:00:00Z"],
        cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "prefetch.conditions.entry must be an array" in result.stderr
    assert "Traceback" not in result.stderr
