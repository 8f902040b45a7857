"""The public rule pages: one per rule and gate, built from the tables alone, framable, 404 for anything else."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from service.core.citations import SEED_CITATIONS
from service.core.citations import rule_url
from service.core.citations import short_citation
from service.core.policy import policy_from_mapping
from service.knowledge.gates import GATES
from service.knowledge.rulepage import index_page
from service.knowledge.rulepage import page_ids
from service.knowledge.rulepage import rule_page
from service.knowledge.rules import RULES

ALL_IDS = page_ids()


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    """One app for the read-only page tests (building one per parametrised case costs most of the run)."""
    from service.web.app import create_app

    application = create_app(test_config={"data_dir": tmp_path_factory.mktemp("pages"), "auth": "off",
                                          "public_base_url": "http://127.0.0.1:8080"})
    yield application.test_client()
    application.extensions["bme"].pool.close()
    application.extensions["bme"].engine.dispose()


def _html(client: FlaskClient, path: str) -> str:
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.get_data(as_text=True)[:300])
    assert answer.mimetype == "text/html"
    return answer.get_data(as_text=True)


def test_every_rule_and_gate_has_an_id_the_page_list_knows() -> None:
    """37 rules and 14 gates, each once."""
    assert set(ALL_IDS) == {r.id for r in RULES} | {g.id for g in GATES}
    assert len(ALL_IDS) == len(set(ALL_IDS))


@pytest.mark.parametrize("rule_id", ALL_IDS)
def test_each_page_names_its_rule_and_quotes_its_evidence(pages: FlaskClient, rule_id: str) -> None:
    """200, the id and title, every evidence statement with its short citation, and no seed file name."""
    page = rule_page(rule_id)
    assert page is not None
    html = _html(pages, f"/rules/{rule_id}")
    assert f"<h1><span class=\"rule-id\">{rule_id}</span> {escape(page.title)}</h1>" in html
    assert page.evidence
    for quote in page.evidence:
        assert str(escape(quote.statement)) in html
        assert str(escape(quote.citation)) in html
    assert not re.search(r"\d{3}_[0-9a-f]{16}\.txt", html), "a seed file name instead of its short citation"
    assert "<script" not in html


@pytest.mark.parametrize("rule_id", [r.id for r in RULES if r.offer.catalogue])
def test_orders_show_the_dose_exactly_as_the_seeds_word_it(pages: FlaskClient, rule_id: str) -> None:
    """Every order the rule may offer is on its page, drugs with the seed's dose text or 'none given'."""
    html = _html(pages, f"/rules/{rule_id}")
    for rule in (r for r in RULES if r.id == rule_id):
        for spec in rule.offer.catalogue:
            assert str(escape(spec.label)) in html
            if spec.resource_type == "MedicationRequest" and spec.dose_text:
                assert f"<q>{escape(spec.dose_text)}</q>" in html


def test_r21_page_model_reads_the_rule_table() -> None:
    """Both R21 rows (patient-view and NSAID draft), seed 002's short citation, the settings with defaults."""
    page = rule_page("R21")
    assert page is not None and page.kind == "rule" and page.gate is None
    assert [v.hooks for v in page.variants] == [("patient-view",), ("order-select", "order-sign")]
    assert {q.citation for q in page.evidence} == {"Vertebral BME treatment algorithm (seed 002)"}
    settings = {s.key: s for s in page.settings}
    assert settings["pathway.extensive_bme_bisphosphonate_first"].default == "true"
    assert not any(s.overridden for s in page.settings)
    assert any("myeloma" in c for c in page.context)  # R11's deferral of R21
    assert "bme_extent" in [item for item, _ in page.limitations]


def test_s08_page_model_reads_the_gate_table_with_the_thresholds_it_names() -> None:
    """The gate's When/Then with the policy's numbers and exactly the two eGFR settings its texts use."""
    page = rule_page("S08")
    assert page is not None and page.kind == "gate" and page.gate is not None
    assert "zoledronic acid with eGFR below 35" in page.gate.when
    assert [s.key for s in page.settings] == ["egfr.zoledronic_avoid_below", "egfr.pamidronate_caution_below"]
    assert {o for o, _ in page.gate.outcomes} == {"absolute", "relative", "missing"}
    assert all(not q.in_seeds for q in page.evidence)


def test_a_limitation_naming_a_range_reaches_every_rule_in_it() -> None:
    """'R21-R28, R36' covers R25 (inside the range) and R36, not R29."""
    def items(rule_id: str) -> list[str]:
        page = rule_page(rule_id)
        assert page is not None
        return [item for item, _ in page.limitations]

    assert "bme_sites" in items("R25") and "bme_sites" in items("R36")
    assert "bme_sites" not in items("R29")


def test_the_institution_policy_shows_on_the_page() -> None:
    """A changed threshold is filled into the texts and flagged as changed, with the default beside it."""
    policy = policy_from_mapping({"egfr.zoledronic_avoid_below": 40})
    page = rule_page("S08", policy)
    assert page is not None and page.gate is not None
    assert "zoledronic acid with eGFR below 40" in page.gate.when
    changed = next(s for s in page.settings if s.key == "egfr.zoledronic_avoid_below")
    assert changed.overridden and (changed.value, changed.default) == ("40", "35")


