"""profiles.adapt: Epic, Oracle Health, sandbox and generic output of cards from the real renderer."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service import profiles
from service.cds.schemas import validate
from service.config import ConfigError
from service.core import vocabulary
from service.core.facts import Source
from service.core.findings import Code
from service.core.findings import SuggestionSpec
from service.knowledge.gates import GATES
from service.knowledge.rules import rule_ids
from tests.cards.card_checks import inferno_errors
from tests.cards.card_checks import markup_errors
from tests.ehr.builders import AUGMENTATION
from tests.ehr.builders import CPT
from tests.ehr.builders import MR_LUMBAR
from tests.ehr.builders import NAPROXEN
from tests.ehr.builders import PAMIDRONATE
from tests.ehr.builders import PAMIDRONATE_DOSE
from tests.ehr.builders import RXNORM
from tests.ehr.builders import actions
from tests.ehr.builders import cards_for
from tests.ehr.builders import epic_limit_errors
from tests.ehr.builders import finding
from tests.ehr.builders import links
from tests.ehr.builders import medication
from tests.ehr.builders import oracle_limit_errors
from tests.ehr.builders import service_request

PREFERENCE = profiles.EPIC_PREFERENCE_LIST
MAPPING: dict[str, Any] = {
    "site": "Example Health (test)",
    "codes": {
        f"{RXNORM}|11473": {
            "system": PREFERENCE,
            "code": "PL-88412",
            "display": "PAMIDRONATE IV (BONE PREF LIST)",
        },
        f"{CPT}|22513": {
            "system": profiles.EPIC_ORDERSET,
            "code": "OS-3021",
            "display": "KYPHOPLASTY CONSULT SET",
        },
        f"{MR_LUMBAR.system}|24968-0": {"system": PREFERENCE, "code": "PL-1207", "display": "MRI L-SPINE WO"},
    },
}


def write(tmp_path: Path, data: Any, name: str = "order-codes.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def order_codes(tmp_path: Path) -> profiles.OrderCodeMap:
    return profiles.load_order_codes(write(tmp_path, MAPPING))


def valid(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cards pass the response schema, Inferno's card checks and the Markdown checks."""
    validate("response", {"cards": cards})
    for card in cards:
        assert inferno_errors(card) == []
        assert markup_errors(card["detail"]) == []
    return cards


def pathway_cards(smart: bool = True) -> list[dict[str, Any]]:
    """An at-most-one card with two drug options and a ServiceRequest card, both with long details."""
    return cards_for(
        finding(
            "R21",
            behavior="at-most-one",
            smart_link=smart,
            data_used=20,
            suggestions=(medication(PAMIDRONATE, recommended=True), medication(NAPROXEN, note="with food")),
        ),
        finding("R26a", suggestions=(service_request(AUGMENTATION),), behavior="any", data_used=1),
        smart=smart,
    )


# ------------------------------------------------------------------------------------------- all profiles


@pytest.mark.parametrize("profile", [vocabulary.PROFILE_EPIC, vocabulary.PROFILE_ORACLE])
def test_adapt_returns_new_dicts_and_valid_cards(profile: str, order_codes: profiles.OrderCodeMap) -> None:
    """Adapting profiles copy: the rendered cards are never changed (generic/sandbox pass them through)."""
    cards = pathway_cards()
    before = copy.deepcopy(cards)
    adapted = valid(profiles.adapt(cards, profile, order_codes=order_codes))
    assert cards == before  # pure: the rendered cards are not touched
    adapted[0]["summary"] = "changed"
    adapted[0].get("suggestions", [{}])[0]["label"] = "changed"
    assert cards == before
    assert [c["uuid"] for c in adapted] == [c["uuid"] for c in cards]


@pytest.mark.parametrize("profile", [vocabulary.PROFILE_GENERIC, vocabulary.PROFILE_SANDBOX])
def test_generic_and_sandbox_receive_the_cards_as_rendered(
    profile: str, order_codes: profiles.OrderCodeMap
) -> None:
    cards = pathway_cards()
    assert profiles.adapt(cards, profile, order_codes=order_codes) == cards


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown client profile 'cerner'"):
        profiles.adapt([], "cerner", order_codes=None)


