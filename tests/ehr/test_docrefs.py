"""docrefs.as_report: Oracle Health's DocumentReference report text reaches the radiology text finder."""

from __future__ import annotations

import base64
import copy
from datetime import date
from typing import Any

import pytest

from service.core import docrefs
from service.core import features
from service.core import textfind
from service.core.policy import DEFAULT_POLICY
from service.core.valuesets import ValueSetIndex
from service.fhir.prefetch import flatten
from tests.ehr.builders import fixture
from valuesets import DIRECTORY as PACKAGED_VALUESETS


def oracle_document() -> dict[str, Any]:
    body = fixture("oracle", "patient-view-documentreference.json")
    document: dict[str, Any] = body["prefetch"]["documents"]["entry"][0]["resource"]
    return document


def test_the_report_view_keeps_identity_dates_code_and_text() -> None:
    document = oracle_document()
    report = docrefs.as_report(document)
    assert report["resourceType"] == "DocumentReference" and report["id"] == document["id"]
    assert report["status"] == "final"
    assert report["code"] == document["type"]
    assert report["effectivePeriod"] == document["context"]["period"]
    assert report["issued"] == document["date"]
    (form,) = report["presentedForm"]
    text = base64.b64decode(form["data"]).decode()
    found = textfind.find(text)
    assert any(f.kind == textfind.KIND_BME and f.value is True for f in found), found


@pytest.mark.parametrize(
    ("change", "usable"),
    [
        ({"status": "entered-in-error"}, False),
        ({"status": "superseded"}, False),
        ({"docStatus": "entered-in-error"}, False),
        ({"docStatus": "preliminary"}, True),
        ({"status": "current"}, True),
    ],
)
def test_documents_that_must_not_count_are_marked_excluded(change: dict[str, Any], usable: bool) -> None:
    report = docrefs.as_report({**oracle_document(), **change})
    assert (report["status"] != docrefs.EXCLUDED) is usable
    assert ("presentedForm" in report) is usable


@pytest.mark.parametrize(
    "attachment",
    [
        {"contentType": "application/pdf", "data": "JVBERi0x"},
        {"contentType": "text/plain", "url": "Binary/abc"},  # not fetched
        {"data": base64.b64encode(b"marrow edema").decode()},  # no content type: not assumed to be text
    ],
)
def test_only_inline_text_is_read(attachment: dict[str, Any]) -> None:
    document = {**oracle_document(), "content": [{"attachment": attachment}]}
    assert "presentedForm" not in docrefs.as_report(document)


@pytest.mark.parametrize("content_type", ["text/plain", "text/html; charset=utf-8", "application/xhtml+xml"])
def test_inline_plain_text_and_html_are_read(content_type: str) -> None:
    attachment = {"contentType": content_type, "data": base64.b64encode(b"<p>marrow edema</p>").decode()}
    document = {**oracle_document(), "content": [{"attachment": attachment}]}
    assert docrefs.as_report(document)["presentedForm"] == [attachment]


def test_junk_documents_do_not_fail() -> None:
    for junk in (
        {"resourceType": "DocumentReference"},
        {"resourceType": "DocumentReference", "content": "x", "context": [], "type": "MRI", "date": 5},
    ):
        report = docrefs.as_report(junk)
        assert report["status"] == "final" and "presentedForm" not in report and "code" not in report


def test_description_names_the_document_when_there_is_no_type() -> None:
    document = {k: v for k, v in oracle_document().items() if k != "type"}
    document["description"] = "MRI lumbar spine report"
    assert docrefs.as_report(document)["code"] == {"text": "MRI lumbar spine report"}


def extract(resources: list[dict[str, Any]]) -> features.Features:
    return features.extract(
        resources,
        today=date(2026, 11, 21),
        valuesets=ValueSetIndex.load(PACKAGED_VALUESETS),
        policy=DEFAULT_POLICY,
        patient_id="12724066",
    )


def test_the_document_gives_bme_and_cites_itself() -> None:
    body = fixture("oracle", "patient-view-documentreference.json")
    resources = flatten(body["prefetch"])
    extracted = extract(resources)
    assert extracted.bme_present.value is True
    assert extracted.bme_extent.value == features.EXTENT_EXTENSIVE
    assert "DocumentReference/197287517" in {s.reference for s in extracted.bme_present.sources}


def test_a_superseded_document_gives_nothing() -> None:
    body = copy.deepcopy(fixture("oracle", "patient-view-documentreference.json"))
    body["prefetch"]["documents"]["entry"][0]["resource"]["status"] = "superseded"
    assert extract(flatten(body["prefetch"])).bme_present.value is None