def test_the_app_serves_its_own_policy(app_config: dict[str, Any], tmp_path: Path) -> None:
    """The page shows the numbers the running service uses (BME policy file), not only the defaults."""
    from service.web.app import create_app

    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps({"egfr.zoledronic_avoid_below": 40}), encoding="utf-8")
    application: Flask = create_app(test_config={**app_config, "policy_file": policy_file})
    try:
        html = _html(application.test_client(), "/rules/S08")
    finally:
        application.extensions["bme"].pool.close()
        application.extensions["bme"].engine.dispose()
    assert "eGFR below 40" in html and "set by this institution (default 35)" in html


@pytest.mark.parametrize("path", ["/rules/R99", "/rules/S15", "/rules/r21", "/rules/R2", "/rules/R21x",
                                  "/rules/%3Cscript%3E", "/rules/R21/extra"])
def test_unknown_id_is_a_404_operation_outcome(pages: FlaskClient, path: str) -> None:
    """Anything but a known id: 404 JSON OperationOutcome with the service's not-found code, never HTML."""
    answer = pages.get(path)
    assert answer.status_code == 404
    assert answer.mimetype == "application/json"
    body = answer.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "not-found"
    assert body["issue"][0]["diagnostics"].startswith("BME-0404")
    assert "<" not in answer.get_data(as_text=True)


def test_pages_may_be_framed_by_any_ehr_and_load_nothing_but_their_stylesheet(pages: FlaskClient) -> None:
    """Own CSP: frame-ancestors *, no script, styles only from the service; no X-Frame-Options DENY."""
    for path in ("/rules/", "/rules/R21", "/rules/S08"):
        answer = pages.get(path)
        csp = answer.headers["Content-Security-Policy"]
        assert "frame-ancestors *" in csp and "default-src 'none'" in csp and "style-src 'self'" in csp
        assert "script-src" not in csp and "unsafe-inline" not in csp
        assert "X-Frame-Options" not in answer.headers
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    with pages.get("/rules/static/rules.css") as css:  # a file response: close it
        assert css.status_code == 200 and css.mimetype == "text/css"


def test_no_request_data_can_reach_a_page(client: FlaskClient) -> None:
    """The model takes only an id and a policy; query, headers and cookies change nothing in the answer."""
    for builder in (rule_page, index_page):
        params = set(inspect.signature(builder).parameters)
        assert params <= {"rule_id", "policy", "rules", "gates"}, builder.__name__
    plain = client.get("/rules/R21").get_data()
    client.set_cookie("bme_smart", "a" * 43)
    noisy = client.get("/rules/R21?patient=Patient/123&name=Jane+Doe",
                       headers={"Authorization": "Bearer x", "X-Patient": "Patient/123"})
    assert noisy.get_data() == plain
    assert b"Patient/123" not in noisy.get_data() and b"Jane" not in noisy.get_data()


def test_index_links_every_page(pages: FlaskClient) -> None:
    """The index lists every rule by stage and every gate, each linked to its page."""
    html = _html(pages, "/rules/")
    for rule_id in ALL_IDS:
        assert f'href="/rules/{rule_id}"' in html
    assert [name for name, _ in index_page().sections][-1].startswith("Stage F")
    assert pages.get("/rules").status_code == 308  # the bare path redirects to the index


def test_the_page_needs_no_authentication(app_config: dict[str, Any]) -> None:
    """Public: with authentication on and no trusted client, the page still answers (the API refuses)."""
    from service.web.app import create_app

    application = create_app(test_config={**app_config, "auth": "on"})
    try:
        client = application.test_client()
        assert client.get("/rules/R21").status_code == 200
        assert client.get("/cds-services").status_code == 401
    finally:
        application.extensions["bme"].pool.close()
        application.extensions["bme"].engine.dispose()


def test_rule_url_is_the_page_the_service_serves(pages: FlaskClient) -> None:
    """The card's source.url: base without a doubled slash; only real ids."""
    assert rule_url("https://cds.example.org", "R21") == "https://cds.example.org/rules/R21"
    assert rule_url("https://cds.example.org/bme/", "S08") == "https://cds.example.org/bme/rules/S08"
    path = rule_url("http://127.0.0.1:8080", "R21").removeprefix("http://127.0.0.1:8080")
    assert pages.get(path).status_code == 200
    for bad in ("R1", "r21", "../R21", "R21?x=1", ""):
        with pytest.raises(ValueError):
            rule_url("https://cds.example.org", bad)


def test_short_citations_follow_the_card_style_table() -> None:
    """Each seed file gets its short citation; other sources stand as they are."""
    assert short_citation("002_a2231a674c43bc45.txt") == "Vertebral BME treatment algorithm (seed 002)"
    assert len(SEED_CITATIONS) == 4
    assert short_citation("KDIGO 2012") == "KDIGO 2012"