def test_profiles_match_the_trusted_client_profiles() -> None:
    from service.web.auth import PROFILES

    assert set(vocabulary.PROFILES) == set(PROFILES)


# --------------------------------------------------------------------------------------------------- Epic


def test_epic_any_one_action_per_suggestion_and_exclusive_options_said_in_words() -> None:
    cards = pathway_cards()
    assert cards[0]["selectionBehavior"] == "at-most-one"
    epic = valid(profiles.adapt(cards, "epic", order_codes=None))
    assert epic_limit_errors(epic) == []
    first = epic[0]["suggestions"]
    assert [s["uuid"] for s in first] == [s["uuid"] for s in cards[0]["suggestions"]]
    assert [s.get("isRecommended") for s in first] == [True, None]
    assert "Option 1 of 2 on this card: choose only one." in first[0]["actions"][0]["description"]
    assert "Option 2 of 2 on this card: choose only one." in first[1]["actions"][0]["description"]
    # The "any" card had one suggestion: nothing to choose between, so no such sentence.
    assert "choose only one" not in epic[1]["suggestions"][0]["actions"][0]["description"]


def test_epic_description_carries_dose_and_instructions_once() -> None:
    epic = profiles.adapt(pathway_cards(), "epic", order_codes=None)
    pamidronate, naproxen = (s["actions"][0] for s in epic[0]["suggestions"])
    assert pamidronate["description"].count(PAMIDRONATE_DOSE) == 1  # cards already wrote it; not repeated
    assert "instructions: with food" in naproxen["description"]
    assert "\n" not in pamidronate["description"]


def test_epic_adds_the_dose_when_the_renderer_left_it_out() -> None:
    cards = pathway_cards()
    action = cards[0]["suggestions"][0]["actions"][0]
    action["description"] = "Draft pamidronate"
    action["resource"]["dosageInstruction"] = [{"text": "as\nwritten  by the seed"}]
    epic = profiles.adapt(cards, "epic", order_codes=None)
    assert epic[0]["suggestions"][0]["actions"][0]["description"].startswith(
        "Draft pamidronate; dose: as written by the seed; Option 1 of 2"
    )


def test_epic_splits_a_suggestion_with_several_actions_with_stable_derived_uuids() -> None:
    cards = pathway_cards()
    suggestion = cards[1]["suggestions"][0]
    second = copy.deepcopy(suggestion["actions"][0])
    second["resource"]["code"] = {"text": "Spine surgery referral"}
    second["description"] = "Draft order: Spine surgery referral"
    suggestion["actions"].append(second)
    epic = valid(profiles.adapt(cards, "epic", order_codes=None))
    again = profiles.adapt(cards, "epic", order_codes=None)
    assert epic == again
    assert epic_limit_errors(epic) == []
    parts = epic[1]["suggestions"]
    assert len(parts) == 2
    ids = [p["uuid"] for p in parts]
    assert ids == [str(uuid.uuid5(profiles.epic._SPLIT_NAMESPACE, f"{suggestion['uuid']}|{n}")) for n in (1, 2)]
    assert len(set(ids) | {suggestion["uuid"]}) == 3
    assert [p["label"] for p in parts] == [f"{suggestion['label']} (part {n} of 2)" for n in (1, 2)]
    assert all("select every part" in p["actions"][0]["description"] for p in parts)
    assert parts[1]["actions"][0]["resource"]["code"] == {"text": "Spine surgery referral"}


def test_epic_maps_codes_to_the_sites_preference_list(order_codes: profiles.OrderCodeMap) -> None:
    cards = cards_for(
        finding("R21", suggestions=(medication(PAMIDRONATE),)),
        finding("R26a", suggestions=(service_request(AUGMENTATION),)),
        finding("R02", suggestions=(service_request(MR_LUMBAR),)),
    )
    epic = valid(profiles.adapt(cards, "epic", order_codes=order_codes))
    concepts = {c["source"]["topic"]["code"]: next(actions([c]))["resource"] for c in epic}
    assert concepts["R21"]["medicationCodeableConcept"] == {
        "text": "pamidronate",
        "coding": [{"system": PREFERENCE, "code": "PL-88412", "display": "PAMIDRONATE IV (BONE PREF LIST)"}],
    }
    assert concepts["R26a"]["code"]["coding"] == [
        {"system": profiles.EPIC_ORDERSET, "code": "OS-3021", "display": "KYPHOPLASTY CONSULT SET"}
    ]
    assert concepts["R02"]["code"]["coding"][0]["code"] == "PL-1207"


