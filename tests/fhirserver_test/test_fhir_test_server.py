"""The test FHIR server (Medplum behind tests/fhirserver/server.js) searches like a FHIR server should."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests import fhir_server
from tests.fhir_server import FhirServerError
from tests.fhir_server import FhirTestServer
from tests.fhirserver_test.support import CONDITIONS
from tests.fhirserver_test.support import HEIGHT_OBSERVATION
from tests.fhirserver_test.support import LOINC
from tests.fhirserver_test.support import LOINC_PAIN_SEVERITY
from tests.fhirserver_test.support import OTHER_CONDITION
from tests.fhirserver_test.support import PAIN_OBSERVATION
from tests.fhirserver_test.support import PATIENT
from tests.fhirserver_test.support import require_node
from tests.fhirserver_test.support import small_bundle

SYNTHEA_DIR = Path(__file__).resolve().parent.parent / "data" / "synthea"
CLEMENTE = SYNTHEA_DIR / "Clemente_Kreiger_1484a42d-0eaf-4654-9cbf-6b050a5cd73b.json"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# Registered in setup.cfg: lets CI select or deselect the tests that need Node.
pytestmark = pytest.mark.fhirserver


def fetch(url: str, headers: dict[str, str] | None = None, data: bytes | None = None) -> tuple[int, str, Any]:
    """Request an absolute URL; return status, content type and JSON body (errors included)."""
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=30) as response:
            return response.status, response.headers["Content-Type"], json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], json.loads(err.read())


def bare_id(reference: str) -> str:
    """'Patient/abc' -> 'abc'."""
    return reference.split("/", 1)[1]


def ids(bundle: dict[str, Any]) -> set[str]:
    """Type/id of every entry in a search Bundle."""
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", [])}


def next_url(bundle: dict[str, Any]) -> str | None:
    """The Bundle's link[relation=next].url, if any."""
    return next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)


def follow_pages(first_url: str) -> tuple[set[str], int]:
    """Follow next links from first_url; return every entry's Type/id and the number of pages."""
    found: set[str] = set()
    pages = 0
    url: str | None = first_url
    while url is not None:
        status, _, bundle = fetch(url)
        assert status == 200, bundle
        found |= ids(bundle)
        pages += 1
        assert pages <= 1000, "next links never end"
        url = next_url(bundle)
    return found, pages


def test_transaction_resolves_urn_uuid_references(server: FhirTestServer, loaded: dict[str, str]) -> None:
    condition = server.get(loaded[CONDITIONS[0]])
    assert condition["subject"]["reference"] == loaded[PATIENT]
    assert loaded[PATIENT].startswith("Patient/")


def test_read_by_id(server: FhirTestServer, loaded: dict[str, str]) -> None:
    patient = server.get(loaded[PATIENT])
    assert patient["resourceType"] == "Patient"
    assert patient["id"] == bare_id(loaded[PATIENT])
    assert patient["name"][0]["family"] == "Testbed"


def test_read_missing_is_404_operation_outcome(server: FhirTestServer) -> None:
    status, content_type, body = fetch(f"{server.base_url}/Patient/does-not-exist")
    assert status == 404
    assert content_type.startswith("application/fhir+json")
    assert body["resourceType"] == "OperationOutcome"


def test_condition_search_by_bare_patient_id_finds_the_three(
    server: FhirTestServer, loaded: dict[str, str]
) -> None:
    bundle = server.get(f"Condition?patient={bare_id(loaded[PATIENT])}")
    assert bundle["type"] == "searchset"
    assert ids(bundle) == {loaded[url] for url in CONDITIONS}
    assert loaded[OTHER_CONDITION] not in ids(bundle)


def test_condition_search_by_subject_reference(server: FhirTestServer, loaded: dict[str, str]) -> None:
    bundle = server.get(f"Condition?subject={loaded[PATIENT]}")
    assert ids(bundle) == {loaded[url] for url in CONDITIONS}


def test_observation_search_by_patient_and_code(server: FhirTestServer, loaded: dict[str, str]) -> None:
    code = urllib.parse.quote(f"{LOINC}|{LOINC_PAIN_SEVERITY}")
    bundle = server.get(f"Observation?patient={bare_id(loaded[PATIENT])}&code={code}")
    assert ids(bundle) == {loaded[PAIN_OBSERVATION]}
    assert loaded[HEIGHT_OBSERVATION] in ids(server.get(f"Observation?patient={bare_id(loaded[PATIENT])}"))


