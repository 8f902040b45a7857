"""Drafts validated once per spec are copied per card; evidence lines follow the seed URL base and the source."""

from __future__ import annotations

import json

import pytest

from service.core import cards
from service.core.findings import Evidence
from service.core.findings import SuggestionSpec
from service.knowledge.gates import GATES
from service.knowledge.rules import RULES
from tests.gates.gate_builders import finding

CATALOGUE = tuple(
    dict.fromkeys(s for rule in RULES for s in rule.offer.catalogue if s.action == "create")
)


def test_the_rule_table_offers_drafts() -> None:
    assert len(CATALOGUE) >= 10


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda s: s.label[:40])
def test_every_catalogue_draft_is_its_validated_json_copied(spec: SuggestionSpec) -> None:
    # What a fresh validation would give, through the JSON text a response carries.
    want = json.dumps(cards._build_draft(spec, "p-1"))
    first, second = cards.draft_resource(spec, "p-1"), cards.draft_resource(spec, "p-1")
    assert json.dumps(first) == want and json.dumps(second) == want
    # Each call gets its own copy, down to the nested lists and objects.
    first["subject"]["reference"] = "Patient/other"
    for value in first.values():
        if isinstance(value, list):
            value.append({"text": "changed by a caller"})
        elif isinstance(value, dict):
            value["changed"] = True
    assert json.dumps(cards.draft_resource(spec, "p-1")) == want


@pytest.mark.parametrize("base", [None, "https://example.org/seeds", "https://example.org/seeds/"])
def test_citations_follow_the_seed_url_base(base: str | None) -> None:
    seed = Evidence("002_a2231a674c43bc45.txt", "a seed statement")
    line = cards._citation(seed, base)
    if base is None:
        assert line == "Vertebral BME treatment algorithm (seed 002)"
    else:
        assert line == ("[Vertebral BME treatment algorithm (seed 002)]"
                        "(https://example.org/seeds/002_a2231a674c43bc45.txt)")


def test_evidence_not_from_the_seeds_says_so_and_seed_evidence_does_not() -> None:
    # Same source and statement, only in_seeds differs: the citations differ too.
    for gate in GATES:
        for evidence in gate.evidence:
            for in_seeds in (True, False):
                line = cards._citation(Evidence(evidence.source, evidence.statement, in_seeds), None)
                assert line.endswith("(not from the seeds)") is not in_seeds


def test_detail_cites_each_findings_own_sources_under_each_base() -> None:
    one = (Evidence("000_78eca85d1300eed9.txt", "first statement"),)
    other = (Evidence("001_55f96261c0195ecd.txt", "second statement"),)
    for evidence, cited in ((one, "seed 000"), (other, "seed 001"), ((), None)):
        for base in (None, "https://example.org/seeds"):
            text = cards.detail(finding(rule_id="R01", evidence=evidence), base)
            source = text.split("**Source:** ", 1)[1]
            if cited is None:
                assert source == "none cited"
                continue
            assert "\n" not in source and cited in source
            assert ("https://example.org/seeds/" in source) is (base is not None)


