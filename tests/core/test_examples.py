"""The README's example requests run offline: every prefetch key is present, so nothing is ever fetched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient

from hooks import SERVICES

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.json"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_prefetches_every_key_its_service_declares(path: Path) -> None:
    body = json.loads(path.read_text())
    service = next(s for s in SERVICES if s.hook == body["hook"])
    assert set(service.prefetch) <= set(body["prefetch"]), "a missing key would be fetched from fhirServer"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_over_http_never_reaches_the_network(path: Path, client: FlaskClient,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the example reached for the network")

    monkeypatch.setattr(requests.Session, "send", no_network)
    body = json.loads(path.read_text())
    service = next(s for s in SERVICES if s.hook == body["hook"])
    response = client.post(f"/cds-services/{service.id}", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["cards"]
