"""The ported Inferno checks catch bad cards; every gate scenario renders to valid cards."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from service.cds.schemas import validate
from service.core.cards import MAX_DETAIL
from service.core.cards import render
from service.core.policy import DEFAULT_POLICY
from tests.cards.card_checks import empties
from tests.cards.card_checks import inferno_errors
from tests.cards.card_checks import markup_errors
from tests.gates.gate_builders import NAPROXEN
from tests.gates.gate_builders import apply_gates
from tests.gates.gate_builders import draft
from tests.gates.gate_builders import drug
from tests.gates.gate_builders import finding
from tests.gates.gate_builders import safe
from tests.gates.test_gates_table import CASES

GOOD: dict[str, Any] = {
    "summary": "ok",
    "indicator": "info",
    "source": {"label": "x"},
    "suggestions": [
        {"label": "s", "actions": [{"type": "delete", "description": "d", "resourceId": "ServiceRequest/b"}]}
    ],
    "selectionBehavior": "any",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"summary": "x" * 140}, "summary"),
        ({"indicator": "hard-stop"}, "indicator"),
        ({"source": {}}, "source.label"),
        ({"selectionBehavior": None}, "selectionBehavior"),
        ({"overrideReasons": [{"system": "s", "code": "c"}]}, "overrideReason"),
        (
            {"links": [{"label": "l", "url": "https://e", "type": "absolute", "appContext": "x"}]},
            "appContext",
        ),
        ({"links": [{"label": "l", "url": "https://e", "type": "other"}]}, "link type"),
        ({"suggestions": [{"label": "s", "actions": []}]}, "empty array"),
        (
            {"suggestions": [{"label": "s", "actions": [{"type": "delete", "description": "d"}]}]},
            "resourceId",
        ),
        (
            {
                "suggestions": [
                    {
                        "label": "s",
                        "actions": [
                            {
                                "type": "create",
                                "description": "d",
                                "resource": {"resourceType": "ServiceRequest"},
                            }
                        ],
                    }
                ]
            },
            "parseable",
        ),
    ],
)
def test_inferno_checks_catch_bad_cards(change: dict[str, Any], message: str) -> None:
    assert inferno_errors(GOOD) == []
    bad = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    assert any(message in e for e in inferno_errors(bad)), inferno_errors(bad)


def test_empties_and_markup_checks_catch_problems() -> None:
    assert empties({"a": [], "b": {"c": ""}, "d": None, "e": [{}], "f": 0}) == [
        "$.a",
        "$.b.c",
        "$.d",
        "$.e[0]",
    ]
    assert markup_errors("a <b>x</b>") and markup_errors("x\n| a | b |") and not markup_errors("a &lt;b&gt;")


def rendered(findings: tuple[Any, ...]) -> list[dict[str, Any]]:
    numbers = itertools.count(1)
    cards = render(
        findings,
        uuid_factory=lambda: f"u{next(numbers)}",
        source_label="BME CDS rules 0.1.0",
        topic_system="https://bme-cds.example.org/fhir/CodeSystem/bme-rules",
        patient_id="p1",
    )
    validate("response", {"cards": cards})
    for card in cards:
        assert inferno_errors(card) == [] and empties(card) == [] and markup_errors(card["detail"]) == []
    return cards


@pytest.mark.parametrize("hook", ["patient-view", "order-sign"])
@pytest.mark.parametrize(
    ("case", "drug_class", "overrides"), [c[:3] for c in CASES], ids=[c[0] for c in CASES]
)
def test_every_gate_scenario_renders_valid_cards(
    hook: str, case: str, drug_class: str, overrides: dict[str, Any]
) -> None:
    features = safe(**overrides, draft_orders=(draft(drug_class, ref="MedicationRequest/d9"),))
    cards = rendered(apply_gates((finding(drug(drug_class)),), features, hook, DEFAULT_POLICY))
    gate_cards = [c for c in cards if c["source"]["topic"]["code"].startswith("S")]
    for card in gate_cards:
        assert "(not from the seeds)" in card["detail"]
        assert len(card["detail"]) <= MAX_DETAIL


def test_gate_cards_with_lab_requests_and_deletions_render() -> None:
    features = safe(
        egfr=None,
        calcium=None,
        draft_orders=(draft("nsaid"), draft("zoledronic_acid", ref="MedicationRequest/z1")),
    )
    findings = apply_gates(
        (finding(NAPROXEN), finding(drug("denosumab"), rule_id="R29")), features, "order-sign", DEFAULT_POLICY
    )
    cards = rendered(findings)
    by_topic = {c["source"]["topic"]["code"]: c for c in cards}
    s01 = by_topic["S01"]
    assert s01["selectionBehavior"] == "any"
    resource = s01["suggestions"][0]["actions"][0]["resource"]
    assert resource["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "2160-0",
        "display": "Creatinine [Mass/volume] in Serum or Plasma",
    }
    assert "Withheld: Naproxen" in by_topic["R22"]["detail"]
    assert "suggestions" not in by_topic["R22"]
