"""The replay's output files: patients.csv/.parquet, rules.csv, compare.csv, errors.csv, report.html.

Both engines hand over the same two sorted streams (evaluations by patient and date, bad lines by file and
line), so the files are byte-identical whichever engine produced them. Nothing here holds the population:
per-rule counts use the order of the stream (a patient's rows are consecutive).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from service.core.vocabulary import HOOK_PATIENT_VIEW
from service.replay.evaluation import Evaluation
from service.replay.evaluation import ReplayPlan
from service.replay.ndjson import BadLine

PATIENT_COLUMNS = ("patient", "date", "rules", "cards", "suggestions")
COMPARE_COLUMNS = ("rules_compare", "cards_compare", "suggestions_compare")
_PARQUET_BATCH = 50_000


@dataclass
class _RuleCount:
    fires: int = 0
    patients: int = 0
    last_patient: str | None = None

    def add(self, patient: str) -> None:
        self.fires += 1
        if self.last_patient != patient:
            self.patients += 1
            self.last_patient = patient


@dataclass
class Tally:
    """Counts gathered while the evaluations stream past (memory: rules x months, never patients)."""

    evaluations: int = 0
    patients: int = 0
    last_patient: str | None = None
    rules: dict[str, _RuleCount] = field(default_factory=dict)
    compare: dict[str, _RuleCount] = field(default_factory=dict)
    more: dict[str, _RuleCount] = field(default_factory=dict)  # fires with the what-if policy, not without
    less: dict[str, _RuleCount] = field(default_factory=dict)
    cards_histogram: Counter[int] = field(default_factory=Counter)
    months: Counter[str] = field(default_factory=Counter)  # evaluations per YYYY-MM
    month_rules: Counter[tuple[str, str]] = field(default_factory=Counter)  # (YYYY-MM, rule) -> fires

    def add(self, row: Evaluation) -> None:
        """Count one evaluation."""
        self.evaluations += 1
        if row.patient != self.last_patient:
            self.patients += 1
            self.last_patient = row.patient
        self.cards_histogram[row.result.cards] += 1
        month = row.date[:7]
        self.months[month] += 1
        for rule in row.result.rules:
            self.rules.setdefault(rule, _RuleCount()).add(row.patient)
            self.month_rules[(month, rule)] += 1
        if row.compare is not None:
            base, other = set(row.result.rules), set(row.compare.rules)
            for rule in row.compare.rules:
                self.compare.setdefault(rule, _RuleCount()).add(row.patient)
            for rule in other - base:
                self.more.setdefault(rule, _RuleCount()).add(row.patient)
            for rule in base - other:
                self.less.setdefault(rule, _RuleCount()).add(row.patient)

    def rule_ids(self) -> list[str]:
        """Every patient-view rule of the rule table, plus any other id that fired, in id order."""
        from service.knowledge.rules import RULES

        known = {r.id for r in RULES if HOOK_PATIENT_VIEW in r.hooks}
        return sorted(known | set(self.rules) | set(self.compare))


def _per_1000(count: int, total: int) -> str:
    return f"{1000 * count / total:.1f}" if total else "0.0"


def _row_values(row: Evaluation, compare: bool) -> list[Any]:
    result = row.result
    values: list[Any] = [row.patient, row.date, " ".join(result.rules), result.cards, result.suggestions]
    if compare:
        other = row.compare
        assert other is not None  # every row has one when the plan compares
        values += [" ".join(other.rules), other.cards, other.suggestions]
    return values


def write_patients(out_dir: Path, rows: Iterable[Evaluation], plan: ReplayPlan) -> Tally:
    """patients.csv and patients.parquet, one row per evaluation; returns the tally for the other files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    compare = plan.compare_policy is not None
    columns = PATIENT_COLUMNS + (COMPARE_COLUMNS if compare else ())
    schema = pa.schema(
        [
            (name, pa.int32() if name.startswith(("cards", "suggestions")) else pa.string())
            for name in columns
        ]
    )
    tally = Tally()
    batch: list[list[Any]] = []
    with (
        (out_dir / "patients.csv").open("w", encoding="utf-8", newline="") as handle,
        pq.ParquetWriter(out_dir / "patients.parquet", schema) as parquet,
    ):
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)

        def flush() -> None:
            if batch:
                records = [dict(zip(columns, values, strict=True)) for values in batch]
                table = pa.Table.from_pylist(records, schema=schema)
                parquet.write_table(table)
                batch.clear()

        for row in rows:
            tally.add(row)
            values = _row_values(row, compare)
            writer.writerow(values)
            batch.append(values)
            if len(batch) >= _PARQUET_BATCH:
                flush()
        flush()
    return tally


def write_rules(out_dir: Path, tally: Tally, plan: ReplayPlan) -> None:
    """rules.csv: per rule, evaluations it fired in, patients it fired for, rate per 1,000 patients (and visits)."""
    visits = plan.window is not None
    with (out_dir / "rules.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["rule", "fires", "patients", "per_1000_patients"] + (["per_1000_visits"] if visits else []))
        for rule in tally.rule_ids():
            count = tally.rules.get(rule, _RuleCount())
            row: list[Any] = [rule, count.fires, count.patients, _per_1000(count.patients, tally.patients)]
            if visits:
                row.append(_per_1000(count.fires, tally.evaluations))
            writer.writerow(row)


def compare_rows(tally: Tally) -> list[list[Any]]:
    """Per rule: fires and patients under each policy, and patients it would fire more or less for."""
    out: list[list[Any]] = []
    for rule in tally.rule_ids():
        base, other = tally.rules.get(rule, _RuleCount()), tally.compare.get(rule, _RuleCount())
        more, less = tally.more.get(rule, _RuleCount()), tally.less.get(rule, _RuleCount())
        out.append([rule, base.fires, other.fires, other.fires - base.fires, base.patients, other.patients,
                    more.patients, less.patients])
    return out


COMPARE_HEADER = ("rule", "fires", "fires_compare", "change", "patients", "patients_compare", "patients_more",
                  "patients_less")


def write_compare(out_dir: Path, tally: Tally) -> None:
    """compare.csv: the what-if comparison per rule."""
    with (out_dir / "compare.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COMPARE_HEADER)
        writer.writerows(compare_rows(tally))


def write_errors(out_dir: Path, bad: Iterable[BadLine], files: Sequence[str]) -> int:
    """errors.csv: file (relative to the export folder), line, reason; returns the number of rows."""
    count = 0
    with (out_dir / "errors.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["file", "line", "reason"])
        for item in bad:
            writer.writerow([files[item.file_index], item.line, item.reason])
            count += 1
    return count


def write_all(
    out_dir: Path,
    rows: Iterable[Evaluation],
    bad: Iterable[BadLine],
    files: Sequence[str],
    plan: ReplayPlan,
) -> tuple[Tally, int]:
    """Every output file from the two sorted streams; returns the tally and the number of bad lines."""
    from service.replay.report import write_report

    out_dir.mkdir(parents=True, exist_ok=True)
    tally = write_patients(out_dir, rows, plan)
    errors = write_errors(out_dir, bad, files)
    write_rules(out_dir, tally, plan)
    if plan.compare_policy is not None:
        write_compare(out_dir, tally)
    write_report(out_dir / "report.html", tally, plan, errors)
    return tally, errors
