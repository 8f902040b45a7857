"""Replay equals `bme-cds evaluate`: for every generated patient, the same rule ids and card counts."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bench.population import Population
from service.cli import main
from tests import builders as b
from tests.replay.conftest import AS_OF
from tests.replay.conftest import read_csv
from tests.replay.conftest import replay
from tests.scenarios.test_synthea_hooks import prefetched  # what the templates' searches return


def _in_process() -> Any:
    """pipeline.evaluate with Deps exactly as `bme-cds evaluate` builds them (0.4 s of start-up per CLI call)."""
    from service.cds.pipeline import evaluate
    from service.compose import build_deps
    from service.config import load_settings

    deps = build_deps(load_settings())  # the service's one composition root, as `bme-cds evaluate` uses
    now = datetime.fromisoformat(f"{AS_OF}T00:00:00+00:00")
    return lambda request: evaluate("bme-patient-view", json.loads(json.dumps(request)), deps, now).body


def _evaluate(request: dict[str, Any], tmp: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The response of the `bme-cds evaluate` command itself."""
    path = tmp / "request.json"
    path.write_text(json.dumps(request), encoding="utf-8")
    capsys.readouterr()
    assert main(["evaluate", str(path), "--now", f"{AS_OF}T00:00:00Z"]) == 0
    body: dict[str, Any] = json.loads(capsys.readouterr().out)
    return body


def _rules(body: dict[str, Any]) -> str:
    ids: set[str] = set()
    for card in body["cards"]:
        ids.add(card["source"]["topic"]["code"])
        ids.update((card.get("extension") or {}).get("bme-cds-rules", []))
    return " ".join(sorted(ids))


def test_every_patient_matches_bme_cds_evaluate(
    population: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert replay(population, tmp_path / "out", "--as-of", AS_OF, "--workers", "2") == 0
    rows = {row["patient"]: row for row in read_csv(tmp_path / "out" / "patients.csv")}
    generator = Population()
    in_process = _in_process()
    assert len(rows) == 200
    fired = 0
    for number in range(200):
        resources = generator.patient(number)
        patient = next(r["id"] for r in resources if r["resourceType"] == "Patient")
        dates = [v for r in resources for v in _all_dates(r)]
        assert max(dates) <= AS_OF  # so every resource is known at the as-of date
        request = b.request("patient-view", [r for r in resources if prefetched(r)], patient_id=patient)
        # Every tenth patient through the command itself, the others through what the command calls.
        body = _evaluate(request, tmp_path, capsys) if number % 10 == 0 else in_process(request)
        row = rows[patient]
        assert (row["date"], row["rules"], int(row["cards"])) == (AS_OF, _rules(body), len(body["cards"])), number
        assert int(row["suggestions"]) == sum(len(c.get("suggestions", [])) for c in body["cards"])
        fired += bool(body["cards"])
    assert fired > 50  # the population exercises the rules, not only quiet charts


def _all_dates(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [d for v in value.values() for d in _all_dates(v)]
    if isinstance(value, list):
        return [d for v in value for d in _all_dates(v)]
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-" and value[7] == "-" and value[:4].isdigit():
        return [value[:10]]
    return []
