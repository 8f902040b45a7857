"""--as-of and --encounters use only what was known at each date; --compare-policy reports the what-if."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.replay.conftest import AS_OF
from tests.replay.conftest import read_csv
from tests.replay.conftest import replay

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "R01" / "fires-fracture-without-mri" / "request.json"


def _encounter(id_: str, day: str, patient: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": id_,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{patient}"},
        "period": {"start": f"{day}T09:00:00Z", "end": f"{day}T09:30:00Z"},
    }


@pytest.fixture
def fracture_export(tmp_path: Path) -> Path:
    """The R01 scenario patient (vertebral fracture, onset 2026-11-01, no MRI) with visits before and after."""
    request = json.loads(SCENARIO.read_text(encoding="utf-8"))
    resources = [request["prefetch"]["patient"]]
    resources += [e["resource"] for e in request["prefetch"]["conditions"]["entry"]]
    resources += [_encounter(f"e{n}", day, "p1") for n, day in enumerate(
        ("2026-10-20", "2026-11-10", "2026-11-10", "2026-12-15"))]
    export = tmp_path / "export"
    export.mkdir()
    by_type: dict[str, list[bytes]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(orjson.dumps(resource))
    for kind, lines in by_type.items():
        (export / f"{kind}.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    return export


def test_as_of_sees_only_data_known_then(fracture_export: Path, tmp_path: Path) -> None:
    assert replay(fracture_export, tmp_path / "before", "--as-of", "2026-10-25") == 0
    assert replay(fracture_export, tmp_path / "after", "--as-of", AS_OF) == 0
    (before,) = read_csv(tmp_path / "before" / "patients.csv")
    (after,) = read_csv(tmp_path / "after" / "patients.csv")
    assert "R01" not in before["rules"].split()
    assert "R01" in after["rules"].split()


def test_encounters_evaluate_each_visit_day_in_the_window(fracture_export: Path, tmp_path: Path) -> None:
    assert replay(fracture_export, tmp_path / "out", "--encounters", "2026-10-01..2026-11-30") == 0
    rows = read_csv(tmp_path / "out" / "patients.csv")
    assert [(r["patient"], r["date"]) for r in rows] == [("p1", "2026-10-20"), ("p1", "2026-11-10")]
    assert "R01" not in rows[0]["rules"].split()  # the fracture was not on record yet
    assert "R01" in rows[1]["rules"].split()
    rules = {r["rule"]: r for r in read_csv(tmp_path / "out" / "rules.csv")}
    assert (rules["R01"]["fires"], rules["R01"]["patients"]) == ("1", "1")
    assert (rules["R01"]["per_1000_patients"], rules["R01"]["per_1000_visits"]) == ("1000.0", "500.0")
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Firing over time" in report


def test_what_if_reports_per_rule_what_fires_more_or_less(population: Path, tmp_path: Path) -> None:
    policy = tmp_path / "what-if.json"
    # Labs stay current for ten years instead of 90 days; follow-up MRI after 30 days instead of 90.
    policy.write_text(json.dumps({"labs.max_age_days": 3650, "followup.mri_after_days": 30}), encoding="utf-8")
    out = tmp_path / "out"
    assert replay(population, out, "--as-of", AS_OF, "--compare-policy", str(policy)) == 0
    rows = read_csv(out / "patients.csv")
    compare = {r["rule"]: r for r in read_csv(out / "compare.csv")}
    changed = 0
    for rule, line in compare.items():
        base = [r for r in rows if rule in r["rules"].split()]
        other = [r for r in rows if rule in r["rules_compare"].split()]
        more = {r["patient"] for r in other if rule not in r["rules"].split()}
        less = {r["patient"] for r in base if rule not in r["rules_compare"].split()}
        assert (int(line["fires"]), int(line["fires_compare"])) == (len(base), len(other)), rule
        assert int(line["change"]) == len(other) - len(base)
        assert (int(line["patients_more"]), int(line["patients_less"])) == (len(more), len(less)), rule
        changed += bool(more or less)
    assert changed  # the thresholds matter for this population
    assert "What-if" in (out / "report.html").read_text(encoding="utf-8")
    # The same policy on both sides changes nothing.
    same = tmp_path / "same.json"
    same.write_text("{}", encoding="utf-8")
    assert replay(population, tmp_path / "same", "--as-of", AS_OF, "--compare-policy", str(same)) == 0
    for line in read_csv(tmp_path / "same" / "compare.csv"):
        assert (line["change"], line["patients_more"], line["patients_less"]) == ("0", "0", "0")


def test_outputs_name_no_one_and_load_nothing_external(population: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert replay(population, out, "--as-of", AS_OF) == 0
    import pyarrow.parquet as pq

    table = pq.read_table(out / "patients.parquet")
    assert table.column_names == ["patient", "date", "rules", "cards", "suggestions"]
    assert table.to_pylist() == [
        {**r, "cards": int(r["cards"]), "suggestions": int(r["suggestions"])}
        for r in read_csv(out / "patients.csv")
    ]
    names = set()
    for path in (population / "Patient.000.ndjson").read_bytes().splitlines():
        for name in orjson.loads(path).get("name", []):
            names.update(n for n in [name.get("family"), *name.get("given", [])] if n and len(n) > 3)
    assert names
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "<svg" in report and "<script" not in report and "src=" not in report and "href=" not in report
    for path in out.iterdir():
        if path.suffix in (".csv", ".html"):
            text = path.read_text(encoding="utf-8")
            assert not [n for n in names if n in text], path.name
