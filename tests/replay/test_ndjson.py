"""The export reader: byte-range chunks give the same lines and line numbers as reading each file whole."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bench.population import write_population
from service.replay import ndjson
from service.replay.ndjson import BadLine
from service.replay.ndjson import Kept
from service.replay.ndjson import export_files
from service.replay.ndjson import is_fhir_resource_type
from service.replay.ndjson import plan_chunks
from service.replay.ndjson import read_chunk
from service.replay.ndjson import routing_key


def _read(files: list[Path], chunk_bytes: int) -> list[Kept | BadLine]:
    return [item for chunk in plan_chunks(files, chunk_bytes) for item in read_chunk(chunk, True)]


def test_chunks_split_at_line_ends_and_keep_line_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_population(5, tmp_path)
    with (tmp_path / "Condition.000.ndjson").open("ab") as handle:
        handle.write(b"\r\n{oops\r\n")  # a blank CRLF line, then a broken one
    files = export_files(tmp_path)
    whole = _read(files, 1 << 40)
    assert len(plan_chunks(files, 1500)) > 3 * len(files)
    assert _read(files, 1500) == whole
    monkeypatch.setattr(ndjson, "_READ_BLOCK", 37)  # lines cut by the read blocks too
    assert _read(files, 1500) == whole
    (bad,) = [item for item in whole if isinstance(item, BadLine)]
    lines = (tmp_path / "Condition.000.ndjson").read_bytes().split(b"\n")
    assert lines[bad.line - 1] == b"{oops\r"


def test_resource_types_are_fhir_resources_only() -> None:
    assert all(is_fhir_resource_type(t) for t in ("Patient", "Observation", "Claim", "Bundle", "Binary"))
    assert not any(is_fhir_resource_type(t) for t in ("Coding", "ClaimAccident", "Foo", "patient", "../x", ""))


def test_routing_key_is_sure_or_silent() -> None:
    patient = b'{"resourceType":"Patient","id":"p1","name":[{"text":"x"}]}'
    assert routing_key("Patient", patient) == (b"p1", True)
    assert routing_key("Condition", b'{"resourceType": "Condition", "subject": {"reference": "Patient/p1"}}') == (
        b"p1", False)
    assert routing_key("Condition", b'{"subject":{"reference":"https://x.org/fhir/Patient/p1/_history/2"}}') == (
        b"p1", False)
    assert routing_key("Condition", '{"subject":{"reference":"Patient/pé"}}'.encode()) == ("pé".encode(), False)
    assert routing_key("Condition", b'{"subject":{"reference":"Patient/p\xff"}}') is None  # not UTF-8
    unsure = [
        b'{"subject":{"reference":"Patient/p\\u0031"}}',  # an escape: the parser decodes it
        b'{"subject":{"reference":"Patient/p1"},"contained":[{"subject":{"reference":"Patient/p2"}}]}',
        b'{"patient":{"reference":"Patient/p1"},"contained":[{"patient":{"reference":"Patient/p2"}}]}',
        b'{"subject":{"display":"x","reference":"Patient/p1"}}',  # not the first key of its object
        b'{"subject":{"reference":"Group/g1"}}',
    ]
    assert [routing_key("Condition", line) for line in unsure] == [None] * len(unsure)
    # Not searched for a patient element besides the subject (no kept type has both): the subject, as parsed.
    both = b'{"subject":{"reference":"Patient/p1"},"patient":{"reference":"Patient/p2"}}'
    assert routing_key("Condition", both) == (b"p1", False)
    parsed = ndjson.examine(0, 1, b'{"resourceType":"Condition",' + both[1:], False)
    assert isinstance(parsed, tuple) and parsed[0] == "p1"


def test_a_wrong_routing_hint_falls_back_to_parsing_every_line(tmp_path: Path) -> None:
    """Duplicate keys: the scan reads the first reference, the parser keeps the last; the run notices and redoes."""
    from tests.replay.conftest import AS_OF
    from tests.replay.conftest import read_csv
    from tests.replay.conftest import replay

    write_population(3, tmp_path / "export")
    conditions = tmp_path / "export" / "Condition.000.ndjson"
    line = len(conditions.read_bytes().splitlines()) + 1
    with conditions.open("ab") as handle:
        handle.write(b'{"resourceType":"Condition","subject":{"reference":"Patient/a","reference":"Patient/b"}}\n')
        # A subject only inside a contained resource, and a patient element (no kept type has one) the parser reads.
        handle.write(b'{"resourceType":"Condition","contained":[{"resourceType":"Observation","subject":'
                     b'{"reference":"Patient/a"}}],"patient":{"reference":"Patient/c"}}\n')
    assert [routing_key("Condition", raw) for raw in conditions.read_bytes().splitlines()[-2:]] == [(b"a", False)] * 2
    assert replay(tmp_path / "export", tmp_path / "out", "--as-of", AS_OF, "--workers", "1") == 0
    errors = [(e["file"], int(e["line"]), e["reason"]) for e in read_csv(tmp_path / "out" / "errors.csv")]
    assert errors == [("Condition.000.ndjson", line, "no Patient resource with id 'b' in the export"),
                      ("Condition.000.ndjson", line + 1, "no Patient resource with id 'c' in the export")]
    assert len(read_csv(tmp_path / "out" / "patients.csv")) == 3


def test_observations_without_a_requested_code_are_passed_over_unparsed() -> None:
    from service.replay.selection import may_keep

    wanted = b'{"resourceType":"Observation","code":{"coding":[{"system":"http://loinc.org","code":"1989-3"}]}}'
    other = b'{"resourceType":"Observation","code":{"coding":[{"system":"http://loinc.org","code":"8302-2"}]}}'
    escaped = b'{"resourceType":"Observation","code":{"coding":[{"system":"http://loinc.org","code":"1989\\u002d3"}]}}'
    assert may_keep("Observation", wanted, False) and may_keep("Observation", escaped, False)
    assert not may_keep("Observation", other, False)
    assert may_keep("Condition", b"{}", False)  # no filter on a type whose key takes every resource


def _line_by_line(files: list[Path], visits: bool) -> list[Kept | BadLine]:
    """What `classify` makes of every line of every file on its own: what the block reader must give."""
    out: list[Kept | BadLine] = []
    for index, path in enumerate(files):
        for number, raw in enumerate(path.read_bytes().split(b"\n"), 1):
            raw = raw.rstrip(b"\r")
            if raw.strip():
                item = ndjson.classify(index, number, raw, visits)
                if item is not None:
                    out.append(item)
    return out


@pytest.mark.parametrize("visits", [False, True])
def test_tidy_blocks_are_judged_whole_as_each_line_would_be(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, visits: bool
) -> None:
    write_population(8, tmp_path)
    observations = tmp_path / "Observation.000.ndjson"
    lines = observations.read_bytes().split(b"\n")
    system = b'"https://bme-cds.example.org/fhir/CodeSystem/bme-cds"'
    lines[3:3] = [
        b'{"resourceType":"Observation","id":"cut","code":{"text":"x"',  # cut short: the block is not tidy
        b'{"resourceType":"Observation","id":"n","note":[{"text":' + system + b'}]}',  # the URL, not as a system
    ]
    observations.write_bytes(b"\n".join(lines))
    with (tmp_path / "Claim.000.ndjson").open("ab") as handle:  # a kept type inside a file of a skipped one
        handle.write(next(p for p in (tmp_path / "Patient.000.ndjson").read_bytes().split(b"\n")) + b"\n")
    files = export_files(tmp_path)
    expected = _line_by_line(files, visits)
    assert [item for chunk in plan_chunks(files) for item in read_chunk(chunk, visits)] == expected
    monkeypatch.setattr(ndjson, "_READ_BLOCK", 4096)  # many blocks: tidy and untidy ones
    chunks = plan_chunks(files, 50_000)
    assert [item for chunk in chunks for item in read_chunk(chunk, visits)] == expected
    tidy = [ndjson._tidy(block) for chunk in chunks for block, _, _ in ndjson.read_blocks(chunk, visits)]
    assert {"Claim", "Observation", "Condition"} <= {t[0] for t in tidy if t} and None in tidy
    assert any(isinstance(item, BadLine) and item.line == 4 for item in expected)


def _kept_by_block(kind: str, lines: list[bytes], visits: bool) -> list[bytes]:
    from service.replay.selection import lines_maybe_kept

    block = b"\n".join(lines) + b"\n"
    ends = [i for i, byte in enumerate(block) if byte == 0x0A]
    return [lines[i] for i in lines_maybe_kept(kind, block, ends, visits)]


def test_lines_maybe_kept_finds_the_lines_may_keep_keeps() -> None:
    from service.replay.selection import may_keep

    system = b'"https://bme-cds.example.org/fhir/CodeSystem/bme-cds"'
    head = b'{"resourceType":"Observation",'
    lines = [
        head + b'"code":{"coding":[{"system":"http://loinc.org","code":"8302-2"}]}}',
        head + b'"code":{"coding":[{"system":"http://loinc.org","code":"1989-3"}]}}',
        head + b'"note":[{"text":' + system + b'}]}',  # the URL, not as a system
        head + b'"code":{"coding":[{"system":' + system + b',"code":"x"}]}}',
        head + b'"code":{"text":"a\\u0020b"}}',  # an escape anywhere: kept
        head + b'"code":{"coding":[{"code" : "1751-7"},{"code":"2160-0"}]}}',
        # Whitespace as a bytes pattern's \s reads it (vertical tab and form feed too), none, or other bytes.
        head + b'"code":{"coding":[{"code"\t:\x0b"1751-7"}]}}',
        head + b'"code":{"coding":[{"code"\x0c:\r"2160-0"}]}}',
        head + b'"code":{"coding":[{"code"\x1c:"2160-0"}]}}',
        head + b'"code":{"coding":[{"code":"2160-0 "}]}}',
        head + b'"code":{"coding":[{"code":"2160\xe2\x80\x910"}]}}',  # a non-breaking hyphen
        head + b'"code":{"coding":[{"code":"2160-0"}]},"note":[{"text":"\xff\xfe"}]}',  # not UTF-8
        head + b'"code":{"coding":[{"display":"code","code":"x"}],"text":"1751-7"}}',  # the code's bytes elsewhere
        head + b'"value":"\\"}',  # an escape as the last byte of a string
        head + b'"code":{"coding":[{"code":"2160-0"}]}}',  # the last line of the block
    ]
    expected = [line for line in lines if may_keep("Observation", line, False)]
    assert _kept_by_block("Observation", lines, False) == expected
    assert expected == [lines[i] for i in (1, 3, 4, 5, 6, 7, 11, 13, 14)]


@pytest.mark.parametrize("kind", ["Observation", "Encounter"])
def test_the_block_search_agrees_with_may_keep_on_every_generated_line(tmp_path: Path, kind: str) -> None:
    from service.replay.selection import may_keep

    write_population(40, tmp_path)
    lines = (tmp_path / f"{kind}.000.ndjson").read_bytes().splitlines()
    kept = [line for line in lines if may_keep(kind, line, False)]
    assert 0 < len(kept) < len(lines)
    assert _kept_by_block(kind, lines, False) == kept
    shuffled = lines[1::2] + lines[::2]  # other neighbours, other positions in the block
    assert _kept_by_block(kind, shuffled, False) == [line for line in shuffled if may_keep(kind, line, False)]


def test_encounters_of_other_classes_are_read_only_for_visits() -> None:
    from service.replay.selection import may_keep

    visit = b'{"resourceType":"Encounter","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode",'
    ambulatory, inpatient = visit + b'"code":"AMB"}}', visit + b'"code":"IMP"}}'
    assert not may_keep("Encounter", ambulatory, False) and may_keep("Encounter", inpatient, False)
    assert may_keep("Encounter", ambulatory, True)  # --encounters: every visit day


def test_each_kept_line_carries_its_prefetch_keys_and_the_prefetch_takes_what_was_known_by_the_day() -> None:
    """examine matches a line against the keys once; the prefetch of any day reuses that answer and the known date."""
    from service.replay.selection import KEY_QUERIES
    from service.replay.selection import prefetch
    from service.replay.selection import select

    observations = next(q for q in KEY_QUERIES if q.key == "observations")
    system, code = next((s, c) for s, c in observations.tokens[0][1] if c is not None)
    coding = {"coding": [{"system": system, "code": code}] if system else [{"code": code}]}
    lab = {"resourceType": "Observation", "code": coding, "subject": {"reference": "Patient/p1"}, "issued": "2024-03"}
    other = {"resourceType": "Observation", "code": {"coding": [{"code": "no-such-code"}]},
             "subject": {"reference": "Patient/p1"}}
    visit = {"resourceType": "Encounter", "class": {"code": "AMB"}, "subject": {"reference": "Patient/p1"},
             "period": {"start": "2024-05-01"}}
    patient = {"resourceType": "Patient", "id": "p1"}
    found = [ndjson.examine(0, n, orjson.dumps(r), True) for n, r in enumerate([lab, other, visit, patient], 1)]
    assert found[0] == ("p1", False, lab, ("observations",))
    assert found[1] is None  # no key returns it
    assert found[2] == ("p1", False, visit, ())  # read for its visit day only (--encounters)
    assert ndjson.examine(0, 3, orjson.dumps(visit), False) is None
    assert found[3] == ("p1", True, patient, ("patient",))
    selected = select([patient, lab, visit])
    early, late = prefetch(selected, "2024-02-29"), prefetch(selected, "2024-03-01")  # a partial date: from its start
    assert early["patient"] == late["patient"] == patient
    assert early["observations"]["total"] == 0 and late["observations"]["entry"] == [{"resource": lab}]
    assert late["encounters"]["total"] == 0  # not of a class the template asks for


def test_patient_ids_with_the_records_separators_are_kept_apart(tmp_path: Path) -> None:
    """Ids the parser reads (escaped in JSON) may hold a tab, a newline or a backslash: pass 1's records escape them."""
    from service.replay.local import key_patient
    from service.replay.local import record_key
    from tests.replay.conftest import AS_OF
    from tests.replay.conftest import read_csv
    from tests.replay.conftest import replay

    ids = ["a\tb", "c\nd", "e\\tf", "g\\", "plain"]
    assert [key_patient(record_key(i)) for i in ids] == ids
    assert record_key("plain") == b"plain"  # an id read from a line's bytes is its own key
    export = tmp_path / "export"
    export.mkdir()
    with (export / "Patient.ndjson").open("wb") as handle:
        for patient in ids:
            handle.write(orjson.dumps({"resourceType": "Patient", "id": patient, "gender": "female"}) + b"\n")
    with (export / "Condition.ndjson").open("wb") as handle:
        for patient in ids:
            handle.write(orjson.dumps({"resourceType": "Condition", "subject": {"reference": f"Patient/{patient}"},
                                       "code": {"text": "knee pain"}}) + b"\n")
    assert replay(export, tmp_path / "out", "--as-of", AS_OF, "--workers", "1") == 0
    assert sorted(row["patient"] for row in read_csv(tmp_path / "out" / "patients.csv")) == sorted(ids)
    assert read_csv(tmp_path / "out" / "errors.csv") == []


def test_a_file_that_shrank_after_planning_is_read_to_its_end_and_no_further(tmp_path: Path) -> None:
    """The export changed during the run: its last line, now without an end, is read once (it looped before)."""
    import threading

    path = tmp_path / "Patient.ndjson"
    path.write_bytes(b'{"resourceType": "Patient", "id": "a"}\n{"resourceType": "Patient", "id": "b"}')
    (chunk,) = plan_chunks([path], numbered=False)
    shrunk = ndjson.Chunk(chunk.file_index, chunk.path, chunk.start, chunk.end + 4096, chunk.first_line)
    items: list[object] = []
    reader = threading.Thread(target=lambda: items.extend(read_chunk(shrunk, False)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert [item.patient for item in items if isinstance(item, Kept)] == ["a", "b"]
