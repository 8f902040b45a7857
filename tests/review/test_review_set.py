"""The independent review set: reviewer-written patients, each checked against expectations written before any run.

Each tests/review/patients/NN-name.json holds a CDS Hooks request (Epic, Oracle Health or sandbox shaped), the instant
to evaluate it at, the reviewer's expectation and reason. The request goes through the real app in process with the
clock pinned to that instant, exactly like the golden scenarios (tests/scenarios/conftest.py). A patient whose
expectation the service misses fails: nothing here is xfail.
Run: python3 -m pytest -q tests/review (part of the whole suite)
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

HERE = Path(__file__).resolve().parent
PATIENTS = sorted((HERE / "patients").glob("*.json"))
SERVICE_FOR_HOOK = {
    "patient-view": "bme-patient-view",
    "order-select": "bme-order-select",
    "order-sign": "bme-order-sign",
}
RULE_ID = re.compile(r"^[RS]\d\d$")
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"

# Drug classes the expectations name, by RxNorm ingredient (codes.md D1 and RxNorm) and by name in the order text,
# so a product-level (SCD) code is still classified.
CLASS_INGREDIENTS: dict[str, set[str]] = {
    "nsaid": {"7258", "3355", "5781", "140587", "5640", "41493", "35827"},
    "indomethacin": {"5781"},
    "tnfi": {"191831", "214555", "327361", "709271", "819300"},
    "iv_bisphosphonate": {"11473", "77655"},
    "zoledronic_acid": {"77655"},
    "denosumab": {"993449"},
    "opioid": {"7804", "3423", "7052", "5489", "10689", "787390", "4337", "2670", "1819", "6813", "7814", "6754"},
    "glucocorticoid": {"8640", "8638", "3264", "6902", "5492"},
}
CLASS_NAMES: dict[str, re.Pattern[str]] = {
    "nsaid": re.compile(r"naproxen|diclofenac|indometacin|indomethacin|celecoxib|ibuprofen|meloxicam|ketorolac|"
                        r"etodolac|nabumetone|piroxicam|etoricoxib|\bnsaid", re.I),
    "indomethacin": re.compile(r"indometacin|indomethacin", re.I),
    "tnfi": re.compile(r"infliximab|etanercept|adalimumab|certolizumab|golimumab", re.I),
    "iv_bisphosphonate": re.compile(r"pamidron|zoledron", re.I),
    "zoledronic_acid": re.compile(r"zoledron", re.I),
    "denosumab": re.compile(r"denosumab", re.I),
    "opioid": re.compile(r"oxycodone|hydromorphone|morphine|hydrocodone|tramadol|tapentadol|fentanyl|codeine|"
                         r"buprenorphine|methadone|oxymorphone|meperidine|opioid", re.I),
    "glucocorticoid": re.compile(r"prednisone|prednisolone|dexamethasone|methylprednisolone|hydrocortisone", re.I),
}
# Laboratory LOINC codes (codes.md B): eGFR variants, creatinine, calcium, albumin, 25-OH vitamin D.
LAB_LOINC = {
    "98979-8", "98980-6", "62238-1", "94677-2", "77147-7", "33914-3", "69405-9", "50210-4",
    "2160-0", "14682-9", "38483-4", "17861-6", "49765-1", "1994-3", "1995-0", "17864-0", "1751-7",
    "14635-7", "62292-8", "1989-3",
}


class _Clock(datetime):
    """datetime whose now() is the instant of the patient being evaluated (as `bme-cds evaluate --now`)."""

    instant = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        """The pinned instant, in the zone asked for."""
        return cls.instant.astimezone(tz or UTC)


def make_client(data_dir: Path) -> tuple[Any, FlaskClient]:
    """The real app with the golden scenarios' settings (tests/scenarios/conftest.py) and its test client."""
    from service.web.app import create_app

    config = {
        "data_dir": data_dir,
        "auth": "off",
        "public_base_url": "http://127.0.0.1:8080",
        "fhir_timeout_seconds": 2.0,
        "fhir_total_timeout_seconds": 3.0,
    }
    application = create_app(test_config=config)
    application.config["TESTING"] = True
    return application, application.test_client()


def close(application: Any) -> None:
    """Release the app's pools, as the golden fixture does."""
    application.extensions["bme"].pool.close()
    application.extensions["bme"].engine.dispose()


