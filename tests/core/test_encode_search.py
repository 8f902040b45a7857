"""FHIR search values are percent-encoded, so proxies that collapse `//` cannot change them."""

from __future__ import annotations

from urllib.parse import parse_qsl
from urllib.parse import urlsplit

from hooks import SERVICES
from service.fhir.urls import encode_search


def test_token_values_are_encoded_and_or_commas_kept() -> None:
    encoded = encode_search("Observation?patient=p-1&code=http://loinc.org|2160-0,http://loinc.org|33914-3")
    assert encoded == ("Observation?patient=p-1&code=http%3A%2F%2Floinc.org%7C2160-0,"
                       "http%3A%2F%2Floinc.org%7C33914-3")
    assert "//" not in encoded


def test_encoding_is_idempotent_and_leaves_plain_reads_alone() -> None:
    once = encode_search("Condition?patient=a b&clinical-status=active")
    assert encode_search(once) == once == "Condition?patient=a%20b&clinical-status=active"
    assert encode_search("Patient/p-1") == "Patient/p-1"


def test_every_prefetch_template_survives_encoding_unchanged_in_meaning() -> None:
    for service in SERVICES:
        for key in service.prefetch.values():
            relative = key.template.replace("{{context.patientId}}", "p-1")
            raw, encoded = urlsplit(relative), urlsplit(encode_search(relative))
            assert raw.path == encoded.path
            assert parse_qsl(raw.query) == parse_qsl(encoded.query)
            assert "//" not in encoded.query
