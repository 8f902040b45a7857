"""The export reader: byte-range chunks give the same lines and line numbers as reading each file whole."""

from __future__ import annotations

from pathlib import Path

from bench.population import write_population
from service.replay.ndjson import BadLine
from service.replay.ndjson import Kept
from service.replay.ndjson import export_files
from service.replay.ndjson import is_fhir_resource_type
from service.replay.ndjson import plan_chunks
from service.replay.ndjson import read_chunk


def _read(files: list[Path], chunk_bytes: int) -> list[Kept | BadLine]:
    return [item for chunk in plan_chunks(files, chunk_bytes) for item in read_chunk(chunk)]


def test_chunks_split_at_line_ends_and_keep_line_numbers(tmp_path: Path) -> None:
    write_population(5, tmp_path)
    with (tmp_path / "Condition.000.ndjson").open("ab") as handle:
        handle.write(b"\r\n{oops\r\n")  # a blank CRLF line, then a broken one
    files = export_files(tmp_path)
    whole = _read(files, 1 << 40)
    assert len(plan_chunks(files, 1500)) > 3 * len(files)
    assert _read(files, 1500) == whole
    (bad,) = [item for item in whole if isinstance(item, BadLine)]
    lines = (tmp_path / "Condition.000.ndjson").read_bytes().split(b"\n")
    assert lines[bad.line - 1] == b"{oops\r"


def test_resource_types_are_fhir_resources_only() -> None:
    assert all(is_fhir_resource_type(t) for t in ("Patient", "Observation", "Claim", "Bundle", "Binary"))
    assert not any(is_fhir_resource_type(t) for t in ("Coding", "ClaimAccident", "Foo", "patient", "../x", ""))