def test_post_search_with_form_body(server: FhirTestServer, loaded: dict[str, str]) -> None:
    body = urllib.parse.urlencode({"patient": bare_id(loaded[PATIENT])}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, bundle = fetch(f"{server.base_url}/Condition/_search", headers, body)
    assert status == 200, bundle
    assert ids(bundle) == {loaded[url] for url in CONDITIONS}


def test_count_one_gives_absolute_next_links_through_every_page(
    server: FhirTestServer, loaded: dict[str, str]
) -> None:
    first = f"{server.base_url}/Condition?patient={bare_id(loaded[PATIENT])}&_count=1"
    page = server.get(f"Condition?patient={bare_id(loaded[PATIENT])}&_count=1")
    assert page["total"] == 3
    assert len(page["entry"]) == 1
    link = next_url(page)
    assert link is not None and link.startswith(f"{server.base_url}/Condition?")
    second = fetch(link)[2]
    assert len(second["entry"]) == 1
    assert ids(second).isdisjoint(ids(page))
    found, pages = follow_pages(first)
    assert found == {loaded[url] for url in CONDITIONS}
    assert pages == 3


def test_search_entries_have_absolute_full_urls(server: FhirTestServer, loaded: dict[str, str]) -> None:
    bundle = server.get(f"Condition?patient={bare_id(loaded[PATIENT])}")
    assert {e["fullUrl"] for e in bundle["entry"]} == {f"{server.base_url}/{loaded[u]}" for u in CONDITIONS}


def test_parameters_medplum_would_silently_ignore_are_refused(server: FhirTestServer) -> None:
    for query in (
        "Observation?no-such-param=1",
        "Observation?value-quantity=lt50",
        "Condition?subject:Patient=1",
    ):
        status, _, body = fetch(f"{server.base_url}/{query}")
        assert status == 400, query
        assert body["resourceType"] == "OperationOutcome"


def test_unknown_resource_type_is_404(server: FhirTestServer) -> None:
    status, _, body = fetch(f"{server.base_url}/NoSuchType?patient=1")
    assert status == 404
    assert body["resourceType"] == "OperationOutcome"


def test_metadata_answers_capability_statement(server: FhirTestServer) -> None:
    status, content_type, body = fetch(f"{server.base_url}/metadata")
    assert status == 200
    assert content_type.startswith("application/fhir+json")
    assert body["resourceType"] == "CapabilityStatement"
    assert body["fhirVersion"] == "4.0.1"


def test_authorization_header_value_is_recorded(server: FhirTestServer, loaded: dict[str, str]) -> None:
    server.reset()
    server.get(loaded[PATIENT], headers={"Authorization": "Bearer test-token-123"})
    server.get("metadata")
    recorded = server.requests()
    assert [(r["method"], r["path"], r["authorization"]) for r in recorded] == [
        ("GET", f"/{loaded[PATIENT]}", "Bearer test-token-123"),
        ("GET", "/metadata", None),
    ]


def test_set_delay_delays_responses_at_least_that_long(server: FhirTestServer) -> None:
    server.set_delay(300)
    try:
        started = time.monotonic()
        server.get("metadata")
        elapsed = time.monotonic() - started
    finally:
        server.set_delay(0)
    # Only a lower bound: the machine may be slow, never faster than the delay.
    assert elapsed >= 0.3


def test_concurrent_searches_all_answer(server: FhirTestServer, loaded: dict[str, str]) -> None:
    server.set_delay(100)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda _: server.get(f"Condition?subject={loaded[PATIENT]}"), range(8)))
    finally:
        server.set_delay(0)
    assert all(ids(bundle) == {loaded[url] for url in CONDITIONS} for bundle in results)


def test_reset_forgets_requests_but_keeps_data(server: FhirTestServer, loaded: dict[str, str]) -> None:
    server.get("metadata")
    server.reset()
    assert server.requests() == []
    assert server.get(loaded[PATIENT])["id"] == bare_id(loaded[PATIENT])


def test_synthea_record_loads_and_its_conditions_are_found() -> None:
    require_node()
    record = json.loads(CLEMENTE.read_text(encoding="utf-8"))
    expected = {
        e["resource"]["code"]["coding"][0]["code"]
        for e in record["entry"]
        if e["resource"]["resourceType"] == "Condition"
    }
    observations = sum(e["resource"]["resourceType"] == "Observation" for e in record["entry"])
    # page_size pages searches without _count, as real servers do, so every next link gets followed.
    with FhirTestServer(page_size=10, base_path="/fhir/R4") as server:
        loaded = server.load(record)
        patient = next(ref for ref in loaded.values() if ref.startswith("Patient/"))
        conditions = server.get(f"Condition?patient={bare_id(patient)}")
        found, pages = follow_pages(f"{server.base_url}/Observation?patient={bare_id(patient)}&_sort=-date")
    assert expected and {e["resource"]["code"]["coding"][0]["code"] for e in conditions["entry"]} == expected
    assert len(found) == observations
    assert pages == -(-observations // 10)


def test_start_with_delay_and_base_path() -> None:
    require_node()
    with FhirTestServer(base_path="/fhir/R4").start(delay_ms=200) as server:
        assert server.base_url.endswith("/fhir/R4")
        started = time.monotonic()
        loaded = server.load(small_bundle())
        assert time.monotonic() - started >= 0.2
        assert server.get(loaded[PATIENT])["resourceType"] == "Patient"
        assert fetch(f"http://127.0.0.1:{server.port}/{loaded[PATIENT]}")[0] == 404
        paths = [r["path"] for r in server.requests()]
        assert paths[-2:] == [f"/fhir/R4/{loaded[PATIENT]}", f"/{loaded[PATIENT]}"]


def test_stop_reaps_the_process_and_frees_the_port() -> None:
    require_node()
    server = FhirTestServer().start()
    pid, base_url = server.pid, server.base_url
    assert pid is not None
    server.stop()
    server.stop()
    assert server.pid is None
    # A zombie would still accept signal 0; a reaped process is gone.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(urllib.error.URLError):
        _OPENER.open(f"{base_url}/metadata", timeout=5)


def test_node_available_names_the_missing_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(fhir_server, "SERVER_DIR", tmp_path)
    reason = fhir_server.node_available()
    assert reason is not None and "install-node-deps" in reason
    with pytest.raises(FhirServerError, match="install-node-deps"):
        FhirTestServer().start()


def test_node_that_cannot_start_raises_with_its_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    require_node()
    monkeypatch.setattr(fhir_server, "NODE_FLAGS", ("--no-such-node-flag",))
    with pytest.raises(FhirServerError, match="no-such-node-flag"):
        FhirTestServer().start()


def test_load_refuses_a_non_transaction_bundle() -> None:
    with pytest.raises(ValueError, match="transaction"):
        FhirTestServer().load({"resourceType": "Bundle", "type": "collection", "entry": []})
