"""cards.render: CDS Hooks 2.0 card shape, Inferno checks, Markdown detail, draft FHIR resources."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from service.cds.schemas import validate
from service.core.cards import MAX_DETAIL
from service.core.cards import NO_DOSE
from service.core.cards import OVERRIDE_REASON_SYSTEM
from service.core.cards import RULES_EXTENSION
from service.core.cards import escape
from service.core.cards import render
from service.core.facts import Source
from service.core.findings import Code
from service.core.findings import Evidence
from service.core.findings import Finding
from service.core.findings import SuggestionSpec
from tests.cards.card_checks import empties
from tests.cards.card_checks import inferno_errors
from tests.cards.card_checks import markup_errors
from tests.gates.gate_builders import NAPROXEN
from tests.gates.gate_builders import drug
from tests.gates.gate_builders import finding

TOPIC = "https://bme-cds.example.org/fhir/CodeSystem/bme-rules"
LABEL = "BME CDS rules 0.1.0"
SMART = "https://bme-cds.example.org/smart/launch"
LOINC = "http://loinc.org"


def counter() -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"uuid-{next(numbers)}"


def cards_for(*findings: Finding, **kwargs: Any) -> list[dict[str, Any]]:
    options: dict[str, Any] = {
        "uuid_factory": counter(),
        "source_label": LABEL,
        "topic_system": TOPIC,
        "patient_id": "p1",
        **kwargs,
    }
    cards = render(findings, **options)
    validate("response", {"cards": cards})
    for card in cards:
        assert inferno_errors(card) == []
        assert empties(card) == []
        assert markup_errors(card["detail"]) == []
    return cards


MRI = SuggestionSpec(
    label="Order MRI spine",
    resource_type="ServiceRequest",
    code=Code(LOINC, "24967-6", "MR Lumbar spine"),
    text="MRI lumbar spine",
    priority="stat",
    note="urgent",
)
DEXA = drug("dexamethasone", "Dexamethasone, high dose", text="dexamethasone")
DELETE = SuggestionSpec(
    label="Cancel bed rest", action="delete", text="bed rest", delete_reference="ServiceRequest/abc"
)


def test_card_fields_and_pinned_uuids() -> None:
    (card,) = cards_for(finding(NAPROXEN, MRI))
    assert card["uuid"] == "uuid-1"
    assert [s["uuid"] for s in card["suggestions"]] == ["uuid-2", "uuid-3"]
    assert card["source"] == {
        "label": LABEL,
        "topic": {"system": TOPIC, "code": "R22", "display": "Rule R22"},
    }
    assert card["selectionBehavior"] == "at-most-one"
    assert card["indicator"] == "info"
    assert "links" not in card


def test_override_reasons_have_display() -> None:
    (card,) = cards_for(finding())
    reasons = card["overrideReasons"]
    assert {r["code"] for r in reasons} == {
        "not-applicable",
        "already-addressed",
        "patient-declined",
        "clinical-judgement",
    }
    assert all(r["system"] == OVERRIDE_REASON_SYSTEM and r["display"] for r in reasons)


def test_no_suggestions_means_no_selection_behavior() -> None:
    (card,) = cards_for(finding())
    assert "suggestions" not in card and "selectionBehavior" not in card


def test_selection_behavior_from_finding() -> None:
    (card,) = cards_for(finding(MRI, selection_behavior="any"))
    assert card["selectionBehavior"] == "any"
    (card,) = cards_for(finding(MRI, selection_behavior=None))
    assert card["selectionBehavior"] == "at-most-one"


def test_is_recommended_only_when_set() -> None:
    (card,) = cards_for(finding(dataclasses.replace(NAPROXEN, is_recommended=False), MRI))
    assert card["suggestions"][0]["isRecommended"] is False
    assert "isRecommended" not in card["suggestions"][1]


def test_two_recommended_with_at_most_one_is_a_rule_bug() -> None:
    a = dataclasses.replace(NAPROXEN, is_recommended=True)
    with pytest.raises(ValueError, match="at-most-one"):
        cards_for(finding(a, dataclasses.replace(MRI, is_recommended=True)))


@pytest.mark.parametrize("length", [140, 200])
def test_summary_too_long_is_a_rule_bug(length: int) -> None:
    with pytest.raises(ValueError, match="summary"):
        cards_for(finding(summary="x" * length))


def test_summary_of_139_is_fine() -> None:
    (card,) = cards_for(finding(summary="x" * 139))
    assert len(card["summary"]) == 139


def test_smart_link_only_when_asked_and_configured() -> None:
    (card,) = cards_for(finding(smart_link=True), smart_launch_url=SMART)
    (link,) = card["links"]
    assert link["type"] == "smart" and link["url"] == SMART
    assert json.loads(link["appContext"]) == {"rule": "R22"}
    assert "p1" not in link["appContext"]
    assert "links" not in cards_for(finding(smart_link=True))[0]
    assert "links" not in cards_for(finding(smart_link=False), smart_launch_url=SMART)[0]


def test_medication_request_draft() -> None:
    (card,) = cards_for(finding(NAPROXEN))
    action = card["suggestions"][0]["actions"][0]
    assert action["type"] == "create"
    assert action["resource"] == {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "proposal",
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "7258",
                    "display": "naproxen",
                }
            ],
            "text": "naproxen",
        },
        "subject": {"reference": "Patient/p1"},
        "dosageInstruction": [{"text": "375-1100 mg/day in two divided doses"}],
    }
    assert "naproxen" in action["description"] and "375-1100 mg/day" in action["description"]


def test_no_dose_means_no_dosage_and_says_so() -> None:
    (card,) = cards_for(finding(DEXA, rule_id="R10"))
    action = card["suggestions"][0]["actions"][0]
    assert "dosageInstruction" not in action["resource"]
    assert "coding" not in action["resource"]["medicationCodeableConcept"]
    assert action["resource"]["medicationCodeableConcept"]["text"] == "dexamethasone"
    assert NO_DOSE in action["description"]


def test_service_request_draft_with_priority_and_note() -> None:
    (card,) = cards_for(finding(MRI))
    resource = card["suggestions"][0]["actions"][0]["resource"]
    assert resource["resourceType"] == "ServiceRequest"
    assert resource["priority"] == "stat"
    assert resource["code"] == {
        "coding": [{"system": LOINC, "code": "24967-6", "display": "MR Lumbar spine"}],
        "text": "MRI lumbar spine",
    }
    assert resource["note"] == [{"text": "urgent"}]
    assert resource["status"] == "draft" and resource["intent"] == "proposal"


def test_text_only_service_request_and_device_request() -> None:
    referral = SuggestionSpec(
        label="Refer to spine surgery",
        resource_type="ServiceRequest",
        text="Urgent referral to spine surgery",
    )
    brace = SuggestionSpec(label="Brace", resource_type="DeviceRequest", text="Thoracolumbar brace")
    (card,) = cards_for(finding(referral, brace, selection_behavior="any"))
    resources = [s["actions"][0]["resource"] for s in card["suggestions"]]
    assert resources[0]["code"] == {"text": "Urgent referral to spine surgery"}
    assert resources[1]["codeCodeableConcept"] == {"text": "Thoracolumbar brace"}


def test_every_draft_round_trips_through_fhir_resources() -> None:
    referral = SuggestionSpec(label="Refer", resource_type="ServiceRequest", text="Referral")
    (card,) = cards_for(finding(NAPROXEN, DEXA, MRI, referral, selection_behavior="any"))
    for suggestion in card["suggestions"]:
        resource = suggestion["actions"][0]["resource"]
        model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert model.model_dump(mode="json", exclude_none=True) == resource


def test_delete_action_has_resource_id_and_no_resource() -> None:
    (card,) = cards_for(finding(DELETE))
    (action,) = card["suggestions"][0]["actions"]
    assert action == {
        "type": "delete",
        "description": "Remove the draft order: bed rest",
        "resourceId": "ServiceRequest/abc",
    }


@pytest.mark.parametrize("reference", [None, "", "abc", "ServiceRequest/"])
def test_delete_without_relative_reference_is_a_rule_bug(reference: str | None) -> None:
    with pytest.raises(ValueError, match="relative reference"):
        cards_for(finding(dataclasses.replace(DELETE, delete_reference=reference)))


def test_ordering_critical_warning_info_then_rule_id() -> None:
    findings = [
        finding(rule_id="R22"),
        finding(rule_id="S01", indicator="warning"),
        finding(rule_id="R10", indicator="critical"),
        finding(rule_id="R2"),
        finding(rule_id="R06", indicator="critical"),
        finding(rule_id="R26b"),
        finding(rule_id="R26a"),
    ]
    cards = cards_for(*findings)
    assert [c["source"]["topic"]["code"] for c in cards] == ["R06", "R10", "S01", "R2", "R22", "R26a", "R26b"]
    assert [c["uuid"] for c in cards] == [f"uuid-{n}" for n in range(1, 8)]


def test_empty_input_gives_no_cards() -> None:
    assert cards_for() == []


@pytest.mark.parametrize("missing", ["source_label", "topic_system", "patient_id"])
def test_required_settings_must_be_non_empty(missing: str) -> None:
    options: dict[str, Any] = {
        "uuid_factory": counter(),
        "source_label": LABEL,
        "topic_system": TOPIC,
        "patient_id": "p1",
        missing: "",
    }
    with pytest.raises(ValueError):
        render([finding()], **options)


BASIS = finding(
    NAPROXEN,
    recommendation="Consider an NSAID at the maximum tolerated dose for 2-4 weeks",
    rule_text="Limited vertebral BME without red flags",
    data_used=(
        Source(
            "DiagnosticReport/mri-1",
            "MRI lumbar spine: bone marrow edema L2",
            date(2026, 3, 2),
            via="report text: 'marrow edema at L2'",
        ),
        Source("", "Age 58 years"),
    ),
    missing=("25-OH vitamin D: none on record",),
    evidence=(
        Evidence("002_a2231a674c43bc45.txt", "NSAIDs at maximum tolerated dose for 2-4 weeks"),
        Evidence("https://www.fda.gov/drugs/x", "a non-seed statement", in_seeds=False),
    ),
    notes=("S01 passed: eGFR 72 on 2026-10-01",),
)


def test_detail_is_the_short_ehr_shape() -> None:
    """Based on (date first), Missing, Why (the seed's sentence), Source (short citation), in that order."""
    (card,) = cards_for(BASIS)
    detail = card["detail"]
    headings = ["**Based on:**", "**Missing:**", "**Why:**", "**Source:**"]
    positions = [detail.index(h) for h in headings]
    assert positions == sorted(positions)
    assert "**Based on:** 2026-03-02: report text: 'marrow edema at L2'; date unknown: Age 58 years" in detail
    assert "**Missing:** 25-OH vitamin D: none on record" in detail
    assert '**Why:** "NSAIDs at maximum tolerated dose for 2-4 weeks"' in detail
    assert ("**Source:** Vertebral BME treatment algorithm (seed 002); "
            "[www.fda.gov](https://www.fda.gov/drugs/x) (not from the seeds)") in detail


def test_detail_has_no_boilerplate_file_names_or_resource_ids() -> None:
    """The full basis is one link away: no seed file name, resource id, passed check or disclaimer."""
    for card in (*cards_for(BASIS), *cards_for(finding())):
        detail = card["detail"]
        for absent in ("002\\_a2231a674c43bc45", "DiagnosticReport/mri-1", "S01 passed", "nothing the rule",
                       "none applied", "Decision support only"):
            assert absent not in detail, absent
    (card,) = cards_for(finding())
    assert "**Missing:**" not in card["detail"] and "**Based on:**" not in card["detail"]


def test_withheld_drugs_are_one_line_per_reason() -> None:
    notes = tuple(f"Removed: {d} 1 mg/day (S01: dialysis on record; contraindicated)"
                  for d in ("Naproxen", "Diclofenac", "Celecoxib"))
    (card,) = cards_for(finding(notes=(*notes, "S01 passed: eGFR 72 on 2026-10-01")))
    assert ("**Safety:** Removed: Naproxen, Diclofenac, Celecoxib (S01: dialysis on record; "
            "contraindicated)") in card["detail"]
    assert "passed" not in card["detail"]


def test_detail_never_exceeds_the_frame_limit() -> None:
    long = "x" * 400
    heavy = finding(
        data_used=tuple(Source("", f"datum {i} {long}", date(2026, 1, i + 1)) for i in range(6)),
        missing=(long, long), notes=tuple(f"Withheld: Drug{i} ({long} {i})" for i in range(5)),
    )
    folded = [finding(rule_id=f"R3{i}", fold_line=f"line {i} " + "y " * 40) for i in range(5)]
    cards = cards_for(dataclasses.replace(heavy, smart_link=True), *folded)
    assert len(cards) == 1 and len(cards[0]["detail"]) <= MAX_DETAIL
    assert all(f"line {i}" in cards[0]["detail"] for i in range(5))


def test_informational_rules_fold_into_the_pathway_card() -> None:
    """One pathway card per hook; it lists its own rule first, then every folded rule, in its extension."""
    pathway = finding(NAPROXEN, smart_link=True)
    info = [finding(rule_id=r, fold_line=f"{r} line") for r in ("R28", "R37", "R05")]
    gate = finding(rule_id="S01", indicator="warning")
    red = finding(rule_id="R06", indicator="critical")
    other = finding(rule_id="R14")
    cards = cards_for(*info, other, pathway, gate, red)
    assert [c["source"]["topic"]["code"] for c in cards] == ["R06", "S01", "R22", "R14"]
    assert cards[2]["extension"] == {RULES_EXTENSION: ["R22", "R05", "R28", "R37"]}
    assert "- R05 line\n- R28 line\n- R37 line" in cards[2]["detail"]
    assert all("extension" not in c for i, c in enumerate(cards) if i != 2)
    assert len(cards[2]["suggestions"]) == 1  # the folded rules' own orders are not mixed into its choice


def test_without_a_pathway_card_informational_rules_fold_into_the_first_other_info_card() -> None:
    cards = cards_for(finding(rule_id="R37", fold_line="course"), finding(rule_id="R01"),
                      finding(rule_id="R06", indicator="critical"))
    assert [c["source"]["topic"]["code"] for c in cards] == ["R06", "R01"]
    assert cards[1]["extension"] == {RULES_EXTENSION: ["R01", "R37"]}
    alone = cards_for(finding(rule_id="R37", fold_line="course"), finding(rule_id="R28", fold_line="physio"))
    assert len(alone) == 1 and alone[0]["extension"] == {RULES_EXTENSION: ["R28", "R37"]}
    single = cards_for(finding(rule_id="R37", fold_line="course"))
    assert "extension" not in single[0]


def test_source_url_is_the_public_rule_page() -> None:
    (card,) = cards_for(finding(), public_base_url="https://cds.example.org/")
    assert card["source"]["url"] == "https://cds.example.org/rules/R22"
    (card,) = cards_for(finding())
    assert "url" not in card["source"]


def test_patient_text_is_escaped() -> None:
    hostile = finding(
        data_used=(Source("Observation/x", "<script>alert(1)</script> *bold* _it_ [link](http://e)\n# h"),),
        missing=("| a | b |",),
    )
    (card,) = cards_for(hostile)
    detail = card["detail"]
    assert "<script>" not in detail and "&lt;script&gt;" in detail
    assert "\\*bold\\*" in detail and "\\_it\\_" in detail and "\\[link\\]" in detail
    assert "\n# h" not in detail
    assert "**Missing:** \\| a \\| b \\|" in detail


def test_escape_folds_whitespace_and_entities() -> None:
    assert escape("a\n\nb  c & d") == "a b c &amp; d"
    assert escape("`x`") == "\\`x\\`"


def lenient(*findings: Finding) -> list[dict[str, Any]]:
    numbers = itertools.count(1)
    cards = render(
        findings,
        uuid_factory=lambda: f"u{next(numbers)}",
        source_label=LABEL,
        topic_system=TOPIC,
        patient_id="p1",
        strict=False,
    )
    validate("response", {"cards": cards})
    for card in cards:
        assert inferno_errors(card) == [] and empties(card) == []
    return cards


def test_lenient_mode_shortens_a_long_summary_at_a_word() -> None:
    (card,) = lenient(finding(summary="word " * 60))
    assert len(card["summary"]) <= 139 and card["summary"].endswith("word...")


def test_lenient_mode_keeps_only_the_first_recommendation() -> None:
    a = dataclasses.replace(NAPROXEN, is_recommended=True)
    (card,) = lenient(finding(a, dataclasses.replace(MRI, is_recommended=True)))
    assert card["suggestions"][0]["isRecommended"] is True
    assert "isRecommended" not in card["suggestions"][1]


def test_lenient_mode_drops_malformed_suggestions() -> None:
    (card,) = lenient(
        finding(dataclasses.replace(DELETE, delete_reference="abc"), dataclasses.replace(MRI, label=" "))
    )
    assert "suggestions" not in card and "selectionBehavior" not in card


def test_empty_label_is_a_rule_bug_in_strict_mode() -> None:
    with pytest.raises(ValueError, match="empty label"):
        cards_for(finding(dataclasses.replace(MRI, label="")))


def test_empty_title_and_code_display_are_omitted() -> None:
    spec = dataclasses.replace(MRI, code=Code(LOINC, "24967-6", ""))
    (card,) = cards_for(finding(spec, title=""))
    assert card["source"]["topic"] == {"system": TOPIC, "code": "R22"}
    assert card["suggestions"][0]["actions"][0]["resource"]["code"]["coding"] == [
        {"system": LOINC, "code": "24967-6"}
    ]


def test_invalid_draft_resource_is_a_rule_bug_or_dropped() -> None:
    bad = dataclasses.replace(MRI, priority="a  b")  # type: ignore[arg-type]  # FHIR code: no double space
    with pytest.raises(ValueError, match="not a valid draft"):
        cards_for(finding(bad))
    (card,) = lenient(finding(bad, NAPROXEN))
    assert [s["label"] for s in card["suggestions"]] == [NAPROXEN.label]
