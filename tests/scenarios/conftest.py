"""Fixtures for the golden scenarios: the scenario folders, the pinned clock, one app for the whole module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

HERE = Path(__file__).resolve().parent
# The one fixed date-time every golden response was generated with (tools/regenerate_golden.py reads it too).
NOW = datetime.fromisoformat((HERE / "NOW").read_text(encoding="utf-8").strip().replace("Z", "+00:00"))
SERVICE_FOR_HOOK = {
    "patient-view": "bme-patient-view",
    "order-select": "bme-order-select",
    "order-sign": "bme-order-sign",
}


def scenario_folders() -> list[Path]:
    """Every scenario folder (one holding request.json), sorted: tests/scenarios/<ID>/<fires|quiet>-<what>/."""
    return sorted(p.parent for p in HERE.glob("*/*/request.json"))


def read_json(path: Path) -> Any:
    """A committed JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


class _PinnedDatetime(datetime):
    """datetime whose now() is the scenarios' fixed NOW: the service's clock, as `bme-cds evaluate --now`."""

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        """The pinned instant, in the zone asked for."""
        return NOW.astimezone(tz or UTC)


@pytest.fixture(scope="module")
def pinned_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    """The real app (create_app, same settings as tests/conftest.py's `app`) with its clock pinned to NOW.

    Module-scoped: building the app costs ~0.1 s, and the suite runs ~140 scenarios, so one app serves them all
    (each scenario has its own hookInstance, so the issued-card records never collide).
    """
    from service.web import api
    from service.web.app import create_app

    config = {
        "data_dir": tmp_path_factory.mktemp("scenarios"),
        "auth": "off",
        "public_base_url": "http://127.0.0.1:8080",
        "fhir_timeout_seconds": 2.0,
        "fhir_total_timeout_seconds": 3.0,
    }
    application = create_app(test_config=config)
    application.config["TESTING"] = True
    with pytest.MonkeyPatch.context() as mp:
        # The view reads datetime.now(UTC) once per call (service/web/api.py); pin it like --now does for the CLI.
        mp.setattr(api, "datetime", _PinnedDatetime)
        yield application.test_client()
    application.extensions["bme"].pool.close()
    application.extensions["bme"].engine.dispose()


def post(client: FlaskClient, request: dict[str, Any]) -> Any:
    """POST a CDS Hooks request to the service for its hook; the test response."""
    return client.post(f"/cds-services/{SERVICE_FOR_HOOK[request['hook']]}", json=request)