def test_epic_maps_text_only_orders_by_their_text(tmp_path: Path) -> None:
    physio = SuggestionSpec(
        label="Physiotherapy", resource_type="ServiceRequest", text="Referral to physiotherapy"
    )
    coded = service_request(AUGMENTATION)
    mapping = {
        "codes": {
            "text:  referral TO physiotherapy ": {
                "system": PREFERENCE,
                "code": "PL-7001",
                "display": "PT REFERRAL",
            },
            "text:Percutaneous vertebral augmentation, thoracic": {
                "system": PREFERENCE,
                "code": "PL-9",
                "display": "not used: the order has a code",
            },
        }
    }
    order_codes = profiles.load_order_codes(write(tmp_path, mapping))
    epic = valid(
        profiles.adapt(
            cards_for(finding("R28", suggestions=(physio, coded))), "epic", order_codes=order_codes
        )
    )
    physio_code, coded_code = (a["resource"]["code"] for a in actions(epic))
    assert physio_code == {
        "text": "Referral to physiotherapy",
        "coding": [{"system": PREFERENCE, "code": "PL-7001", "display": "PT REFERRAL"}],
    }
    assert coded_code["coding"][0]["code"] == "22513"  # a coded order is mapped by its code only
    unmapped = profiles.adapt(cards_for(finding("R28", suggestions=(physio,))), "epic", order_codes=None)
    assert next(actions(unmapped))["resource"]["code"] == {"text": "Referral to physiotherapy"}


def test_epic_without_a_mapping_sends_the_standard_codes() -> None:
    cards = cards_for(
        finding("R21", suggestions=(medication(PAMIDRONATE),)),
        finding("R26a", suggestions=(service_request(AUGMENTATION),)),
    )
    epic = valid(profiles.adapt(cards, "epic", order_codes=None))
    drug, procedure = (next(actions([c]))["resource"] for c in epic)
    # Epic's create API names RxNorm by OID; the code stays the standard RxNorm code.
    assert drug["medicationCodeableConcept"]["coding"] == [
        {"system": profiles.EPIC_RXNORM, "code": "11473", "display": "pamidronate"}
    ]
    assert procedure["code"]["coding"] == [{"system": CPT, "code": "22513", "display": AUGMENTATION.display}]


def test_epic_unmapped_code_falls_back_even_when_a_mapping_exists(order_codes: profiles.OrderCodeMap) -> None:
    epic = profiles.adapt(
        cards_for(finding("R22", suggestions=(medication(NAPROXEN),))), "epic", order_codes=order_codes
    )
    assert next(actions(epic))["resource"]["medicationCodeableConcept"]["coding"] == [
        {"system": profiles.EPIC_RXNORM, "code": "7258", "display": "naproxen"}
    ]