@pytest.fixture(scope="module")
def review_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    """One app for the module, its clock pinned to whatever _Clock.instant each test sets."""
    from service.web import api

    application, client = make_client(tmp_path_factory.mktemp("review"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(api, "datetime", _Clock)
        yield client
    close(application)


def card_ids(card: dict[str, Any]) -> list[str]:
    """Rule and gate ids a card carries: source.topic.code and any id listed in its extension."""
    found: list[str] = []
    code = card.get("source", {}).get("topic", {}).get("code")
    if isinstance(code, str) and RULE_ID.match(code):
        found.append(code)

    def scan(value: Any) -> None:
        if isinstance(value, str) and RULE_ID.match(value):
            found.append(value)
        elif isinstance(value, list):
            for v in value:
                scan(v)
        elif isinstance(value, dict):
            for v in value.values():
                scan(v)

    scan(card.get("extension", {}))
    return list(dict.fromkeys(found))


def classes_of(resource: dict[str, Any]) -> set[str]:
    """Drug classes (or 'lab') of a suggested resource."""
    out: set[str] = set()
    concept = resource.get("medicationCodeableConcept") or resource.get("code") or {}
    codings = concept.get("coding", []) if isinstance(concept, dict) else []
    words = " ".join([str(concept.get("text", "")) if isinstance(concept, dict) else ""]
                     + [str(c.get("display", "")) for c in codings])
    for cls, ingredients in CLASS_INGREDIENTS.items():
        if any(c.get("system") == RXNORM and c.get("code") in ingredients for c in codings):
            out.add(cls)
        if resource.get("resourceType") == "MedicationRequest" and CLASS_NAMES[cls].search(words):
            out.add(cls)
    if resource.get("resourceType") == "ServiceRequest" and any(
        c.get("system") == LOINC and c.get("code") in LAB_LOINC for c in codings
    ):
        out.add("lab")
    return out


def suggested_classes(cards: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Class -> labels of the suggestions that would create or update an order of that class (one click)."""
    out: dict[str, list[str]] = {}
    for card in cards:
        for suggestion in card.get("suggestions", []):
            for action in suggestion.get("actions", []):
                resource = action.get("resource")
                if action.get("type") in ("create", "update") and isinstance(resource, dict):
                    for cls in classes_of(resource):
                        out.setdefault(cls, []).append(str(suggestion.get("label", "")))
    return out


def evaluate(client: FlaskClient, patient: dict[str, Any]) -> dict[str, Any]:
    """Run one patient's request at its instant; the cards' ids, indicators, suggestion classes and any differences."""
    _Clock.instant = datetime.fromisoformat(patient["now"].replace("Z", "+00:00"))
    request = patient["request"]
    answer = client.post(f"/cds-services/{SERVICE_FOR_HOOK[request['hook']]}", json=request)
    if answer.status_code != 200:
        return {"status": answer.status_code, "cards": [], "ids": [], "problems": [
            f"HTTP {answer.status_code}: {answer.get_data(as_text=True)[:300]}"], "classes": {}}
    cards: list[dict[str, Any]] = answer.get_json().get("cards", [])
    per_card = [card_ids(c) for c in cards]
    ids = {i for ids_ in per_card for i in ids_}
    classes = suggested_classes(cards)
    expect = patient["expect"]
    problems: list[str] = []
    missing = [i for i in expect.get("must_fire", []) if i not in ids]
    if missing:
        problems.append(f"did not fire: {', '.join(missing)}")
    unwanted = [i for i in expect.get("must_not_fire", []) if i in ids]
    if unwanted:
        problems.append(f"fired but must not: {', '.join(unwanted)}")
    if "max_cards" in expect and len(cards) > expect["max_cards"]:
        problems.append(f"{len(cards)} cards, at most {expect['max_cards']} expected")
    if "first_card_indicator" in expect:
        first = cards[0].get("indicator") if cards else None
        if first != expect["first_card_indicator"]:
            problems.append(f"first card indicator {first}, expected {expect['first_card_indicator']}")
    if expect.get("first_card_has"):
        first_ids = per_card[0] if per_card else []
        absent = [i for i in expect["first_card_has"] if i not in first_ids]
        if absent:
            problems.append(f"first card {first_ids} does not carry {', '.join(absent)}")
    offered = [f"{c} ({'; '.join(classes[c])[:120]})" for c in expect.get("no_suggestion_of", []) if c in classes]
    if offered:
        problems.append(f"one-click suggestion of: {', '.join(offered)}")
    lacking = [c for c in expect.get("suggestion_of", []) if c not in classes]
    if lacking:
        problems.append(f"no suggestion of: {', '.join(lacking)}")
    return {
        "status": 200,
        "cards": [{"indicator": c.get("indicator"), "ids": i, "summary": c.get("summary", "")}
                  for c, i in zip(cards, per_card, strict=True)],
        "ids": sorted(ids),
        "classes": {k: len(v) for k, v in classes.items()},
        "problems": problems,
    }


@pytest.mark.parametrize("path", PATIENTS, ids=[p.stem for p in PATIENTS])
def test_review_patient(path: Path, review_client: FlaskClient) -> None:
    """The service's answer meets the reviewer's expectation for this patient."""
    patient = json.loads(path.read_text(encoding="utf-8"))
    result = evaluate(review_client, patient)
    cards = "; ".join(f"{c['indicator']} {'/'.join(c['ids'])}: {c['summary']}" for c in result["cards"]) or "none"
    assert not result["problems"], f"{' | '.join(result['problems'])}\n  cards: {cards}\n  reason: {patient['reason']}"


def test_the_set_is_large_enough_and_well_formed() -> None:
    """At least 40 patients, each with a request, an instant, an expectation and a reason."""
    assert len(PATIENTS) >= 40
    for path in PATIENTS:
        patient = json.loads(path.read_text(encoding="utf-8"))
        assert set(patient) == {"request", "now", "expect", "reason"}, path.name
        assert patient["request"]["hook"] in SERVICE_FOR_HOOK, path.name
        assert "max_cards" in patient["expect"] and patient["reason"].strip(), path.name


def main(out: Path) -> None:
    """Run every patient once and write the raw results (JSON) that RESULTS.md summarises."""
    import tempfile

    from service.web import api

    with tempfile.TemporaryDirectory() as tmp:
        application, client = make_client(Path(tmp))
        original = api.datetime
        api.datetime = _Clock  # type: ignore[misc]
        try:
            results = {}
            for path in PATIENTS:
                patient = json.loads(path.read_text(encoding="utf-8"))
                results[path.stem] = {"hook": patient["request"]["hook"], **evaluate(client, patient)}
        finally:
            api.datetime = original  # type: ignore[misc]
            close(application)
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("review-results.json"))
