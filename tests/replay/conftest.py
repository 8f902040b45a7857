"""Shared helpers for the replay tests: a generated export and a way to run `bme-cds replay` on it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bench.population import ANCHOR
from bench.population import write_population
from service.cli import main

AS_OF = ANCHOR  # the generator puts every datum on or before it


def replay(export: Path, out: Path, *options: str) -> int:
    """Run `bme-cds replay` in this process; returns its exit status."""
    return main(["replay", str(export), "--out", str(out), *options])


def read_csv(path: Path) -> list[dict[str, str]]:
    """A CSV output as a list of rows by column name."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 generated patients as a Bulk FHIR export (small files, so several chunks per type)."""
    export = tmp_path_factory.mktemp("export")
    write_population(200, export, per_file=4000)
    return export