def test_generic_profile_ignores_the_mapping(order_codes: profiles.OrderCodeMap) -> None:
    cards = cards_for(finding("R21", suggestions=(medication(PAMIDRONATE),)))
    generic = profiles.adapt(cards, "generic", order_codes=order_codes)
    assert next(actions(generic))["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "11473"


def test_epic_keeps_override_reasons_links_and_delete_actions() -> None:
    cards = pathway_cards()
    cards[1]["suggestions"].append(
        {
            "uuid": "d-1",
            "label": "Remove the draft NSAID",
            "actions": [
                {
                    "type": "delete",
                    "description": "Remove the draft order: naproxen",
                    "resourceId": "MedicationRequest/x1",
                }
            ],
        }
    )
    epic = valid(profiles.adapt(cards, "epic", order_codes=None))
    assert [c["overrideReasons"] for c in epic] == [c["overrideReasons"] for c in cards]
    assert [c.get("links") for c in epic] == [c.get("links") for c in cards]
    assert epic[1]["suggestions"][1]["actions"] == cards[1]["suggestions"][1]["actions"]


def test_every_rule_and_gate_id_is_already_an_epic_topic_code() -> None:
    ids = [*rule_ids(), *(gate.id for gate in GATES)]
    assert len(ids) > 40
    assert [i for i in ids if profiles.epic_topic_code(i) != i or not i] == []


def test_epic_topic_code_is_made_alphanumeric_and_at_most_100_characters() -> None:
    cards = pathway_cards()
    cards[0]["source"]["topic"]["code"] = "R-21/b " + "x" * 200
    epic = profiles.adapt(cards, "epic", order_codes=None)
    assert epic[0]["source"]["topic"]["code"] == ("R21b" + "x" * 96)
    assert epic_limit_errors(epic) == []


# ------------------------------------------------------------------------------------------ Epic extensions


EPIC_EXTENSION = {  # Epic's documented request example (docId=cds-hooks), values as Epic sends them
    "com.epic.cdshooks.request.bpa-trigger-action": "60",
    "com.epic.cdshooks.request.cds-hooks-specification-version": "1.0",
    "com.epic.cdshooks.request.fhir-version": "R4",
    "com.epic.cdshooks.request.criteria-id": "1234",
    "com.epic.cdshooks.request.epic-version": "9.8",
    "com.epic.cdshooks.request.cds-hooks-implementation-version": "1.2",
    "com.epic.cdshooks.request.cds-hooks-su-version": "0",
    "internal.epic.cdshooks.request.epic-emp-id": "EMP-1234567",
}


def test_epic_request_extensions_are_summarised_without_user_or_patient_data() -> None:
    summary = profiles.epic_request_extensions({"extension": EPIC_EXTENSION})
    assert summary == {
        "bpa-trigger-action": "60",
        "cds-hooks-specification-version": "1.0",
        "fhir-version": "R4",
        "criteria-id": "1234",
        "epic-version": "9.8",
        "cds-hooks-implementation-version": "1.2",
        "cds-hooks-su-version": "0",
    }
    assert "EMP-1234567" not in json.dumps(summary)


@pytest.mark.parametrize(
    "extension",
    [
        {"com.epic.cdshooks.request.patient-name": "DOE, JANE"},
        {"com.epic.cdshooks.request.criteria-id": {"nested": "x"}},
        {"com.epic.cdshooks.request.criteria-id": "1\nforged log line"},
        {"com.epic.cdshooks.request.criteria-id": "9" * 41},
        {"com.epic.cdshooks.request.criteria-id": True},
        {"com.epic.cdshooks.request.criteria-id": None},
    ],
)
def test_odd_epic_extension_values_are_counted_not_copied(extension: dict[str, Any]) -> None:
    assert profiles.epic_request_extensions({"extension": extension}) == {"skipped": "1"}


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "x",
        {},
        {"extension": []},
        {"extension": "x"},
        {"extension": {1: 2}},
        {"extension": {"org.example.other": "1"}},
    ],
)
def test_epic_request_extensions_never_fail(body: Any) -> None:
    assert profiles.epic_request_extensions(body) == {}


# -------------------------------------------------------------------------------------------------- Oracle


def test_oracle_strips_app_context_and_keeps_the_short_detail() -> None:
    cards = pathway_cards()
    assert any("appContext" in link for link in links(cards))
    assert all(len(card["detail"]) <= profiles.ORACLE_MAX_DETAIL for card in cards)  # written for the frame
    oracle = valid(profiles.adapt(cards, "oracle", order_codes=None))
    assert oracle_limit_errors(oracle, profiles.ORACLE_MAX_DETAIL) == []
    assert not any("appContext" in link for link in links(oracle))
    assert [link["url"] for link in links(oracle)] == [link["url"] for link in links(cards)]
    assert [card["detail"] for card in oracle] == [card["detail"] for card in cards]


