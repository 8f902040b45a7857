"""The benchmark harness runs end to end in --quick mode and produces its table (no timed assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bench import inproc
from bench.data import SizedRequests
from bench.data import count_resources
from bench.data import real_patient_request
from bench.load import BodyTemplate
from bench.report import NOT_RUN
from bench.report import Row
from bench.report import document
from bench.servers import fhir_delay_process

REPO = Path(__file__).resolve().parents[2]
VERDICTS = {"pass", "FAIL", "not run", "-"}


def _table_rows(markdown: str) -> list[list[str]]:
    lines = [ln for ln in markdown.splitlines() if ln.startswith("| ") and not ln.startswith("| part ")]
    return [[cell.strip() for cell in ln.strip().strip("|").split(" | ")] for ln in lines]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One `python -m bench --quick` run for the whole module (it starts real gunicorn servers)."""
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), "--workdir", str(tmp / "w")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done, out


def test_quick_run_exits_cleanly_and_writes_the_document(
    quick_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, out = quick_run
    assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text(encoding="utf-8")
    assert "| part | measure | subject | floor | ratio | target | verdict | note |" in text
    assert "python -m bench --quick --out" in text
    assert "nproc " in text and "python CPython 3" in text and "cpu " in text


def test_quick_run_has_a_row_with_a_verdict_for_every_part(
    quick_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, out = quick_run
    rows = _table_rows(out.read_text(encoding="utf-8"))
    parts = {row[0] for row in rows}
    assert {"1 in-process", "2 HTTP", "3 missing prefetch", "4 memory"} <= parts
    for row in rows:
        assert len(row) == 8, row
        assert row[6] in VERDICTS, row
        if row[6] == NOT_RUN:
            assert row[7], f"a part that did not run must say why: {row}"
        elif row[4]:
            float(row[4].rstrip("x").replace(" MB", ""))  # ratios are numbers, not placeholders


def test_sized_requests_hold_exactly_n_resources_with_unique_ids() -> None:
    generator = SizedRequests()
    for n in (2, 10, 1000, 2 * len(generator.pool) + 7):
        body = generator.body(n)
        assert count_resources(body) == n
        entries = [
            e["resource"]
            for v in body["prefetch"].values()
            if v.get("resourceType") == "Bundle"
            for e in v.get("entry", ())
        ]
        keys = [(r["resourceType"], r["id"]) for r in entries] + [("Patient", body["prefetch"]["patient"]["id"])]
        assert len(set(keys)) == len(keys)
        patient_ref = f"Patient/{body['context']['patientId']}"
        assert all(r.get("subject", r.get("patient", {})).get("reference", patient_ref) == patient_ref for r in entries)


def test_the_mri_report_is_in_every_sized_request() -> None:
    body = SizedRequests().body(10)
    reports = [e["resource"] for e in body["prefetch"]["reports"]["entry"]]
    assert any("bone marrow edema" in r.get("conclusion", "") for r in reports)


def test_body_template_sets_a_fresh_hook_instance() -> None:
    body = real_patient_request()
    template = BodyTemplate.of(body)
    rendered: dict[str, Any] = json.loads(template.render("0000-abc"))
    assert rendered["hookInstance"] == "0000-abc"
    assert rendered["prefetch"] == body["prefetch"]


def test_a_failing_pipeline_is_reported_as_not_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def broken(_data_dir: Path) -> Any:
        raise ImportError("service.knowledge has not landed")

    monkeypatch.setattr(inproc, "make_evaluator", broken)
    rows, results = inproc.run((10, 100), 0.01, tmp_path)
    assert results == []
    assert [r.verdict for r in rows] == [NOT_RUN, NOT_RUN]
    assert all("service.knowledge has not landed" in r.note for r in rows)


def test_document_escapes_pipes_in_cells() -> None:
    text = document([Row(part="p", measure="a|b", note="x")], "python -m bench", {"nproc": "2"}, ["n"])
    assert "a\\|b" in text


def test_delayed_fhir_server_answers_searches_and_reads(tmp_path: Path) -> None:
    with fhir_delay_process(0, tmp_path / "fhir.log").start(read_line=True) as server:
        base = f"http://127.0.0.1:{json.loads(server.stdout_line)['port']}"
        with urllib.request.urlopen(f"{base}/Condition?patient=x", timeout=5) as response:
            bundle = json.loads(response.read())
        assert bundle["resourceType"] == "Bundle" and bundle["total"] == len(bundle["entry"]) > 0
        assert {e["resource"]["resourceType"] for e in bundle["entry"]} == {"Condition"}
        patient_id = bundle["entry"][0]["resource"]["subject"]["reference"].split("/")[1]
        with urllib.request.urlopen(f"{base}/Patient/{patient_id}", timeout=5) as response:
            assert json.loads(response.read())["id"] == patient_id
