"""Bad input lines are reported with file and line and never stop the run or drop other patients."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.population import Population
from bench.population import write_population
from service.replay.local import _Split
from service.replay.local import _split_chunk
from service.replay.ndjson import Chunk
from tests.replay.conftest import AS_OF
from tests.replay.conftest import read_csv
from tests.replay.conftest import replay


def _lines(path: Path) -> int:
    return len(path.read_bytes().splitlines())


def damaged_export(export: Path) -> dict[str, Any]:
    """10 good patients, then a bad line of each kind and a truncated gzip file; returns what to expect."""
    write_population(10, export)
    conditions = export / "Condition.000.ndjson"
    first_bad = _lines(conditions) + 1
    with conditions.open("ab") as handle:
        handle.write(b'{"resourceType": "Condition", "id": "broken"\n')  # malformed: cut short
        handle.write(b'{"resourceType": "Condition", "id": "orphan", "code": {"text": "fracture"}}\n')  # no subject
        handle.write(b'{"resourceType": "Foo", "id": "x", "subject": {"reference": "Patient/x"}}\n')  # unknown type
        handle.write(b'{"resourceType": "Condition", "id": "c9", "subject": {"reference": "Patient/nobody"}}\n')
    # Cut short too, of a type the replay never reads and an Observation with no code it asks for: both are
    # passed over unparsed, and still reported.
    immunizations = export / "Immunization.000.ndjson"
    first_short = _lines(immunizations) + 1 if immunizations.exists() else 1
    with immunizations.open("ab") as handle:
        handle.write(b'{"resourceType": "Immunization", "id": "cut", "status": "comple\n')
    observations = export / "Observation.000.ndjson"
    first_observation = _lines(observations) + 1
    with observations.open("ab") as handle:
        handle.write(b'{"resourceType": "Observation", "id": "cut", "code": {"text": "heart ra\n')
    # A gzip file holding one more patient first, then filler, cut in the middle of the filler.
    extra = Population(seed=99).patient(0)
    patient = next(r for r in extra if r["resourceType"] == "Patient")
    filler = [{"resourceType": "Immunization", "id": f"i{n}", "patient": {"reference": f"Patient/{patient['id']}"},
               "status": "completed", "note": [{"text": f"filler {n} " * 8}]} for n in range(3000)]
    body = b"".join(orjson.dumps(r) + b"\n" for r in [patient, *[r for r in extra if r is not patient], *filler])
    packed = gzip.compress(body, mtime=0)
    (export / "Extra.ndjson.gz").write_bytes(packed[: len(packed) * 2 // 3])
    return {"first_bad": first_bad, "patient": patient["id"], "first_short": first_short,
            "first_observation": first_observation}


def test_bad_lines_are_reported_and_everyone_else_is_evaluated(tmp_path: Path) -> None:
    expected = damaged_export(tmp_path / "export")
    assert replay(tmp_path / "export", tmp_path / "out", "--as-of", AS_OF, "--workers", "2") == 0
    errors = read_csv(tmp_path / "out" / "errors.csv")
    first = expected["first_bad"]
    by_line = {(e["file"], int(e["line"])): e["reason"] for e in errors}
    assert by_line[("Condition.000.ndjson", first)].startswith("not valid JSON")
    assert by_line[("Condition.000.ndjson", first + 1)] == "Condition without a subject naming a Patient"
    assert by_line[("Condition.000.ndjson", first + 2)] == "unknown resource type 'Foo'"
    assert by_line[("Condition.000.ndjson", first + 3)] == "no Patient resource with id 'nobody' in the export"
    (truncated,) = [e for e in errors if e["file"] == "Extra.ndjson.gz"]
    assert truncated["reason"].startswith("gzip file truncated")
    assert 1 < int(truncated["line"]) < 3000
    short = "not valid JSON: the line ends before its object closes"
    assert by_line[("Immunization.000.ndjson", expected["first_short"])] == short
    assert by_line[("Observation.000.ndjson", expected["first_observation"])] == short
    assert len(errors) == 7
    patients = read_csv(tmp_path / "out" / "patients.csv")
    # The ten patients plus the one read from the gzip file before its damage.
    assert len(patients) == 11
    assert expected["patient"] in {row["patient"] for row in patients}


def test_an_empty_export_gives_empty_outputs(tmp_path: Path) -> None:
    (tmp_path / "export").mkdir()
    assert replay(tmp_path / "export", tmp_path / "out", "--as-of", AS_OF) == 0
    assert read_csv(tmp_path / "out" / "patients.csv") == []
    assert (tmp_path / "out" / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    (tmp_path / "export").mkdir()
    assert replay(tmp_path / "export", tmp_path / "out", "--encounters", "2026-01-01") == 2
    assert replay(tmp_path / "export", tmp_path / "out", "--as-of", "yesterday") == 2
    assert replay(tmp_path / "missing", tmp_path / "out") == 2
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"no.such.key": 1}), encoding="utf-8")
    assert replay(tmp_path / "export", tmp_path / "out", "--policy", str(policy)) == 2


def test_a_pipeline_failure_on_one_patient_is_reported_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.replay import evaluation

    write_population(6, tmp_path / "export")
    victim = Population().patient(2)
    victim_id = next(r["id"] for r in victim if r["resourceType"] == "Patient")
    real = evaluation.run_patient_view

    def flaky(deps: Any, request: Any, now: Any) -> Any:
        if request["context"]["patientId"] == victim_id:
            raise KeyError("boom")
        return real(deps, request, now)

    monkeypatch.setattr(evaluation, "run_patient_view", flaky)
    assert replay(tmp_path / "export", tmp_path / "out", "--as-of", AS_OF, "--workers", "1") == 0
    assert len(read_csv(tmp_path / "out" / "patients.csv")) == 5
    (error,) = read_csv(tmp_path / "out" / "errors.csv")
    assert error["file"] == "Patient.000.ndjson"
    assert error["reason"] == f"evaluation at {AS_OF} failed: KeyError: 'boom'"
    patient_line = (tmp_path / "export" / "Patient.000.ndjson").read_bytes().splitlines()[int(error["line"]) - 1]
    assert victim_id.encode() in patient_line


def test_a_chunk_whose_bad_lines_file_cannot_be_opened_leaves_no_file_open(tmp_path: Path) -> None:
    """Pass 1 opens its parts file only once its bad-lines file is open: a failure never leaves the first open."""
    export = tmp_path / "Patient.ndjson"
    export.write_text('{"resourceType": "Patient", "id": "p1"}\n', encoding="utf-8")
    (tmp_path / "parts").mkdir()  # and no "bad" folder: its file cannot be opened
    task = _Split(0, Chunk(0, str(export), 0, export.stat().st_size, 1), 4, str(tmp_path), exact=False, visits=False)
    with pytest.raises(FileNotFoundError):
        _split_chunk(task)
    assert list((tmp_path / "parts").iterdir()) == []