def test_oracle_still_shortens_an_overlong_detail_and_points_to_the_app() -> None:
    """A detail over Oracle's limit (another card source, a future rule) is cut by blocks, with a pointer."""
    long = "\n\n".join(["**Option:** consider it", "**Rule** (R21): fires",
                         "**Evidence**\n" + "\n".join(f"- statement {i} " + "x" * 80 for i in range(30))])
    for smart, pointer in ((True, profiles.ORACLE_POINTER_APP), (False, profiles.ORACLE_POINTER)):
        cards = [dict(card, detail=long) for card in pathway_cards(smart=smart)]
        oracle = profiles.adapt(cards, "oracle", order_codes=None)
        assert oracle[0]["detail"].endswith(pointer) and len(oracle[0]["detail"]) <= profiles.ORACLE_MAX_DETAIL
        assert re.search(r"^- and \d+ more$", oracle[0]["detail"], re.M)
        if not smart:
            assert "app" not in oracle[0]["detail"].rsplit("\n\n", 1)[-1]


def test_oracle_keeps_missing_data_before_data_used() -> None:
    missing = tuple(f"lab {n}: none on record" for n in range(4))
    card = cards_for(finding("R21", data_used=40, missing=missing))
    detail = profiles.adapt(card, "oracle", order_codes=None)[0]["detail"]
    assert all(item in detail for item in missing)
    assert len(detail) <= profiles.ORACLE_MAX_DETAIL


def test_oracle_cuts_an_overlong_option_between_markdown_constructs() -> None:
    long_option = "**Option:** " + " ".join(
        ["[seed 002](https://example.org/seeds/002.txt) \\*L1\\* &amp;"] * 30
    )
    detail = long_option + "\n\n**Rule** (R21): fires\n\n" + "x" * 2000
    short = profiles.shorten_detail(detail, 1200, profiles.ORACLE_POINTER)
    first = short.split("\n\n")[0]
    assert first.endswith("…") and len(first) <= 400
    body = first.removesuffix("…").rstrip()
    assert body.endswith(("(https://example.org/seeds/002.txt)", "\\*L1\\*", "&amp;"))
    assert markup_errors(short) == []


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.,:", min_size=1, max_size=12)
_CONSTRUCT = st.one_of(
    _WORD,
    _WORD.map(lambda w: f"**{w}**"),
    st.tuples(_WORD, _WORD).map(lambda t: f"[{t[0]}](https://example.org/{t[1]})"),
    _WORD.map(lambda w: f"`{w}`"),
    st.sampled_from(["\\*", "\\_", "\\[", "&amp;", "&lt;", "\\\\"]),
)


@given(parts=st.lists(_CONSTRUCT, min_size=1, max_size=40), limit=st.integers(min_value=2, max_value=200))
def test_truncation_falls_only_between_markdown_constructs(parts: list[str], limit: int) -> None:
    text = " ".join(parts)
    cut = profiles.truncate_markdown(text, limit)
    assert len(cut) <= limit
    if cut == text:
        return
    assert cut.endswith("…")
    kept = cut.removesuffix("…").rstrip()
    prefixes = {" ".join(parts[:n]) for n in range(len(parts) + 1)}
    assert kept in prefixes


# ----------------------------------------------------------------------------------------- mapping file


def test_load_order_codes_reads_the_mapping(order_codes: profiles.OrderCodeMap) -> None:
    assert order_codes.site == "Example Health (test)"
    assert order_codes.lookup(RXNORM, "11473") == Code(
        PREFERENCE, "PL-88412", "PAMIDRONATE IV (BONE PREF LIST)"
    )
    assert order_codes.lookup(RXNORM, "7258") is None
    assert order_codes.lookup(CPT, "11473") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot be read as JSON"),
        ([], "must hold a JSON object"),
        ({"codes": {}}, "'codes' must be a non-empty object"),
        ({"codes": [], "site": "x"}, "'codes' must be a non-empty object"),
        ({"codes": {"a|b": {}}, "extra": 1}, r"unknown field\(s\) extra"),
        ({"site": 3, "codes": {"a:b|c": {}}}, "'site' must be a string"),
        ({"codes": {"11473": {"system": "urn:x", "code": "1", "display": "d"}}}, 'must be "system|code"'),
        ({"codes": {"text:  ": {"system": "urn:x", "code": "1", "display": "d"}}}, "needs the order's text"),
        (
            {"codes": {"rxnorm|11473": {"system": "urn:x", "code": "1", "display": "d"}}},
            "absolute system URI",
        ),
        (
            {"codes": {f"{RXNORM}|": {"system": "urn:x", "code": "1", "display": "d"}}},
            'must be "system|code"',
        ),
        ({"codes": {f"{RXNORM}|11473": "PL-1"}}, "must be an object with system, code and display"),
        (
            {"codes": {f"{RXNORM}|11473": {"system": "urn:x", "code": "1"}}},
            "'display' must be a non-empty string",
        ),
        (
            {"codes": {f"{RXNORM}|11473": {"system": "urn:x", "code": " ", "display": "d"}}},
            "'code' must be a non-empty",
        ),
        (
            {"codes": {f"{RXNORM}|11473": {"system": "pref list", "code": "1", "display": "d"}}},
            "absolute URI",
        ),
        ({"codes": {f"{RXNORM}|11473": {"system": "urn:x", "code": "1 ", "display": "d"}}}, "whitespace"),
        (
            {"codes": {f"{RXNORM}|11473": {"system": "urn:x", "code": "1", "display": "d", "dose": "5 mg"}}},
            r"unknown field\(s\) dose",
        ),
    ],
)
def test_invalid_mapping_files_name_the_file_and_the_problem(
    tmp_path: Path, content: Any, message: str
) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ConfigError, match=message) as caught:
        profiles.load_order_codes(path)
    assert str(path) in str(caught.value)


def test_missing_mapping_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        profiles.load_order_codes(tmp_path / "absent.json")


def test_example_mapping_file_in_the_docs_loads() -> None:
    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "order-codes.epic.json"
    mapping = profiles.load_order_codes(example)
    assert mapping.lookup(RXNORM, "11473") is not None


_ITEM_TEXT = st.text(alphabet="abcdefghij <>*_[]()&0123456789", min_size=1, max_size=300)


@given(
    data=st.lists(_ITEM_TEXT, max_size=40),
    missing=st.lists(_ITEM_TEXT, max_size=15),
    notes=st.lists(_ITEM_TEXT, max_size=10),
    limit=st.integers(min_value=700, max_value=3000),
)
def test_shortened_details_fit_keep_whole_lines_and_count_what_they_drop(
    data: list[str], missing: list[str], notes: list[str], limit: int
) -> None:
    base = finding("R21", missing=tuple(missing), notes=tuple(notes))
    sources = tuple(profiles_source(text, n) for n, text in enumerate(data))
    detail = cards_for(dataclasses.replace(base, data_used=sources))[0]["detail"]
    short = profiles.shorten_detail(detail, limit, profiles.ORACLE_POINTER_APP)
    assert len(short) <= limit
    if short == detail:
        return
    assert short.endswith(profiles.ORACLE_POINTER_APP)
    assert short.startswith("**Option:**") and "**Rule** (R21)" in short
    original = detail.split("\n")
    for block in short.split("\n\n")[:-1]:
        head, *lines = block.split("\n")
        kept = [line for line in lines if not re.fullmatch(r"- and \d+ more", line)]
        for line in [head, *kept]:
            assert line in original or (line.endswith("…") and any(o.startswith(line[:-1]) for o in original))
        if head.startswith("**") and head.endswith("**") and kept:
            section = original.index(head)
            total = next((i for i, o in enumerate(original[section + 1 :]) if not o), len(original))
            dropped = [int(m) for m in re.findall(r"^- and (\d+) more$", block, re.M)]
            assert len(kept) + sum(dropped) == total


def profiles_source(text: str, number: int) -> Source:
    """One 'patient data used' entry with arbitrary text (escaped by the renderer)."""
    return Source(f"Observation/o{number}", text)


def test_every_profile_in_the_vocabulary_has_an_adapter() -> None:
    """Each profile a trusted client may name adapts cards; an unknown one is refused."""
    card = {"uuid": "u", "summary": "s", "indicator": "info", "source": {"label": "l"}}
    for profile in vocabulary.PROFILES:
        assert profiles.adapt([card], profile)[0]["summary"] == "s"
    with pytest.raises(ValueError, match="unknown client profile"):
        profiles.adapt([card], "cerner-classic")
